//! Hamming search speed: one top-10 query over 10k, 100k and 1M random 48-bit codes, and the
//! plain distance scan it is built on. `cargo bench --bench search` prints one table; every
//! ratio in it is measured in the same run.
//!
//! A hand-written harness (median of repeated runs) rather than criterion: criterion's
//! dependencies change the features some of burn's dependencies are compiled with, and so
//! would force a second native build of burn for `cargo test --workspace`.

use aurora_hash::hashing::CodeSet;
use aurora_hash::rng::Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn codes(n: usize, bits: usize) -> CodeSet {
    let mut rng = Rng::new(n as u64);
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

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less arguments: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = Duration::from_millis(if quick { 20 } else { 1500 });
    println!("{:>10}  {:>14}  {:>12}  {:>14}  {:>16}", "codes", "scan (ms)", "scan Gc/s", "top-10 (ms)", "top-10 / scan");
    for n in [10_000usize, 100_000, 1_000_000] {
        let set = codes(n, 48);
        let q = set.code(n / 2).to_vec();
        let scan = median(budget, || {
            black_box(set.distances(black_box(&q)));
        });
        let top = median(budget, || {
            black_box(set.top_k(black_box(&q), 10));
        });
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{n:>10}  {:>14.4}  {:>12.2}  {:>14.4}  {:>15.2}×",
            ms(scan),
            n as f64 / scan.as_secs_f64() / 1e9,
            ms(top),
            top.as_secs_f64() / scan.as_secs_f64()
        );
    }
}
