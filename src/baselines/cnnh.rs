//! **CNNH** (Xia, Pan, Lai, Liu & Yan, AAAI 2014), one of the paper's Table 6 baselines: hashing
//! in two stages. Stage 1 (here) finds target codes H ∈ {−1, 1}^{n×q} for the training images
//! whose inner products match the pair labels, min ‖S − (1/q)·H Hᵀ‖² with S = +1 for same-class
//! pairs and −1 otherwise. Stage 2 trains the network to output those bits (`train
//! --pair-loss cnnh`, a squared-error regression of the hash layer onto them; with `--mu 0` the
//! class labels play no other part, which is CNNH rather than CNNH+).
//!
//! The relaxed problem (H ∈ [−1, 1]) is solved by projected gradient descent with a
//! backtracking step rather than the original's coordinate descent: the same objective, and with
//! S class-structured every term is a product with the one-hot label matrix Y
//! (`S H = 2·Y(YᵀH) − 1(1ᵀH)`), so no n × n matrix is formed.

use super::backtrack;
use crate::rng::Rng;

/// ‖S − H Hᵀ/q‖² / n² for `n × q` H and class `labels`.
fn objective(h: &[f64], labels: &[usize], classes: usize, q: usize) -> f64 {
    let n = labels.len();
    let (yth, oth) = class_sums(h, labels, classes, q);
    let hth = gram(h, q);
    let trace_shs: f64 = 2.0 * yth.iter().map(|x| x * x).sum::<f64>() - oth.iter().map(|x| x * x).sum::<f64>();
    let s_norm = (n * n) as f64;
    (s_norm - 2.0 / q as f64 * trace_shs + hth.iter().map(|x| x * x).sum::<f64>() / (q * q) as f64) / s_norm
}

/// YᵀH (`classes × q`) and 1ᵀH (`q`).
fn class_sums(h: &[f64], labels: &[usize], classes: usize, q: usize) -> (Vec<f64>, Vec<f64>) {
    let mut yth = vec![0f64; classes * q];
    let mut oth = vec![0f64; q];
    for (row, &l) in h.chunks_exact(q).zip(labels) {
        for j in 0..q {
            yth[l * q + j] += row[j];
            oth[j] += row[j];
        }
    }
    (yth, oth)
}

/// HᵀH, `q × q`.
fn gram(h: &[f64], q: usize) -> Vec<f64> {
    let mut g = vec![0f64; q * q];
    for row in h.chunks_exact(q) {
        for a in 0..q {
            for b in 0..q {
                g[a * q + b] += row[a] * row[b];
            }
        }
    }
    g
}

/// Stage 1: target bits (0/1, `n × bits`, row-major) for images with these class labels.
pub fn target_codes(labels: &[usize], classes: usize, bits: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = labels.len();
    let q = bits;
    let mut rng = Rng::new(seed);
    let mut h: Vec<f64> = (0..n * q).map(|_| rng.range(-1.0, 1.0) as f64).collect();
    let mut f = objective(&h, labels, classes, q);
    let mut step = 1.0;
    for _ in 0..iterations {
        // ∇ (scaled by n²) = −(4/q)·S H + (4/q²)·H (HᵀH).
        let (yth, oth) = class_sums(&h, labels, classes, q);
        let g = gram(&h, q);
        let scale = 1.0 / (n * n) as f64;
        let grad: Vec<f64> = h
            .chunks_exact(q)
            .zip(labels)
            .flat_map(|(row, &l)| {
                let (yth, oth, g) = (&yth, &oth, &g);
                (0..q).map(move |j| {
                    let sh = 2.0 * yth[l * q + j] - oth[j];
                    let hg: f64 = (0..q).map(|p| row[p] * g[p * q + j]).sum();
                    scale * (-4.0 / q as f64 * sh + 4.0 / (q * q) as f64 * hg)
                })
            })
            .collect();
        let Some(better) = backtrack(&mut step, 40, |step| {
            let trial: Vec<f64> = h.iter().zip(&grad).map(|(x, d)| (x - step * d * n as f64).clamp(-1.0, 1.0)).collect();
            let tf = objective(&trial, labels, classes, q);
            (tf < f).then_some((trial, tf))
        }) else {
            break;
        };
        (h, f) = better;
    }
    h.into_iter().map(|x| if x >= 0.0 { 1.0 } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_matches_the_dense_formula() {
        let labels = [0usize, 1, 0];
        let h = [1.0, -0.5, 0.2, 1.0, 0.9, -1.0];
        let q = 2;
        let mut dense = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                let s = if labels[i] == labels[j] { 1.0 } else { -1.0 };
                let hh: f64 = (0..q).map(|p| h[i * q + p] * h[j * q + p]).sum();
                dense += (s - hh / q as f64).powi(2);
            }
        }
        assert!((objective(&h, &labels, 2, q) - dense / 9.0).abs() < 1e-12);
    }

    #[test]
    fn stage_one_codes_agree_within_classes_and_differ_across() {
        let labels: Vec<usize> = (0..90).map(|i| i % 3).collect();
        let bits = 12;
        let codes = target_codes(&labels, 3, bits, 300, 7);
        let dist = |i: usize, j: usize| (0..bits).filter(|&p| codes[i * bits + p] != codes[j * bits + p]).count();
        let random: Vec<f64> = { let mut r = Rng::new(7); (0..90 * bits).map(|_| r.range(-1.0, 1.0) as f64).collect() };
        let signed: Vec<f64> = codes.iter().map(|&b| 2.0 * b as f64 - 1.0).collect();
        assert!(objective(&signed, &labels, 3, bits) < 0.5 * objective(&random, &labels, 3, bits));
        for i in 0..9 {
            for j in 0..9 {
                if labels[i] == labels[j] {
                    assert_eq!(dist(i, j), 0, "{i} and {j} share a class");
                } else {
                    assert!(dist(i, j) >= bits / 3, "{i} and {j}: {} bits apart", dist(i, j));
                }
            }
        }
    }
}
