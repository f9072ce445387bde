//! The epoch loop: batches, augmentation, the learning-rate schedule, validation after every
//! epoch, the best checkpoint and early stopping.
//!
//! The loop owns every training decision and no I/O: an [`Observer`] is told after each epoch
//! (and whether the model just became the best one) and does the saving and the printing. The
//! whole state that a resumed run needs besides the weights is [`Progress`], which the caller
//! stores with the checkpoint; everything random is derived from the seed, the epoch and the
//! position in the epoch, so a run killed and resumed sees the same batches and augmentations
//! as one that ran straight through.

use super::Trainer;
use super::sampler::{batches, epoch_order};
use crate::data::preprocess::Preprocess;
use crate::infer::{encode, predicted_classes};
use crate::metrics::{classification, mean_nll};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Preprocessed images with their labels.
#[derive(Clone, Copy)]
pub struct Labelled<'a> {
    pub pixels: &'a [Vec<f32>],
    pub labels: &'a [usize],
    /// Each image's target bits (`bits` values, 0/1) for CNNH's stage 2; none otherwise.
    pub codes: Option<&'a [f32]>,
}

/// How the model did on the validation images after an epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Validation {
    pub images: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
}

impl Validation {
    /// The checkpoint rule: higher balanced accuracy; on a tie, lower NLL. Balanced accuracy is
    /// what the classes' users care about (a rare class counts as much as arcs); NLL, being
    /// continuous, separates epochs whose few validation blocks give the same accuracy.
    pub fn better_than(&self, other: &Validation) -> bool {
        const EPS: f64 = 1e-9;
        self.balanced_accuracy > other.balanced_accuracy + EPS
            || ((self.balanced_accuracy - other.balanced_accuracy).abs() <= EPS && self.nll < other.nll)
    }
}

/// One finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f32,
    pub cross_entropy: f32,
    pub contrastive: f32,
    pub train_accuracy: f32,
    pub learning_rate: f64,
    pub seconds: f64,
    pub images_per_second: f64,
    pub validation: Option<Validation>,
}

/// Where a run stands between epochs (saved beside each checkpoint).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub epochs_done: usize,
    /// The epoch whose model is the best so far, and its validation.
    pub best_epoch: Option<usize>,
    pub best: Option<Validation>,
    /// Epochs since the best one.
    pub stale: usize,
    /// Early stopping ended the run.
    pub stopped_early: bool,
}

impl Progress {
    pub fn finished(&self, epochs: usize) -> bool {
        self.stopped_early || self.epochs_done >= epochs
    }
}

