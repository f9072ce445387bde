//! Out-of-domain detection: does a picture look like the frames this model learned from?
//!
//! The classifier answers for any input — a cat, a cloudy sky, a phone photo — and its softmax
//! is often most confident far from the training data. This module scores an input by the
//! Mahalanobis distance (Lee et al. 2018) of the model's own features to the nearest training
//! class: features are centred, projected on their top principal directions, whitened with the
//! classes' shared (tied) covariance, and compared with each class's mean. What the kept
//! directions miss is not ignored: the squared residual off that subspace, in units of its
//! training variance, is added (as in probabilistic PCA), because an input unlike the training
//! data often differs exactly in the directions the training data hardly varies in. Large
//! score: the model has seen nothing like it.
//!
//! The statistics ([`OodModel`]) are fitted on the training frames' features, the threshold on
//! the validation frames' scores (a chosen share of in-domain frames may exceed it), and both
//! travel in the bundle: the browser computes the same score from the same features with this
//! same code.

use crate::baselines::ksh::{cholesky, triangular_solve};
use crate::baselines::principal_directions;
use serde::{Deserialize, Serialize};

/// Which of the network's activations the score uses.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// conv5 feature maps averaged over space (one value per channel).
    Conv5,
    /// fc7 activations.
    Fc7,
    /// The hash layer before its sigmoid.
    Hash,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Conv5, Layer::Fc7, Layer::Hash];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Conv5 => "conv5 (spatial mean)",
            Layer::Fc7 => "fc7",
            Layer::Hash => "hash layer (before sigmoid)",
        }
    }
}

/// Fitted statistics: with `d = x − mean` and `p = d · basis` (`dim × k`, orthonormal columns),
/// `z = p · whiten` (`k × k`) and the score is
/// `min_c ‖z − class_means[c]‖² + (‖d‖² − ‖p‖²) / residual_variance`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OodModel {
    pub layer: Layer,
    pub dim: usize,
    pub k: usize,
    pub mean: Vec<f32>,
    pub basis: Vec<f32>,
    pub whiten: Vec<f32>,
    pub class_means: Vec<f32>,
    /// Mean squared residual per discarded direction over the training frames (1 when none
    /// is discarded).
    pub residual_variance: f32,
    /// Scores above it are out of domain; +∞ (written `null`: JSON has no infinity) until a
    /// threshold is set from validation frames.
    #[serde(with = "infinite_as_null")]
    pub threshold: f32,
    /// Share of in-domain validation frames above the threshold (by construction).
    pub validation_rejected: f32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OodError {
    #[error("out-of-domain statistics: {0}")]
    Invalid(String),
}

