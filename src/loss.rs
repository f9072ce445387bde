//! The training objective, paper eq. 4–6: `L = μ·CrossEntropy + λ·Contrastive`.
//!
//! # How pairs are formed
//! The paper feeds image pairs. Here every batch of B images yields all B(B−1)/2 pairs (i < j):
//! one forward pass then serves B−1 pairs per image instead of one, the pairwise squared
//! distances come from a single B×B matrix product, and each batch holds both similar and
//! dissimilar pairs in proportion to the classes it contains. Eq. 6 sums over pairs; we take the
//! mean over pairs so that λ does not change meaning with the batch size.
//!
//! Eq. 5 is written as a binary cross entropy; for four (or ten) exclusive classes the softmax
//! cross entropy over fc8 is the same criterion, and is what is used.
//!
//! # Other pair losses (the paper's Table 6 baselines, trained in this same framework)
//! Both act on u = 2h − 1 ∈ (−1, 1)^N, the sigmoid outputs moved to the ±1 code space, so the
//! code rule (bit = h ≥ 0.5, i.e. u ≥ 0) is unchanged:
//! * **DSH** (Liu et al. 2016): ½·s‖ui − uj‖² + ½·(1 − s)·max(m − ‖ui − uj‖², 0) + α(‖|ui| − 1‖₁
//!   + ‖|uj| − 1‖₁), with m = 2N and α = 0.01 as in its paper;
//! * **DPSH** (Li et al. 2016): −(s·θ − log(1 + e^θ)) with θ = ½ ui·uj, plus η‖sign(ui) − ui‖²
//!   (η = 0.1; its paper's u is unbounded, here tanh-like bounded).
//!
//! Run alone (`--mu 0 --lambda 1`) they are those methods on this network.
//!
//! **CNNH**'s second stage (Xia et al. 2014) is not a pair loss: it regresses the hash layer onto
//! target bits found beforehand from the pair labels ([`crate::baselines::cnnh`]), the squared
//! error averaged over bits and images.

use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which pair loss is the hash term.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PairLoss {
    /// The paper's eq. 6, on the sigmoid outputs.
    #[default]
    Contrastive,
    /// Deep Supervised Hashing (Liu et al. 2016).
    Dsh,
    /// Deep Pairwise-Supervised Hashing (Li et al. 2016).
    Dpsh,
    /// CNNH stage 2: squared error to each image's stage-1 target bits.
    Cnnh,
}

/// Weights of the two terms and the contrastive margin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LossConfig {
    /// The hash term (runs saved before this field existed used the contrastive loss).
    #[serde(default)]
    pub pair: PairLoss,
    /// μ, weight of the classification loss.
    pub mu: f32,
    /// λ, weight of the contrastive hash loss; 0 is the paper's "without hash loss" ablation.
    pub lambda: f32,
    /// m, the margin on the squared Euclidean distance between two hash-layer outputs.
    /// Outputs lie in [0, 1]^N, so distances lie in [0, N]; a margin of N/4 asks dissimilar
    /// images to differ by at least a quarter of the bits' worth of squared distance.
    pub margin: f32,
}

impl LossConfig {
    /// Defaults: μ = 1, λ = 0.1, m = N/4. The paper gives no values. With λ = 1 on the
    /// four-class YRS data (69% arcs) the contrastive term wins early: every code collapses to
    /// one (all similar pairs satisfied, each dissimilar pair paying m/2) and cross-entropy
    /// stays at the class prior; with λ = 0.1 the classifier separates the classes first and
    /// the contrastive term then spreads the codes (measured: see the README).
    pub fn for_bits(bits: usize) -> Self {
        Self { pair: PairLoss::Contrastive, mu: 1.0, lambda: 0.1, margin: bits as f32 / 4.0 }
    }
}

/// The loss and its two parts (the parts are detached, for logging).
pub struct LossParts {
    pub total: Tensor<1>,
    pub cross_entropy: Tensor<1>,
    pub contrastive: Tensor<1>,
}

/// Contrastive loss (eq. 6) over all pairs of a batch, averaged over pairs.
///
/// `hash`: `[B, N]` sigmoid outputs; `labels`: the B class labels.
pub fn contrastive(hash: Tensor<2>, labels: &[usize], margin: f32) -> Tensor<1> {
    let b = labels.len();
    assert!(b >= 2, "the contrastive loss needs at least two images in a batch");
    let device = hash.device();
    // ‖hi − hj‖² = ‖hi‖² + ‖hj‖² − 2 hi·hj, clamped at 0 against rounding.
    let sq = hash.clone().square().sum_dim(1); // [B, 1]
    let gram = hash.clone().matmul(hash.transpose()); // [B, B]
    let dist = (sq.clone() + sq.transpose() - gram * 2.0).clamp_min(0.0);
    // y = 0 for similar pairs (same class), 1 otherwise, as in the paper.
    let similar: Vec<f32> = (0..b * b).map(|k| (labels[k / b] == labels[k % b]) as u8 as f32).collect();
    let similar = Tensor::<2>::from_data(TensorData::new(similar, [b, b]), &device);
    let dissimilar = similar.clone().neg() + 1.0;
    let per_pair = similar * dist.clone() + dissimilar * (dist.neg() + margin).clamp_min(0.0);
    // The diagonal (i = j) is a similar pair at distance 0 and contributes nothing; each
    // unordered pair appears twice.
    (per_pair.sum() * (0.5 / (b * (b - 1)) as f32)).reshape([1])
}

