//! `aurora-hash repeat`: the same settings over several block-wise folds and/or seeds, each an
//! ordinary (resumable) run folder under `--out`, then every run's figures and their mean ± sd
//! in `summary.md` and `summary.json`. A figure from one split of a few dozen time blocks moves
//! by several points from one seed or fold to the next; this says how much.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::device::Choice;
use crate::eval_cmd::{self, EvalArgs, EvalReport};
use crate::run::{write_atomic, write_json};
use crate::train_cmd::{self, TrainArgs};

#[derive(clap::Args, Debug)]
pub struct RepeatArgs {
    /// Folder for the runs and the summary.
    #[arg(long)]
    pub out: PathBuf,
    /// Cross-validation: one run per block-wise fold (the test blocks of each fold are never
    /// used for any choice of that run). Without it, every run uses the usual held-out split.
    #[arg(long)]
    pub folds: Option<usize>,
    /// Seeds of the weights, batches and augmentations (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "42")]
    pub seeds: Vec<u64>,
    /// `train` settings for every run, e.g. "--data ../shared/data/yrs/labeled --bits 48".
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub train_args: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

#[derive(Serialize)]
struct RunFigures {
    run: String,
    fold: Option<usize>,
    seed: u64,
    map: f64,
    accuracy: f64,
    balanced_accuracy: f64,
    epoch: usize,
}

#[derive(Serialize)]
struct Spread {
    mean: f64,
    sd: f64,
}

fn spread(v: &[f64]) -> Spread {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Spread { mean, sd: var.sqrt() }
}

pub fn repeat(a: &RepeatArgs) -> Result<()> {
    if a.seeds.is_empty() {
        bail!("--seeds needs at least one seed");
    }
    if a.folds.is_some_and(|k| k < 2) {
        bail!("--folds must be at least 2");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut base = TrainArgs { device: a.device, ..TrainArgs::default() };
    let words: Vec<String> = a.train_args.split_whitespace().map(String::from).collect();
    train_cmd::override_from_words(&mut base, &words)?;
    let folds: Vec<Option<usize>> = match a.folds {
        Some(k) => (1..=k).map(Some).collect(),
        None => vec![None],
    };
    let mut figures = Vec::new();
    let mut reports: Vec<EvalReport> = Vec::new();
    for &fold in &folds {
        for &seed in &a.seeds {
            let name = match fold {
                Some(f) => format!("fold-{f}-seed-{seed}"),
                None => format!("seed-{seed}"),
            };
            let dir = a.out.join(&name);
            let settings = TrainArgs { run: dir.clone(), resume: dir.join("run.json").exists(), seed, folds: a.folds.filter(|_| fold.is_some()), fold, ..base.clone() };
            eprintln!("== {name}");
            train_cmd::train(&settings)?;
            let r = eval_cmd::eval(&EvalArgs { run: dir.clone(), map_at: None, batch: 64, device: a.device, ood: Vec::new(), ood_limit: 500 })?;
            figures.push(RunFigures {
                run: name,
                fold,
                seed,
                map: r.retrieval.map,
                accuracy: r.classification.accuracy,
                balanced_accuracy: r.classification.balanced_accuracy,
                epoch: r.epochs_trained,
            });
            reports.push(r);
        }
    }
    let col = |f: fn(&RunFigures) -> f64| spread(&figures.iter().map(f).collect::<Vec<_>>());
    let (map, acc, bal) = (col(|f| f.map), col(|f| f.accuracy), col(|f| f.balanced_accuracy));
    // The confusion matrix over every run's test images (each image once per seed).
    let classes = reports[0].classes.clone();
    let mut counts = vec![vec![0usize; classes.len()]; classes.len()];
    for r in &reports {
        for (i, row) in r.classification.counts.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                counts[i][j] += v;
            }
        }
    }
    let mut md = String::new();
    let _ = writeln!(md, "# {} runs: {}\n", figures.len(), match a.folds {
        Some(k) => format!("{k}-fold cross-validation by time block × seeds {:?}", a.seeds),
        None => format!("seeds {:?} on the held-out split", a.seeds),
    });
    let _ = writeln!(md, "Settings of every run: `{}`.\n\n| run | checkpoint epoch | MAP | accuracy | balanced accuracy |\n|---|---|---|---|---|", base.describe());
    for (f, r) in figures.iter().zip(&reports) {
        let iv = |i: Option<&aurora_hash::metrics::interval::Interval>, v: f64| i.map_or(format!("{v:.3}"), |i| i.display());
        let ints = r.intervals.as_ref();
        let _ = writeln!(md, "| {} | {} | {} | {} | {} |", f.run, f.epoch, iv(ints.map(|i| &i.map), f.map), iv(ints.map(|i| &i.accuracy), f.accuracy), iv(ints.map(|i| &i.balanced_accuracy), f.balanced_accuracy));
    }
    let _ = writeln!(md, "| **mean ± sd** | | **{:.3} ± {:.3}** | **{:.3} ± {:.3}** | **{:.3} ± {:.3}** |\n", map.mean, map.sd, acc.mean, acc.sd, bal.mean, bal.sd);
    let _ = writeln!(md, "Per-run intervals: 95% bootstrap over that run's test blocks. Confusion counts over all runs (rows: true class):\n");
    let _ = writeln!(md, "| | {} |\n|---|{}", classes.join(" | "), "---|".repeat(classes.len()));
    for (c, row) in classes.iter().zip(&counts) {
        let total: usize = row.iter().sum();
        let _ = writeln!(md, "| {c} | {} |", row.iter().map(|v| format!("{v} ({:.2})", *v as f64 / total.max(1) as f64)).collect::<Vec<_>>().join(" | "));
    }
    write_atomic(&a.out.join("summary.md"), md.as_bytes())?;
    write_json(&a.out.join("summary.json"), &serde_json::json!({ "runs": figures, "map": map, "accuracy": acc, "balanced_accuracy": bal, "confusion": counts }))?;
    print!("{md}");
    Ok(())
}
