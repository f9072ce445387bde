//! Pseudo-labelled frames for `train --unlabeled DIR --teacher RUN`: the teacher run's best
//! model, with its calibration temperature, labels the frames it is sure of; they join the
//! training images. Which frames were added, and why, is kept in the run's `pseudo.json`, so a
//! resumed run trains on exactly the same set.

use anyhow::{Result, bail};
use aurora_hash::calibrate;
use aurora_hash::data::split;
use aurora_hash::infer::encode;
use aurora_hash::train::pseudo;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::dataset::read_image;
use crate::posttrain::Calibration;
use crate::progress;
use crate::run::{Run, RunConfig, SavedSplit, read_json, write_json};

const PSEUDO_FILE: &str = "pseudo.json";

#[derive(Serialize, Deserialize)]
struct PseudoFile {
    teacher: String,
    threshold: f32,
    temperature: f32,
    frames: Vec<PseudoFrame>,
}

#[derive(Serialize, Deserialize)]
struct PseudoFrame {
    path: PathBuf,
    class: usize,
    probability: f32,
}

/// Refuses a teacher that trained on any frame `split` holds out for test or validation: its
/// labels would carry those frames into this run's training. `train` calls it before the run
/// folder is made, so a refusal leaves nothing behind.
pub fn check_teacher(teacher: &Path, split: &SavedSplit) -> Result<()> {
    let held = held_out(split);
    if let Some(id) = Run::at(teacher).split()?.train.iter().find(|id| held.contains(id.as_str())) {
        bail!(
            "teacher {}: it was trained on `{id}`, which this run holds out for test or validation; train the teacher on this run's training part only",
            teacher.display()
        );
    }
    Ok(())
}

/// The ids `split` keeps away from training: test and validation.
fn held_out(split: &SavedSplit) -> HashSet<&str> {
    split.test.iter().chain(&split.validation).map(String::as_str).collect()
}

