//! [`Engine`]: a verified bundle's model on the chosen device, classifying and encoding photos.

use aurora_hash::data::decode::decode;
use aurora_hash::data::AURORA_CLASSES;
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::export::{BUNDLE_FORMAT, Bundle, BundleConfig, Manifest};
use aurora_hash::hashing::{code_to_hex, pack_code, soft_bytes, soft_to_hex};
use aurora_hash::answer::{Answer, answer};
use aurora_hash::infer::encode_tensors_with_features;
use aurora_hash::model::{Arch, AuroraNet, ModelConfig};
use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::{self, Preference};
use crate::{js_err, now_ms};

/// The model of one bundle, loaded on WebGPU or the CPU.
#[wasm_bindgen]
pub struct Engine {
    bundle: Bundle,
    device: Device,
    webgpu: bool,
    note: String,
}

/// What the page learns about one photo. Serialised to JSON for the page.
#[derive(Serialize)]
pub struct Classified {
    pub width: u32,
    pub height: u32,
    /// Index into the bundle's classes of the most probable class.
    pub class: usize,
    /// Calibrated probabilities (the bundle's temperature and class offsets applied).
    pub probabilities: Vec<f32>,
    /// The network's own softmax, for comparing with the native tool.
    pub raw_probabilities: Vec<f32>,
    /// The calibrated answer with its "cannot tell" and out-of-domain verdicts, computed by
    /// the same library code as `aurora-hash query`.
    pub answer: Answer,
    /// The packed code, as [`aurora_hash::hashing::code_to_hex`] writes it.
    pub code: String,
    /// The hash layer's outputs as [`aurora_hash::hashing::soft_to_hex`] writes them: what
    /// orders equal codes in the archive's search.
    pub soft: String,
    /// The hash layer's sigmoid outputs, for comparing with the native tool bit by bit.
    pub hash: Vec<f32>,
    /// Milliseconds spent decoding and preprocessing, and in the network (including readback).
    pub decode_ms: f64,
    pub model_ms: f64,
}

#[wasm_bindgen]
impl Engine {
    /// Checks the bundle's files against its manifest, starts the backend (`"auto"`, `"webgpu"`
    /// or `"cpu"`) and loads the weights. Every failure names the file and the problem.
    pub async fn load(manifest: Vec<u8>, config: Vec<u8>, weights: Vec<u8>, backend: String) -> Result<Engine, JsError> {
        let pref = Preference::parse(&backend).ok_or_else(|| js_err(format!("unknown backend `{backend}` (auto, webgpu or cpu)")))?;
        let chosen = backend::choose(pref).await.map_err(js_err)?;
        let bundle = Bundle::open(&manifest, &config, weights, &chosen.device).map_err(js_err)?;
        Ok(Engine { bundle, device: chosen.device, webgpu: chosen.webgpu, note: chosen.note })
    }

    /// The paper's full-size Im-AlexNet-SP at `size` px with untrained (He-initialised)
    /// weights: the same arithmetic as a trained model, for measuring speed without shipping
    /// a 30 MB bundle. Its classes and codes mean nothing.
    pub async fn untrained(size: usize, bits: usize, backend: String) -> Result<Engine, JsError> {
        let pref = Preference::parse(&backend).ok_or_else(|| js_err(format!("unknown backend `{backend}` (auto, webgpu or cpu)")))?;
        let model_config = ModelConfig::paper(Arch::ImAlexnetSp, bits, AURORA_CLASSES.len(), 1, size);
        model_config.validate().map_err(js_err)?;
        let config = BundleConfig {
            format: BUNDLE_FORMAT,
            preprocess: Preprocess::new(size, 1, true),
            classes: AURORA_CLASSES.iter().map(|c| c.to_string()).collect(),
            weights_dtype: "f32".into(),
            provenance: "untrained, for speed measurements".into(),
            model: model_config,
            confidence: Default::default(),
            class_info: Vec::new(),
        };
        let chosen = backend::choose(pref).await.map_err(js_err)?;
        let model = AuroraNet::new(&config.model, &chosen.device);
        let manifest = Manifest { format: BUNDLE_FORMAT, files: Vec::new(), originals: None };
        Ok(Engine { bundle: Bundle { manifest, config, model }, device: chosen.device, webgpu: chosen.webgpu, note: chosen.note })
    }

