//! What a finished run computes from its best model and its validation blocks: the
//! calibration temperature (`calibration.json`) and the out-of-domain statistics (`ood.json`),
//! which `eval` reports and `export` puts in the bundle (pseudo-labelling uses the
//! temperature). Runs made before they existed get them on their next `eval`.

use anyhow::Result;
use aurora_hash::calibrate::{fit_temperature, reliability};
use aurora_hash::infer::{Encoded, Layers, encode_layers};
use aurora_hash::metrics::mean_nll;
use aurora_hash::model::AuroraNet;
use aurora_hash::ood::{Layer, OodModel};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::dataset::Listing;
use crate::run::{Run, RunConfig, SavedSplit, read_json, write_json};
use crate::train_cmd::resolve_ids;

pub const CALIBRATION_FILE: &str = "calibration.json";

/// ECE bins used throughout (15, as in Guo et al. 2017).
pub const ECE_BINS: usize = 15;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Divides the logits; 1 = uncalibrated.
    pub temperature: f32,
    /// The checkpoint it was fitted for.
    pub epoch: usize,
    pub validation_images: usize,
    pub validation_nll_before: f64,
    pub validation_nll_after: f64,
    pub validation_ece_before: f64,
    pub validation_ece_after: f64,
}

/// The run's calibration for its chosen checkpoint (`epoch`): read, or fitted on the
/// validation images' probabilities (`probs`, with their labels) and saved.
pub fn calibration(run: &Run, config: &RunConfig, epoch: usize, probs: &[f32], truth: &[usize]) -> Result<Calibration> {
    let path = run.dir.join(CALIBRATION_FILE);
    if let Ok(c) = read_json::<Calibration>(&path)
        && c.epoch == epoch
    {
        return Ok(c);
    }
    let classes = config.classes.len();
    let temperature = fit_temperature(probs, truth, classes);
    let after = aurora_hash::calibrate::apply(probs, classes, temperature);
    let c = Calibration {
        temperature,
        epoch,
        validation_images: truth.len(),
        validation_nll_before: mean_nll(probs, truth, classes),
        validation_nll_after: mean_nll(&after, truth, classes),
        validation_ece_before: reliability(probs, truth, classes, ECE_BINS).ece,
        validation_ece_after: reliability(&after, truth, classes, ECE_BINS).ece,
    };
    write_json(&path, &c)?;
    Ok(c)
}

/// What a finished run fits from its chosen checkpoint: the calibration and the out-of-domain
/// statistics, from one pass over the validation images and one over the training images.
pub fn after_training(run: &Run, config: &RunConfig, listing: &Listing, saved: &SavedSplit, device: &Device) -> Result<(Calibration, OodModel)> {
    let (model, ptr) = run.load_chosen_model(&config.model, device)?;
    let val = resolve_ids(listing, &saved.validation)?;
    let truth: Vec<usize> = val.iter().map(|&i| listing.samples[i].label.unwrap_or(0)).collect();
    let (val_encoded, val_layers) = layers_of(&model, config, listing, &val, device, "validation")?;
    let c = calibration(run, config, ptr.epoch, &val_encoded.probs, &truth)?;
    let m = match cached_ood(run, config)? {
        Some(m) => m,
        None => {
            let train = resolve_ids(listing, &saved.train)?;
            let (_, train_layers) = layers_of(&model, config, listing, &train, device, "training")?;
            ood_from_layers(run, config, listing, saved, &train_layers, &val_layers)?
        }
    };
    Ok((c, m))
}

pub const OOD_FILE: &str = "ood.json";

/// The layer whose features score out-of-domain inputs, and how many principal directions
/// of it are kept: chosen by measurement (docs/results/, `eval --ood`).
pub const OOD_LAYER: Layer = Layer::Blocks;
pub const OOD_DIRECTIONS: usize = 64;
/// Share of in-domain validation frames the threshold lets through as "out of domain": the
/// price of catching strangers is one in-domain frame in twenty flagged.
pub const OOD_VALIDATION_REJECT: f32 = 0.05;

/// Bumped whenever the way statistics are fitted changes, so that a run's cached `ood.json`
/// from an older fit is refitted rather than shipped (2: per-value scaling of the conv blocks;
/// 3: its floor taken per block; 4: a floor on the residual's variance).
pub const OOD_FIT_VERSION: u32 = 4;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OodFile {
    pub epoch: usize,
    /// [`OOD_FIT_VERSION`] of the fit (absent in files of the first version).
    #[serde(default)]
    pub version: u32,
    pub model: OodModel,
}

