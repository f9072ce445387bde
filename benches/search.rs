//! Hamming search speed: one top-10 query over 10k, 100k and 1M random 48-bit codes, and the
//! plain distance scan it is built on. `cargo bench --bench search`; criterion prints codes/s
//! (throughput) and time per query.

use aurora_hash::hashing::CodeSet;
use aurora_hash::rng::Rng;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn codes(n: usize, bits: usize) -> CodeSet {
    let mut rng = Rng::new(n as u64);
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    CodeSet::from_words(bits, (0..n).map(|_| rng.next_u64() & mask).collect()).unwrap()
}

fn search(c: &mut Criterion) {
    let mut g = c.benchmark_group("hamming-48bit");
    for n in [10_000usize, 100_000, 1_000_000] {
        let set = codes(n, 48);
        let q = set.code(n / 2).to_vec();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("distances", n), &set, |b, s| b.iter(|| black_box(s.distances(black_box(&q)))));
        g.bench_with_input(BenchmarkId::new("top10", n), &set, |b, s| b.iter(|| black_box(s.top_k(black_box(&q), 10))));
    }
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
