//! The bundle: what the browser (or `aurora-hash query`) loads to run a trained model.
//!
//! A bundle is a folder of three files:
//!
//! * `model.bpk` — the weights, burn's burnpack format, f16 by default (half the size; codes
//!   stay the same on ≥ 99% of bits, which the tests check), or q8 ([`WeightsDtype`]);
//! * `bundle.json` — [`BundleConfig`]: the network's configuration, preprocessing, class names
//!   and the words shown for them, the weights' precision, and how sure the model may claim to
//!   be (calibration temperature, out-of-domain statistics: [`crate::answer`]);
//! * `manifest.json` — [`Manifest`]: format version plus size and SHA-256 of every other file
//!   (including an index shipped beside the bundle), so a loader detects a damaged or
//!   mismatched download and says which file is wrong.
//!
//! Bytes in, bytes out: writing them to disk (atomically) or fetching them is the caller's job.

use crate::answer::{ClassInfo, Confidence};
use crate::data::preprocess::Preprocess;
use crate::index::CodeIndex;
use crate::model::{AuroraNet, ModelConfig};
use burn::module::{Module, ModuleMapper, Param};
use burn::store::{BurnpackStore, FloatCastAdapter, ModuleSnapshot, ModuleStore};
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{Bytes, DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const BUNDLE_FORMAT: u32 = 1;
pub const WEIGHTS_FILE: &str = "model.bpk";
/// The largest class offset (in logits) a bundle may carry.
pub const MAX_CLASS_OFFSET: f32 = 20.0;

/// The largest calibration temperature a bundle may carry.
pub const MAX_TEMPERATURE: f32 = 100.0;
pub const CONFIG_FILE: &str = "bundle.json";
pub const MANIFEST_FILE: &str = "manifest.json";
/// The archive index a site ships inside its bundle folder (listed in the manifest).
pub const INDEX_FILE: &str = "archive.idx";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BundleConfig {
    pub format: u32,
    pub model: ModelConfig,
    pub preprocess: Preprocess,
    pub classes: Vec<String>,
    /// "f16", "f32" or "q8" ([`WeightsDtype`]): how the weights are stored (they are
    /// computed in f32 in every case).
    pub weights_dtype: String,
    /// Where the weights came from (run folder and epoch), for people reading the bundle.
    pub provenance: String,
    /// Calibration and out-of-domain statistics; bundles made before them get the raw
    /// softmax and no out-of-domain verdict.
    #[serde(default)]
    pub confidence: Confidence,
    /// What each class is called on screen, in the order of `classes`; empty: the defaults
    /// of [`ClassInfo::defaults`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_info: Vec<ClassInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Where the file is, relative to the manifest, when not at `name`: a published site
    /// stores files under content-hashed names so hosts can cache them forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub files: Vec<FileEntry>,
    /// URL prefix (relative to the manifest, or absolute) under which a site links each
    /// archive image's original by its id; none when the originals are not published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originals: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: bundle format {found} is not supported (this build reads format {BUNDLE_FORMAT})")]
    Format { file: String, found: u32 },
    #[error("{0}: not listed in the bundle's manifest")]
    Unlisted(String),
    #[error("{file}: size {found} bytes, the manifest says {expected}: incomplete or replaced")]
    Size { file: String, expected: u64, found: u64 },
    #[error("{0}: checksum does not match the manifest: damaged or replaced")]
    Checksum(String),
    #[error("{file}: not valid JSON of this kind: {reason}")]
    Json { file: String, reason: String },
    #[error("{0}: invalid model configuration: {1}")]
    Config(String, String),
    #[error("model.bpk: damaged or not a weights file: {0}")]
    Weights(String),
    #[error("model.bpk does not fit the model bundle.json describes: {0}; was bundle.json edited, or model.bpk replaced by another run's?")]
    Mismatch(String),
    #[error("{file}: {reason}: the index and the bundle do not belong together (build the index again with this bundle)")]
    IndexMismatch { file: String, reason: String },
    #[error("{file}: {reason}")]
    Index { file: String, reason: String },
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    pub fn for_files(files: &[(&str, &[u8])]) -> Self {
        Self {
            format: BUNDLE_FORMAT,
            files: files
                .iter()
                .map(|(name, bytes)| FileEntry { name: name.to_string(), size: bytes.len() as u64, sha256: sha256_hex(bytes), path: None })
                .collect(),
            originals: None,
        }
    }

    /// Adds or replaces the entry for `name` (an index built after the bundle, say).
    pub fn set(&mut self, name: &str, bytes: &[u8]) {
        let entry = FileEntry { name: name.to_string(), size: bytes.len() as u64, sha256: sha256_hex(bytes), path: None };
        match self.files.iter_mut().find(|f| f.name == name) {
            Some(e) => *e = entry,
            None => self.files.push(entry),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Json { file: MANIFEST_FILE.into(), reason: e.to_string() })?;
        if m.format != BUNDLE_FORMAT {
            return Err(BundleError::Format { file: MANIFEST_FILE.into(), found: m.format });
        }
        Ok(m)
    }

    /// Checks `bytes` against the manifest's entry for `name`.
    pub fn verify(&self, name: &str, bytes: &[u8]) -> Result<(), BundleError> {
        let e = self.files.iter().find(|f| f.name == name).ok_or_else(|| BundleError::Unlisted(name.into()))?;
        if e.size != bytes.len() as u64 {
            return Err(BundleError::Size { file: name.into(), expected: e.size, found: bytes.len() as u64 });
        }
        if e.sha256 != sha256_hex(bytes) {
            return Err(BundleError::Checksum(name.into()));
        }
        Ok(())
    }
}

impl BundleConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let c: BundleConfig = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Json { file: CONFIG_FILE.into(), reason: e.to_string() })?;
        if c.format != BUNDLE_FORMAT {
            return Err(BundleError::Format { file: CONFIG_FILE.into(), found: c.format });
        }
        c.model.validate().map_err(|e| BundleError::Config(CONFIG_FILE.into(), e.to_string()))?;
        if c.classes.len() != c.model.num_classes {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("{} class names for {} classes", c.classes.len(), c.model.num_classes)));
        }
        // Preprocessing that does not make the model's input would fail deep in the network (or
        // allocate without bound, or give NaN): refused here, naming the field.
        let (p, m) = (&c.preprocess, &c.model);
        if p.size != m.input_size {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("preprocess.size is {} but the model takes {} px (model.input_size)", p.size, m.input_size)));
        }
        if p.channels != m.in_channels {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("preprocess.channels is {} but the model takes {} (model.in_channels)", p.channels, m.in_channels)));
        }
        if !(p.std > 0.0 && p.std.is_finite() && p.mean.is_finite()) {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("preprocess.std must be a positive number and preprocess.mean finite (got std {}, mean {})", p.std, p.mean)));
        }
        // Fitted temperatures are near 1 (0.8–1.5 here); one of 1000 would make every answer a
        // uniform guess, so it is taken for a damaged or mistyped file.
        let t = c.confidence.temperature;
        if !(t > 0.0 && t <= MAX_TEMPERATURE) {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("confidence.temperature must be a number in (0, {MAX_TEMPERATURE}], got {t}")));
        }
        // Fitted offsets are a few units at most (they correct class priors); one of 1000 would
        // make one class the answer to everything.
        let b = &c.confidence.class_offsets;
        if !b.is_empty() && (b.len() != c.classes.len() || b.iter().any(|v| !(v.abs() <= MAX_CLASS_OFFSET))) {
            return Err(BundleError::Config(
                CONFIG_FILE.into(),
                format!("confidence.class_offsets must hold one number in [−{MAX_CLASS_OFFSET}, {MAX_CLASS_OFFSET}] per class ({}), got {b:?}", c.classes.len()),
            ));
        }
        if WeightsDtype::parse(&c.weights_dtype).is_none() {
            return Err(BundleError::Config(CONFIG_FILE.into(), format!("weights_dtype must be \"f16\", \"f32\" or \"q8\", got \"{}\"", c.weights_dtype)));
        }
        if let Some(ood) = &c.confidence.ood {
            let dim = crate::infer::Layers::width(&c.model, ood.layer);
            ood.validate(c.classes.len(), dim).map_err(|e| BundleError::Config(CONFIG_FILE.into(), format!("confidence.ood: {e}")))?;
        }
        if !c.class_info.is_empty() && c.class_info.iter().map(|i| &i.id).ne(c.classes.iter()) {
            return Err(BundleError::Config(CONFIG_FILE.into(), "class_info must list the classes in the order of `classes`".into()));
        }
        Ok(c)
    }

    /// An index is searched with this model's codes and shown with these class names, so an
    /// index made with another bundle would give wrong neighbours or wrong labels: refused.
    pub fn check_index(&self, file: &str, index: &CodeIndex) -> Result<(), BundleError> {
        let reason = if index.bits() != self.model.bits {
            format!("{}-bit codes, but the bundle's model makes {}-bit codes", index.bits(), self.model.bits)
        } else if index.classes != self.classes {
            format!("built for the classes {}, but the bundle has {}", index.classes.join(", "), self.classes.join(", "))
        } else {
            return Ok(());
        };
        Err(BundleError::IndexMismatch { file: file.into(), reason })
    }

    /// The words for each class: the bundle's own, or the defaults.
    pub fn class_info(&self) -> Vec<ClassInfo> {
        if self.class_info.is_empty() { ClassInfo::defaults(&self.classes) } else { self.class_info.clone() }
    }
}