    /// "WebGPU" or "CPU (wasm)".
    pub fn backend(&self) -> String {
        if self.webgpu { "WebGPU" } else { "CPU (wasm)" }.into()
    }

    /// Why the preferred backend was not used (empty when it was).
    pub fn backend_note(&self) -> String {
        self.note.clone()
    }

    /// The bundle's configuration as JSON (classes, code length, input size, provenance), with
    /// `class_info` filled in (the defaults when the bundle has none) so the page has one
    /// place to read class names from. The out-of-domain statistics stay in the engine.
    pub fn config_json(&self) -> String {
        let mut c = self.bundle.config.clone();
        c.class_info = self.bundle.config.class_info();
        if let Some(m) = c.confidence.ood.as_mut() {
            m.basis.clear();
            m.whiten.clear();
            m.mean.clear();
            m.scale.clear();
            m.class_means.clear();
        }
        serde_json::to_string(&c).expect("bundle config serialises")
    }

    pub fn bits(&self) -> usize {
        self.bundle.config.model.bits
    }

    /// Decodes a photo (PNG, JPEG, WebP, …), runs the network and returns [`Classified`] as JSON.
    pub async fn classify(&self, image: Vec<u8>) -> Result<String, JsError> {
        let t0 = now_ms();
        let img = decode(&image).map_err(js_err)?;
        let pixels = self.bundle.config.preprocess.apply(&img);
        drop(image);
        let t1 = now_ms();
        let (hash, probs, features) = encode_tensors_with_features(&self.bundle.model, &self.bundle.config.model, pixels, 1, &self.device);
        let hash = read(hash).await?;
        let raw_probabilities = read(probs).await?;
        // Only the layer the out-of-domain statistics were fitted on is read back.
        let confidence = &self.bundle.config.confidence;
        let feature = match confidence.ood.as_ref().map(|m| m.layer) {
            Some(layer) => read(features.of(layer)).await?,
            None => Vec::new(),
        };
        let t2 = now_ms();
        if !plausible(&hash, &raw_probabilities) || !feature.iter().all(|v| v.is_finite()) {
            // A GPU driver that miscompiles a kernel returns garbage rather than an error; the
            // page treats this like a crash and moves to the CPU path.
            return Err(js_err(format!("{}: the network returned impossible values (a sigmoid outside 0..1 or probabilities not summing to 1)", INVALID)));
        }
        let answer = answer(&raw_probabilities, &feature, confidence);
        let out = Classified {
            width: img.width(),
            height: img.height(),
            class: answer.class,
            probabilities: answer.probabilities.clone(),
            raw_probabilities,
            answer,
            code: code_to_hex(&pack_code(&hash)),
            soft: soft_to_hex(&soft_bytes(&hash)),
            hash,
            decode_ms: t1 - t0,
            model_ms: t2 - t1,
        };
        Ok(serde_json::to_string(&out).expect("result serialises"))
    }

}

/// How an implausible result starts its error message, so the page can recognise it.
pub const INVALID: &str = "invalid result";

fn plausible(hash: &[f32], probabilities: &[f32]) -> bool {
    let sum: f32 = probabilities.iter().sum();
    hash.iter().all(|v| (-1e-4..=1.0 + 1e-4).contains(v))
        && probabilities.iter().all(|p| p.is_finite() && *p >= 0.0)
        && (sum - 1.0).abs() < 1e-3
}

/// Reads a tensor back without blocking: the browser's WebGPU has no synchronous readback.
async fn read(t: burn::tensor::Tensor<2>) -> Result<Vec<f32>, JsError> {
    let data = t.into_data_async().await.map_err(|e| js_err(format!("reading the result back failed: {e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| js_err(format!("unexpected result type: {e:?}")))
}
