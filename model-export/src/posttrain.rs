//! What a finished run computes from its best model and its validation blocks: the
//! calibration temperature (`calibration.json`) and the out-of-domain statistics (`ood.json`),
//! which `eval` reports and `export` puts in the bundle (pseudo-labelling uses the
//! temperature). Runs made before they existed get them on their next `eval`.

use anyhow::Result;
use aurora_hash::calibrate::{Fold, Kept, cross_fit, fit_kept, reliability};
use aurora_hash::data::Sample;
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

/// Bumped when the way a calibration is chosen changes, so that a run's cached
/// `calibration.json` fitted the older way is refitted (2: a temperature fitted on validation
/// blocks is kept only if it passes the held-out check of [`calibration`]).
pub const CALIBRATION_RULE: u32 = 2;

/// Block-wise folds of the validation frames for that held-out check.
pub const CALIBRATION_FOLDS: usize = 3;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Divides the logits; 1 = uncalibrated.
    pub temperature: f32,
    /// Added to each class's scaled logit (`calibrate` keeps them only where frames it was not
    /// fitted on say they help); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_offsets: Vec<f32>,
    /// The checkpoint it was fitted for.
    pub epoch: usize,
    pub validation_images: usize,
    pub validation_nll_before: f64,
    pub validation_nll_after: f64,
    pub validation_ece_before: f64,
    pub validation_ece_after: f64,
    /// The frames the temperature was fitted on, in words (empty in files written before it).
    #[serde(default)]
    pub fitted_on: String,
    /// [`CALIBRATION_RULE`] it was chosen by (0 in files written before the rule had a number).
    #[serde(default)]
    pub rule: u32,
}

/// The run's calibration for its chosen checkpoint (`epoch`): read, or fitted on the
/// probabilities (`probs`) of the validation images (`val`, positions into `listing`, whose
/// labels and times give the truth and the blocks) and saved.
///
/// The validation blocks are a handful of nights, and a temperature that fits them can make
/// new nights worse (seen on YRS: test ECE 0.151 → 0.210). So the same rule as `calibrate`'s
/// applies: the validation frames are cut into [`CALIBRATION_FOLDS`] folds of whole blocks,
/// each fold is scaled by the temperature the other folds fit, and the temperature is kept
/// only if that lowers every fold's NLL ([`CrossFit::kept`](aurora_hash::calibrate::CrossFit::kept));
/// otherwise the raw softmax (T = 1) is saved and `fitted_on` says why. Class offsets are not
/// tried here: they change answers, and one run's validation blocks are too few to trust them.
pub fn calibration(run: &Run, config: &RunConfig, epoch: usize, probs: &[f32], listing: &Listing, val: &[usize]) -> Result<Calibration> {
    let path = run.dir.join(CALIBRATION_FILE);
    if let Ok(c) = read_json::<Calibration>(&path)
        && c.epoch == epoch
        && (c.rule == CALIBRATION_RULE || val.is_empty())
    {
        return Ok(c);
    }
    let samples: Vec<Sample> = val.iter().map(|&i| listing.samples[i].clone()).collect();
    let truth: Vec<usize> = samples.iter().map(|s| s.label.unwrap_or(0)).collect();
    let classes = config.classes.len();
    let (kept, why) = held_out_choice(probs, &truth, &samples, classes, config);
    let (temperature, class_offsets) = fit_kept(kept, probs, &truth, classes);
    let after = aurora_hash::calibrate::apply(probs, classes, temperature, &class_offsets);
    let c = Calibration {
        temperature,
        class_offsets,
        epoch,
        validation_images: truth.len(),
        validation_nll_before: mean_nll(probs, &truth, classes),
        validation_nll_after: mean_nll(&after, &truth, classes),
        validation_ece_before: reliability(probs, &truth, classes, ECE_BINS).ece,
        validation_ece_after: reliability(&after, &truth, classes, ECE_BINS).ece,
        fitted_on: if truth.is_empty() { "none (no validation frames)".into() } else { format!("the {} validation frames{why}", truth.len()) },
        rule: CALIBRATION_RULE,
    };
    write_json(&path, &c)?;
    Ok(c)
}

