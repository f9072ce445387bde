//! Training: the recipe ([`recipe`]), which images each step sees ([`sampler`]), the
//! learning-rate schedule ([`schedule`]), one optimisation step ([`step`]), the epoch loop with
//! validation, best checkpoint and early stopping ([`fit`]), the moving average of the weights
//! that is validated and kept when the recipe asks for it ([`average`]), and pseudo-labels for unlabelled
//! frames ([`pseudo`]).
//!
//! None of it reads files or prints: the native tool loads the images, and saves checkpoints
//! and shows progress through [`fit::Observer`].

pub mod average;
pub mod fit;
pub mod pseudo;
pub mod recipe;
pub mod sampler;
pub mod schedule;
pub mod step;

pub use fit::{EpochRecord, FitError, Labelled, Observer, Progress, Validation, fit};
pub use recipe::{Optimizer, TrainConfig};
pub use sampler::{Balance, epoch_batches};
pub use schedule::Schedule;
pub use step::{Step, StepLoss, Trainer};