/// What the caller does with the loop's results.
pub trait Observer {
    type Error;
    /// After each batch: images done in this epoch of `total`, the epoch's mean loss so far.
    fn batch(&mut self, _epoch: usize, _done: usize, _total: usize, _mean_loss: f32) {}
    /// After each epoch, with the state to save. `improved`: the model is the best so far.
    fn epoch(&mut self, trainer: &Trainer, record: &EpochRecord, progress: &Progress, improved: bool) -> Result<(), Self::Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum FitError<E> {
    #[error("the loss became {loss} at epoch {epoch}: lower the learning rate")]
    Diverged { epoch: usize, loss: f32 },
    #[error(transparent)]
    Observer(E),
}

/// Seed stream of the augmentations (kept apart from the sampler's).
const AUGMENT_STREAM: u64 = 0xA06;

/// Trains from `progress` on until the recipe's last epoch, early stopping, or `until_epoch`
/// (exclusive upper bound on epochs run in this call, for splitting a run into sessions).
pub fn fit<O: Observer>(
    trainer: &mut Trainer,
    train: Labelled,
    validation: Option<Labelled>,
    pre: &Preprocess,
    mut progress: Progress,
    until_epoch: usize,
    observer: &mut O,
) -> Result<Progress, FitError<O::Error>> {
    let config = trainer.config.clone();
    let bits = trainer.model_config.bits;
    trainer.weigh_classes(train.labels);
    let per_epoch = batches(&epoch_order(train.labels, config.balance, config.seed, 0), config.batch_size).len().max(1);
    let total_steps = per_epoch * config.epochs;
    let last = until_epoch.min(config.epochs);
    while progress.epochs_done < last && !progress.stopped_early {
        let epoch = progress.epochs_done;
        let order = epoch_order(train.labels, config.balance, config.seed, epoch);
        let epoch_batches = batches(&order, config.batch_size);
        let images: usize = epoch_batches.iter().map(Vec::len).sum();
        let started = Instant::now();
        let (mut sums, mut done, mut correct) = ([0.0f32; 3], 0usize, 0usize);
        let mut lr = config.learning_rate;
        for (b, batch) in epoch_batches.iter().enumerate() {
            lr = config.schedule.rate(config.learning_rate, epoch * per_epoch + b, per_epoch, total_steps);
            let mut x = Vec::with_capacity(batch.len() * train.pixels.first().map_or(0, Vec::len));
            for (k, &i) in batch.iter().enumerate() {
                let mut rng = Rng::derive(config.seed ^ AUGMENT_STREAM, ((epoch as u64) << 32) | (done + k) as u64);
                if config.augment.is_identity() {
                    x.extend_from_slice(&train.pixels[i]);
                } else {
                    x.extend(config.augment.apply(&train.pixels[i], pre, &mut rng));
                }
            }
            let y: Vec<usize> = batch.iter().map(|&i| train.labels[i]).collect();
            let codes = train.codes.map(|t| batch.iter().flat_map(|&i| t[i * bits..(i + 1) * bits].iter().copied()).collect());
            let step = trainer.step_at(x, &y, codes, lr);
            if !step.loss.total.is_finite() {
                return Err(FitError::Diverged { epoch: epoch + 1, loss: step.loss.total });
            }
            trainer.update_average(epoch * per_epoch + b, per_epoch);
            let w = batch.len() as f32;
            sums[0] += step.loss.total * w;
            sums[1] += step.loss.cross_entropy * w;
            sums[2] += step.loss.contrastive * w;
            correct += step.correct;
            done += batch.len();
            observer.batch(epoch, done, images, sums[0] / done as f32);
        }
        let seconds = started.elapsed().as_secs_f64();
        let n = done.max(1) as f32;
        let validation = validation.map(|v| validate(trainer, v));
        let improved = match (&validation, &progress.best) {
            (Some(v), Some(best)) => v.better_than(best),
            (Some(_), None) => true,
            // Without validation data the last epoch is the one kept.
            (None, _) => true,
        };
        progress.epochs_done = epoch + 1;
        if improved {
            progress.best_epoch = Some(epoch + 1);
            progress.best = validation.clone();
            progress.stale = 0;
        } else {
            progress.stale += 1;
        }
        if config.patience.is_some_and(|p| progress.stale >= p) && progress.epochs_done < config.epochs {
            progress.stopped_early = true;
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            loss: sums[0] / n,
            cross_entropy: sums[1] / n,
            contrastive: sums[2] / n,
            train_accuracy: correct as f32 / n,
            learning_rate: lr,
            seconds,
            images_per_second: done as f64 / seconds.max(1e-9),
            validation,
        };
        observer.epoch(trainer, &record, &progress, improved).map_err(FitError::Observer)?;
    }
    Ok(progress)
}

/// Scores the current model on `v` (no augmentation, dropout off).
pub fn validate(trainer: &Trainer, v: Labelled) -> Validation {
    let model = trainer.inference_model();
    let classes = trainer.model_config.num_classes;
    let mut probs = Vec::with_capacity(v.labels.len() * classes);
    for chunk in v.pixels.chunks(64) {
        let e = encode(&model, &trainer.model_config, chunk.concat(), chunk.len(), &trainer.inference_device);
        probs.extend(e.probs);
    }
    let predicted = predicted_classes(&probs, classes);
    let report = classification(v.labels, &predicted, classes);
    Validation {
        images: v.labels.len(),
        accuracy: report.accuracy,
        balanced_accuracy: report.balanced_accuracy,
        nll: mean_nll(&probs, v.labels, classes),
    }
}
