//! `aurora-hash eval`: scores a trained run the way the paper does (section 3.1) and writes a
//! report a person can read: JSON with every figure, SVG plots, and a summary on the terminal.

use anyhow::{Result, bail};
use aurora_hash::baselines::class_codes;
use aurora_hash::calibrate::{self, Reliability};
use aurora_hash::hashing::{CodeSet, soft_bytes};
use aurora_hash::infer::{Encoded, encode, encode_with_features, predicted_classes};
use aurora_hash::metrics::interval::{Interval, RESAMPLES, block_bootstrap, groups_by_block, mean_of, paired_block_bootstrap};
use aurora_hash::metrics::{self, ClassificationReport, RetrievalReport};
use aurora_hash::model::{AuroraNet, ModelConfig};
use burn::tensor::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::dataset::{self, Listing};
use crate::device::{self, Choice};
use crate::plot;
use crate::posttrain::{self, ECE_BINS};
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
    /// Picture sets the model should call out of domain (folders, searched recursively): the
    /// out-of-domain AUROC table against the test frames.
    #[arg(long)]
    pub ood: Vec<PathBuf>,
    /// At most this many images of each --ood set (evenly spaced in name order).
    #[arg(long, default_value_t = 500)]
    pub ood_limit: usize,
}

/// Every headline figure with its 95 % interval over test time blocks.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Intervals {
    pub map: Interval,
    pub accuracy: Interval,
    pub balanced_accuracy: Interval,
    /// Share of queries whose nearest result is of their class, and whose whole first page is.
    #[serde(default)]
    pub precision_at_1: Option<Interval>,
    #[serde(default)]
    pub page_right: Option<Interval>,
    /// Resampled units: test time blocks (or single images for data without times).
    pub blocks: usize,
    pub resamples: usize,
}

/// The trivial baseline beside the network: every image gets its predicted class's random
/// code, so retrieval is the classifier seen through a class prior. The network's codes earn
/// their keep only when they beat it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ClassCodeBaseline {
    pub map: Interval,
    /// Network MAP − class-code MAP, paired over the same resampled blocks.
    pub network_minus_baseline: Interval,
}

/// Calibration on the test images: the raw softmax and after the run's temperature.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CalibrationReport {
    pub temperature: f32,
    /// Per-class offsets after the temperature (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_offsets: Vec<f32>,
    /// With offsets, the class a user is told can differ from the network's: the answers'
    /// accuracy and balanced accuracy on the test images, with intervals over the blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerScores>,
    /// Share of the test images whose calibrated top class is above [`SURE`]: how often a
    /// user is given a confident answer.
    #[serde(default)]
    pub sure_share: f64,
    pub before: Reliability,
    pub after: Reliability,
    /// The frames the temperature was fitted on, in words.
    #[serde(default)]
    pub fitted_on: String,
    /// ECE before and after, with intervals over the test blocks (a few blocks of confident
    /// mistakes move it a lot).
    #[serde(default)]
    pub ece_before: Option<Interval>,
    #[serde(default)]
    pub ece_after: Option<Interval>,
}

/// What counts as a confident answer.
pub const SURE: f32 = 0.8;

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AnswerScores {
    pub accuracy: Interval,
    pub balanced_accuracy: Interval,
    pub recall: Vec<f64>,
}

/// One query's outcome, for paired comparisons between runs (`aurora-hash compare`).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct QueryOutcome {
    pub id: String,
    pub label: usize,
    pub predicted: usize,
    pub ap: f64,
    pub timestamp: Option<i64>,
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
    /// Which checkpoint was scored: the best by validation, or the last one.
    #[serde(default)]
    pub checkpoint: String,
    #[serde(default)]
    pub intervals: Option<Intervals>,
    #[serde(default)]
    pub class_codes: Option<ClassCodeBaseline>,
    #[serde(default)]
    pub calibration: Option<CalibrationReport>,
    #[serde(default)]
    pub block_seconds: i64,
    #[serde(default)]
    pub queries: Vec<QueryOutcome>,
    #[serde(default)]
    pub ood: Option<crate::ood_eval::OodReport>,
    /// The same codes ranked with ties in database position alone (the rule before the hash
    /// layer's outputs ordered ties): what the outputs change.
    #[serde(default)]
    pub position_ties: Option<PositionTies>,
}