/// Whether a temperature fitted on the validation frames passes the held-out check of
/// [`calibration`], and what to add to `fitted_on` about it.
fn held_out_choice(probs: &[f32], truth: &[usize], samples: &[Sample], classes: usize, config: &RunConfig) -> (Kept, String) {
    if truth.is_empty() {
        return (Kept::Raw, String::new());
    }
    let folds: Vec<Vec<usize>> = aurora_hash::data::protocol::k_folds(samples, CALIBRATION_FOLDS, config.block_seconds, config.train.seed).into_iter().filter(|f| !f.is_empty()).collect();
    if folds.len() < 2 {
        return (Kept::Raw, "; no temperature kept (T = 1): one validation block, no other to check a fitted temperature on".into());
    }
    let data: Vec<(Vec<f32>, Vec<usize>)> = folds
        .iter()
        .map(|f| (f.iter().flat_map(|&i| probs[i * classes..(i + 1) * classes].iter().copied()).collect(), f.iter().map(|&i| truth[i]).collect()))
        .collect();
    let cf = cross_fit(&data.iter().map(|(p, t)| Fold { probs: p, truth: t }).collect::<Vec<_>>(), classes);
    let kept = cf.kept(false);
    let nll = cf.nll.iter().map(|n| format!("{:.3} → {:.3}", n[0], n[1])).collect::<Vec<_>>().join(", ");
    let verdict = if kept == Kept::Raw { "no temperature kept (T = 1): fitted on the other folds, it did not lower the NLL of each" } else { "the temperature kept: fitted on the other folds, it lowered the NLL of each" };
    (kept, format!("; {verdict} of {} folds of validation blocks (held-out NLL raw → scaled: {nll})", folds.len()))
}

