//! Calibrated confidence: temperature scaling (Guo et al. 2017) and the expected calibration
//! error that measures it.
//!
//! A network trained with cross-entropy on a few thousand frames is over-confident: its
//! softmax says 99 % where it is right four times in five. Dividing the logits by one scalar
//! T > 1, fitted on validation frames to minimise their negative log-likelihood, makes the
//! stated probability match the observed accuracy without changing which class wins (so
//! accuracy, codes and retrieval are untouched). T is saved in the bundle and applied
//! identically by the native tool and the browser ([`apply`]).
//!
//! Everything here works from probabilities: ln p differs from the logits by a per-image
//! constant, which the softmax ignores, so `softmax(ln p / T) = softmax(logits / T)`.

use serde::{Deserialize, Serialize};

/// Probabilities after temperature `t`, row-major, `classes` per image.
pub fn apply(probs: &[f32], classes: usize, t: f32) -> Vec<f32> {
    if t == 1.0 {
        return probs.to_vec();
    }
    let mut out = Vec::with_capacity(probs.len());
    for row in probs.chunks_exact(classes) {
        let z: Vec<f64> = row.iter().map(|&p| (p.max(1e-30) as f64).ln() / t as f64).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / s) as f32));
    }
    out
}

/// Mean negative log-likelihood of the true classes after temperature `t`.
fn nll_at(probs: &[f32], truth: &[usize], classes: usize, t: f64) -> f64 {
    let mut total = 0.0;
    for (row, &y) in probs.chunks_exact(classes).zip(truth) {
        let z: Vec<f64> = row.iter().map(|&p| (p.max(1e-30) as f64).ln() / t).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        total += lse - z[y];
    }
    total / truth.len().max(1) as f64
}

/// The temperature minimising the validation NLL, searched over [0.05, 20] (golden section on
/// ln T; the NLL is convex in 1/T). Without validation images, 1.
pub fn fit_temperature(probs: &[f32], truth: &[usize], classes: usize) -> f32 {
    if truth.is_empty() {
        return 1.0;
    }
    let f = |log_t: f64| nll_at(probs, truth, classes, log_t.exp());
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// One bin of a reliability diagram.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Bin {
    /// Lower and upper edge of the bin's confidence range.
    pub low: f64,
    pub high: f64,
    pub count: usize,
    /// Mean top-class probability of the images in the bin.
    pub confidence: f64,
    /// Fraction of them whose top class is right.
    pub accuracy: f64,
}

/// Expected calibration error over `bins` equal-width bins of top-class probability, and the
/// bins themselves (the reliability diagram).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Reliability {
    pub ece: f64,
    pub bins: Vec<Bin>,
}

pub fn reliability(probs: &[f32], truth: &[usize], classes: usize, bins: usize) -> Reliability {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf = vec![0.0f64; bins];
    let mut hit = vec![0usize; bins];
    for (row, &y) in probs.chunks_exact(classes).zip(truth) {
        let (best, &p) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0))).expect("classes > 0");
        let b = ((p as f64 * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += p as f64;
        hit[b] += usize::from(best == y);
    }
    let n = truth.len().max(1) as f64;
    let bins: Vec<Bin> = (0..bins)
        .map(|b| Bin {
            low: b as f64 / bins as f64,
            high: (b + 1) as f64 / bins as f64,
            count: count[b],
            confidence: if count[b] > 0 { conf[b] / count[b] as f64 } else { 0.0 },
            accuracy: if count[b] > 0 { hit[b] as f64 / count[b] as f64 } else { 0.0 },
        })
        .collect();
    let ece = bins.iter().map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs()).sum();
    Reliability { ece, bins }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_undoes_known_overconfidence() {
        // Two classes; true logits ±1, so p(true) = σ(2) ≈ 0.88 for the model that is right.
        // Sharpen them 3× (an over-confident model), then check the fit recovers T ≈ 3.
        let mut rng = crate::rng::Rng::new(9);
        let (mut probs, mut truth) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let z = if rng.f32() < 0.5 { 1.0f32 } else { -1.0 };
            // Sample the label from the true (unsharpened) probabilities.
            let p1 = 1.0 / (1.0 + (-2.0 * z).exp());
            let y = usize::from(rng.f32() >= p1);
            let sharp = 1.0 / (1.0 + (-6.0 * z).exp());
            probs.extend([sharp, 1.0 - sharp]);
            truth.push(y);
        }
        let t = fit_temperature(&probs, &truth, 2);
        assert!((t - 3.0).abs() < 0.25, "fitted T = {t}");
        let before = reliability(&probs, &truth, 2, 10).ece;
        let after = reliability(&apply(&probs, 2, t), &truth, 2, 10).ece;
        assert!(before > 0.08 && after < 0.02, "ECE {before} → {after}");
        // The winning class never changes.
        let cal = apply(&probs, 2, t);
        for (a, b) in probs.chunks(2).zip(cal.chunks(2)) {
            assert_eq!(a[0] > a[1], b[0] > b[1]);
        }
    }

    #[test]
    fn ece_of_a_hand_made_case() {
        // Four images at confidence 0.8 (bin 8 of 10), three right: |0.75 − 0.8| = 0.05.
        let probs = [0.8, 0.2, 0.8, 0.2, 0.2, 0.8, 0.2, 0.8];
        let r = reliability(&probs, &[0, 0, 1, 0], 2, 10);
        assert!((r.ece - 0.05).abs() < 1e-6, "{}", r.ece);
        assert_eq!(r.bins[8].count, 4);
        assert_eq!(apply(&probs, 2, 1.0), probs.to_vec());
    }
}