/// Retrieval with ties by position, beside the ranked figures of the same run.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PositionTies {
    pub map: Interval,
    pub precision_at_1: Interval,
    pub page_right: Interval,
    pub distinct_pages: usize,
}

/// Share of `flags` that hold over the items `it` (a bootstrap statistic).
fn share_of(flags: &[bool], it: &[usize]) -> f64 {
    it.iter().filter(|&&i| flags[i]).count() as f64 / it.len().max(1) as f64
}

/// The k of the top-k precision curves, up to the database's size.
pub fn top_ks(database: usize) -> Vec<usize> {
    [1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].into_iter().filter(|&k| k <= database).collect()
}

/// How the baselines' rankings break ties.
pub const TIE_RULE: &str = "Hamming distance, then database position (the dataset's listing order)";

/// How the network's rankings break ties: the order the page and `query` show.
pub const RANKED_TIE_RULE: &str = "Hamming distance, then the L1 distance between the hash layer's outputs (logit bytes), then database position";

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
    /// Which checkpoint `model` is, in words.
    pub checkpoint: String,
}

impl Prepared {
    pub fn open(dir: &Path, choice: Choice) -> Result<Prepared> {
        let run = Run::at(dir);
        let config = run.config()?;
        let saved = run.split()?;
        let listing = dataset::list(&config.source, false)?;
        let queries = resolve_ids(&listing, &saved.test)?;
        let database = resolve_ids(&listing, saved.database.as_ref().unwrap_or(&saved.train))?;
        if queries.is_empty() || database.is_empty() {
            bail!("the saved split has no queries or no database");
        }
        let (device, device_name) = device::select(choice)?;
        let (model, ptr) = run.load_chosen_model(&config.model, &device)?;
        let chosen = if run.best()?.is_some() && !saved.validation.is_empty() { "best by validation" } else { "last epoch, no validation images" };
        Ok(Prepared { run, config, saved, listing, queries, database, device, device_name, model, epoch: ptr.epoch, checkpoint: format!("{chosen}: epoch {}", ptr.epoch) })
    }

    /// True labels of the samples at `which`.
    pub fn labels(&self, which: &[usize]) -> Vec<usize> {
        which.iter().map(|&i| self.listing.samples[i].label.unwrap_or(usize::MAX)).collect()
    }
}

