//! Im-AlexNet-SP (Chen, Peng & Gan 2020, section 2) and the two networks it is compared with,
//! as one burn module whose configuration picks the variant.
//!
//! ```text
//! conv1 (11×11 | 5×5, s4) → ReLU → maxpool 3/2
//! [1×1 conv → ReLU] → conv2 5×5 → ReLU → maxpool 3/2        ([…] only in Im-AlexNet)
//! [1×1 conv → ReLU] → conv3 3×3 → ReLU
//! [1×1 conv → ReLU] → conv4 3×3 → ReLU
//! [1×1 conv → ReLU] → conv5 3×3 → ReLU
//! SPP (4×4, 2×2, 1×1 max) → PMT [ln(x+b), ln²(x+b)]    |  maxpool 3/2 (without SPP_PMT)
//! fc6 → ReLU → dropout → fc7 → ReLU → dropout → hash (N, sigmoid) → fc8 (classes)
//! ```
//!
//! Local response normalisation of the original AlexNet is left out (later work found it adds
//! nothing once ReLU and dropout are there, and it is not part of the paper's changes).

mod config;
mod pmt;
mod spp;

pub use config::{Arch, ConfigError, ModelConfig};
pub use pmt::Pmt;
pub use spp::spatial_pyramid_pool;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

/// The SPP pyramid: 4×4, 2×2 and 1×1 bins.
pub const SPP_LEVELS: [usize; 3] = [4, 2, 1];

/// He initialisation (variance 2 / fan-in). burn's default (PyTorch's) gives a third of a
/// ReLU layer's variance to the next; through AlexNet's 9 conv and 3 fc layers that shrinks the
/// signal by ~10⁷ and a network trained from scratch never leaves its initial constant output.
fn he() -> Initializer {
    Initializer::KaimingNormal { gain: std::f64::consts::SQRT_2, fan_out_only: false }
}

fn xavier() -> Initializer {
    Initializer::XavierNormal { gain: 1.0 }
}

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out).with_initializer(he()).init(device)
}

/// A conv layer optionally preceded by a 1×1 conv + ReLU (Im-AlexNet's change 2).
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub pre: Option<Conv2d>,
    pub conv: Conv2d,
}

impl ConvBlock {
    fn new(device: &Device, c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize, pre: bool) -> Self {
        Self {
            pre: pre.then(|| Conv2dConfig::new([c_in, c_in], [1, 1]).with_initializer(he()).init(device)),
            conv: Conv2dConfig::new([c_in, c_out], [k, k])
                .with_initializer(he())
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = match &self.pre {
            Some(pre) => relu(pre.forward(x)),
            None => x,
        };
        relu(self.conv.forward(x))
    }
}

/// The whole network. Build with [`AuroraNet::new`].
#[derive(Module, Debug)]
pub struct AuroraNet {
    pub conv1: ConvBlock,
    pub conv2: ConvBlock,
    pub conv3: ConvBlock,
    pub conv4: ConvBlock,
    pub conv5: ConvBlock,
    /// Present with SPP_PMT; absent means a plain last max pool.
    pub pmt: Option<Pmt>,
    pub fc6: Linear,
    pub fc7: Linear,
    pub hash: Linear,
    pub fc8: Linear,
    pub dropout: Dropout,
}

/// Intermediate activations of one forward pass, `[batch, …]` each.
#[derive(Debug, Clone)]
pub struct Features {
    /// conv5 maps averaged over space, `[batch, c5]`.
    pub conv5: Tensor<2>,
    /// Every conv block's maps (conv1 … conv5, after their ReLU) averaged over space, side by
    /// side, `[batch, c1 + … + c5]`: the early blocks describe texture and brightness
    /// structure, which is where a photo or a CIFAR-10 picture differs most from an all-sky
    /// frame, while conv5 alone has already been trained to ignore much of it.
    pub block_means: Tensor<2>,
    /// The same blocks' spatial standard deviations, `[batch, c1 + … + c5]`.
    pub block_stds: Tensor<2>,
    pub fc7: Tensor<2>,
    /// The hash layer before its sigmoid, `[batch, bits]`.
    pub hash_logits: Tensor<2>,
}

impl Features {
    /// The activations an out-of-domain score of `layer` reads, `[batch, width]`.
    pub fn of(&self, layer: crate::ood::Layer) -> Tensor<2> {
        use crate::ood::Layer;
        match layer {
            Layer::Conv5 => self.conv5.clone(),
            Layer::Fc7 => self.fc7.clone(),
            Layer::Hash => self.hash_logits.clone(),
            Layer::Blocks => self.block_means.clone(),
            Layer::BlockStats => Tensor::cat(vec![self.block_means.clone(), self.block_stds.clone()], 1),
        }
    }
}

/// Spatial mean and standard deviation of each channel, `[batch, c]` each.
fn spatial_moments(x: &Tensor<4>) -> (Tensor<2>, Tensor<2>) {
    let mean = x.clone().mean_dim(3).mean_dim(2).flatten(1, 3);
    let square = x.clone().powf_scalar(2.0).mean_dim(3).mean_dim(2).flatten(1, 3);
    let var = (square - mean.clone().powf_scalar(2.0)).clamp_min(0.0);
    (mean, var.sqrt())
}

/// What one forward pass gives.
#[derive(Debug, Clone)]
pub struct Output {
    /// Class scores before softmax, `[batch, classes]`.
    pub logits: Tensor<2>,
    /// Hash layer after the sigmoid, `[batch, bits]`, in [0, 1]; code bit = value ≥ 0.5.
    pub hash: Tensor<2>,
}

fn pool3x3(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]))
}

