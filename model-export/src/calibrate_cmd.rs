//! `aurora-hash calibrate --run RUN --folds F1 F2 F3`: a calibration temperature for a run
//! trained without validation blocks, from runs trained the same way on folds of its
//! training part (cross-fitting).
//!
//! A run that trains on every training night has no frame its checkpoint has not learned
//! (training accuracy ends near 0.99), so a temperature fitted on its own frames would say it
//! is always right. Runs with the same settings, each holding one block-wise fold of the same
//! training part out (`train --validation-folds K --validation-fold k`), meet their held-out
//! nights as the full run meets new ones. Each held-out frame is scored by the fold run that
//! did not train on it, at its last epoch as the full run's is; the pooled probabilities fit
//! the calibration (one temperature, when it earns its place: below), saved as RUN's, which
//! `eval`, `export` and `site` then use.
//! The same pool gives a cross-validated accuracy of the recipe on the training nights, which
//! is printed beside it.
//!
//! Neither the temperature nor per-class offsets on top of it (which can correct a model that
//! neglects a class, but change answers) are taken on trust: each fold run's frames are scored
//! raw, with the temperature, and with temperature and offsets, each fitted on the *other* fold
//! runs' frames, and a step is kept only when it lowers the held-out NLL of every fold run's
//! frames ([`aurora_hash::calibrate::CrossFit::kept`]). A recipe whose raw softmax is already as
//! honest on new nights as one temperature can make it keeps T = 1.

use anyhow::{Context, Result, bail};
use aurora_hash::calibrate::{Fold, Kept, apply, cross_fit, fit_kept, reliability};
use aurora_hash::infer::predicted_classes;
use aurora_hash::metrics::interval::groups_by_block;
use aurora_hash::metrics::mean_nll;
use std::collections::HashSet;
use std::path::PathBuf;

use crate::dataset;
use crate::eval_cmd::class_intervals;
use crate::device::{self, Choice};
use crate::posttrain::{CALIBRATION_FILE, CALIBRATION_RULE, Calibration, ECE_BINS, layers_of};
use crate::run::{Run, write_json};
use crate::train_cmd::resolve_ids;

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// The run to calibrate (trained with `--validation-fraction 0`).
    #[arg(long)]
    pub run: PathBuf,
    /// Runs with the same settings, each validating on one fold of RUN's training part
    /// (`train --validation-folds K --validation-fold k`, k = 1…K), trained as many epochs.
    #[arg(long, num_args = 2.., required = true)]
    pub folds: Vec<PathBuf>,
    /// Fit the temperature alone, never per-class offsets (the answers' classes stay the
    /// network's).
    #[arg(long)]
    pub temperature_only: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

/// One fold run's held-out frames.
struct Pool {
    probs: Vec<f32>,
    truth: Vec<usize>,
    times: Vec<Option<i64>>,
}

/// Held-out probabilities of one way of calibrating, pooled over the fold runs (in the order
/// of the pooled labels), with accuracy intervals over the frames' time blocks (`groups`).
fn held_out_line(name: &str, probs: &[f32], truth: &[usize], classes: usize, groups: &[Vec<usize>], seed: u64) -> String {
    let (accuracy, balanced) = class_intervals(truth, &predicted_classes(probs, classes), classes, groups, seed);
    format!(
        "  {name:<28} NLL {:.3}  ECE {:.3}  accuracy {}  balanced accuracy {}",
        mean_nll(probs, truth, classes),
        reliability(probs, truth, classes, ECE_BINS).ece,
        accuracy.display(),
        balanced.display()
    )
}