/// A bundle read and checked as a whole. Every loader (the tool's commands, the page) opens
/// bundles through this, so they refuse the same damaged or mismatched files with the same
/// words, and checks come in the same order: manifest, then each file against it, then the
/// configuration, then the weights against the configuration.
pub struct Bundle {
    pub manifest: Manifest,
    pub config: BundleConfig,
    pub model: AuroraNet,
}

impl Bundle {
    pub fn open(manifest: &[u8], config: &[u8], weights: Vec<u8>, device: &Device) -> Result<Self, BundleError> {
        let manifest = manifest_of(manifest, config)?;
        manifest.verify(WEIGHTS_FILE, &weights)?;
        let config = BundleConfig::parse(config)?;
        let model = model_from_bytes(&config.model, weights, device)?;
        Ok(Self { manifest, config, model })
    }

    /// Reads an index to search with this bundle ([`open_index`]).
    pub fn open_index(&self, name: &str, bytes: &[u8], listed: bool) -> Result<CodeIndex, BundleError> {
        open_index(&self.manifest, &self.config, name, bytes, listed)
    }
}

/// A bundle's manifest and configuration without its network: all that opening and checking
/// its archive indexes needs. The page's search runs in a wasm module of its own, without
/// burn's backends, and opens the archive through this.
pub struct Catalog {
    pub manifest: Manifest,
    pub config: BundleConfig,
}

