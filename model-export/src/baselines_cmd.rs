//! `aurora-hash baselines`: the paper's training-free baselines beside the network's codes, on
//! the same images, split, relevance and tie rule as `eval`: hashing (Table 6: LSH, ITQ and KSH
//! on the network's own fc7 features, and the trivial one code per class) and real-valued aurora
//! retrieval (Table 5: MAC and R-MAC of its conv5 maps, ranked by cosine similarity).

use anyhow::Result;
use aurora_hash::baselines::{Ksh, class_codes, cosine_map, itq, lsh, mac, rmac};
use aurora_hash::hashing::CodeSet;
use aurora_hash::infer::{conv_features, predicted_classes};
use aurora_hash::metrics;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

use crate::device::Choice;
use crate::eval_cmd::{Prepared, TIE_RULE, encode_all, for_each_batch};
use crate::run::{write_atomic, write_json};

#[derive(clap::Args, Debug)]
pub struct BaselinesArgs {
    /// Trained run folder.
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    /// Code lengths for the baselines (the network has its own).
    #[arg(long, value_delimiter = ',', default_value = "12,24,32,48")]
    pub bits: Vec<usize>,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

/// KSH's anchors and labelled images (its paper: 300 anchors, 1,000–2,000 labelled images).
const KSH_ANCHORS: usize = 300;
const KSH_LABELLED: usize = 2000;

#[derive(Serialize)]
struct Row {
    method: String,
    bits: usize,
    map: f64,
    /// Milliseconds to encode the query's features (projection) and rank the database.
    query_ms: f64,
}

pub fn baselines(a: &BaselinesArgs) -> Result<()> {
    let p = Prepared::open(&a.run, a.device)?;
    let (q, q_feats) = encode_all(&p.model, &p.config, &p.listing, &p.queries, &p.device, a.batch, "queries", true)?;
    let (db, db_feats) = encode_all(&p.model, &p.config, &p.listing, &p.database, &p.device, a.batch, "database", true)?;
    let (q_labels, db_labels) = (p.labels(&p.queries), p.labels(&p.database));
    let dim = p.config.model.fc_width;
    let classes = p.config.model.num_classes;
    let score = |q_codes: &CodeSet, db_codes: &CodeSet, encode_ms: f64| -> (f64, f64) {
        let t = Instant::now();
        for i in 0..q_codes.len() {
            std::hint::black_box(db_codes.rank_all(q_codes.code(i)));
        }
        let rank_ms = t.elapsed().as_secs_f64() * 1e3 / q_codes.len() as f64;
        (metrics::retrieval(q_codes, &q_labels, db_codes, &db_labels, None, &[]).map, encode_ms + rank_ms)
    };
    let mut rows = Vec::new();
    let own = p.config.model.bits;
    let (map, ms) = score(&CodeSet::from_outputs(&q.hash, own), &CodeSet::from_outputs(&db.hash, own), 0.0);
    rows.push(Row { method: format!("{} (this run)", p.config.model.arch.name()), bits: own, map, query_ms: ms });
    // KSH learns from labels: only the database images the network was trained on (all of them
    // for YRS; cifar10-1's 5,000), at most KSH_LABELLED of them, and KSH_ANCHORS anchors, as in
    // its paper.
    let trained: std::collections::HashSet<&str> = p.saved.train.iter().map(String::as_str).collect();
    let mut fit_rows: Vec<usize> = (0..p.database.len()).filter(|&r| trained.contains(p.listing.samples[p.database[r]].id.as_str())).collect();
    aurora_hash::rng::Rng::new(a.seed).shuffle(&mut fit_rows);
    fit_rows.truncate(KSH_LABELLED);
    let fit_feats: Vec<f32> = fit_rows.iter().flat_map(|&r| db_feats[r * dim..(r + 1) * dim].iter().copied()).collect();
    let fit_labels: Vec<usize> = fit_rows.iter().map(|&r| db_labels[r]).collect();
    let db_pred = predicted_classes(&db.probs, classes);
    let q_pred = predicted_classes(&q.probs, classes);
    for &bits in &a.bits {
        let (map, ms) = score(&class_codes(&q_pred, classes, bits, a.seed), &class_codes(&db_pred, classes, bits, a.seed), 0.0);
        rows.push(Row { method: "one code per predicted class".into(), bits, map, query_ms: ms });
        for (name, proj) in [("LSH on fc7", lsh(&db_feats, dim, bits, a.seed)), ("ITQ on fc7", itq(&db_feats, dim, bits, 50, a.seed))] {
            let t = Instant::now();
            let q_codes = proj.encode(&q_feats);
            let encode_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
            let (map, ms) = score(&q_codes, &proj.encode(&db_feats), encode_ms);
            rows.push(Row { method: name.into(), bits, map, query_ms: ms });
        }
        if fit_labels.len() >= 2 {
            let ksh = Ksh::fit(&fit_feats, &fit_labels, classes, dim, bits, KSH_ANCHORS, a.seed);
            let t = Instant::now();
            let q_codes = ksh.encode(&q_feats);
            let encode_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
            let (map, ms) = score(&q_codes, &ksh.encode(&db_feats), encode_ms);
            rows.push(Row { method: format!("KSH on fc7 ({KSH_ANCHORS} anchors, {} labelled)", fit_labels.len()), bits, map, query_ms: ms });
        }
    }
    // Real-valued descriptors of the conv5 maps: MAC and R-MAC, ranked by cosine similarity.
    let descriptors = |which: &[usize], what: &str| -> Result<(Vec<f32>, Vec<f32>, usize)> {
        let (mut macs, mut rmacs, mut dim) = (Vec::new(), Vec::new(), 0);
        for_each_batch(&p.config, &p.listing, which, a.batch, what, |pixels, n| {
            let (maps, [c, h, w]) = conv_features(&p.model, &p.config.model, pixels, n, &p.device);
            for map in maps.chunks_exact(c * h * w) {
                macs.extend(mac(map, c, h, w));
                rmacs.extend(rmac(map, c, h, w));
            }
            dim = c;
        })?;
        Ok((macs, rmacs, dim))
    };
    let t = Instant::now();
    let (q_mac, q_rmac, c) = descriptors(&p.queries, "queries (conv5)")?;
    let describe_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
    let (db_mac, db_rmac, _) = descriptors(&p.database, "database (conv5)")?;
    for (name, q_d, db_d) in [("MAC (conv5, cosine)", &q_mac, &db_mac), ("R-MAC, 3 region scales (conv5, cosine)", &q_rmac, &db_rmac)] {
        let t = Instant::now();
        let map = cosine_map(q_d, &q_labels, db_d, &db_labels, c);
        let rank_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
        rows.push(Row { method: format!("{name}, {c} floats"), bits: 32 * c, map, query_ms: rank_ms });
    }
    let mut md = format!(
        "# Hashing baselines for {}\n\n{} held-out queries against {} database images ({}); relevant = same class; ranking by {TIE_RULE}; MAP over the whole database. LSH, ITQ and KSH hash this run's fc7 features ({dim} dimensions; ITQ fitted on the database, KSH on the labelled training images among it). Query time: projecting the query's features plus ranking the whole database, one CPU core (MAC and R-MAC: ranking by cosine only; computing their conv5 maps took {describe_ms:.1} ms per query on {} with the network's first layers). The bits of MAC and R-MAC are their descriptors' size as f32.\n\n| method | bits | MAP | query ms |\n|---|---|---|---|\n",
        a.run.display(),
        p.queries.len(),
        p.database.len(),
        p.saved.method,
        p.device_name
    );
    for r in &rows {
        md.push_str(&format!("| {} | {} | {:.4} | {:.3} |\n", r.method, r.bits, r.map, r.query_ms));
    }
    print!("{md}");
    let dir = p.run.dir.join("eval");
    std::fs::create_dir_all(&dir)?;
    write_atomic(&dir.join("baselines.md"), md.as_bytes())?;
    write_json(&dir.join("baselines.json"), &rows)?;
    println!("\nwrote {} and baselines.json", dir.join("baselines.md").display());
    Ok(())
}
