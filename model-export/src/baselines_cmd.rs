//! `aurora-hash baselines`: the paper's training-free baselines beside the network's codes, on
//! the same images, split, relevance and tie rule as `eval`: hashing (Table 6: LSH, ITQ and KSH
//! on the network's own fc7 features, and the trivial one code per class) and real-valued aurora
//! retrieval (Table 5: MAC and R-MAC of its conv5 maps, ranked by cosine similarity; VLAD and
//! HE on SIFT descriptors of the images themselves).

use anyhow::Result;
use aurora_hash::baselines::local::{HE_BITS, HammingEmbedding, HeImage, HeIndex, Vlad};
use aurora_hash::baselines::{Ksh, class_codes, cosine_map, itq, lsh, mac, map_by_scores, rmac};
use aurora_hash::hashing::CodeSet;
use aurora_hash::infer::{conv_features, predicted_classes};
use aurora_hash::metrics;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

use crate::dataset;
use crate::device::Choice;
use crate::progress;
use crate::eval_cmd::{Prepared, TIE_RULE, encode_all, for_each_batch, top_ks};
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
/// SIFT for VLAD and HE: each image resized to fit this many pixels, its strongest keypoints
/// kept, and the vocabularies learnt from a random sample of the database's descriptors.
const SIFT_SIZE: u32 = 256;
const SIFT_MAX: usize = 300;
const SIFT_SAMPLE: usize = 20_000;
const VLAD_WORDS: usize = 64;
const HE_WORDS: usize = 256;

/// One method's result, as saved in `eval/baselines.json` (reproduce draws its curves from it).
#[derive(Serialize, serde::Deserialize)]
pub struct Row {
    pub method: String,
    pub bits: usize,
    pub map: f64,
    /// Milliseconds to encode the query's features (projection) and rank the database.
    pub query_ms: f64,
    /// Precision–recall by Hamming radius, (recall, precision); hashing methods only.
    #[serde(default)]
    pub pr: Vec<(f64, f64)>,
    /// Mean precision of the first k results, (k, precision); hashing methods only.
    #[serde(default)]
    pub top_k: Vec<(usize, f64)>,
}