pub fn eval(args: &EvalArgs) -> Result<EvalReport> {
    let Prepared { run, config, saved, listing, queries, database, device, device_name, model, epoch, checkpoint } = Prepared::open(&args.run, args.device)?;
    let ModelConfig { bits, num_classes, .. } = config.model;
    let started = Instant::now();
    let (q, q_layers) = posttrain::layers_of(&model, &config, &listing, &queries, &device, "queries")?;
    let (db, db_layers) = posttrain::layers_of(&model, &config, &listing, &database, &device, "database")?;
    let encode_rate = (queries.len() + database.len()) as f64 / started.elapsed().as_secs_f64();
    let label = |v: &[usize]| -> Vec<usize> { v.iter().map(|&i| listing.samples[i].label.unwrap_or(usize::MAX)).collect() };
    let (q_labels, db_labels) = (label(&queries), label(&database));
    let q_codes = CodeSet::from_outputs(&q.hash, bits);
    let db_codes = CodeSet::from_outputs(&db.hash, bits);
    let (q_soft, db_soft) = (soft_bytes(&q.hash), soft_bytes(&db.hash));
    let top_ks = top_ks(database.len());
    let t = Instant::now();
    let retrieval = metrics::retrieval_ranked(&q_codes, &q_soft, &q_labels, &db_codes, &db_soft, &db_labels, args.map_at, &top_ks);
    let mean_query_ms = t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64;
    let by_position = metrics::retrieval(&q_codes, &q_labels, &db_codes, &db_labels, None, &[]);
    let predicted = predicted_classes(&q.probs, num_classes);
    let classification = metrics::classification(&q_labels, &predicted, num_classes);

    // Intervals: resample whole test time blocks.
    let times: Vec<Option<i64>> = queries.iter().map(|&i| listing.samples[i].timestamp).collect();
    let groups = groups_by_block(&times, config.block_seconds);
    let seed = config.train.seed;
    let (accuracy, balanced_accuracy) = class_intervals(&q_labels, &predicted, num_classes, &groups, seed);
    let intervals = Intervals {
        map: block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&retrieval.ap, it)),
        accuracy,
        balanced_accuracy,
        precision_at_1: Some(block_bootstrap(&groups, RESAMPLES, seed, |it| share_of(&retrieval.first_right, it))),
        page_right: Some(block_bootstrap(&groups, RESAMPLES, seed, |it| share_of(&retrieval.page_right, it))),
        blocks: groups.len(),
        resamples: RESAMPLES,
    };
    // The class-code baseline from the same predictions.
    let db_predicted = predicted_classes(&db.probs, num_classes);
    let cc = metrics::retrieval(
        &class_codes(&predicted, num_classes, bits, 1),
        &q_labels,
        &class_codes(&db_predicted, num_classes, bits, 1),
        &db_labels,
        None,
        &[],
    );
    let class_codes = ClassCodeBaseline {
        map: block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&cc.ap, it)),
        network_minus_baseline: paired_block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&retrieval.ap, it), |it| mean_of(&cc.ap, it)),
    };
    // One pass over the validation images serves the calibration and the out-of-domain threshold.
    let val = resolve_ids(&listing, &saved.validation)?;
    let (val_encoded, val_layers) = posttrain::layers_of(&model, &config, &listing, &val, &device, "validation")?;
    // Calibration on the test images, before and after the temperature fitted on validation.
    let cal = posttrain::calibration(&run, &config, epoch, &val_encoded.probs, &listing, &val)?;
    let scaled = calibrate::apply(&q.probs, num_classes, cal.temperature, &cal.class_offsets);
    let answers = (!cal.class_offsets.is_empty()).then(|| {
        let told = predicted_classes(&scaled, num_classes);
        let (accuracy, balanced_accuracy) = class_intervals(&q_labels, &told, num_classes, &groups, seed);
        AnswerScores { accuracy, balanced_accuracy, recall: metrics::classification(&q_labels, &told, num_classes).recall }
    });
    let ece_of = |probs: &[f32], items: &[usize]| {
        let p: Vec<f32> = items.iter().flat_map(|&i| probs[i * num_classes..(i + 1) * num_classes].iter().copied()).collect();
        let t: Vec<usize> = items.iter().map(|&i| q_labels[i]).collect();
        calibrate::reliability(&p, &t, num_classes, ECE_BINS).ece
    };
    let calibration = CalibrationReport {
        temperature: cal.temperature,
        class_offsets: cal.class_offsets.clone(),
        answers,
        sure_share: scaled.chunks_exact(num_classes).filter(|p| p.iter().any(|&v| v > SURE)).count() as f64 / queries.len().max(1) as f64,
        before: calibrate::reliability(&q.probs, &q_labels, num_classes, ECE_BINS),
        after: calibrate::reliability(&scaled, &q_labels, num_classes, ECE_BINS),
        fitted_on: cal.fitted_on.clone(),
        ece_before: Some(block_bootstrap(&groups, RESAMPLES, seed, |it| ece_of(&q.probs, it))),
        ece_after: Some(block_bootstrap(&groups, RESAMPLES, seed, |it| ece_of(&scaled, it))),
    };
    // Out of domain: the shipped statistics, and the candidates measured on --ood sets.
    let (train_labels, train_layers) = if saved.database.is_none() {
        (db_labels.clone(), db_layers)
    } else {
        let train = resolve_ids(&listing, &saved.train)?;
        (label(&train), posttrain::layers_of(&model, &config, &listing, &train, &device, "training")?.1)
    };
    let shipped = posttrain::ood_from_layers(&run, &config, &listing, &saved, &train_layers, &val_layers)?;
    let ood = crate::ood_eval::evaluate(
        &model,
        &config,
        &device,
        &shipped,
        (&train_layers, &train_labels),
        &val_layers,
        (&q_layers, &q.probs),
        &args.ood,
        args.ood_limit,
    )?;
    let outcomes = queries
        .iter()
        .enumerate()
        .map(|(k, &i)| QueryOutcome { id: listing.samples[i].id.clone(), label: q_labels[k], predicted: predicted[k], ap: retrieval.ap[k], timestamp: times[k] })
        .collect();
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
        tie_rule: RANKED_TIE_RULE.into(),
        classes: config.classes.clone(),
        retrieval,
        classification,
        device: device_name,
        encode_images_per_second: encode_rate,
        mean_query_ms,
        checkpoint,
        position_ties: Some(PositionTies {
            map: block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&by_position.ap, it)),
            precision_at_1: block_bootstrap(&groups, RESAMPLES, seed, |it| share_of(&by_position.first_right, it)),
            page_right: block_bootstrap(&groups, RESAMPLES, seed, |it| share_of(&by_position.page_right, it)),
            distinct_pages: by_position.distinct_pages,
        }),
        intervals: Some(intervals),
        class_codes: Some(class_codes),
        calibration: Some(calibration),
        block_seconds: config.block_seconds,
        queries: outcomes,
        ood: Some(ood),
    };
    write_report(&run.dir.join("eval"), &report)?;
    Ok(report)
}

