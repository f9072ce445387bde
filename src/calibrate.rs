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
//!
//! One temperature moves every frame's confidence the same way, and cannot help a model whose
//! mistakes sit in some classes (on YRS, hot-spot frames called arc with high confidence).
//! [`fit_class_offsets`] adds one offset per class to the scaled logits ("vector scaling" with
//! a shared scale, Guo et al. 2017; the logit adjustment of Menon et al. 2021 for a prior that
//! differs): this *can* change the winning class, so whoever fits it must check, on frames
//! it was not fitted on, that it helps ([`apply`] is the one place it is applied, for the
//! native tool and the page alike).

use crate::metrics::mean_nll;
use serde::{Deserialize, Serialize};

/// Probabilities after temperature `t` and per-class `offsets` added to the scaled logits
/// (empty: none), row-major, `classes` per image.
pub fn apply(probs: &[f32], classes: usize, t: f32, offsets: &[f32]) -> Vec<f32> {
    if t == 1.0 && offsets.iter().all(|&b| b == 0.0) {
        return probs.to_vec();
    }
    let mut out = Vec::with_capacity(probs.len());
    for row in probs.chunks_exact(classes) {
        let z: Vec<f64> = row.iter().enumerate().map(|(k, &p)| (p.max(1e-30) as f64).ln() / t as f64 + offsets.get(k).copied().unwrap_or(0.0) as f64).collect();
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

/// The temperature and per-class offsets minimising the mean NLL of
/// `softmax(ln p / T + b)` (the first class's offset is 0: only differences matter), by
/// Newton's method on (1/T, b), where the NLL is convex. A small ridge on b keeps a class
/// absent from the frames from running off to −∞. Without frames: T = 1, no offsets.
pub fn fit_class_offsets(probs: &[f32], truth: &[usize], classes: usize) -> (f32, Vec<f32>) {
    if truth.is_empty() || classes < 2 {
        return (1.0, vec![0.0; classes]);
    }
    let logs: Vec<f64> = probs.iter().map(|&p| (p.max(1e-30) as f64).ln()).collect();
    let n = truth.len() as f64;
    // θ = (a, b_1 … b_{C−1}); ∂z_k/∂a = ln p_k, ∂z_k/∂b_j = [k = j].
    let dim = classes;
    const RIDGE: f64 = 1e-3;
    let logits = |theta: &[f64], row: &[f64]| -> Vec<f64> { (0..classes).map(|k| theta[0] * row[k] + if k > 0 { theta[k] } else { 0.0 }).collect() };
    let objective = |theta: &[f64]| -> f64 {
        let mut total = 0.0;
        for (row, &y) in logs.chunks_exact(classes).zip(truth) {
            let z = logits(theta, row);
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            total += m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - z[y];
        }
        total / n + 0.5 * RIDGE * theta[1..].iter().map(|b| b * b).sum::<f64>()
    };
    let mut theta = vec![0.0f64; dim];
    theta[0] = 1.0 / fit_temperature(probs, truth, classes) as f64;
    let mut f = objective(&theta);
    for _ in 0..50 {
        let mut grad = vec![0.0f64; dim];
        let mut hess = vec![0.0f64; dim * dim];
        for (row, &y) in logs.chunks_exact(classes).zip(truth) {
            let z = logits(&theta, row);
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let q: Vec<f64> = e.iter().map(|v| v / s).collect();
            // g_k = ∂z_k/∂θ; the gradient is Σ_k (q_k − y_k) g_k, the Hessian E_q[g gᵀ] − E_q[g] E_q[g]ᵀ.
            let g = |k: usize, i: usize| if i == 0 { row[k] } else { f64::from(u8::from(k == i)) };
            let mean: Vec<f64> = (0..dim).map(|i| (0..classes).map(|k| q[k] * g(k, i)).sum()).collect();
            for i in 0..dim {
                grad[i] += mean[i] - g(y, i);
                for j in 0..dim {
                    let second: f64 = (0..classes).map(|k| q[k] * g(k, i) * g(k, j)).sum();
                    hess[i * dim + j] += second - mean[i] * mean[j];
                }
            }
        }
        for v in grad.iter_mut().chain(hess.iter_mut()) {
            *v /= n;
        }
        for i in 1..dim {
            grad[i] += RIDGE * theta[i];
            hess[i * dim + i] += RIDGE;
        }
        let Some(step) = solve(hess, grad.clone(), dim) else { break };
        // Backtracking: Newton's step, halved until the objective falls.
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..30 {
            let next: Vec<f64> = theta.iter().zip(&step).map(|(t, s)| t - scale * s).collect();
            let fn_ = objective(&next);
            if next[0] > 0.0 && fn_ < f {
                theta = next;
                improved = f - fn_ > 1e-12;
                f = fn_;
                break;
            }
            scale *= 0.5;
        }
        if !improved {
            break;
        }
    }
    let offsets = std::iter::once(0.0).chain(theta[1..].iter().map(|&b| b as f32)).collect();
    ((1.0 / theta[0]) as f32, offsets)
}

/// Solves `a x = b` (`a` row-major, `n` × `n`) by Gaussian elimination with partial pivoting;
/// none when `a` is singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
        }
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    Some(x)
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

/// One fold's frames for [`cross_fit`]: probabilities (row-major) and true classes.
pub struct Fold<'a> {
    pub probs: &'a [f32],
    pub truth: &'a [usize],
}

