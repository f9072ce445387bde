//! `aurora-hash compare A B`: is run B better than run A on the same test images? The paired
//! bootstrap over test time blocks gives the interval of each difference (B − A); a gain is
//! real when its interval excludes zero.

use anyhow::{Context, Result, bail};
use aurora_hash::metrics::classification;
use aurora_hash::metrics::interval::{Interval, RESAMPLES, groups_by_block, mean_of, paired_block_bootstrap};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::eval_cmd::EvalReport;
use crate::run::read_json;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The reference run (evaluated).
    pub a: PathBuf,
    /// The run compared with it (evaluated on the same test images).
    pub b: PathBuf,
    /// Also write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub queries: usize,
    pub blocks: usize,
    /// B − A, with paired 95 % intervals.
    pub map: Interval,
    pub accuracy: Interval,
    pub balanced_accuracy: Interval,
}

fn report(run: &Path) -> Result<EvalReport> {
    let r: EvalReport = read_json(&run.join("eval/report.json")).with_context(|| format!("{}: run `aurora-hash eval` first", run.display()))?;
    if r.queries.is_empty() {
        bail!("{}: its report predates per-query results: run `aurora-hash eval --run {}` again", run.display(), run.display());
    }
    Ok(r)
}

pub fn compare_runs(a: &Path, b: &Path) -> Result<Comparison> {
    let (ra, rb) = (report(a)?, report(b)?);
    let ids = |r: &EvalReport| r.queries.iter().map(|q| q.id.clone()).collect::<Vec<_>>();
    if ids(&ra) != ids(&rb) {
        bail!("{} and {} were not scored on the same test images: a paired comparison needs the same split", a.display(), b.display());
    }
    if ra.classes != rb.classes {
        bail!("{} and {} have different classes", a.display(), b.display());
    }
    let classes = ra.classes.len();
    let times: Vec<Option<i64>> = ra.queries.iter().map(|q| q.timestamp).collect();
    let groups = groups_by_block(&times, ra.block_seconds.max(1));
    let ap = |r: &EvalReport| r.queries.iter().map(|q| q.ap).collect::<Vec<f64>>();
    let correct = |r: &EvalReport| r.queries.iter().map(|q| f64::from(u8::from(q.label == q.predicted))).collect::<Vec<f64>>();
    let (ap_a, ap_b, ok_a, ok_b) = (ap(&ra), ap(&rb), correct(&ra), correct(&rb));
    let balanced = |r: &EvalReport, items: &[usize]| {
        let t: Vec<usize> = items.iter().map(|&i| r.queries[i].label).collect();
        let p: Vec<usize> = items.iter().map(|&i| r.queries[i].predicted).collect();
        classification(&t, &p, classes).balanced_accuracy
    };
    let seed = 7;
    Ok(Comparison {
        a: a.display().to_string(),
        b: b.display().to_string(),
        queries: ra.queries.len(),
        blocks: groups.len(),
        map: paired_block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&ap_b, it), |it| mean_of(&ap_a, it)),
        accuracy: paired_block_bootstrap(&groups, RESAMPLES, seed, |it| mean_of(&ok_b, it), |it| mean_of(&ok_a, it)),
        balanced_accuracy: paired_block_bootstrap(&groups, RESAMPLES, seed, |it| balanced(&rb, it), |it| balanced(&ra, it)),
    })
}

pub fn compare(args: &CompareArgs) -> Result<()> {
    let c = compare_runs(&args.a, &args.b)?;
    println!("B = {}  vs  A = {}: {} test images in {} blocks; B − A with paired 95% intervals ({RESAMPLES} block resamples)", c.b, c.a, c.queries, c.blocks);
    for (name, i) in [("MAP", &c.map), ("accuracy", &c.accuracy), ("balanced accuracy", &c.balanced_accuracy)] {
        let verdict = if i.excludes_zero() { if i.value > 0.0 { "B better" } else { "B worse" } } else { "no clear difference" };
        println!("  {name:<18} {:+.3} [{:+.3}, {:+.3}]  {verdict}", i.value, i.low, i.high);
    }
    if let Some(path) = &args.json {
        crate::run::write_json(path, &c)?;
    }
    Ok(())
}
