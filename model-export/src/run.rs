//! The run folder: everything a training run needs to be evaluated, resumed or exported.
//!
//! ```text
//! runs/NAME/
//!   run.json            RunConfig: model, training, preprocessing, data source, classes
//!   split.json          the train/test split, by sample id
//!   metrics.jsonl       one JSON object per finished epoch
//!   augmentations.png   a contact sheet: training frames and augmented copies of them
//!   checkpoint.json     {"epoch": K, "dir": "checkpoint-K"}: the latest complete checkpoint
//!   checkpoint-K/       model.bpk (weights, burnpack f32), optim.bpk (optimiser state) and
//!                       progress.json (best epoch so far, early-stopping count); average.bpk
//!                       (the moving average of the weights) when the recipe keeps one
//!   best.json           {"epoch": K, "dir": "best-K"}: the model with the best validation score
//!   best-K/             model.bpk: what `eval`, `export` and `site` use (the averaged weights
//!                       when the recipe keeps an average)
//!   pseudo.json         pseudo-labelled frames added to the training images, when used
//!   eval/               report.json, pr.svg, topk.svg, confusion.svg, map_bits.svg
//! ```
//!
//! Every file is written to a temporary name and renamed into place, and a checkpoint folder is
//! complete before `checkpoint.json` points at it, so a run killed at any moment resumes from
//! the last finished epoch with nothing lost or half-written.

use anyhow::{Context, Result, bail};
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::model::{AuroraNet, ModelConfig};
use aurora_hash::train::{EpochRecord, Progress, TrainConfig};
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::dataset::Source;

pub const RUN_FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub format: u32,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub preprocess: Preprocess,
    pub source: Source,
    pub classes: Vec<String>,
    pub test_fraction: f64,
    pub block_seconds: i64,
    /// Share of the training part held out (by block) for validation.
    #[serde(default)]
    pub validation_fraction: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSplit {
    pub method: String,
    /// Training images.
    pub train: Vec<String>,
    /// Held-out images: the queries of retrieval and the test set of classification.
    pub test: Vec<String>,
    /// Validation images (whole time blocks of the training part): every choice of the run
    /// is made on them. Runs made before validation existed have none.
    #[serde(default)]
    pub validation: Vec<String>,
    /// The retrieval database when it is not the training set (cifar10-1: all but the queries).
    #[serde(default)]
    pub database: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointPointer {
    pub epoch: usize,
    pub dir: String,
}

/// One line of metrics.jsonl: the epoch's record and the device it ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochMetrics {
    #[serde(flatten)]
    pub record: EpochRecord,
    pub device: String,
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// [`write_atomic`] for the few large files a user names (a bundle's files, an index), which
/// a killed writer would leave a large temporary copy of: also removes the copies that writers
/// killed mid-write left beside it. Not for files written by the thousand into one folder
/// (thumbnails, site files): it lists the folder each time; `OutFolder` cleans those once.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes)?;
    remove_dead_temps(path);
    Ok(())
}

/// Removes the temporary copies of `path` that writers killed mid-write left beside it
/// (`.NAME.tmp-PID` of a process that no longer runs), so a kill costs no disk for long.
/// Only where the system says which processes run (`/proc`); elsewhere they stay, harmless.
fn remove_dead_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = n.strip_prefix(&prefix) else { continue };
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !proc.join(pid).exists() && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(value)?)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = crate::files::read_capped(path, crate::files::TEXT_CAP)?;
    serde_json::from_slice(&text).with_context(|| format!("{}: not a valid file of this kind", path.display()))
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

pub struct Run {
    pub dir: PathBuf,
}

/// A new run is started only in a folder that is missing, empty, or holds no more than what a
/// start killed before `run.json` was written leaves (`split.json`, temporary files): a run
/// writes checkpoints, reports and plots there, and the folder's other files are the user's.
fn refuse_foreign_run_folder(dir: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return Ok(()) };
    if !meta.is_dir() {
        bail!("{}: exists and is not a folder", dir.display());
    }
    let ours = |n: &str| n == "split.json" || n.strip_prefix('.').is_some_and(|r| r.contains(".tmp-") && (r.starts_with("split.json") || r.starts_with("run.json")));
    let foreign: Vec<String> = crate::out_folder::entries(dir)?.into_iter().filter(|n| !ours(n)).collect();
    if foreign.is_empty() {
        return Ok(());
    }
    bail!("{} is not empty and holds no run (it holds {}): choose a new or empty folder for --run", dir.display(), crate::out_folder::listing(&foreign))
}