/// Each fold's frames calibrated by what the *other* folds' frames fit: how the calibration
/// would do on nights it has not seen, which a fit judged on its own frames cannot tell.
pub struct CrossFit {
    /// Per fold, held-out NLL: raw, with the temperature, with temperature and class offsets.
    pub nll: Vec<[f64; 3]>,
    /// Every fold's frames, in fold order, with the temperature fitted on the other folds.
    pub scaled: Vec<f32>,
    /// The same with temperature and class offsets.
    pub offset: Vec<f32>,
}

/// The calibration a model keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    Raw,
    Temperature,
    TemperatureAndOffsets,
}

pub fn cross_fit(folds: &[Fold], classes: usize) -> CrossFit {
    let (mut nll, mut scaled, mut offset) = (Vec::new(), Vec::new(), Vec::new());
    for (j, fold) in folds.iter().enumerate() {
        let others = || folds.iter().enumerate().filter(move |(k, _)| *k != j).map(|(_, f)| f);
        let p: Vec<f32> = others().flat_map(|f| f.probs.iter().copied()).collect();
        let t: Vec<usize> = others().flat_map(|f| f.truth.iter().copied()).collect();
        let tj = fit_temperature(&p, &t, classes);
        let (to, bo) = fit_class_offsets(&p, &t, classes);
        let (s, o) = (apply(fold.probs, classes, tj, &[]), apply(fold.probs, classes, to, &bo));
        nll.push([mean_nll(fold.probs, fold.truth, classes), mean_nll(&s, fold.truth, classes), mean_nll(&o, fold.truth, classes)]);
        scaled.extend(s);
        offset.extend(o);
    }
    CrossFit { nll, scaled, offset }
}

impl CrossFit {
    /// A step is kept only if it lowers the held-out NLL of *every* fold's frames (a gain on
    /// the pool alone can come from one carve of nights): first the temperature against the
    /// raw softmax, then class offsets (which change answers, so only when `offsets_allowed`)
    /// against whatever was kept before them.
    pub fn kept(&self, offsets_allowed: bool) -> Kept {
        let every = |better: &dyn Fn(&[f64; 3]) -> bool| !self.nll.is_empty() && self.nll.iter().all(better);
        let temperature = every(&|n: &[f64; 3]| n[1] < n[0]);
        let base = usize::from(temperature);
        if offsets_allowed && every(&|n: &[f64; 3]| n[2] < n[base]) {
            Kept::TemperatureAndOffsets
        } else if temperature {
            Kept::Temperature
        } else {
            Kept::Raw
        }
    }
}

