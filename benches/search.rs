//! Hamming search speed: one top-10 query over 10k, 100k and 1M random 48- and 64-bit codes,
//! the plain distance scan, the counting-sort strategy the short-list scan replaced for short
//! answers, and FAISS `IndexBinaryFlat` (one thread) on the same codes when Python can import
//! `faiss` (`pip install faiss-cpu`; `AURORA_PYTHON` names the interpreter, default `python3`).
//! A second table is the archive a trained network gives (two codes in three the same, as on the
//! YRS frames): the page's top 12 with equal codes in position order against the same search
//! with equal codes ordered by the hash layer's outputs (`search_ranked`), which must look at
//! every tied image's 48 output bytes.
//! `cargo bench --bench search` prints the tables; every ratio in them is measured in the same run.
//!
//! A hand-written harness (median of repeated runs) rather than criterion: criterion's
//! dependencies change the features some of burn's dependencies are compiled with, and so
//! would force a second native build of burn for `cargo test --workspace`.

use aurora_hash::hashing::{CodeSet, soft_bytes};
use aurora_hash::rng::Rng;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn codes(n: usize, bits: usize) -> CodeSet {
    let mut rng = Rng::new(n as u64 ^ bits as u64);
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    CodeSet::from_words(bits, (0..n).map(|_| rng.next_u64() & mask).collect()).unwrap()
}

/// Median wall time of `f` over enough runs to fill about `budget` (at least 5 runs).
fn median(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < budget && times.len() < 10_000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

/// FAISS's median top-10 time (ms) on exactly these codes and this query, or why not.
fn faiss_ms(set: &CodeSet, query: u64, runs: usize) -> Result<f64, String> {
    let dir = std::env::temp_dir().join(format!("aurora-hash-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bytes = set.bits() / 8;
    let mut raw = Vec::with_capacity((set.len() + 1) * bytes);
    for &w in std::iter::once(&query).chain(set.words()) {
        raw.extend_from_slice(&w.to_le_bytes()[..bytes]);
    }
    let file = dir.join("codes.bin");
    std::fs::write(&file, raw).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/faiss_search.py");
    let python = std::env::var("AURORA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(&file)
        .arg(set.bits().to_string())
        .arg(runs.to_string())
        .output()
        .map_err(|e| format!("{python}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("faiss_search.py printed no time: {e}"))
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less arguments: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = Duration::from_millis(if quick { 20 } else { 1500 });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{:>5}  {:>10}  {:>10}  {:>10}  {:>12}  {:>12}  {:>11}  {:>10}  {:>12}",
        "bits", "codes", "scan ms", "top-10 ms", "counting ms", "counting/top", "top/scan", "FAISS ms", "FAISS/top"
    );
    let mut faiss_note = None;
    for bits in [48usize, 64] {
        for n in [10_000usize, 100_000, 1_000_000] {
            let set = codes(n, bits);
            let q = set.code(n / 2).to_vec();
            let scan = median(budget, || {
                black_box(set.distances(black_box(&q)));
            });
            let top = median(budget, || {
                black_box(set.top_k(black_box(&q), 10));
            });
            let counting = median(budget, || {
                black_box(set.search_counting(black_box(&q), 10, u32::MAX, |_| true));
            });
            let faiss = if quick || faiss_note.is_some() {
                String::from("-")
            } else {
                match faiss_ms(&set, q[0], 50) {
                    Ok(f) => format!("{f:>10.4}  {:>11.2}×", f / ms(top)),
                    Err(e) => {
                        faiss_note = Some(e);
                        String::from("-")
                    }
                }
            };
            println!(
                "{bits:>5}  {n:>10}  {:>10.4}  {:>10.4}  {:>12.4}  {:>11.2}×  {:>10.2}×  {faiss}",
                ms(scan),
                ms(top),
                ms(counting),
                ms(counting) / ms(top),
                ms(top) / ms(scan),
            );
        }
    }
    if let Some(e) = faiss_note {
        println!("FAISS not measured: {e}");
    }
    println!();
    println!("{:>5}  {:>10}  {:>10}  {:>16}  {:>14}  {:>15}", "bits", "codes", "tied", "top-12 ms", "ranked ms", "ranked/top-12");
    for n in [10_000usize, 100_000, 1_000_000] {
        let bits = 48;
        let mut rng = Rng::new(n as u64);
        let common = rng.next_u64() & ((1u64 << bits) - 1);
        let words: Vec<u64> = (0..n).map(|_| if rng.below(3) < 2 { common } else { rng.next_u64() & ((1u64 << bits) - 1) }).collect();
        let tied = words.iter().filter(|&&w| w == common).count();
        let set = CodeSet::from_words(bits, words).unwrap();
        let outputs: Vec<f32> = (0..n * bits).map(|_| rng.f32()).collect();
        let soft = soft_bytes(&outputs);
        let q_soft = soft_bytes(&outputs[..bits]);
        let top = median(budget, || {
            black_box(set.top_k(black_box(&[common]), 12));
        });
        let ranked = median(budget, || {
            black_box(set.search_ranked(black_box(&[common]), &q_soft, Some(&soft), 12, u32::MAX, |_| true));
        });
        println!("{bits:>5}  {n:>10}  {tied:>10}  {:>16.4}  {:>14.4}  {:>14.2}×", ms(top), ms(ranked), ms(ranked) / ms(top));
    }
}
