//! Batch inference: preprocessed pixels in, hash-layer outputs and class probabilities out.

use crate::model::{AuroraNet, Features, ModelConfig};
use crate::ood::Layer;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// `[n, channels, size, size]` from concatenated preprocessed images.
pub fn batch_tensor(pixels: Vec<f32>, n: usize, config: &ModelConfig, device: &Device) -> Tensor<4> {
    let s = config.input_size;
    assert_eq!(pixels.len(), n * config.in_channels * s * s, "batch pixel count does not match the model input");
    Tensor::from_data(TensorData::new(pixels, [n, config.in_channels, s, s]), device)
}

/// Per-image results of inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// Sigmoid outputs of the hash layer, `bits` per image, row-major.
    pub hash: Vec<f32>,
    /// Class probabilities (softmax of fc8), `num_classes` per image, row-major.
    pub probs: Vec<f32>,
}

/// Runs the model on a batch and reads the results back (synchronously: native, or the CPU
/// path in wasm; the browser's WebGPU path reads back asynchronously).
pub fn encode(model: &AuroraNet, config: &ModelConfig, pixels: Vec<f32>, n: usize, device: &Device) -> Encoded {
    let (hash, probs) = encode_tensors(model, config, pixels, n, device);
    Encoded {
        hash: hash.into_data().try_into_vec_as::<f32>().expect("float data"),
        probs: probs.into_data().try_into_vec_as::<f32>().expect("float data"),
    }
}

/// [`encode`] plus the fc7 features it passes through (row-major, `fc_width` per image), for
/// baselines that hash those features by other means.
pub fn encode_with_features(model: &AuroraNet, config: &ModelConfig, pixels: Vec<f32>, n: usize, device: &Device) -> (Encoded, Vec<f32>) {
    let fc7 = model.fc7_features(batch_tensor(pixels, n, config, device));
    let out = model.heads(fc7.clone());
    let read = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().expect("float data");
    let encoded = Encoded { hash: read(out.hash), probs: read(softmax(out.logits, 1)) };
    (encoded, read(fc7))
}

/// The activations out-of-domain scores use, read back, row-major per image, one list per
/// [`Layer`] (in the order of [`Layer::ALL`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layers {
    values: [Vec<f32>; Layer::ALL.len()],
}

impl Layers {
    pub fn get(&self, layer: Layer) -> &[f32] {
        &self.values[layer.position()]
    }

    /// Values per image of `layer` for `config`'s network.
    pub fn width(config: &ModelConfig, layer: Layer) -> usize {
        Layers::groups(config, layer).iter().sum()
    }

    /// `layer`'s values in parts, one per conv block for the block layers (their means, then
    /// for [`Layer::BlockStats`] their spreads), one part otherwise: what
    /// [`crate::ood::OodModel::fit`] standardises group by group.
    pub fn groups(config: &ModelConfig, layer: Layer) -> Vec<usize> {
        let blocks = config.channels().to_vec();
        match layer {
            Layer::Blocks => blocks,
            Layer::BlockStats => [blocks.clone(), blocks].concat(),
            Layer::Conv5 => vec![config.channels()[4]],
            Layer::Fc7 => vec![config.fc_width],
            Layer::Hash => vec![config.bits],
        }
    }

    pub fn extend(&mut self, other: Layers) {
        for (mine, theirs) in self.values.iter_mut().zip(other.values) {
            mine.extend(theirs);
        }
    }
}

/// [`encode`] plus the activations of [`Layers`] (synchronous readback).
pub fn encode_layers(model: &AuroraNet, config: &ModelConfig, pixels: Vec<f32>, n: usize, device: &Device) -> (Encoded, Layers) {
    let (hash, probs, f) = encode_tensors_with_features(model, config, pixels, n, device);
    let read = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().expect("float data");
    (Encoded { hash: read(hash), probs: read(probs) }, Layers { values: Layer::ALL.map(|l| read(f.of(l))) })
}

/// The device-side half of [`encode_layers`], for callers that read back asynchronously.
pub fn encode_tensors_with_features(model: &AuroraNet, config: &ModelConfig, pixels: Vec<f32>, n: usize, device: &Device) -> (Tensor<2>, Tensor<2>, Features) {
    let (out, features) = model.forward_with_features(batch_tensor(pixels, n, config, device));
    (out.hash, softmax(out.logits, 1), features)
}

/// conv5 feature maps of a batch (row-major `n × c × h × w`) and their `[c, h, w]`, for the
/// MAC / R-MAC baselines.
pub fn conv_features(model: &AuroraNet, config: &ModelConfig, pixels: Vec<f32>, n: usize, device: &Device) -> (Vec<f32>, [usize; 3]) {
    let f = model.conv_features(batch_tensor(pixels, n, config, device));
    let [_, c, h, w] = f.dims();
    (f.into_data().try_into_vec_as::<f32>().expect("float data"), [c, h, w])
}

/// The device-side half of [`encode`], for callers that read back asynchronously.
pub fn encode_tensors(
    model: &AuroraNet,
    config: &ModelConfig,
    pixels: Vec<f32>,
    n: usize,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let out = model.forward(batch_tensor(pixels, n, config, device));
    (out.hash, softmax(out.logits, 1))
}

/// The most probable class of each image in row-major `probs`; the first wins a tie, here, in
/// the native tool and in the browser alike.
pub fn predicted_classes(probs: &[f32], classes: usize) -> Vec<usize> {
    probs
        .chunks_exact(classes)
        .map(|p| p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best }))
        .collect()
}