/// The settings that must agree between the run and its fold runs, as JSON (the seed may
/// differ; the split, model, preprocessing, data and recipe, pseudo-labels included, may not;
/// the teacher may, since each fold run needs one that did not see its validation fold).
fn settings(run: &Run, config: &crate::run::RunConfig) -> Result<serde_json::Value> {
    let mut train = serde_json::to_value(&config.train)?;
    if let Some(t) = train.as_object_mut() {
        t.remove("seed");
        t.remove("patience");
    }
    Ok(serde_json::json!({
        "model": config.model,
        "train": train,
        "preprocess": config.preprocess,
        "source": config.source,
        "classes": config.classes,
        "test_fraction": config.test_fraction,
        "block_seconds": config.block_seconds,
        "pseudo_label_threshold": crate::pseudo_labels::threshold_of(run)?,
    }))
}

pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let run = Run::at(&args.run);
    let config = run.config()?;
    let saved = run.split()?;
    if !saved.validation.is_empty() {
        bail!(
            "{} has validation blocks: its calibration is fitted on them (by `train` and `eval`); `calibrate` is for runs trained with --validation-fraction 0",
            args.run.display()
        );
    }
    let Some(ptr) = run.latest()? else {
        bail!("{} has no checkpoint yet: train it first", args.run.display());
    };
    let want = settings(&run, &config)?;
    let training: HashSet<&String> = saved.train.iter().collect();
    let listing = dataset::list(&config.source, false)?;
    let (device, device_name) = device::select(args.device)?;
    let classes = config.classes.len();
    let mut pools: Vec<Pool> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for dir in &args.folds {
        let fold = Run::at(dir);
        let fc = fold.config().with_context(|| format!("fold run {}", dir.display()))?;
        let fs = fold.split().with_context(|| format!("fold run {}", dir.display()))?;
        if settings(&fold, &fc)? != want {
            bail!("fold run {} was not trained with the settings of {} (model, recipe, pseudo-labels, preprocessing, data and split must match; only the seed and the teacher may differ)", dir.display(), args.run.display());
        }
        if fs.validation.is_empty() {
            bail!("fold run {} has no validation fold: train it with --validation-folds K --validation-fold k", dir.display());
        }
        let part: HashSet<&String> = fs.train.iter().chain(&fs.validation).collect();
        if part != training {
            bail!("fold run {}: its training and validation frames are not {}'s training frames (another split?)", dir.display(), args.run.display());
        }
        if let Some(twice) = fs.validation.iter().find(|id| !seen.insert((*id).clone())) {
            bail!("fold run {}: `{twice}` is validated by an earlier fold run too: give each fold once", dir.display());
        }
        let (model, fptr) = fold.load_model(&fc.model, &device).with_context(|| format!("fold run {}", dir.display()))?;
        if fptr.epoch != ptr.epoch {
            bail!("fold run {} is at epoch {}, {} at epoch {}: its last checkpoint must match the run's (resume it, or train it with --epochs {})", dir.display(), fptr.epoch, args.run.display(), ptr.epoch, ptr.epoch);
        }
        let ids = resolve_ids(&listing, &fs.validation)?;
        let (encoded, _) = layers_of(&model, &fc, &listing, &ids, &device, "held-out fold")?;
        pools.push(Pool {
            probs: encoded.probs,
            truth: ids.iter().map(|&i| listing.samples[i].label.unwrap_or(0)).collect(),
            times: ids.iter().map(|&i| listing.samples[i].timestamp).collect(),
        });
    }
    let probs: Vec<f32> = pools.iter().flat_map(|p| p.probs.iter().copied()).collect();
    let truth: Vec<usize> = pools.iter().flat_map(|p| p.truth.iter().copied()).collect();
    let times: Vec<Option<i64>> = pools.iter().flat_map(|p| p.times.iter().copied()).collect();
    let (groups, seed) = (groups_by_block(&times, config.block_seconds), config.train.seed);
    // Each fold run's frames, calibrated by what the other fold runs' frames fit.
    let folds: Vec<Fold> = pools.iter().map(|p| Fold { probs: &p.probs, truth: &p.truth }).collect();
    let cf = cross_fit(&folds, classes);
    let kept = cf.kept(!args.temperature_only);
    let (temperature, class_offsets) = fit_kept(kept, &probs, &truth, classes);
    let after = apply(&probs, classes, temperature, &class_offsets);
    let covered = seen.len() as f64 / training.len().max(1) as f64;
    let c = Calibration {
        temperature,
        class_offsets: class_offsets.clone(),
        epoch: ptr.epoch,
        validation_images: truth.len(),
        validation_nll_before: mean_nll(&probs, &truth, classes),
        validation_nll_after: mean_nll(&after, &truth, classes),
        validation_ece_before: reliability(&probs, &truth, classes, ECE_BINS).ece,
        validation_ece_after: reliability(&after, &truth, classes, ECE_BINS).ece,
        fitted_on: format!(
            "the out-of-fold predictions of {} fold runs at epoch {} ({} of the run's {} training frames, each scored by the run that did not train on it){}",
            args.folds.len(),
            ptr.epoch,
            truth.len(),
            training.len(),
            match kept {
                Kept::Raw => "; no temperature kept (T = 1): fitted on the other fold runs' frames, it did not lower the NLL of each fold run's frames",
                Kept::Temperature => "",
                Kept::TemperatureAndOffsets => "; class offsets kept because, fitted on the other fold runs' frames, they lowered the NLL of each fold run's frames",
            }
        ),
        rule: CALIBRATION_RULE,
    };
    let cv = class_intervals(&truth, &predicted_classes(&probs, classes), classes, &groups, seed);
    write_json(&run.dir.join(CALIBRATION_FILE), &c)?;
    println!("{} out-of-fold frames from {} fold runs ({:.0}% of the training part), on {device_name}", truth.len(), args.folds.len(), covered * 100.0);
    println!(
        "cross-validated on the training nights: accuracy {}, balanced accuracy {} (95% intervals over {} time blocks)",
        cv.0.display(),
        cv.1.display(),
        groups.len()
    );
    println!("each fold run's frames, calibrated by a fit on the other fold runs' frames:");
    println!("{}", held_out_line("raw softmax", &probs, &truth, classes, &groups, seed));
    println!("{}", held_out_line("temperature", &cf.scaled, &truth, classes, &groups, seed));
    println!("{}", held_out_line("temperature + class offsets", &cf.offset, &truth, classes, &groups, seed));
    println!(
        "  held-out NLL by fold run, raw → temperature → with offsets: {}",
        cf.nll.iter().map(|n| format!("{:.3} → {:.3} → {:.3}", n[0], n[1], n[2])).collect::<Vec<_>>().join(", ")
    );
    let kept = match (kept, args.temperature_only) {
        (Kept::Raw, _) => "raw softmax (the temperature did not lower the held-out NLL of every fold run's frames)",
        (Kept::Temperature, true) => "temperature only (--temperature-only)",
        (Kept::Temperature, false) => "temperature only (the class offsets did not lower the held-out NLL of every fold run's frames)",
        (Kept::TemperatureAndOffsets, _) => "temperature and class offsets (they lowered the held-out NLL of every fold run's frames)",
    };
    println!("kept: {kept}");
    let offsets = if class_offsets.is_empty() {
        String::new()
    } else {
        format!(", class offsets [{}]", config.classes.iter().zip(&class_offsets).map(|(c, b)| format!("{c} {b:+.2}")).collect::<Vec<_>>().join(", "))
    };
    println!(
        "fitted on all {} frames: temperature {:.2}{offsets}: NLL {:.3} → {:.3}, ECE ({ECE_BINS} bins) {:.3} → {:.3}",
        truth.len(),
        temperature,
        c.validation_nll_before,
        c.validation_nll_after,
        c.validation_ece_before,
        c.validation_ece_after
    );
    println!("wrote {} (used by eval, export and site for epoch {})", run.dir.join(CALIBRATION_FILE).display(), ptr.epoch);
    Ok(())
}