/// What a finished run fits from its chosen checkpoint: the calibration and the out-of-domain
/// statistics, from one pass over the validation images and one over the training images.
pub fn after_training(run: &Run, config: &RunConfig, listing: &Listing, saved: &SavedSplit, device: &Device) -> Result<(Calibration, OodFile)> {
    let (model, ptr) = run.load_chosen_model(&config.model, device)?;
    let val = resolve_ids(listing, &saved.validation)?;
    let (val_encoded, val_layers) = layers_of(&model, config, listing, &val, device, "validation")?;
    let c = calibration(run, config, ptr.epoch, &val_encoded.probs, listing, &val)?;
    let m = match cached_ood(run, config)? {
        Some(f) => f,
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
/// 3: its floor taken per block; 4: a floor on the residual's variance; 5: runs without
/// validation frames get a cross-fitted threshold instead of none).
pub const OOD_FIT_VERSION: u32 = 5;

/// Block-wise folds of the training part whose out-of-fold scores set the threshold of a run
/// without validation frames.
pub const OOD_CROSS_FIT_FOLDS: usize = 5;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OodFile {
    pub epoch: usize,
    /// [`OOD_FIT_VERSION`] of the fit (absent in files of the first version).
    #[serde(default)]
    pub version: u32,
    pub model: OodModel,
    /// Which frames the threshold was set on, in words (empty in files before version 5).
    #[serde(default)]
    pub threshold_from: String,
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

/// Where the threshold of fitted statistics comes from.
pub enum ThresholdFrom<'a> {
    /// The validation images' scores.
    Validation(&'a Layers),
    /// Out-of-fold scores of the training images over these folds (positions into the
    /// training rows), for runs without validation images.
    CrossFitted(&'a [Vec<usize>]),
    /// None: the threshold stays +∞ (only the AUROC is wanted).
    Nothing,
}

/// Fits out-of-domain statistics of `layer` on the training images and sets its threshold
/// (all of the model's classes must occur in training). Returns them and, in words, what the
/// threshold was set on.
pub fn fit_ood(layer: Layer, directions: usize, config: &RunConfig, train: (&Layers, &[usize]), threshold: ThresholdFrom) -> (OodModel, String) {
    let groups = Layers::groups(&config.model, layer);
    let (classes, seed) = (config.classes.len(), config.train.seed);
    let mut m = OodModel::fit(layer, train.0.get(layer), &groups, train.1, classes, directions, seed);
    let share = OOD_VALIDATION_REJECT * 100.0;
    let from = match threshold {
        ThresholdFrom::Validation(v) if !train.1.is_empty() && v.get(layer).len() >= m.dim => {
            let scores = m.scores(v.get(layer));
            m.set_threshold(&scores, OOD_VALIDATION_REJECT);
            format!("{share:.0}% of the {} validation frames above it", scores.len())
        }
        ThresholdFrom::CrossFitted(folds) if folds.len() >= 2 => {
            let scores = aurora_hash::ood::cross_fitted_scores(layer, train.0.get(layer), &groups, train.1, classes, m.k, seed, folds);
            let scores: Vec<f32> = scores.into_iter().filter(|s| s.is_finite()).collect();
            m.set_threshold(&scores, OOD_VALIDATION_REJECT);
            format!("{share:.0}% of the {} training frames' out-of-fold scores above it ({} folds by time block; no validation frames)", scores.len(), folds.len())
        }
        _ => "none (no validation frames)".to_string(),
    };
    (m, from)
}

/// Block-wise folds of the run's training images (positions into `saved.train`) for
/// [`ThresholdFrom::CrossFitted`].
pub fn training_folds(config: &RunConfig, listing: &Listing, saved: &SavedSplit) -> Result<Vec<Vec<usize>>> {
    let ids = resolve_ids(listing, &saved.train)?;
    let subset: Vec<_> = ids.iter().map(|&i| listing.samples[i].clone()).collect();
    Ok(aurora_hash::data::protocol::k_folds(&subset, OOD_CROSS_FIT_FOLDS, config.block_seconds, config.train.seed))
}

/// `ood.json` when it belongs to the chosen checkpoint and the current settings.
fn cached_ood(run: &Run, config: &RunConfig) -> Result<Option<OodFile>> {
    let epoch = run.best()?.or(run.latest()?).map(|p| p.epoch);
    Ok(read_json::<OodFile>(&run.dir.join(OOD_FILE)).ok().filter(|f| {
        Some(f.epoch) == epoch && f.version == OOD_FIT_VERSION && f.model.layer == OOD_LAYER && f.model.k == OOD_DIRECTIONS.min(Layers::width(&config.model, OOD_LAYER))
    }))
}

/// As [`ood`], from the training and validation images' activations already computed.
pub fn ood_from_layers(run: &Run, config: &RunConfig, listing: &Listing, saved: &SavedSplit, train: &Layers, validation: &Layers) -> Result<OodFile> {
    if let Some(f) = cached_ood(run, config)? {
        return Ok(f);
    }
    let epoch = run.best()?.or(run.latest()?).map_or(0, |p| p.epoch);
    let ids = resolve_ids(listing, &saved.train)?;
    let labels: Vec<usize> = ids.iter().map(|&i| listing.samples[i].label.unwrap_or(0)).collect();
    let folds;
    let threshold = if saved.validation.is_empty() {
        folds = training_folds(config, listing, saved)?;
        ThresholdFrom::CrossFitted(&folds)
    } else {
        ThresholdFrom::Validation(validation)
    };
    let (m, threshold_from) = fit_ood(OOD_LAYER, OOD_DIRECTIONS, config, (train, &labels), threshold);
    let file = OodFile { epoch, version: OOD_FIT_VERSION, model: m, threshold_from };
    write_json(&run.dir.join(OOD_FILE), &file)?;
    Ok(file)
}

/// What the bundle of this run says about its confidence: the saved temperature and
/// out-of-domain statistics of the chosen checkpoint, or the raw softmax without a verdict
/// (with a note saying why) when the run has none.
pub fn confidence(run: &Run, config: &RunConfig) -> Result<aurora_hash::answer::Confidence> {
    let epoch = run.best()?.or(run.latest()?).map(|p| p.epoch);
    let (temperature, class_offsets) = match read_json::<Calibration>(&run.dir.join(CALIBRATION_FILE)) {
        Ok(c) if Some(c.epoch) == epoch && c.validation_images > 0 => (c.temperature, c.class_offsets),
        _ => {
            eprintln!(
                "note: {} has no calibration for its chosen checkpoint (fitted on validation blocks by `train` or `eval`; for a run without them, from fold runs by `aurora-hash calibrate`): the bundle shows the raw softmax",
                run.dir.display()
            );
            (1.0, Vec::new())
        }
    };
    // Statistics without a threshold give no verdict.
    let ood = cached_ood(run, config)?.map(|f| f.model).filter(|m| m.threshold.is_finite());
    if ood.is_none() {
        eprintln!("note: {} has no out-of-domain statistics with a threshold for its chosen checkpoint (`aurora-hash eval` fits them): the bundle gives no out-of-domain verdict", run.dir.display());
    }
    Ok(aurora_hash::answer::Confidence { temperature, class_offsets, ood })
}