/// The calibration `kept` calls for, fitted on all of `probs`: temperature and class offsets
/// (empty when none).
pub fn fit_kept(kept: Kept, probs: &[f32], truth: &[usize], classes: usize) -> (f32, Vec<f32>) {
    match kept {
        Kept::Raw => (1.0, Vec::new()),
        Kept::Temperature => (fit_temperature(probs, truth, classes), Vec::new()),
        Kept::TemperatureAndOffsets => fit_class_offsets(probs, truth, classes),
    }
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
        let after = reliability(&apply(&probs, 2, t, &[]), &truth, 2, 10).ece;
        assert!(before > 0.08 && after < 0.02, "ECE {before} → {after}");
        // The winning class never changes.
        let cal = apply(&probs, 2, t, &[]);
        for (a, b) in probs.chunks(2).zip(cal.chunks(2)) {
            assert_eq!(a[0] > a[1], b[0] > b[1]);
        }
    }

    /// Two-class frames whose stated probabilities are the true ones (σ(2z)) sharpened by
    /// `sharpen` (> 1: over-confident).
    fn frames(seed: u64, sharpen: f32, n: usize) -> (Vec<f32>, Vec<usize>) {
        let mut rng = crate::rng::Rng::new(seed);
        let (mut probs, mut truth) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let z = if rng.f32() < 0.5 { 1.0f32 } else { -1.0 };
            truth.push(usize::from(rng.f32() >= 1.0 / (1.0 + (-2.0 * z).exp())));
            let p = 1.0 / (1.0 + (-2.0 * sharpen * z).exp());
            probs.extend([p, 1.0 - p]);
        }
        (probs, truth)
    }

    #[test]
    fn a_temperature_is_kept_only_where_every_held_out_fold_gains() {
        // Three folds equally over-confident: the temperature fitted on any two helps the third.
        let data: Vec<_> = (0..3).map(|k| frames(20 + k, 3.0, 1500)).collect();
        let folds: Vec<Fold> = data.iter().map(|(p, t)| Fold { probs: p, truth: t }).collect();
        let cf = cross_fit(&folds, 2);
        assert!(cf.nll.iter().all(|n| n[1] < n[0]), "{:?}", cf.nll);
        assert_eq!(cf.kept(false), Kept::Temperature);
        assert_eq!(cf.scaled.len(), 3 * 1500 * 2);
        let (t, b) = fit_kept(Kept::Temperature, &data[0].0, &data[0].1, 2);
        assert!(t > 2.0 && b.is_empty(), "T = {t}");
        // Folds that disagree (one over-, two under-confident): what two folds fit makes the
        // third worse, so the raw softmax is kept and nothing is fitted.
        let data = [frames(30, 3.0, 1500), frames(31, 0.3, 1500), frames(32, 0.3, 1500)];
        let folds: Vec<Fold> = data.iter().map(|(p, t)| Fold { probs: p, truth: t }).collect();
        let cf = cross_fit(&folds, 2);
        assert!(cf.nll[0][1] > cf.nll[0][0], "{:?}", cf.nll);
        assert_eq!(cf.kept(true), Kept::Raw);
        assert_eq!(fit_kept(Kept::Raw, &data[0].0, &data[0].1, 2), (1.0, Vec::new()));
        assert_eq!(CrossFit { nll: Vec::new(), scaled: Vec::new(), offset: Vec::new() }.kept(true), Kept::Raw);
    }

    #[test]
    fn ece_of_a_hand_made_case() {
        // Four images at confidence 0.8 (bin 8 of 10), three right: |0.75 − 0.8| = 0.05.
        let probs = [0.8, 0.2, 0.8, 0.2, 0.2, 0.8, 0.2, 0.8];
        let r = reliability(&probs, &[0, 0, 1, 0], 2, 10);
        assert!((r.ece - 0.05).abs() < 1e-6, "{}", r.ece);
        assert_eq!(r.bins[8].count, 4);
        assert_eq!(apply(&probs, 2, 1.0, &[]), probs.to_vec());
        assert_eq!(apply(&probs, 2, 1.0, &[0.0, 0.0]), probs.to_vec());
    }

    #[test]
    fn class_offsets_undo_a_known_prior_shift() {
        // Three classes; the model's logits are the true ones sharpened 2× and shifted by
        // (0, +1.5, −1) (it favours class 1 and neglects class 2). The fit must find T ≈ 2 and
        // offsets ≈ (0, −0.75, +0.5) in the scaled space, and beat the temperature alone.
        let mut rng = crate::rng::Rng::new(4);
        let (mut probs, mut truth) = (Vec::new(), Vec::new());
        let softmax = |z: &[f64]| -> Vec<f64> {
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        for _ in 0..6000 {
            let z: Vec<f64> = (0..3).map(|_| 2.0 * rng.f32() as f64).collect();
            let p = softmax(&z);
            let u = rng.f32() as f64;
            let y = if u < p[0] { 0 } else if u < p[0] + p[1] { 1 } else { 2 };
            let shown = softmax(&[2.0 * z[0], 2.0 * z[1] + 1.5, 2.0 * z[2] - 1.0]);
            probs.extend(shown.iter().map(|&v| v as f32));
            truth.push(y);
        }
        let (t, b) = fit_class_offsets(&probs, &truth, 3);
        assert!((t - 2.0).abs() < 0.2, "T = {t}");
        assert_eq!(b[0], 0.0);
        assert!((b[1] + 0.75).abs() < 0.15 && (b[2] - 0.5).abs() < 0.15, "offsets {b:?}");
        let t_only = fit_temperature(&probs, &truth, 3);
        let nll = |p: &[f32]| crate::metrics::mean_nll(p, &truth, 3);
        assert!(nll(&apply(&probs, 3, t, &b)) < nll(&apply(&probs, 3, t_only, &[])) - 0.01);
        // No frames: nothing to correct.
        assert_eq!(fit_class_offsets(&[], &[], 3), (1.0, vec![0.0; 3]));
    }
}
