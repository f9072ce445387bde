//! `aurora-hash bench`: speed of training, inference and Hamming search on this machine,
//! printed as a table with every figure also given as a ratio to a baseline measured in the
//! same run (so figures from different machines can be compared by their ratios).

use anyhow::Result;
use aurora_hash::hashing::CodeSet;
use aurora_hash::infer::encode;
use aurora_hash::model::{Arch, AuroraNet, ModelConfig};
use aurora_hash::rng::Rng;
use aurora_hash::train::{TrainConfig, Trainer};
use burn::tensor::Device;
use std::hint::black_box;
use std::time::Instant;

use crate::device::{self, Choice};
use crate::train_cmd::parse_arch;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Input side in pixels.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timed training steps per network (after one untimed warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Networks to time (comma-separated).
    #[arg(long, default_value = "im-alexnet-sp,alexnet-sp,alexnet", value_delimiter = ',', value_parser = parse_arch)]
    pub arch: Vec<Arch>,
    /// Width multiplier (1 = the paper's channel counts).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// Backends to time: cpu, gpu (skipped when none is found), and libtorch in a build with the
    /// `libtorch` feature.
    #[arg(long, default_value = "cpu,gpu", value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Codes in the Hamming-search benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    pub codes: usize,
}

struct Row {
    what: String,
    value: f64,
    unit: &'static str,
    baseline: Option<f64>,
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    let mut rows: Vec<Row> = Vec::new();
    let mut devices: Vec<(Device, String)> = Vec::new();
    for d in &a.devices {
        match d.as_str() {
            "cpu" => devices.push(device::select(Choice::Cpu)?),
            "gpu" => match device::select(Choice::Gpu) {
                Ok(g) => devices.push(g),
                Err(e) => eprintln!("skipping gpu: {e}"),
            },
            #[cfg(feature = "libtorch")]
            "libtorch" => devices.push(device::select(Choice::Libtorch)?),
            other => anyhow::bail!("unknown device `{other}` (cpu, gpu{})", if cfg!(feature = "libtorch") { ", libtorch" } else { "" }),
        }
    }
    let mut train_base = None;
    let mut infer_base = None;
    for (device, dname) in &devices {
        for &arch in &a.arch {
            let mut cfg = ModelConfig::paper(arch, 48, 4, 1, a.size);
            cfg.width = a.width;
            cfg.validate()?;
            let n_pix = a.batch * a.size * a.size;
            let mut rng = Rng::new(1);
            let pixels: Vec<f32> = (0..n_pix).map(|_| rng.normal()).collect();
            let labels: Vec<usize> = (0..a.batch).map(|i| i % 4).collect();
            eprintln!("timing {} training on {dname} ({} px, batch {})…", arch.name(), a.size, a.batch);
            let mut trainer = Trainer::new(cfg.clone(), TrainConfig::new(48), device.clone());
            trainer.step(pixels.clone(), &labels);
            let t = Instant::now();
            for _ in 0..a.steps {
                black_box(trainer.step(pixels.clone(), &labels));
            }
            let ips = (a.steps * a.batch) as f64 / t.elapsed().as_secs_f64();
            let base = *train_base.get_or_insert(ips);
            rows.push(Row { what: format!("train {} · {dname}", arch.name()), value: ips, unit: "img/s", baseline: Some(base) });

            let model: AuroraNet = trainer.inference_model();
            // `device` is the plain one (the trainer adds autodiff on its own copy).
            let plain = device.clone();
            encode(&model, &cfg, pixels.clone(), a.batch, &plain);
            let t = Instant::now();
            for _ in 0..a.steps {
                black_box(encode(&model, &cfg, pixels.clone(), a.batch, &plain));
            }
            let ips = (a.steps * a.batch) as f64 / t.elapsed().as_secs_f64();
            let base = *infer_base.get_or_insert(ips);
            rows.push(Row { what: format!("infer {} · {dname}", arch.name()), value: ips, unit: "img/s", baseline: Some(base) });
        }
    }
    // Hamming scan: packed popcount against one byte per bit (the naive layout), same codes.
    let bits = 48;
    let mut rng = Rng::new(7);
    let words: Vec<u64> = (0..a.codes).map(|_| rng.next_u64() & ((1 << bits) - 1)).collect();
    let set = CodeSet::from_words(bits, words).expect("codes");
    let bytes: Vec<u8> = set.words().iter().flat_map(|&w| (0..bits).map(move |b| (w >> b & 1) as u8)).collect();
    let q = set.code(0).to_vec();
    let qb: Vec<u8> = (0..bits).map(|b| (q[0] >> b & 1) as u8).collect();
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        let d: u64 = bytes.chunks_exact(bits).map(|c| c.iter().zip(&qb).filter(|(x, y)| x != y).count() as u64).sum();
        black_box(d);
    }
    let naive = (reps * a.codes) as f64 / t.elapsed().as_secs_f64();
    rows.push(Row { what: "hamming scan, byte per bit (baseline)".into(), value: naive / 1e6, unit: "M codes/s", baseline: Some(naive / 1e6) });
    let t = Instant::now();
    for _ in 0..reps {
        black_box(set.distances(&q));
    }
    let packed = (reps * a.codes) as f64 / t.elapsed().as_secs_f64();
    rows.push(Row { what: "hamming scan, packed u64 popcount".into(), value: packed / 1e6, unit: "M codes/s", baseline: Some(naive / 1e6) });
    let t = Instant::now();
    for _ in 0..reps {
        black_box(set.top_k(&q, 10));
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    rows.push(Row { what: format!("top-10 query over {} codes", a.codes), value: ms, unit: "ms", baseline: None });

    println!("| measurement | value | unit | ratio to baseline |");
    println!("|---|---:|---|---:|");
    for r in &rows {
        let ratio = r.baseline.map_or("—".to_string(), |b| format!("{:.2}×", r.value / b));
        println!("| {} | {:.2} | {} | {} |", r.what, r.value, r.unit, ratio);
    }
    println!("\nBaselines: training and inference rows are relative to the first network on the first device;");
    println!("the Hamming rows to the byte-per-bit scan. Paper: Im-AlexNet-SP trained in 80 min (GPU not stated).");
    Ok(())
}
