//! `eval --ood DIR…`: how well the out-of-domain score tells the run's test frames from
//! pictures of other kinds (CIFAR-10 photos, ordinary aurora photographs, other cameras' all-sky
//! frames), as AUROC, for each candidate layer and for the softmax's own confidence, and what
//! share of each set the shipped threshold flags.

use anyhow::{Context, Result, bail};
use aurora_hash::infer::{Layers, encode_layers};
use aurora_hash::ood::{Layer, OodModel, auroc};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::dataset::read_image;
use crate::posttrain::{OOD_DIRECTIONS, OOD_LAYER, OodFile, ThresholdFrom, fit_ood};
use crate::progress;
use crate::run::RunConfig;
use aurora_hash::model::AuroraNet;

/// One picture set against the in-domain test frames.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OodRow {
    pub set: String,
    pub images: usize,
    /// (method, AUROC): each layer's Mahalanobis score, then 1 − max softmax probability.
    pub auroc: Vec<(String, f64)>,
    /// The same with the validation frames as the in-domain side (each layer's score; no
    /// softmax): what the shipped layer is chosen by, so that the choice never looks at the
    /// test frames.
    #[serde(default)]
    pub auroc_validation: Vec<(String, f64)>,
    /// Share of the set above the shipped score's threshold (flagged out of domain).
    pub flagged: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OodReport {
    /// The score the bundle ships.
    pub shipped: String,
    #[serde(with = "aurora_hash::ood::infinite_as_null")]
    pub threshold: f32,
    /// What the threshold was set on, in words.
    #[serde(default)]
    pub threshold_from: String,
    /// Share of the in-domain test frames flagged (the validation share is 5 % by construction).
    pub test_flagged: f64,
    pub rows: Vec<OodRow>,
}

/// Every image under `dir` (recursively, sorted), thinned to at most `limit` evenly spaced.
fn sample_images(dir: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    let (mut files, _) = crate::files::find_images(dir, false)?;
    if files.is_empty() {
        bail!("{}: no images", dir.display());
    }
    if files.len() > limit {
        let step = files.len() as f64 / limit as f64;
        files = (0..limit).map(|i| files[(i as f64 * step) as usize].clone()).collect();
    }
    Ok(files)
}

fn msp(probs: &[f32], classes: usize) -> Vec<f32> {
    probs.chunks_exact(classes).map(|p| 1.0 - p.iter().cloned().fold(0.0, f32::max)).collect()
}

/// `test` / `test_probs`: the in-domain test frames' activations and probabilities;
/// `train` (+ labels) and `validation`: what the statistics and thresholds are fitted on.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &AuroraNet,
    config: &RunConfig,
    device: &Device,
    shipped_file: &OodFile,
    train: (&Layers, &[usize]),
    validation: &Layers,
    test: (&Layers, &[f32]),
    dirs: &[PathBuf],
    limit: usize,
) -> Result<OodReport> {
    let classes = config.classes.len();
    let shipped = &shipped_file.model;
    // The candidates cost a PCA of each layer (fc7 is 1024–4096 wide): only when measured.
    let layers: &[Layer] = if dirs.is_empty() { &[] } else { &Layer::ALL };
    let candidates: Vec<OodModel> = layers.iter().map(|&l| fit_ood(l, OOD_DIRECTIONS, config, train, ThresholdFrom::Nothing).0).collect();
    let test_scores: Vec<Vec<f32>> = candidates.iter().map(|m| m.scores(test.0.get(m.layer))).collect();
    let validation_scores: Vec<Vec<f32>> = candidates.iter().map(|m| m.scores(validation.get(m.layer))).collect();
    let test_msp = msp(test.1, classes);
    let shipped_test = shipped.scores(test.0.get(shipped.layer));
    let mut rows = Vec::new();
    for dir in dirs {
        let files = sample_images(dir, limit)?;
        let bar = progress::bar(files.len() as u64, "ood");
        let (mut layers, mut probs) = (Layers::default(), Vec::new());
        for chunk in files.chunks(32) {
            let pixels: Vec<f32> = chunk
                .iter()
                .map(|p| read_image(p).map(|img| config.preprocess.apply(&img)))
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("out-of-domain set {}", dir.display()))?
                .concat();
            let (e, l) = encode_layers(model, &config.model, pixels, chunk.len(), device);
            probs.extend(e.probs);
            layers.extend(l);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let outside: Vec<Vec<f32>> = candidates.iter().map(|m| m.scores(layers.get(m.layer))).collect();
        let against = |inside: &[Vec<f32>]| -> Vec<(String, f64)> {
            candidates.iter().zip(inside).zip(&outside).map(|((m, i), o)| (format!("Mahalanobis, {}", m.layer.name()), auroc(i, o))).collect()
        };
        let mut aurocs = against(&test_scores);
        aurocs.push(("1 − max softmax".into(), auroc(&test_msp, &msp(&probs, classes))));
        // Without validation frames there is nothing to choose the layer by.
        let auroc_validation = if validation_scores.iter().all(|v| v.is_empty()) { Vec::new() } else { against(&validation_scores) };
        let flagged = shipped.scores(layers.get(shipped.layer)).iter().filter(|&&s| shipped.is_out(s)).count() as f64 / files.len() as f64;
        rows.push(OodRow { set: dir.display().to_string(), images: files.len(), auroc: aurocs, auroc_validation, flagged });
    }
    Ok(OodReport {
        shipped: format!("Mahalanobis, {}, {} directions", OOD_LAYER.name(), shipped.k),
        threshold: shipped.threshold,
        threshold_from: shipped_file.threshold_from.clone(),
        test_flagged: shipped_test.iter().filter(|&&s| shipped.is_out(s)).count() as f64 / shipped_test.len().max(1) as f64,
        rows,
    })
}