impl OodModel {
    /// Fits the statistics on training features (`n × dim`, row-major) with their labels,
    /// keeping `k` principal directions (at most `dim`), with the threshold at +∞ until
    /// [`OodModel::set_threshold`] is called.
    pub fn fit(layer: Layer, features: &[f32], dim: usize, labels: &[usize], classes: usize, k: usize, seed: u64) -> OodModel {
        let n = labels.len();
        assert_eq!(features.len(), n * dim, "features do not match the labels");
        let k = k.min(dim).max(1);
        let mut mean = vec![0f64; dim];
        for row in features.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let centred: Vec<f64> = features.chunks_exact(dim).flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| v as f64 - m)).collect();
        let basis = if k == dim { identity(dim) } else { principal_directions(&centred, dim, k, 30, seed) };
        let projected = matmul(&centred, &basis, n, dim, k);
        // Class means and the tied covariance of the class-centred projections.
        let mut class_mean = vec![0f64; classes * k];
        let mut count = vec![0usize; classes];
        for (row, &y) in projected.chunks_exact(k).zip(labels) {
            count[y] += 1;
            for j in 0..k {
                class_mean[y * k + j] += row[j];
            }
        }
        for c in 0..classes {
            for j in 0..k {
                class_mean[c * k + j] /= count[c].max(1) as f64;
            }
        }
        let mut cov = vec![0f64; k * k];
        for (row, &y) in projected.chunks_exact(k).zip(labels) {
            let d: Vec<f64> = (0..k).map(|j| row[j] - class_mean[y * k + j]).collect();
            for a in 0..k {
                for b in 0..k {
                    cov[a * k + b] += d[a] * d[b];
                }
            }
        }
        cov.iter_mut().for_each(|c| *c /= n.max(1) as f64);
        // Shrinkage towards the mean variance keeps the inverse stable with few frames per
        // direction (Ledoit–Wolf style, fixed 10 %).
        let avg = (0..k).map(|i| cov[i * k + i]).sum::<f64>() / k as f64;
        for i in 0..k {
            for j in 0..k {
                cov[i * k + j] *= 0.9;
            }
            cov[i * k + i] += 0.1 * avg.max(1e-12);
        }
        // Whitening W = L⁻¹ (Σ = L Lᵀ): ‖W d‖² = dᵀ Σ⁻¹ d; stored transposed, applied as p · Wᵀ.
        let l = cholesky(&cov, k);
        let mut w_t = vec![0f64; k * k];
        for j in 0..k {
            let mut e = vec![0f64; k];
            e[j] = 1.0;
            let col = triangular_solve(&l, &e, k, true); // column j of L⁻¹
            for i in 0..k {
                // (L⁻¹)[i][j] = col[i]; Wᵀ[j][i] = W[i][j] = (L⁻¹)[i][j].
                w_t[j * k + i] = col[i];
            }
        }
        let class_means = matmul(&class_mean, &w_t, classes, k, k);
        let residual: f64 = centred
            .chunks_exact(dim)
            .zip(projected.chunks_exact(k))
            .map(|(d, p)| (d.iter().map(|v| v * v).sum::<f64>() - p.iter().map(|v| v * v).sum::<f64>()).max(0.0))
            .sum();
        let residual_variance = if k == dim { 1.0 } else { (residual / (n.max(1) * (dim - k)) as f64).max(1e-12) };
        OodModel {
            layer,
            dim,
            k,
            mean: mean.iter().map(|&v| v as f32).collect(),
            basis: basis.iter().map(|&v| v as f32).collect(),
            whiten: w_t.iter().map(|&v| v as f32).collect(),
            class_means: class_means.iter().map(|&v| v as f32).collect(),
            residual_variance: residual_variance as f32,
            threshold: f32::INFINITY,
            validation_rejected: 0.0,
        }
    }

    /// Mahalanobis distance² of one feature vector to the nearest class, plus its whitened
    /// residual off the kept directions.
    pub fn score(&self, feature: &[f32]) -> f32 {
        let k = self.k;
        let mut p = vec![0f32; k];
        let mut norm = 0f32;
        for (i, (&x, &m)) in feature.iter().zip(&self.mean).enumerate() {
            let d = x - m;
            if d != 0.0 {
                norm += d * d;
                for (pj, &b) in p.iter_mut().zip(&self.basis[i * k..(i + 1) * k]) {
                    *pj += d * b;
                }
            }
        }
        let mut z = vec![0f32; k];
        for (a, &pa) in p.iter().enumerate() {
            for (zj, &w) in z.iter_mut().zip(&self.whiten[a * k..(a + 1) * k]) {
                *zj += pa * w;
            }
        }
        let residual = if k == self.dim { 0.0 } else { (norm - p.iter().map(|v| v * v).sum::<f32>()).max(0.0) / self.residual_variance };
        let nearest = self
            .class_means
            .chunks_exact(k)
            .map(|mu| z.iter().zip(mu).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
            .fold(f32::INFINITY, f32::min);
        nearest + residual
    }

    /// Scores of `n × dim` features.
    pub fn scores(&self, features: &[f32]) -> Vec<f32> {
        features.chunks_exact(self.dim).map(|f| self.score(f)).collect()
    }

    /// Sets the threshold so that `reject` of the in-domain validation scores lie above it.
    pub fn set_threshold(&mut self, validation_scores: &[f32], reject: f32) {
        if validation_scores.is_empty() {
            return;
        }
        let mut s = validation_scores.to_vec();
        s.sort_by(f32::total_cmp);
        let at = (((1.0 - reject) * s.len() as f32).ceil() as usize).clamp(1, s.len()) - 1;
        self.threshold = s[at];
        self.validation_rejected = s.iter().filter(|&&v| v > self.threshold).count() as f32 / s.len() as f32;
    }

    pub fn is_out(&self, score: f32) -> bool {
        !(score <= self.threshold)
    }

    /// Checks shapes and values, for statistics read from a file.
    pub fn validate(&self, classes: usize, dim: usize) -> Result<(), OodError> {
        let bad = |m: String| Err(OodError::Invalid(m));
        if self.dim != dim {
            return bad(format!("made for {}-value features, the model gives {dim}", self.dim));
        }
        if self.k == 0 || self.k > self.dim {
            return bad(format!("{} directions for {}-value features", self.k, self.dim));
        }
        if self.mean.len() != self.dim || self.basis.len() != self.dim * self.k || self.whiten.len() != self.k * self.k || self.class_means.len() != classes * self.k {
            return bad("array sizes do not match dim, k and the classes".into());
        }
        if !(self.residual_variance > 0.0 && self.residual_variance.is_finite()) {
            return bad("the residual variance must be a positive number".into());
        }
        if !(0.0..=1.0).contains(&self.validation_rejected) {
            return bad(format!("validation_rejected is a share of frames, got {}", self.validation_rejected));
        }
        if self.mean.iter().chain(&self.basis).chain(&self.whiten).chain(&self.class_means).any(|v| !v.is_finite()) || self.threshold.is_nan() {
            return bad("non-finite values".into());
        }
        Ok(())
    }
}