impl Run {
    pub fn at(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    pub fn create(dir: &Path, config: &RunConfig, split: &SavedSplit) -> Result<Self> {
        if dir.join("run.json").exists() {
            bail!("{} already holds a run: use --resume to continue it, or choose another --run", dir.display());
        }
        refuse_foreign_run_folder(dir)?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let run = Self::at(dir);
        write_json(&dir.join("split.json"), split)?;
        write_json(&dir.join("run.json"), config)?;
        Ok(run)
    }

    pub fn config(&self) -> Result<RunConfig> {
        let path = self.dir.join("run.json");
        if !path.exists() {
            bail!("{} is not a run folder (no run.json)", self.dir.display());
        }
        let c: RunConfig = read_json(&path)?;
        if c.format != RUN_FORMAT {
            bail!("{}: run format {} is not supported (expected {RUN_FORMAT})", path.display(), c.format);
        }
        c.model.validate().with_context(|| format!("{}: bad model configuration", path.display()))?;
        Ok(c)
    }

    pub fn split(&self) -> Result<SavedSplit> {
        read_json(&self.dir.join("split.json"))
    }

    pub fn latest(&self) -> Result<Option<CheckpointPointer>> {
        let p = self.dir.join("checkpoint.json");
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// Saves model, optimiser and progress for `epoch`, then points `checkpoint.json` at them
    /// and removes the previous checkpoint. With `best`, the model is also kept as the best one
    /// (`best.json` → `best-K/`), replacing the previous best.
    /// `average`: the moving average of the weights, when the recipe keeps one; it is then
    /// the model kept as the best (and saved beside the trained weights for resuming).
    pub fn save_checkpoint(&self, epoch: usize, model: &AuroraNet, average: Option<&AuroraNet>, optim: &ModuleOptimizer, progress: &Progress, best: bool) -> Result<()> {
        let name = format!("checkpoint-{epoch}");
        let tmp = self.dir.join(format!(".{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let weights = aurora_hash::export::weights_to_bytes(model, aurora_hash::export::WeightsDtype::F32)?;
        write_atomic(&tmp.join("model.bpk"), &weights)?;
        let kept = match average {
            Some(avg) => {
                let bytes = aurora_hash::export::weights_to_bytes(avg, aurora_hash::export::WeightsDtype::F32)?;
                write_atomic(&tmp.join("average.bpk"), &bytes)?;
                bytes
            }
            None => weights,
        };
        optim.save(tmp.join("optim.bpk")).map_err(|e| anyhow::anyhow!("cannot save optimiser state: {e:?}"))?;
        write_json(&tmp.join("progress.json"), progress)?;
        if best {
            self.save_best(epoch, &kept)?;
        }
        let dir = self.dir.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::rename(&tmp, &dir)?;
        let previous = self.latest()?;
        write_json(&self.dir.join("checkpoint.json"), &CheckpointPointer { epoch, dir: name.clone() })?;
        if let Some(prev) = previous.filter(|p| p.dir != name) {
            let _ = std::fs::remove_dir_all(self.dir.join(prev.dir));
        }
        Ok(())
    }

    /// `best-K/model.bpk`, complete before `best.json` points at it.
    fn save_best(&self, epoch: usize, weights: &[u8]) -> Result<()> {
        let name = format!("best-{epoch}");
        let dir = self.dir.join(&name);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("model.bpk"), weights)?;
        let previous = self.best()?;
        write_json(&self.dir.join("best.json"), &CheckpointPointer { epoch, dir: name.clone() })?;
        if let Some(prev) = previous.filter(|p| p.dir != name) {
            let _ = std::fs::remove_dir_all(self.dir.join(prev.dir));
        }
        Ok(())
    }

    pub fn best(&self) -> Result<Option<CheckpointPointer>> {
        let p = self.dir.join("best.json");
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// The training state saved with the latest checkpoint (runs made before it was saved:
    /// reconstructed from the epoch count).
    pub fn progress(&self, ptr: &CheckpointPointer) -> Result<Progress> {
        let path = self.dir.join(&ptr.dir).join("progress.json");
        if path.exists() {
            return read_json(&path);
        }
        Ok(Progress { epochs_done: ptr.epoch, best_epoch: Some(ptr.epoch), ..Progress::default() })
    }

    /// The model a user gets from this run: the best checkpoint by validation, or the latest
    /// one for runs without validation. Returns the model and the epoch it is from.
    pub fn load_chosen_model(&self, config: &ModelConfig, device: &Device) -> Result<(AuroraNet, CheckpointPointer)> {
        match self.best()? {
            Some(ptr) => Ok((load_model(config, &self.dir.join(&ptr.dir).join("model.bpk"), device)?, ptr)),
            None => self.load_model(config, device),
        }
    }

    /// The model of the latest checkpoint on `device`, as the recipe keeps it: the moving
    /// average of the weights when the run keeps one (`--average-epochs`; it is what was
    /// validated and what the run exports, so `calibrate` must score its fold runs by it too),
    /// otherwise the trained weights.
    pub fn load_model(&self, config: &ModelConfig, device: &Device) -> Result<(AuroraNet, CheckpointPointer)> {
        let Some(ptr) = self.latest()? else {
            bail!("{} has no checkpoint yet: train it first", self.dir.display());
        };
        let dir = self.dir.join(&ptr.dir);
        let average = dir.join("average.bpk");
        let path = if average.is_file() { average } else { dir.join("model.bpk") };
        let model = load_model(config, &path, device)?;
        Ok((model, ptr))
    }

    pub fn append_metrics(&self, m: &EpochMetrics) -> Result<()> {
        // Rewritten whole (atomically) rather than appended, so a kill cannot leave half a line.
        let path = self.dir.join("metrics.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        // Drop lines of epochs at or after this one (left by a run killed after writing them
        // but before its checkpoint landed).
        text = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|old| old["epoch"].as_u64().is_some_and(|e| (e as usize) < m.record.epoch)))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&serde_json::to_string(m)?);
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }
}

/// Checkpoint weights are f32 burnpack, written and read by the same code as a bundle's.
pub fn load_model(config: &ModelConfig, path: &Path, device: &Device) -> Result<AuroraNet> {
    let bytes = crate::files::read_capped(path, crate::files::BINARY_CAP).with_context(|| format!("weights file {} is missing or unreadable", path.display()))?;
    aurora_hash::export::model_from_bytes(config, bytes, device).with_context(|| format!("{}", path.display()))
}
