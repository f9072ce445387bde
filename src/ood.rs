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
    /// Every conv block's maps (conv1 … conv5) averaged over space, side by side.
    Blocks,
    /// [`Layer::Blocks`] and the same maps' spatial standard deviations.
    BlockStats,
}

impl Layer {
    pub const ALL: [Layer; 5] = [Layer::Conv5, Layer::Fc7, Layer::Hash, Layer::Blocks, Layer::BlockStats];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Conv5 => "conv5 (spatial mean)",
            Layer::Fc7 => "fc7",
            Layer::Hash => "hash layer (before sigmoid)",
            Layer::Blocks => "conv1-conv5 (spatial means)",
            Layer::BlockStats => "conv1-conv5 (spatial means and std)",
        }
    }

    /// Its place in [`Layer::ALL`].
    pub fn position(self) -> usize {
        Layer::ALL.iter().position(|&l| l == self).expect("every layer is in ALL")
    }

    /// Whether each value is divided by its training spread before the statistics: the
    /// blocks' channels differ in scale by orders of magnitude from conv1 to conv5, and
    /// unscaled, the principal directions would hold only the largest ones.
    pub fn standardised(self) -> bool {
        matches!(self, Layer::Blocks | Layer::BlockStats)
    }
}

/// Fitted statistics: with `d = (x − mean) / scale` (no division when `scale` is empty),
/// `p = d · basis` (`dim × k`, orthonormal columns), `z = p · whiten` (`k × k`) and the score is
/// `min_c ‖z − class_means[c]‖² + (‖d‖² − ‖p‖²) / residual_variance`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OodModel {
    pub layer: Layer,
    pub dim: usize,
    pub k: usize,
    pub mean: Vec<f32>,
    /// Per-value training standard deviation the centred features are divided by (empty:
    /// none, as in statistics written before it existed; see [`Layer::standardised`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale: Vec<f32>,
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
    /// Fits the statistics on training features (`n × dim`, row-major, `dim` the sum of
    /// `groups`: the widths of the layer's parts, one per conv block for the standardised
    /// layers, `[dim]` otherwise) with their labels, keeping `k` principal directions (at most
    /// `dim`), with the threshold at +∞ until [`OodModel::set_threshold`] is called.
    pub fn fit(layer: Layer, features: &[f32], groups: &[usize], labels: &[usize], classes: usize, k: usize, seed: u64) -> OodModel {
        let dim: usize = groups.iter().sum();
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
        let scale = if layer.standardised() { spreads(features, groups, &mean) } else { Vec::new() };
        let centred: Vec<f64> = features
            .chunks_exact(dim)
            .flat_map(|row| row.iter().zip(&mean).enumerate().map(|(i, (&v, m))| (v as f64 - m) / scale.get(i).map_or(1.0, |&s| s as f64)))
            .collect();
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
        // Floored at a hundredth of the average variance per value: with fewer training
        // frames than values (a small demo run), the kept directions hold nearly all of the
        // training variance, the residual's variance is ~0, and every new frame, in domain or
        // not, would score astronomically (10¹³ seen) on noise alone.
        let per_value = centred.iter().map(|v| v * v).sum::<f64>() / (n.max(1) * dim) as f64;
        let residual_variance = if k == dim { 1.0 } else { (residual / (n.max(1) * (dim - k)) as f64).max(0.01 * per_value).max(1e-12) };
        OodModel {
            layer,
            dim,
            k,
            mean: mean.iter().map(|&v| v as f32).collect(),
            scale,
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
            let d = (x - m) / self.scale.get(i).copied().unwrap_or(1.0);
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
        if !(self.scale.is_empty() || self.scale.len() == self.dim) {
            return bad(format!("{} scale values for {}-value features", self.scale.len(), self.dim));
        }
        if self.scale.iter().any(|&s| !(s > 0.0 && s.is_finite())) {
            return bad("scale values must be positive numbers".into());
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

/// Out-of-fold scores of the training frames, for a threshold when a run has no validation
/// frames: each fold's frames are scored by statistics fitted on the other folds only, so a
/// frame is never scored by statistics it helped fit (scored by the statistics fitted on all of
/// them, the training frames would look closer than any new frame does, and a threshold on
/// them would flag new nights wholesale). The folds should be whole time blocks, for the same
/// reason the validation frames are. A class absent from a fold's complement is left out of
/// that fit rather than given a mean it does not have. Returns one score per feature row,
/// in row order; rows in no fold score NaN.
#[allow(clippy::too_many_arguments)]
pub fn cross_fitted_scores(layer: Layer, features: &[f32], groups: &[usize], labels: &[usize], classes: usize, k: usize, seed: u64, folds: &[Vec<usize>]) -> Vec<f32> {
    let dim: usize = groups.iter().sum();
    let mut out = vec![f32::NAN; labels.len()];
    for fold in folds {
        let held: std::collections::HashSet<usize> = fold.iter().copied().collect();
        let rest: Vec<usize> = (0..labels.len()).filter(|i| !held.contains(i)).collect();
        if rest.is_empty() || fold.is_empty() {
            continue;
        }
        // The classes present in the complement, renumbered 0.. .
        let mut index = vec![usize::MAX; classes];
        let mut next = 0;
        for &i in &rest {
            if index[labels[i]] == usize::MAX {
                index[labels[i]] = next;
                next += 1;
            }
        }
        let rest_features: Vec<f32> = rest.iter().flat_map(|&i| features[i * dim..(i + 1) * dim].iter().copied()).collect();
        let rest_labels: Vec<usize> = rest.iter().map(|&i| index[labels[i]]).collect();
        let m = OodModel::fit(layer, &rest_features, groups, &rest_labels, next, k, seed);
        for &i in fold {
            out[i] = m.score(&features[i * dim..(i + 1) * dim]);
        }
    }
    out
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

/// Per-value standard deviation of `n × dim` features about `mean`, floored within each
/// group (conv block) at a hundredth of the group's average, so that a channel that never
/// fires in training (a dead ReLU) neither divides by zero nor, firing a little on a frame of
/// another night, outweighs everything else; the floor is per group because the blocks'
/// scales differ by orders of magnitude.
fn spreads(features: &[f32], groups: &[usize], mean: &[f64]) -> Vec<f32> {
    let dim = mean.len();
    let n = (features.len() / dim.max(1)).max(1) as f64;
    let mut var = vec![0f64; dim];
    for row in features.chunks_exact(dim) {
        for ((v, &x), m) in var.iter_mut().zip(row).zip(mean) {
            *v += (x as f64 - m).powi(2);
        }
    }
    let sd: Vec<f64> = var.iter().map(|v| (v / n).sqrt()).collect();
    let mut out = Vec::with_capacity(dim);
    let mut start = 0;
    for &g in groups {
        let part = &sd[start..start + g];
        let floor = (part.iter().sum::<f64>() / g.max(1) as f64 * 0.01).max(1e-6);
        out.extend(part.iter().map(|&s| s.max(floor) as f32));
        start += g;
    }
    out
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
        let mut m = OodModel::fit(Layer::Fc7, &train, &[8], &labels, 2, 8, 1);
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
        let p = OodModel::fit(Layer::Fc7, &train, &[8], &labels, 2, 4, 1);
        assert_eq!((p.basis.len(), p.whiten.len()), (32, 16));
        assert!(auroc(&p.scores(&inside), &p.scores(&outside)) > 0.9);
    }

    /// Two groups (blocks) of values a thousand times apart in scale: a stranger that differs
    /// only in the small ones is missed unscaled (the principal directions and the residual's
    /// average variance belong to the large ones) and caught standardised.
    #[test]
    fn standardised_layers_see_shifts_in_their_small_values() {
        let mut rng = Rng::new(9);
        let dim = 12;
        let sample = |n: usize, shift: f32, rng: &mut Rng| -> Vec<f32> {
            (0..n * dim).map(|i| if i % dim < 6 { 1000.0 * rng.normal() } else { rng.normal() + if i % dim == 11 { shift } else { 0.0 } }).collect()
        };
        let train = sample(3000, 0.0, &mut rng);
        let labels = vec![0usize; 3000];
        let (inside, outside) = (sample(400, 0.0, &mut rng), sample(400, 6.0, &mut rng));
        let plain = OodModel::fit(Layer::Fc7, &train, &[dim], &labels, 1, 4, 1);
        let scaled = OodModel::fit(Layer::Blocks, &train, &[6, 6], &labels, 1, 4, 1);
        assert!(plain.scale.is_empty() && scaled.scale.len() == dim);
        let (a_plain, a_scaled) = (auroc(&plain.scores(&inside), &plain.scores(&outside)), auroc(&scaled.scores(&inside), &scaled.scores(&outside)));
        assert!(a_plain < 0.7 && a_scaled > 0.95, "unscaled {a_plain}, standardised {a_scaled}");
        scaled.validate(1, dim).unwrap();
        let back: OodModel = serde_json::from_str(&serde_json::to_string(&scaled).unwrap()).unwrap();
        assert_eq!(back.scores(&outside), scaled.scores(&outside));
        // Statistics written before `scale` existed read back unscaled.
        let mut old = serde_json::to_value(&plain).unwrap();
        old.as_object_mut().unwrap().remove("scale");
        assert_eq!(serde_json::from_value::<OodModel>(old).unwrap(), plain);
        let mut bad = scaled.clone();
        bad.scale[3] = 0.0;
        assert!(bad.validate(1, dim).is_err());
        bad.scale.pop();
        assert!(bad.validate(1, dim).is_err());
    }

    /// Fewer training frames than values: new frames from the same distribution score within a
    /// bounded factor of the training frames (they do lie off the 20 frames' subspace), not at
    /// the ~10¹³ an unfloored residual gives.
    #[test]
    fn few_training_frames_do_not_make_every_new_frame_a_stranger() {
        let mut rng = Rng::new(5);
        let dim = 50;
        let sample = |n: usize, rng: &mut Rng| -> Vec<f32> { (0..n * dim).map(|_| rng.normal()).collect() };
        let train = sample(20, &mut rng);
        let m = OodModel::fit(Layer::Blocks, &train, &[dim], &[0; 20], 1, 10, 1);
        let median = |mut v: Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        };
        let (seen, new) = (median(m.scores(&train)), median(m.scores(&sample(50, &mut rng))));
        assert!(new.is_finite() && new < 1e4 * seen.max(1.0), "training median {seen}, new frames' median {new}");
    }

    #[test]
    fn cross_fitted_threshold_flags_new_in_domain_frames_at_about_its_share() {
        // Few frames for many values: scored by statistics fitted on themselves, the training
        // frames look closer than new ones, so a threshold on them flags new frames wholesale;
        // out-of-fold scores stand in for frames the statistics have not seen.
        let mut rng = Rng::new(11);
        let dim = 40;
        let (n, blocks) = (240, 12);
        let frame = |c: usize, rng: &mut Rng| -> Vec<f32> { (0..dim).map(|d| rng.normal() + if d == c { 3.0 } else { 0.0 }).collect() };
        let labels: Vec<usize> = (0..n).map(|i| (i / 20) % 3).collect();
        let train: Vec<f32> = labels.iter().flat_map(|&c| frame(c, &mut rng)).collect();
        let fresh: Vec<f32> = (0..3000).flat_map(|i| frame(i % 3, &mut rng)).collect();
        let folds: Vec<Vec<usize>> = (0..4).map(|f| (0..n).filter(|i| (i / (n / blocks)) % 4 == f).collect()).collect();
        let mut m = OodModel::fit(Layer::Fc7, &train, &[dim], &labels, 3, 16, 1);
        let share = |m: &OodModel| m.scores(&fresh).iter().filter(|&&s| m.is_out(s)).count() as f32 / 3000.0;
        m.set_threshold(&m.scores(&train), 0.05);
        let in_sample = share(&m);
        let oof = cross_fitted_scores(Layer::Fc7, &train, &[dim], &labels, 3, 16, 1, &folds);
        assert!(oof.iter().all(|s| s.is_finite()));
        m.set_threshold(&oof, 0.05);
        let crossed = share(&m);
        assert!((0.01..0.12).contains(&crossed), "cross-fitted threshold flags {crossed} of new in-domain frames");
        assert!(in_sample > 2.0 * crossed, "in-sample threshold flags {in_sample}, cross-fitted {crossed}");
        // A class missing from a fold's complement is left out of that fit, not scored against
        // a mean at the origin.
        let lone: Vec<usize> = labels.iter().enumerate().map(|(i, &c)| if i < 20 { 3 } else { c }).collect();
        let folds = vec![(0..20).collect::<Vec<_>>(), (20..n).collect()];
        let s = cross_fitted_scores(Layer::Fc7, &train, &[dim], &lone, 4, 16, 1, &folds);
        assert!(s.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn auroc_of_hand_made_scores() {
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), 0.0);
        assert_eq!(auroc(&[1.0, 3.0], &[2.0, 4.0]), 0.75);
        assert_eq!(auroc(&[1.0], &[1.0]), 0.5);
    }
}
