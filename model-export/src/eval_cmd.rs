//! `aurora-hash eval`: scores a trained run the way the paper does (section 3.1) and writes a
//! report a person can read: JSON with every figure, SVG plots, and a summary on the terminal.

use aurora_hash::infer::predicted_classes;
use anyhow::{Result, bail};
use aurora_hash::hashing::CodeSet;
use aurora_hash::infer::{Encoded, encode, encode_with_features};
use aurora_hash::metrics::{self, ClassificationReport, RetrievalReport};
use aurora_hash::model::{AuroraNet, ModelConfig};
use burn::tensor::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::dataset::{self, Listing};
use crate::device::{self, Choice};
use crate::plot;
use crate::progress;
use crate::run::{Run, RunConfig, SavedSplit, write_atomic, write_json};
use crate::train_cmd::resolve_ids;

#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// Run folder to evaluate.
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    /// Also report MAP over the top k results.
    #[arg(long)]
    pub map_at: Option<usize>,
    /// Images per inference batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

/// Everything `eval` measured, as written to `eval/report.json`.
#[derive(Serialize, serde::Deserialize)]
pub struct EvalReport {
    pub run: String,
    pub arch: String,
    pub bits: usize,
    pub input_size: usize,
    pub epochs_trained: usize,
    pub data: String,
    pub split: String,
    pub protocol: String,
    pub tie_rule: String,
    pub classes: Vec<String>,
    pub retrieval: RetrievalReport,
    pub classification: ClassificationReport,
    pub device: String,
    pub encode_images_per_second: f64,
    pub mean_query_ms: f64,
}

/// The k of the top-k precision curves, up to the database's size.
pub fn top_ks(database: usize) -> Vec<usize> {
    [1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].into_iter().filter(|&k| k <= database).collect()
}

pub const TIE_RULE: &str = "Hamming distance, then database position (the dataset's listing order)";