impl Catalog {
    /// The manifest, then `bundle.json` checked against it, as [`Bundle::open`] does.
    pub fn open(manifest: &[u8], config: &[u8]) -> Result<Self, BundleError> {
        Ok(Self { manifest: manifest_of(manifest, config)?, config: BundleConfig::parse(config)? })
    }

    /// Reads an index to search with this bundle ([`open_index`]).
    pub fn open_index(&self, name: &str, bytes: &[u8], listed: bool) -> Result<CodeIndex, BundleError> {
        open_index(&self.manifest, &self.config, name, bytes, listed)
    }
}

/// The manifest, with `bundle.json`'s bytes checked against it: the first checks of every
/// loader, [`Bundle`] and [`Catalog`] alike.
fn manifest_of(manifest: &[u8], config: &[u8]) -> Result<Manifest, BundleError> {
    let manifest = Manifest::parse(manifest)?;
    manifest.verify(CONFIG_FILE, config)?;
    Ok(manifest)
}

/// Reads an index to search with a bundle: its bytes checked against the manifest when it
/// lists `name` (`listed`: it must, as a site's shards are), its own structure, then that it
/// belongs to the bundle ([`BundleConfig::check_index`]).
pub fn open_index(manifest: &Manifest, config: &BundleConfig, name: &str, bytes: &[u8], listed: bool) -> Result<CodeIndex, BundleError> {
    if listed || manifest.files.iter().any(|f| f.name == name) {
        manifest.verify(name, bytes)?;
    }
    let index = CodeIndex::from_bytes(bytes).map_err(|e| BundleError::Index { file: name.into(), reason: e.to_string() })?;
    config.check_index(name, &index)?;
    Ok(index)
}

/// How `model.bpk` stores the weights (bundle.json's `weights_dtype`). The network computes
/// in f32 whichever it is: the weights are widened when they are loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsDtype {
    F32,
    /// Half the bytes of f32; codes stay the same on ≥ 99% of bits (tests/export.rs).
    F16,
    /// burn's post-training quantization of every conv and linear weight: 8-bit values with
    /// an f16 scale per block of at most 64 ([`q8_block`]), biases in f16; about a quarter of
    /// f32, for the page's download.
    Q8,
}

impl WeightsDtype {
    pub const ALL: [Self; 3] = [Self::F32, Self::F16, Self::Q8];

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8 => "q8",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// The block of one q8 scale for a weight of shape `dims`: from the innermost dimension
/// outwards, as much of each as keeps the block at ≤ 64 values (and every side ≤ 255, a block's
/// limit in burn), dividing the dimension evenly. A conv kernel [out, in, 5, 5] gets blocks of
/// [1, 2, 5, 5] (50 values), a linear weight [in, out] blocks of [1, 64]: each scale covers
/// neighbouring weights of one output unit or a few, so one large weight spoils few others.
pub fn q8_block(dims: &[usize]) -> Vec<u8> {
    const MAX_VALUES: usize = 64;
    let mut block = vec![1u8; dims.len()];
    let mut values = 1;
    for (side, &d) in block.iter_mut().zip(dims).rev() {
        let room = (MAX_VALUES / values).min(255);
        let b = (1..=room.min(d)).rev().find(|b| d % b == 0).unwrap_or(1);
        *side = b as u8;
        values *= b;
        if b < d {
            break;
        }
    }
    block
}

/// Quantizes the weights of rank ≥ 2 (conv kernels and linear matrices); biases stay float.
struct Q8Weights;

impl ModuleMapper for Q8Weights {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D < 2 {
            return param;
        }
        param.map(|t| {
            let scheme = QuantScheme::default()
                .with_value(QuantValue::Q8S)
                .with_store(QuantStore::Native)
                .per_block(q8_block(&t.dims()), ScaleDtype::F16);
            t.quantize_dynamic(&scheme)
        })
    }
}

