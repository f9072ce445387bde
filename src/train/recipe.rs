//! The training recipe: every optimisation setting of a run, saved in its folder.
//!
//! Two presets. [`TrainConfig::recipe`] is what a run gets by default; every value in it was
//! chosen on validation blocks carved from the YRS training part (the README and
//! `docs/results/` say how). [`TrainConfig::legacy`] is the project's first recipe — Adam at a
//! constant rate, east–west flips only, no validation, the last epoch kept — kept so the gain
//! of the new one can be measured on the same split.

use super::sampler::Balance;
use super::schedule::Schedule;
use crate::data::augment::Augment;
use crate::loss::LossConfig;
use serde::{Deserialize, Serialize};

/// Which optimiser.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Adam with L2 weight decay added to the gradient (the legacy recipe).
    #[default]
    Adam,
    /// AdamW: weight decay decoupled from the adaptive step (Loshchilov & Hutter 2019), so it
    /// regularises every weight alike instead of mostly the ones with small gradients.
    AdamW,
}

/// Optimisation settings, saved in the run folder. Fields added after the first runs default
/// to the legacy behaviour, so old run folders load and resume as they were trained.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (the whole run's rate under [`Schedule::Constant`]).
    pub learning_rate: f64,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub optimizer: Optimizer,
    pub weight_decay: f32,
    /// Label smoothing ε of the cross-entropy (0 = none).
    #[serde(default)]
    pub label_smoothing: f32,
    /// Largest L2 norm of each parameter tensor's gradient (burn clips per tensor).
    #[serde(default)]
    pub grad_clip: Option<f32>,
    /// Against class imbalance: balanced sampling, loss weights, or neither.
    #[serde(default)]
    pub balance: Balance,
    #[serde(default = "Augment::mirror_only")]
    pub augment: Augment,
    /// Stop when the validation score has not improved for this many epochs.
    #[serde(default)]
    pub patience: Option<usize>,
    /// Validate, keep and export a moving average of the weights over about this many epochs
    /// (`average`) instead of the raw weights of the epoch's last step; none: the raw weights.
    #[serde(default)]
    pub average_epochs: Option<f32>,
    pub seed: u64,
    pub loss: LossConfig,
}

impl TrainConfig {
    /// The default recipe for a network with `bits`-bit codes: AdamW at 3·10⁻⁴ with one epoch
    /// of linear warm-up and cosine decay to 1 % over 60 epochs, weight decay 0.05, label
    /// smoothing 0.1, per-tensor gradient clipping at norm 5, class-balanced sampling, the
    /// all-sky augmentation (photos: `augment` = [`Augment::photos`]), early stopping after 15
    /// epochs without a better validation score, batches of 32.
    pub fn recipe(bits: usize) -> Self {
        Self {
            epochs: 60,
            batch_size: 32,
            learning_rate: 3e-4,
            schedule: Schedule::WarmupCosine { warmup_epochs: 1.0, final_fraction: 0.01 },
            optimizer: Optimizer::AdamW,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            grad_clip: Some(5.0),
            balance: Balance::Sampler,
            augment: Augment::all_sky(),
            patience: Some(15),
            average_epochs: None,
            seed: 42,
            loss: LossConfig::for_bits(bits),
        }
    }

    /// The project's first recipe: Adam at a constant 10⁻⁴ with L2 decay 5·10⁻⁴, east–west
    /// flips, unbalanced shuffled batches of 32, ten epochs, the last one kept.
    pub fn legacy(bits: usize) -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-4,
            schedule: Schedule::Constant,
            optimizer: Optimizer::Adam,
            weight_decay: 5e-4,
            label_smoothing: 0.0,
            grad_clip: None,
            balance: Balance::None,
            augment: Augment::mirror_only(),
            patience: None,
            average_epochs: None,
            seed: 42,
            loss: LossConfig::for_bits(bits),
        }
    }

    /// Alias of [`TrainConfig::legacy`], kept for callers that predate the recipe.
    pub fn new(bits: usize) -> Self {
        Self::legacy(bits)
    }

    /// A setting that cannot train, named.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size < 2 {
            return Err(format!("batch size must be at least 2 (pairs are formed within a batch), got {}", self.batch_size));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(format!("the learning rate must be a positive number, got {}", self.learning_rate));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(format!("label smoothing must be in [0, 1), got {}", self.label_smoothing));
        }
        if self.grad_clip.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return Err(format!("gradient clipping must be a positive norm, got {:?}", self.grad_clip));
        }
        if self.average_epochs.is_some_and(|h| !(h > 0.0 && h.is_finite())) {
            return Err(format!("the averaging horizon must be a positive number of epochs, got {:?}", self.average_epochs));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!("weight decay must be ≥ 0, got {}", self.weight_decay));
        }
        self.schedule.validate()
    }
}