/// Same-class indicator of every ordered pair of the batch, `[B, B]`.
fn similarity(labels: &[usize], device: &burn::tensor::Device) -> Tensor<2> {
    let b = labels.len();
    let similar: Vec<f32> = (0..b * b).map(|k| (labels[k / b] == labels[k % b]) as u8 as f32).collect();
    Tensor::<2>::from_data(TensorData::new(similar, [b, b]), device)
}

/// Mean over the B(B−1) off-diagonal entries of a `[B, B]` per-pair loss.
fn mean_off_diagonal(per_pair: Tensor<2>, b: usize) -> Tensor<1> {
    let eye = Tensor::<2>::eye(b, &per_pair.device());
    ((per_pair * (eye.neg() + 1.0)).sum() * (1.0 / (b * (b - 1)) as f32)).reshape([1])
}

/// DSH over all pairs of a batch, averaged over pairs; `margin` on ‖ui − uj‖² (paper: 2N).
pub fn dsh(hash: Tensor<2>, labels: &[usize], margin: f32) -> Tensor<1> {
    let b = labels.len();
    assert!(b >= 2, "a pair loss needs at least two images in a batch");
    let u = hash * 2.0 - 1.0;
    let sq = u.clone().square().sum_dim(1);
    let dist = (sq.clone() + sq.transpose() - u.clone().matmul(u.clone().transpose()) * 2.0).clamp_min(0.0);
    let similar = similarity(labels, &u.device());
    let dissimilar = similar.clone().neg() + 1.0;
    let pairs = mean_off_diagonal(similar * dist.clone() * 0.5 + dissimilar * (dist.neg() + margin).clamp_min(0.0) * 0.5, b);
    // α(‖|ui| − 1‖₁ + ‖|uj| − 1‖₁) per pair is, averaged over pairs, 2α times the mean per image.
    let regulariser = (u.abs().neg() + 1.0).abs().sum() * (2.0 * 0.01 / b as f32);
    pairs + regulariser.reshape([1])
}

/// DPSH over all pairs of a batch, averaged over pairs.
pub fn dpsh(hash: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let b = labels.len();
    assert!(b >= 2, "a pair loss needs at least two images in a batch");
    let u = hash * 2.0 - 1.0;
    let theta = u.clone().matmul(u.clone().transpose()) * 0.5;
    let similar = similarity(labels, &u.device());
    // −(s·θ − log(1 + e^θ)) = softplus(θ) − s·θ.
    let pairs = mean_off_diagonal(burn::tensor::activation::softplus(theta.clone(), 1.0) - similar * theta, b);
    let codes = u.clone().sign().detach();
    let quantisation = (codes - u).square().sum() * (0.1 / b as f32);
    pairs + quantisation.reshape([1])
}

/// CNNH stage 2: mean squared error between the sigmoid outputs and 0/1 target bits, `[B, N]`.
pub fn code_regression(hash: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (hash - targets).square().mean().reshape([1])
}

/// `μ·CE + λ·HashTerm` for one batch. `cross_entropy` carries the recipe's class weights and
/// label smoothing (a plain `CrossEntropyLossConfig::new().init(..)` is the paper's eq. 5).
/// `codes` (`[B, N]` target bits) is needed by, and only by, [`PairLoss::Cnnh`].
pub fn hash_loss(
    cross_entropy: &CrossEntropyLoss,
    logits: Tensor<2>,
    hash: Tensor<2>,
    labels: &[usize],
    codes: Option<Tensor<2>>,
    config: &LossConfig,
) -> LossParts {
    let device = logits.device();
    let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [labels.len()]), &device);
    let ce = cross_entropy.forward(logits, targets);
    let cl = if config.lambda != 0.0 && labels.len() >= 2 {
        match config.pair {
            PairLoss::Contrastive => contrastive(hash, labels, config.margin),
            PairLoss::Dsh => dsh(hash, labels, config.margin),
            PairLoss::Dpsh => dpsh(hash, labels),
            PairLoss::Cnnh => code_regression(hash, codes.expect("CNNH training needs each image's target bits")),
        }
    } else {
        Tensor::zeros([1], &device)
    };
    LossParts {
        total: ce.clone() * config.mu + cl.clone() * config.lambda,
        cross_entropy: ce.detach(),
        contrastive: cl.detach(),
    }
}
