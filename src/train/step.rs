//! One optimisation step, independent of where images come from and of how progress is shown
//! or checkpoints are written.

use super::recipe::{Optimizer, TrainConfig};
use super::sampler::{Balance, class_weights};
use crate::infer::batch_tensor;
use crate::loss::hash_loss;
use crate::model::{AuroraNet, ModelConfig};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

impl TrainConfig {
    pub fn optimizer(&self) -> ModuleOptimizer {
        let clip = self.grad_clip.map(GradientClippingConfig::Norm);
        match self.optimizer {
            Optimizer::Adam => AdamConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay)))
                .with_grad_clipping(clip)
                .init(),
            Optimizer::AdamW => AdamWConfig::new().with_weight_decay(self.weight_decay).with_grad_clipping(clip).init(),
        }
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

/// A model being trained, with its optimiser.
pub struct Trainer {
    pub model: AuroraNet,
    pub optim: ModuleOptimizer,
    pub model_config: ModelConfig,
    pub config: TrainConfig,
    /// The autodiff device the model trains on.
    pub device: Device,
    /// The same device without autodiff, for inference during training (validation).
    pub inference_device: Device,
    /// The moving average of the weights ([`super::average`]), on `inference_device`, when the
    /// recipe asks for one; it starts as a copy of the first step's weights.
    pub average: Option<AuroraNet>,
    cross_entropy: CrossEntropyLoss,
}

impl Trainer {
    /// A freshly initialised model on `device` (any device: autodiff is added here).
    pub fn new(model_config: ModelConfig, config: TrainConfig, device: Device) -> Self {
        let inference_device = device.clone();
        let device = device.autodiff();
        device.seed(config.seed);
        let model = AuroraNet::new(&model_config, &device);
        let cross_entropy = Self::cross_entropy(&config, None, &device);
        Self { model, optim: config.optimizer(), model_config, config, device, inference_device, average: None, cross_entropy }
    }

    /// Sets the class weights of [`Balance::LossWeights`] from the training labels (other
    /// recipes ignore them).
    pub fn weigh_classes(&mut self, train_labels: &[usize]) {
        let weights = (self.config.balance == Balance::LossWeights).then(|| class_weights(train_labels, self.model_config.num_classes));
        self.cross_entropy = Self::cross_entropy(&self.config, weights, &self.device);
    }

    fn cross_entropy(config: &TrainConfig, weights: Option<Vec<f32>>, device: &Device) -> CrossEntropyLoss {
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing);
        CrossEntropyLossConfig::new().with_weights(weights).with_smoothing(smoothing).init(device)
    }

    /// One step at the recipe's peak learning rate (benchmarks and simple loops).
    pub fn step(&mut self, pixels: Vec<f32>, labels: &[usize]) -> Step {
        self.step_at(pixels, labels, None, self.config.learning_rate)
    }

    /// One step on a batch at learning rate `lr`. `pixels` holds the preprocessed images one
    /// after another (`channels × size × size` each); `codes` each image's target bits
    /// (`B × N`, 0/1), for CNNH's second stage only.
    pub fn step_at(&mut self, pixels: Vec<f32>, labels: &[usize], codes: Option<Vec<f32>>, lr: f64) -> Step {
        let x = batch_tensor(pixels, labels.len(), &self.model_config, &self.device);
        let codes = codes.map(|c| Tensor::<2>::from_data(TensorData::new(c, [labels.len(), self.model_config.bits]), &self.device));
        let out = self.model.forward(x);
        let predicted = out.logits.clone().detach().argmax(1).into_data().try_into_vec_as::<i64>().expect("int data");
        let correct = predicted.iter().zip(labels).filter(|&(&p, &l)| p as usize == l).count();
        let parts = hash_loss(&self.cross_entropy, out.logits, out.hash, labels, codes, &self.config.loss);
        let loss = StepLoss {
            total: parts.total.clone().into_scalar::<f32>(),
            cross_entropy: parts.cross_entropy.into_scalar::<f32>(),
            contrastive: parts.contrastive.into_scalar::<f32>(),
        };
        let grads = GradientsParams::from_grads(parts.total.backward(), &self.model);
        let model = self.model.clone();
        self.model = self.optim.step(lr, model, grads);
        Step { loss, correct }
    }

    /// Folds the current weights into the moving average after global step `step` (0-based)
    /// of a run with `per_epoch` steps an epoch; nothing when the recipe has no average.
    pub fn update_average(&mut self, step: usize, per_epoch: usize) {
        let Some(horizon) = self.config.average_epochs else {
            return;
        };
        let current = self.model.valid();
        self.average = Some(match self.average.take() {
            None => current,
            Some(avg) => super::average::update(avg, &current, super::average::decay(step, horizon as f64 * per_epoch as f64)),
        });
    }

    /// The model for inference, validation and keeping: the moving average when there is one,
    /// else the trained weights; no autodiff, dropout off; on [`Trainer::inference_device`].
    pub fn inference_model(&self) -> AuroraNet {
        match &self.average {
            Some(avg) => avg.clone(),
            None => self.model.valid(),
        }
    }
}