/// Labels the frames under `unlabeled` with `teacher` and appends those at or above
/// `threshold` to `pixels` / `labels`; returns how many.
#[allow(clippy::too_many_arguments)]
pub fn add(
    run: &Run,
    unlabeled: &Path,
    teacher: &Path,
    threshold: f32,
    config: &RunConfig,
    device: &Device,
    pixels: &mut Vec<Vec<f32>>,
    labels: &mut Vec<usize>,
) -> Result<usize> {
    let teacher_run = Run::at(teacher);
    let tc = teacher_run.config()?;
    if tc.classes != config.classes || tc.preprocess != config.preprocess {
        bail!("teacher {}: its classes or preprocessing differ from this run's", teacher.display());
    }
    let (model, ptr) = teacher_run.load_chosen_model(&tc.model, device)?;
    let (temperature, offsets) = read_json::<Calibration>(&teacher.join(crate::posttrain::CALIBRATION_FILE)).map(|c| (c.temperature, c.class_offsets)).unwrap_or_else(|_| {
        eprintln!("teacher {} has no calibration: using its raw probabilities", teacher.display());
        (1.0, Vec::new())
    });
    // Nothing this run holds out may reach its training through the teacher: neither frames
    // the teacher trained on nor unlabelled frames of the held-out time blocks.
    let split = run.split()?;
    check_teacher(teacher, &split)?;
    let held_blocks = split::blocks_of(held_out(&split), config.block_seconds);
    let (all, mut skipped) = crate::files::find_images(unlabeled, false)?;
    let found: Vec<PathBuf> = all.iter().filter(|p| !split::in_blocks(&p.to_string_lossy(), &held_blocks, config.block_seconds)).cloned().collect();
    if found.len() < all.len() {
        eprintln!(
            "{}: {} of {} frames lie in this run's test or validation time blocks: left out (near-duplicates of held-out frames)",
            unlabeled.display(),
            all.len() - found.len(),
            all.len()
        );
    }
    if found.is_empty() {
        bail!("{}: no images to pseudo-label{}", unlabeled.display(), if all.is_empty() { "" } else { " outside this run's held-out time blocks" });
    }
    let classes = config.classes.len();
    let bar = progress::bar(found.len() as u64, "pseudo-labels");
    let mut probs = Vec::with_capacity(found.len() * classes);
    let mut inputs = Vec::with_capacity(found.len());
    // The frames actually read, aligned with `probs` and `inputs`.
    let mut files = Vec::with_capacity(found.len());
    for chunk in found.chunks(32) {
        let mut batch = Vec::with_capacity(chunk.len());
        for p in chunk {
            match read_image(p) {
                Ok(img) => {
                    batch.push(config.preprocess.apply(&img));
                    files.push(p.clone());
                }
                Err(e) => skipped.add(p, format!("{e:#}"), false)?,
            }
        }
        bar.inc(chunk.len() as u64);
        if batch.is_empty() {
            continue;
        }
        let e = encode(&model, &tc.model, batch.concat(), batch.len(), device);
        probs.extend(calibrate::apply(&e.probs, classes, temperature, &offsets));
        inputs.extend(batch);
    }
    bar.finish_and_clear();
    if let Some(line) = skipped.summary(&unlabeled.display().to_string()) {
        eprintln!("{line}");
    }
    let chosen = pseudo::select(&probs, classes, threshold);
    if chosen.is_empty() && !files.is_empty() {
        // A teacher trained with label smoothing s is rarely surer than 1 − s + s / classes
        // (0.925 for the default recipe's 0.1 and four classes): a threshold above that admits nothing.
        let top = probs.iter().copied().fold(0f32, f32::max);
        let s = tc.train.label_smoothing;
        let hint = if s > 0.0 {
            format!("; it was trained with label smoothing {s}, so its answers stay near {:.3} at most: lower --pseudo-threshold", 1.0 - s + s / classes as f32)
        } else {
            String::new()
        };
        eprintln!("no frame reached {threshold}: the teacher's surest answer was {top:.3}{hint}");
    }
    let frames: Vec<PseudoFrame> =
        chosen.iter().map(|&(i, c)| PseudoFrame { path: files[i].canonicalize().unwrap_or(files[i].clone()), class: c, probability: probs[i * classes + c] }).collect();
    let mut per_class = vec![0usize; classes];
    for &(i, c) in &chosen {
        per_class[c] += 1;
        pixels.push(inputs[i].clone());
        labels.push(c);
    }
    eprintln!(
        "teacher {} (epoch {}, T = {temperature:.2}): {} of {} frames confident enough ({})",
        teacher.display(),
        ptr.epoch,
        chosen.len(),
        files.len(),
        config.classes.iter().zip(&per_class).map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
    );
    write_json(&run.dir.join(PSEUDO_FILE), &PseudoFile { teacher: teacher.display().to_string(), threshold, temperature, frames })?;
    Ok(chosen.len())
}

/// The confidence threshold at which `run` took pseudo-labels, if it took any: part of its
/// recipe, which runs that stand in for it (`calibrate`'s fold runs) must share.
pub fn threshold_of(run: &Run) -> Result<Option<f32>> {
    let path = run.dir.join(PSEUDO_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(read_json::<PseudoFile>(&path)?.threshold))
}

/// The frames `add` chose for this run before it was interrupted.
pub fn reload(run: &Run, config: &RunConfig, pixels: &mut Vec<Vec<f32>>, labels: &mut Vec<usize>) -> Result<usize> {
    let path = run.dir.join(PSEUDO_FILE);
    if !path.exists() {
        return Ok(0);
    }
    let file: PseudoFile = read_json(&path)?;
    for f in &file.frames {
        pixels.push(config.preprocess.apply(&read_image(&f.path)?));
        labels.push(f.class);
    }
    Ok(file.frames.len())
}