/// `f32` fields that may be +∞: JSON has no infinity (serde_json writes `null`, which would not
/// read back), so +∞ is written as `null` and `null` read as +∞.
pub mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f32(*v) } else { s.serialize_none() }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::INFINITY))
    }
}

/// Area under the ROC curve of telling `outside` from `inside` by score (higher = more out of
/// domain): the probability that a random outside image scores above a random inside one,
/// ties counting half (Mann–Whitney U).
pub fn auroc(inside: &[f32], outside: &[f32]) -> f64 {
    if inside.is_empty() || outside.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f32, bool)> = inside.iter().map(|&s| (s, false)).chain(outside.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Rank sum of the outside scores, with average ranks for ties.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += all[i..=j].iter().filter(|x| x.1).count() as f64 * avg;
        i = j + 1;
    }
    let (n_out, n_in) = (outside.len() as f64, inside.len() as f64);
    (rank_sum - n_out * (n_out + 1.0) / 2.0) / (n_out * n_in)
}

fn identity(n: usize) -> Vec<f64> {
    (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect()
}

fn matmul(a: &[f64], b: &[f64], r: usize, m: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0f64; r * c];
    for i in 0..r {
        for p in 0..m {
            let x = a[i * m + p];
            if x != 0.0 {
                for j in 0..c {
                    out[i * c + j] += x * b[p * c + j];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Two classes of 8-d Gaussian features with strongly correlated dimensions.
    fn data(n: usize, shift: f32, rng: &mut Rng) -> (Vec<f32>, Vec<usize>) {
        let (mut f, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = i % 2;
            let common = rng.normal() * 3.0;
            for d in 0..8 {
                f.push(common + 0.3 * rng.normal() + if c == 1 { 2.0 } else { 0.0 } + shift * (d % 2) as f32);
            }
            y.push(c);
        }
        (f, y)
    }

    #[test]
    fn mahalanobis_separates_shifted_data_and_sets_its_threshold() {
        let mut rng = Rng::new(4);
        let (train, labels) = data(2000, 0.0, &mut rng);
        let mut m = OodModel::fit(Layer::Fc7, &train, 8, &labels, 2, 8, 1);
        let (val, _) = data(400, 0.0, &mut rng);
        m.set_threshold(&m.scores(&val), 0.05);
        assert!((m.validation_rejected - 0.05).abs() < 0.01, "{}", m.validation_rejected);
        // Off-manifold shift (against the correlation) is far in Mahalanobis terms although
        // small in Euclidean terms compared with the common factor's spread.
        let (inside, _) = data(400, 0.0, &mut rng);
        let (outside, _) = data(400, 1.5, &mut rng);
        let a = auroc(&m.scores(&inside), &m.scores(&outside));
        assert!(a > 0.97, "AUROC {a}");
        let caught = m.scores(&outside).iter().filter(|&&s| m.is_out(s)).count();
        assert!(caught > 360, "{caught} of 400 flagged");
        m.validate(2, 8).unwrap();
        // A statistics file without a threshold (no validation frames) reads back as such.
        let mut open = m.clone();
        open.threshold = f32::INFINITY;
        let back: OodModel = serde_json::from_str(&serde_json::to_string(&open).unwrap()).unwrap();
        assert_eq!(back.threshold, f32::INFINITY);
        assert!(m.validate(3, 8).is_err() && m.validate(2, 9).is_err());
        // With PCA to 4 directions it still works and stays consistent.
        let p = OodModel::fit(Layer::Fc7, &train, 8, &labels, 2, 4, 1);
        assert_eq!((p.basis.len(), p.whiten.len()), (32, 16));
        assert!(auroc(&p.scores(&inside), &p.scores(&outside)) > 0.9);
    }

    #[test]
    fn auroc_of_hand_made_scores() {
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), 0.0);
        assert_eq!(auroc(&[1.0, 3.0], &[2.0, 4.0]), 0.75);
        assert_eq!(auroc(&[1.0], &[1.0]), 0.5);
    }
}