/// Accuracy and balanced accuracy of `predicted` with intervals over the test blocks.
pub(crate) fn class_intervals(truth: &[usize], predicted: &[usize], classes: usize, groups: &[Vec<usize>], seed: u64) -> (Interval, Interval) {
    let correct: Vec<f64> = truth.iter().zip(predicted).map(|(a, b)| f64::from(u8::from(a == b))).collect();
    let balanced = |items: &[usize]| {
        let t: Vec<usize> = items.iter().map(|&i| truth[i]).collect();
        let p: Vec<usize> = items.iter().map(|&i| predicted[i]).collect();
        metrics::classification(&t, &p, classes).balanced_accuracy
    };
    (block_bootstrap(groups, RESAMPLES, seed, |it| mean_of(&correct, it)), block_bootstrap(groups, RESAMPLES, seed, balanced))
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
    if let Some(c) = &r.calibration {
        let svg = plot::reliability(&format!("Reliability on the test images (T = {:.2})", c.temperature), &c.before, &c.after);
        write_atomic(&dir.join("reliability.svg"), svg.as_bytes())?;
    }
    Ok(())
}

pub fn print_summary(r: &EvalReport, dir: &Path) {
    println!("{} ({} bits, {} px, {}) on {}", r.arch, r.bits, r.input_size, if r.checkpoint.is_empty() { format!("{} epochs", r.epochs_trained) } else { r.checkpoint.clone() }, r.data);
    println!("split: {}", r.split);
    println!("protocol: {}", r.protocol);
    let iv = |i: Option<&Interval>, v: f64| i.map_or(format!("{v:.4}"), |i| i.display());
    let ints = r.intervals.as_ref();
    if let Some(i) = ints {
        println!("(95% intervals: bootstrap over {} test blocks, {} resamples)", i.blocks, i.resamples);
    }
    println!("MAP                {}", iv(ints.map(|i| &i.map), r.retrieval.map));
    if let Some((k, m)) = r.retrieval.map_at_k {
        println!("MAP@{k:<14} {m:.4}");
    }
    println!("accuracy           {}", iv(ints.map(|i| &i.accuracy), r.classification.accuracy));
    println!("balanced accuracy  {}", iv(ints.map(|i| &i.balanced_accuracy), r.classification.balanced_accuracy));
    if let Some(c) = &r.class_codes {
        println!("class-code baseline MAP {} (network − baseline {})", c.map.display(), c.network_minus_baseline.display());
    }
    if let Some(c) = &r.calibration {
        let on = if c.fitted_on.is_empty() { "validation" } else { c.fitted_on.as_str() };
        let ece = |i: &Option<Interval>, v: f64| i.map_or(format!("{v:.4}"), |i| i.display());
        let offsets = if c.class_offsets.is_empty() {
            String::new()
        } else {
            format!(" and class offsets [{}]", c.class_offsets.iter().map(|b| format!("{b:+.2}")).collect::<Vec<_>>().join(", "))
        };
        println!("calibration (test, {ECE_BINS} bins): ECE {} raw → {} at T = {:.2}{offsets} (fitted on {on})", ece(&c.ece_before, c.before.ece), ece(&c.ece_after, c.after.ece), c.temperature);
        println!("  {:.1}% of the test images answered above {:.0}% (calibrated)", c.sure_share * 100.0, SURE * 100.0);
        if let Some(a) = &c.answers {
            println!(
                "  the answers after the offsets: accuracy {}, balanced accuracy {}, recall {}",
                a.accuracy.display(),
                a.balanced_accuracy.display(),
                r.classes.iter().zip(&a.recall).map(|(c, v)| format!("{c} {v:.3}")).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(o) = &r.ood {
        let from = if o.threshold_from.is_empty() { String::new() } else { format!(", set with {}", o.threshold_from) };
        println!("out of domain: {} (threshold {:.1}{from}: {:.1}% of the test frames flagged)", o.shipped, o.threshold, o.test_flagged * 100.0);
        if let Some(first) = o.rows.first() {
            println!("  AUROC against the test frames ({}):", first.auroc.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(" | "));
        }
        for row in &o.rows {
            println!(
                "  {:<48} {:>5} images  {}  flagged {:.1}%",
                row.set,
                row.images,
                row.auroc.iter().map(|(_, a)| format!("{a:.3}")).collect::<Vec<_>>().join("  "),
                row.flagged * 100.0
            );
        }
        if o.rows.iter().any(|r| !r.auroc_validation.is_empty()) {
            println!("  AUROC against the validation frames (what the shipped layer is chosen by; no softmax column):");
            for row in &o.rows {
                println!("  {:<48} {:>5} images  {}", row.set, row.images, row.auroc_validation.iter().map(|(_, a)| format!("{a:.3}")).collect::<Vec<_>>().join("  "));
            }
        }
    }
    let top: Vec<String> = r.retrieval.top_k_precision.iter().take(5).map(|(k, p)| format!("P@{k} {p:.3}")).collect();
    println!("top-k              {}", top.join(", "));
    if let Some(p1) = ints.and_then(|i| i.precision_at_1.as_ref()) {
        println!("nearest right      {} of queries (P@1)", p1.display());
    }
    let page = ints.and_then(|i| i.page_right.as_ref()).map_or(format!("{:.3}", r.retrieval.whole_page_right), |i| i.display());
    println!("first page right   {page} of queries have all {} nearest images of their class", aurora_hash::metrics::PAGE_RESULTS);
    println!("first pages        {} different ones for {} queries", r.retrieval.distinct_pages, r.retrieval.queries);
    if let Some(p) = &r.position_ties {
        println!(
            "ties by position   MAP {}, P@1 {}, first page right {}, {} different first pages (equal codes in archive order alone)",
            p.map.display(), p.precision_at_1.display(), p.page_right.display(), p.distinct_pages
        );
    }
    println!("recall per class   {}", r.classes.iter().zip(&r.classification.recall).map(|(c, v)| format!("{c} {v:.3}")).collect::<Vec<_>>().join(", "));
    println!("confusion (rows: true class, normalised):");
    let w = r.classes.iter().map(String::len).max().unwrap_or(5).max(5);
    println!("  {:w$}  {}", "", r.classes.iter().map(|c| format!("{c:>w$}")).collect::<Vec<_>>().join(" "));
    for (c, row) in r.classes.iter().zip(&r.classification.normalised) {
        println!("  {c:>w$}  {}", row.iter().map(|v| format!("{v:>w$.3}")).collect::<Vec<_>>().join(" "));
    }
    println!("encoding {:.1} img/s on {}; search {:.3} ms per query (full ranking + metrics)", r.encode_images_per_second, r.device, r.mean_query_ms);
    for f in ["report.json", "pr.svg", "topk.svg", "confusion.svg", "reliability.svg"] {
        if dir.join(f).exists() {
            println!("wrote {}", dir.join(f).display());
        }
    }
}