/// Activations of the samples at `which` through `model`, in batches, with a progress bar.
pub fn layers_of(model: &AuroraNet, config: &RunConfig, listing: &Listing, which: &[usize], device: &Device, what: &str) -> Result<(Encoded, Layers)> {
    let mut enc = Encoded { hash: Vec::new(), probs: Vec::new() };
    let mut layers = Layers::default();
    crate::eval_cmd::for_each_batch(config, listing, which, 64, what, |pixels, n| {
        let (e, l) = encode_layers(model, &config.model, pixels, n, device);
        enc.hash.extend(e.hash);
        enc.probs.extend(e.probs);
        layers.extend(l);
    })?;
    Ok((enc, layers))
}

/// Fits out-of-domain statistics of `layer` on the training images and its threshold on the
/// validation images (all of the model's classes must occur in training).
pub fn fit_ood(
    layer: Layer,
    directions: usize,
    config: &RunConfig,
    train: (&Layers, &[usize]),
    validation: Option<&Layers>,
) -> OodModel {
    let mut m = OodModel::fit(layer, train.0.get(layer), &Layers::groups(&config.model, layer), train.1, config.classes.len(), directions, config.train.seed);
    if let Some(v) = validation {
        let scores = m.scores(v.get(layer));
        m.set_threshold(&scores, OOD_VALIDATION_REJECT);
    }
    m
}

/// `ood.json` when it belongs to the chosen checkpoint and the current settings.
fn cached_ood(run: &Run, config: &RunConfig) -> Result<Option<OodModel>> {
    let epoch = run.best()?.or(run.latest()?).map(|p| p.epoch);
    Ok(read_json::<OodFile>(&run.dir.join(OOD_FILE)).ok().filter(|f| {
        Some(f.epoch) == epoch && f.version == OOD_FIT_VERSION && f.model.layer == OOD_LAYER && f.model.k == OOD_DIRECTIONS.min(Layers::width(&config.model, OOD_LAYER))
    }).map(|f| f.model))
}

/// As [`ood`], from the training and validation images' activations already computed.
pub fn ood_from_layers(run: &Run, config: &RunConfig, listing: &Listing, saved: &SavedSplit, train: &Layers, validation: &Layers) -> Result<OodModel> {
    if let Some(m) = cached_ood(run, config)? {
        return Ok(m);
    }
    let epoch = run.best()?.or(run.latest()?).map_or(0, |p| p.epoch);
    let ids = resolve_ids(listing, &saved.train)?;
    let labels: Vec<usize> = ids.iter().map(|&i| listing.samples[i].label.unwrap_or(0)).collect();
    let m = fit_ood(OOD_LAYER, OOD_DIRECTIONS, config, (train, &labels), (!saved.validation.is_empty()).then_some(validation));
    write_json(&run.dir.join(OOD_FILE), &OodFile { epoch, version: OOD_FIT_VERSION, model: m.clone() })?;
    Ok(m)
}

/// What the bundle of this run says about its confidence: the saved temperature and
/// out-of-domain statistics of the chosen checkpoint, or the raw softmax without a verdict
/// (with a note saying why) when the run has none.
pub fn confidence(run: &Run, config: &RunConfig) -> Result<aurora_hash::answer::Confidence> {
    let epoch = run.best()?.or(run.latest()?).map(|p| p.epoch);
    let temperature = match read_json::<Calibration>(&run.dir.join(CALIBRATION_FILE)) {
        Ok(c) if Some(c.epoch) == epoch => c.temperature,
        _ => {
            eprintln!("note: {} has no calibration for its chosen checkpoint (it needs validation blocks; `aurora-hash eval` fits it): the bundle shows the raw softmax", run.dir.display());
            1.0
        }
    };
    // Statistics without a threshold (a run without validation frames) give no verdict.
    let ood = cached_ood(run, config)?.filter(|m| m.threshold.is_finite());
    if ood.is_none() {
        eprintln!("note: {} has no out-of-domain statistics with a threshold for its chosen checkpoint (`aurora-hash eval` fits them; the threshold needs validation frames): the bundle gives no out-of-domain verdict", run.dir.display());
    }
    Ok(aurora_hash::answer::Confidence { temperature, ood })
}