pub fn baselines(a: &BaselinesArgs) -> Result<()> {
    let p = Prepared::open(&a.run, a.device)?;
    let (q, q_feats) = encode_all(&p.model, &p.config, &p.listing, &p.queries, &p.device, a.batch, "queries", true)?;
    let (db, db_feats) = encode_all(&p.model, &p.config, &p.listing, &p.database, &p.device, a.batch, "database", true)?;
    let (q_labels, db_labels) = (p.labels(&p.queries), p.labels(&p.database));
    let dim = p.config.model.fc_width;
    let classes = p.config.model.num_classes;
    let ks = top_ks(p.database.len());
    let score = |method: String, q_codes: &CodeSet, db_codes: &CodeSet, encode_ms: f64| -> Row {
        let t = Instant::now();
        for i in 0..q_codes.len() {
            std::hint::black_box(db_codes.rank_all(q_codes.code(i)));
        }
        let rank_ms = t.elapsed().as_secs_f64() * 1e3 / q_codes.len() as f64;
        let r = metrics::retrieval(q_codes, &q_labels, db_codes, &db_labels, None, &ks);
        let pr = r.pr_curve.iter().map(|p| (p.recall, p.precision)).collect();
        Row { method, bits: q_codes.bits(), map: r.map, query_ms: encode_ms + rank_ms, pr, top_k: r.top_k_precision }
    };
    let real_valued = |method: String, bits: usize, map: f64, query_ms: f64| Row { method, bits, map, query_ms, pr: Vec::new(), top_k: Vec::new() };
    let mut rows = Vec::new();
    let own = p.config.model.bits;
    rows.push(score(format!("{} (this run)", p.config.model.arch.name()), &CodeSet::from_outputs(&q.hash, own), &CodeSet::from_outputs(&db.hash, own), 0.0));
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
        rows.push(score("one code per predicted class".into(), &class_codes(&q_pred, classes, bits, a.seed), &class_codes(&db_pred, classes, bits, a.seed), 0.0));
        for (name, proj) in [("LSH on fc7", lsh(&db_feats, dim, bits, a.seed)), ("ITQ on fc7", itq(&db_feats, dim, bits, 50, a.seed))] {
            let t = Instant::now();
            let q_codes = proj.encode(&q_feats);
            let encode_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
            rows.push(score(name.into(), &q_codes, &proj.encode(&db_feats), encode_ms));
        }
        if fit_labels.len() >= 2 {
            let ksh = Ksh::fit(&fit_feats, &fit_labels, classes, dim, bits, KSH_ANCHORS, a.seed);
            let t = Instant::now();
            let q_codes = ksh.encode(&q_feats);
            let encode_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
            rows.push(score(format!("KSH on fc7 ({KSH_ANCHORS} anchors, {} labelled)", fit_labels.len()), &q_codes, &ksh.encode(&db_feats), encode_ms));
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
        rows.push(real_valued(format!("{name}, {c} floats"), 32 * c, map, rank_ms));
    }
    // VLAD and HE on SIFT descriptors of the images themselves.
    let t = Instant::now();
    let q_sift = sift_descriptors(&p, &p.queries, "queries (SIFT)")?;
    let sift_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
    let db_sift = sift_descriptors(&p, &p.database, "database (SIFT)")?;
    let mut sample: Vec<&[f32]> = db_sift.iter().flat_map(|d| d.chunks_exact(SIFT_DIM)).collect();
    aurora_hash::rng::Rng::new(a.seed).shuffle(&mut sample);
    sample.truncate(SIFT_SAMPLE);
    let sample: Vec<f32> = sample.concat();
    let mean_keypoints = db_sift.iter().map(|d| d.len() / SIFT_DIM).sum::<usize>() as f64 / db_sift.len() as f64;
    if sample.is_empty() {
        eprintln!("no SIFT keypoints in the database images: VLAD and HE left out");
    } else {
        let vlad = Vlad::fit(&sample, SIFT_DIM, VLAD_WORDS, a.seed);
        let t = Instant::now();
        let q_v: Vec<f32> = q_sift.iter().flat_map(|d| vlad.describe(d)).collect();
        let describe_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
        let db_v: Vec<f32> = db_sift.iter().flat_map(|d| vlad.describe(d)).collect();
        let t = Instant::now();
        let map = cosine_map(&q_v, &q_labels, &db_v, &db_labels, VLAD_WORDS * SIFT_DIM);
        let rank_ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
        rows.push(real_valued(format!("VLAD, {VLAD_WORDS} words (SIFT, cosine)"), 32 * VLAD_WORDS * SIFT_DIM, map, describe_ms + rank_ms));
        let he = HammingEmbedding::fit(&sample, SIFT_DIM, HE_WORDS, a.seed);
        let db_he: Vec<HeImage> = db_sift.iter().map(|d| he.describe(d)).collect();
        let index = HeIndex::new(HE_WORDS, &db_he);
        let t = Instant::now();
        let q_he: Vec<HeImage> = q_sift.iter().map(|d| he.describe(d)).collect();
        let map = map_by_scores(|qi| index.scores(&q_he[qi]), &q_labels, &db_labels);
        let ms = t.elapsed().as_secs_f64() * 1e3 / p.queries.len() as f64;
        let bits = ((HE_BITS + 32) as f64 * mean_keypoints).round() as usize;
        rows.push(real_valued(format!("HE, {HE_WORDS} words, {HE_BITS}-bit signatures (SIFT)"), bits, map, ms));
    }
    let mut md = format!(
        "# Baselines for {}\n\n{} held-out queries against {} database images ({}); relevant = same class; ranking by {TIE_RULE}; MAP over the whole database. LSH, ITQ and KSH hash this run's fc7 features ({dim} dimensions; ITQ fitted on the database, KSH on the labelled training images among it). Query time: projecting the query's features plus ranking the whole database, one CPU core (MAC and R-MAC: ranking by cosine only; computing their conv5 maps took {describe_ms:.1} ms per query on {} with the network's first layers). VLAD and HE: SIFT (the `sift-features` crate) of each image resized to fit {SIFT_SIZE} px, at most {SIFT_MAX} keypoints ({mean_keypoints:.0} on average), vocabularies by k-means on {} database descriptors; SIFT took {sift_ms:.1} ms per query, not included in their query time. The bits of MAC, R-MAC and VLAD are their descriptors' size as f32; HE's are its (word, signature) pairs per image, on average.\n\n| method | bits | MAP | query ms |\n|---|---|---|---|\n",
        a.run.display(),
        p.queries.len(),
        p.database.len(),
        p.saved.method,
        p.device_name,
        sample.len() / SIFT_DIM
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

const SIFT_DIM: usize = 128;

/// SIFT descriptors of each image, `SIFT_DIM` floats per keypoint.
fn sift_descriptors(p: &Prepared, which: &[usize], what: &str) -> Result<Vec<Vec<f32>>> {
    let bar = progress::bar(which.len() as u64, what);
    let out = which
        .iter()
        .map(|&i| {
            let gray = dataset::load_image(&p.listing, i)?.resize(SIFT_SIZE, SIFT_SIZE, image::imageops::FilterType::Triangle).to_luma8();
            let found = sift_features::sift(&gray, Some(SIFT_MAX));
            bar.inc(1);
            Ok(found.descriptors.iter().map(|&v| v as f32).collect())
        })
        .collect();
    bar.finish_and_clear();
    out
}