/// Widens quantized weights back to f32 (float ones are left as they are).
struct Dequantize;

impl ModuleMapper for Dequantize {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.dequantize())
    }
}

/// The model's weights as burnpack bytes, stored as `dtype`.
pub fn weights_to_bytes(model: &AuroraNet, dtype: WeightsDtype) -> Result<Vec<u8>, BundleError> {
    let mut store = BurnpackStore::from_bytes(None);
    if dtype != WeightsDtype::F32 {
        // Quantized tensors are not float tensors to this adapter: only biases become f16.
        store = store.with_to_adapter(FloatCastAdapter::to(DType::F16));
    }
    let quantized;
    let model = if dtype == WeightsDtype::Q8 {
        quantized = model.clone().to_device(&Device::flex()).map(&mut Q8Weights);
        &quantized
    } else {
        model
    };
    model.save_into(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    Ok(store.get_bytes().map_err(|e| BundleError::Weights(e.to_string()))?.to_vec())
}

/// A model built from `config` with the weights in `bytes` (any [`WeightsDtype`]), computing
/// in f32 on `device`. Quantized weights are read on the CPU backend and widened there, so no
/// quantized kernel ever runs on WebGPU; the f32 result is then loaded like float weights,
/// into a model made on `device` (which keeps a training device's parameters tracked).
pub fn model_from_bytes(config: &ModelConfig, bytes: Vec<u8>, device: &Device) -> Result<AuroraNet, BundleError> {
    // The store reads the tensors' headers once; their data stays unread until a model takes it.
    let mut store = weights_store(bytes);
    let tensors = store.get_all_tensors().map_err(|e| BundleError::Weights(e.to_string()))?;
    if !tensors.values().any(|t| matches!(t.dtype, DType::QFloat(_))) {
        return load_weights(config, store, device);
    }
    let host = load_weights(config, store, &Device::flex())?;
    let widened = weights_to_bytes(&host.map(&mut Dequantize), WeightsDtype::F32)?;
    load_weights(config, weights_store(widened), device)
}

fn weights_store(bytes: Vec<u8>) -> BurnpackStore {
    // Validation is done by `load_weights` rather than by the store, so that weights of another
    // shape (a hand-edited bits, width or fc_width in bundle.json, or another run's model.bpk)
    // are reported as such, naming both files and the first tensors that differ, instead of as
    // a damaged weights file.
    BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes)))
        .with_from_adapter(FloatCastAdapter::to(DType::F32))
        .validate(false)
        .allow_partial(true)
}

fn load_weights(config: &ModelConfig, mut store: BurnpackStore, device: &Device) -> Result<AuroraNet, BundleError> {
    let mut model = AuroraNet::new(config, device);
    let result = model.load_from(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    let shape_only = result.errors.iter().all(|e| matches!(e, burn::store::ApplyError::ShapeMismatch { .. }));
    if !shape_only {
        let first = result.errors.iter().find(|e| !matches!(e, burn::store::ApplyError::ShapeMismatch { .. })).expect("a non-shape error");
        return Err(BundleError::Weights(first.to_string()));
    }
    if !result.missing.is_empty() || !result.errors.is_empty() {
        let mut what: Vec<String> = result
            .errors
            .iter()
            .take(3)
            .map(|e| match e {
                burn::store::ApplyError::ShapeMismatch { path, expected, found } => {
                    format!("`{path}` is {:?} in model.bpk, the model needs {:?}", found.as_slice(), expected.as_slice())
                }
                other => other.to_string(),
            })
            .collect();
        what.extend(result.missing.iter().take(3).map(|(path, _)| format!("`{path}` is missing from model.bpk")));
        let m = config;
        return Err(BundleError::Mismatch(format!(
            "{} (bundle.json's model: {}, {} bits, width {}, fc {}, {} px, {} channel(s), {} classes)",
            what.join("; "),
            m.arch.name(),
            m.bits,
            m.width,
            m.fc_width,
            m.input_size,
            m.in_channels,
            m.num_classes
        )));
    }
    Ok(model)
}