impl AuroraNet {
    /// A freshly initialised network. Call [`ModelConfig::validate`] first for a clear error;
    /// this panics on an invalid configuration.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        config.validate().expect("invalid model configuration");
        let [c1, c2, c3, c4, c5] = config.channels();
        let (k1, s1, p1) = config.conv1();
        let pre = config.improved();
        let fc = config.fc_width;
        Self {
            conv1: ConvBlock::new(device, config.in_channels, c1, k1, s1, p1, false),
            conv2: ConvBlock::new(device, c1, c2, 5, 1, 2, pre),
            conv3: ConvBlock::new(device, c2, c3, 3, 1, 1, pre),
            conv4: ConvBlock::new(device, c3, c4, 3, 1, 1, pre),
            conv5: ConvBlock::new(device, c4, c5, 3, 1, 1, pre),
            pmt: config.spp_pmt.then(|| Pmt::new(c5, device)),
            fc6: linear(config.fc6_inputs(), fc, device),
            fc7: linear(fc, fc, device),
            // The hash layer keeps a small (Xavier) init so its sigmoid starts in its linear
            // range: saturated from the start, the codes collapse to one constant code (all
            // similar pairs satisfied) and the gradients that would separate them vanish.
            hash: LinearConfig::new(fc, config.bits).with_initializer(xavier()).init(device),
            fc8: LinearConfig::new(config.bits, config.num_classes).with_initializer(xavier()).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// conv1 … conv5 (with their pools), `[batch, c5, h, w]`: the features MAC-style baselines use.
    pub fn conv_features(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv_stages(x, |_| {})
    }

    /// conv1 … conv5 with their pools, showing `each` block's output (after its ReLU, before
    /// any pool) on the way: one chain for the plain pass and for the one that keeps features.
    fn conv_stages(&self, x: Tensor<4>, mut each: impl FnMut(&Tensor<4>)) -> Tensor<4> {
        let mut block = |b: &ConvBlock, x: Tensor<4>| {
            let y = b.forward(x);
            each(&y);
            y
        };
        let x = pool3x3(block(&self.conv1, x));
        let x = pool3x3(block(&self.conv2, x));
        let x = block(&self.conv3, x);
        let x = block(&self.conv4, x);
        block(&self.conv5, x)
    }

    /// The vector entering fc6: SPP + PMT, or the flattened last pool.
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        self.pool_conv5(self.conv_features(x))
    }

    fn pool_conv5(&self, f: Tensor<4>) -> Tensor<2> {
        match &self.pmt {
            Some(pmt) => {
                let levels = spatial_pyramid_pool(f, &SPP_LEVELS);
                Tensor::cat(levels.into_iter().map(|l| pmt.forward(l).flatten(1, 3)).collect(), 1)
            }
            None => pool3x3(f).flatten(1, 3),
        }
    }

    /// fc7 activations, `[batch, fc_width]` (the features LSH/ITQ baselines hash).
    pub fn fc7_features(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc7_of(self.pooled(x))
    }

    fn fc7_of(&self, pooled: Tensor<2>) -> Tensor<2> {
        let x = self.dropout.forward(relu(self.fc6.forward(pooled)));
        self.dropout.forward(relu(self.fc7.forward(x)))
    }

    /// One pass that keeps the activations out-of-domain scores use ([`crate::ood`]) beside
    /// the outputs.
    pub fn forward_with_features(&self, x: Tensor<4>) -> (Output, Features) {
        let mut moments = Vec::with_capacity(5);
        let f = self.conv_stages(x, |y| moments.push(spatial_moments(y)));
        let conv5 = moments[4].0.clone();
        let (means, stds): (Vec<_>, Vec<_>) = moments.into_iter().unzip();
        let fc7 = self.fc7_of(self.pool_conv5(f));
        let hash_logits = self.hash.forward(fc7.clone());
        let h = sigmoid(hash_logits.clone());
        let features = Features { conv5, block_means: Tensor::cat(means, 1), block_stds: Tensor::cat(stds, 1), fc7, hash_logits };
        (Output { logits: self.fc8.forward(h.clone()), hash: h }, features)
    }

    /// `x`: `[batch, channels, size, size]`, preprocessed by [`crate::data::preprocess`].
    pub fn forward(&self, x: Tensor<4>) -> Output {
        self.heads(self.fc7_features(x))
    }

    /// The hash layer and the classifier on fc7 features (split from [`AuroraNet::forward`]
    /// for the baselines, which hash the same features by other means).
    pub fn heads(&self, fc7: Tensor<2>) -> Output {
        let h = sigmoid(self.hash.forward(fc7));
        Output { logits: self.fc8.forward(h.clone()), hash: h }
    }
}
