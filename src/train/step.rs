//! One optimisation step and batch inference, independent of where images come from and of
//! how progress is shown or checkpoints are written (those are the native tool's).

use crate::loss::{LossConfig, hash_loss};
use crate::infer::batch_tensor;
use crate::model::{AuroraNet, ModelConfig};
use crate::rng::Rng;
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Optimisation settings, saved in the run folder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub seed: u64,
    pub loss: LossConfig,
    /// Mirror images east–west at random (an all-sky frame mirrored is still a valid frame of
    /// the same class; so is a mirrored photo).
    pub flip: bool,
}

impl TrainConfig {
    pub fn new(bits: usize) -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-4,
            weight_decay: 5e-4,
            seed: 42,
            loss: LossConfig::for_bits(bits),
            flip: true,
        }
    }

    pub fn optimizer(&self) -> ModuleOptimizer {
        AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay)))
            .init()
    }
}

/// Loss values of one step (or their mean over an epoch).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StepLoss {
    pub total: f32,
    pub cross_entropy: f32,
    pub contrastive: f32,
}

/// What one step reports: its loss and how many images of the batch fc8 classified right.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub loss: StepLoss,
    pub correct: usize,
}

/// A model being trained, with its optimiser. `device` must be an autodiff device.
pub struct Trainer {
    pub model: AuroraNet,
    pub optim: ModuleOptimizer,
    pub model_config: ModelConfig,
    pub config: TrainConfig,
    pub device: Device,
}

impl Trainer {
    pub fn new(model_config: ModelConfig, config: TrainConfig, device: Device) -> Self {
        let device = device.autodiff();
        device.seed(config.seed);
        let model = AuroraNet::new(&model_config, &device);
        Self { model, optim: config.optimizer(), model_config, config, device }
    }

    /// One step on a batch. `pixels` holds the preprocessed images one after another
    /// (`channels × size × size` each).
    pub fn step(&mut self, pixels: Vec<f32>, labels: &[usize]) -> Step {
        self.step_with_codes(pixels, labels, None)
    }

    /// One step with each image's target bits (`B × N`, 0/1), for CNNH's second stage.
    pub fn step_with_codes(&mut self, pixels: Vec<f32>, labels: &[usize], codes: Option<Vec<f32>>) -> Step {
        let x = batch_tensor(pixels, labels.len(), &self.model_config, &self.device);
        let codes = codes.map(|c| Tensor::<2>::from_data(TensorData::new(c, [labels.len(), self.model_config.bits]), &self.device));
        let out = self.model.forward(x);
        let predicted = out.logits.clone().detach().argmax(1).into_data().try_into_vec_as::<i64>().expect("int data");
        let correct = predicted.iter().zip(labels).filter(|&(&p, &l)| p as usize == l).count();
        let parts = hash_loss(out.logits, out.hash, labels, codes, &self.config.loss);
        let loss = StepLoss {
            total: parts.total.clone().into_scalar::<f32>(),
            cross_entropy: parts.cross_entropy.into_scalar::<f32>(),
            contrastive: parts.contrastive.into_scalar::<f32>(),
        };
        let grads = GradientsParams::from_grads(parts.total.backward(), &self.model);
        let model = self.model.clone();
        self.model = self.optim.step(self.config.learning_rate, model, grads);
        Step { loss, correct }
    }

    /// The model for inference: same weights, no autodiff, dropout off.
    pub fn inference_model(&self) -> AuroraNet {
        self.model.valid()
    }
}

/// Shuffled batches of sample positions for one epoch; the order depends only on the seed and
/// the epoch, so a resumed run sees the same batches it would have seen. Batches of one image
/// are dropped (they have no pair for the contrastive loss).
pub fn epoch_batches(n: usize, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 0xE90C + epoch as u64).shuffle(&mut order);
    order.chunks(batch_size.max(2)).filter(|c| c.len() >= 2).map(<[usize]>::to_vec).collect()
}