/// Feeds the preprocessed pixels of the samples at `which` to `f`, a batch at a time
/// (concatenated, with the batch's size), reading images from disk in parallel, with a
/// progress bar.
pub fn for_each_batch(
    config: &RunConfig,
    listing: &Listing,
    which: &[usize],
    batch: usize,
    what: &str,
    mut f: impl FnMut(Vec<f32>, usize),
) -> Result<()> {
    let bar = progress::bar(which.len() as u64, what);
    for chunk in which.chunks(batch.max(1) * 4) {
        let pixels = dataset::load_pixels(listing, chunk, &config.preprocess, "")?;
        for part in pixels.chunks(batch.max(1)) {
            f(part.concat(), part.len());
            bar.inc(part.len() as u64);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Encodes the samples at `which` in batches; with `features`, also returns their fc7
/// features (else an empty vector).
#[allow(clippy::too_many_arguments)]
pub fn encode_all(
    model: &AuroraNet,
    config: &RunConfig,
    listing: &Listing,
    which: &[usize],
    device: &Device,
    batch: usize,
    what: &str,
    features: bool,
) -> Result<(Encoded, Vec<f32>)> {
    let mut all = Encoded { hash: Vec::new(), probs: Vec::new() };
    let mut fc7 = Vec::new();
    for_each_batch(config, listing, which, batch, what, |pixels, n| {
        let e = if features {
            let (e, f) = encode_with_features(model, &config.model, pixels, n, device);
            fc7.extend(f);
            e
        } else {
            encode(model, &config.model, pixels, n, device)
        };
        all.hash.extend(e.hash);
        all.probs.extend(e.probs);
    })?;
    Ok((all, fc7))
}

/// A trained run ready to be scored: its model on a device and its split resolved.
pub struct Prepared {
    pub run: Run,
    pub config: RunConfig,
    pub saved: SavedSplit,
    pub listing: Listing,
    /// Positions in `listing` of the queries (held-out images) and of the database.
    pub queries: Vec<usize>,
    pub database: Vec<usize>,
    pub device: Device,
    pub device_name: String,
    pub model: AuroraNet,
    pub epoch: usize,
}

impl Prepared {
    pub fn open(dir: &Path, choice: Choice) -> Result<Prepared> {
        let run = Run::at(dir);
        let config = run.config()?;
        let saved = run.split()?;
        let listing = dataset::list(&config.source)?;
        let queries = resolve_ids(&listing, &saved.test)?;
        let database = resolve_ids(&listing, saved.database.as_ref().unwrap_or(&saved.train))?;
        if queries.is_empty() || database.is_empty() {
            bail!("the saved split has no queries or no database");
        }
        let (device, device_name) = device::select(choice)?;
        let (model, ptr) = run.load_model(&config.model, &device)?;
        Ok(Prepared { run, config, saved, listing, queries, database, device, device_name, model, epoch: ptr.epoch })
    }

    /// True labels of the samples at `which`.
    pub fn labels(&self, which: &[usize]) -> Vec<usize> {
        which.iter().map(|&i| self.listing.samples[i].label.unwrap_or(usize::MAX)).collect()
    }
}

pub fn eval(args: &EvalArgs) -> Result<EvalReport> {
    let Prepared { run, config, saved, listing, queries, database, device, device_name, model, epoch } = Prepared::open(&args.run, args.device)?;
    let ModelConfig { bits, num_classes, .. } = config.model;
    let started = Instant::now();
    let (q, _) = encode_all(&model, &config, &listing, &queries, &device, args.batch, "queries", false)?;
    let (db, _) = encode_all(&model, &config, &listing, &database, &device, args.batch, "database", false)?;
    let encode_rate = (queries.len() + database.len()) as f64 / started.elapsed().as_secs_f64();
    let label = |v: &[usize]| -> Vec<usize> { v.iter().map(|&i| listing.samples[i].label.unwrap_or(usize::MAX)).collect() };
    let (q_labels, db_labels) = (label(&queries), label(&database));
    let q_codes = CodeSet::from_outputs(&q.hash, bits);
    let db_codes = CodeSet::from_outputs(&db.hash, bits);
    let top_ks = top_ks(database.len());
    let t = Instant::now();
    let retrieval = metrics::retrieval(&q_codes, &q_labels, &db_codes, &db_labels, args.map_at, &top_ks);
    let mean_query_ms = t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64;
    let predicted = predicted_classes(&q.probs, num_classes);
    let classification = metrics::classification(&q_labels, &predicted, num_classes);
    let report = EvalReport {
        run: args.run.display().to_string(),
        arch: config.model.arch.name().to_string() + if config.model.spp_pmt { "" } else { " (no SPP_PMT)" },
        bits,
        input_size: config.model.input_size,
        epochs_trained: epoch,
        data: config.source.describe(),
        split: saved.method.clone(),
        protocol: format!(
            "{} held-out queries against a database of {} {} images; relevant = same class",
            queries.len(),
            database.len(),
            if saved.database.is_some() { "" } else { "training" }
        ),
        tie_rule: TIE_RULE.into(),
        classes: config.classes.clone(),
        retrieval,
        classification,
        device: device_name,
        encode_images_per_second: encode_rate,
        mean_query_ms,
    };
    write_report(&run.dir.join("eval"), &report)?;
    Ok(report)
}

fn write_report(dir: &Path, r: &EvalReport) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_json(&dir.join("report.json"), r)?;
    let name = format!("{} {} bits", r.arch, r.bits);
    let pr: Vec<(f64, f64)> = r.retrieval.pr_curve.iter().map(|p| (p.recall, p.precision)).collect();
    let svg = plot::lines(&format!("Precision–recall (Hamming radius 0–{})", r.bits), "recall", "precision", &[(name.clone(), pr)], (0.0, 1.0), (0.0, 1.0), false);
    write_atomic(&dir.join("pr.svg"), svg.as_bytes())?;
    let tk: Vec<(f64, f64)> = r.retrieval.top_k_precision.iter().map(|&(k, p)| (k as f64, p)).collect();
    let max_k = tk.last().map_or(10.0, |p| p.0);
    let svg = plot::lines("Top-k precision", "k (results returned)", "precision", &[(name, tk)], (1.0, max_k), (0.0, 1.0), true);
    write_atomic(&dir.join("topk.svg"), svg.as_bytes())?;
    let svg = plot::confusion(
        &format!("Normalised confusion matrix (accuracy {:.3})", r.classification.accuracy),
        &r.classes,
        &r.classification.normalised,
    );
    write_atomic(&dir.join("confusion.svg"), svg.as_bytes())?;
    Ok(())
}

pub fn print_summary(r: &EvalReport, dir: &Path) {
    println!("{} ({} bits, {} px, {} epochs) on {}", r.arch, r.bits, r.input_size, r.epochs_trained, r.data);
    println!("split: {}", r.split);
    println!("protocol: {}", r.protocol);
    println!("MAP        {:.4}", r.retrieval.map);
    if let Some((k, m)) = r.retrieval.map_at_k {
        println!("MAP@{k:<6} {m:.4}");
    }
    println!("accuracy   {:.4}", r.classification.accuracy);
    let top: Vec<String> = r.retrieval.top_k_precision.iter().take(5).map(|(k, p)| format!("P@{k} {p:.3}")).collect();
    println!("top-k      {}", top.join(", "));
    println!("confusion (rows: true class, normalised):");
    let w = r.classes.iter().map(String::len).max().unwrap_or(5).max(5);
    println!("  {:w$}  {}", "", r.classes.iter().map(|c| format!("{c:>w$}")).collect::<Vec<_>>().join(" "));
    for (c, row) in r.classes.iter().zip(&r.classification.normalised) {
        println!("  {c:>w$}  {}", row.iter().map(|v| format!("{v:>w$.3}")).collect::<Vec<_>>().join(" "));
    }
    println!("encoding {:.1} img/s on {}; search {:.3} ms per query (full ranking + metrics)", r.encode_images_per_second, r.device, r.mean_query_ms);
    for f in ["report.json", "pr.svg", "topk.svg", "confusion.svg"] {
        println!("wrote {}", dir.join(f).display());
    }
}
