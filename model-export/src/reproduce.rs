//! `aurora-hash reproduce`: the paper's experiments in one command, and a results document
//! (`RESULTS.md` in the output folder) that states the protocol of every number and sets each
//! table beside the paper's.
//!
//! Runs, each an ordinary run folder under `--out` (so an interrupted reproduction resumes):
//! the three networks at each code length (Tables 3–4), the ablations without the hash loss and
//! without SPP_PMT at 48 bits (Tables 1–2), DSH and DPSH trained alone on Im-AlexNet-SP
//! (Table 6), CNNH's two stages on it (Table 6), then `baselines` on the 48-bit Im-AlexNet-SP
//! run (LSH, ITQ, KSH, class codes, MAC, R-MAC, VLAD, HE: Tables 5–6). Figures 4–6 are drawn
//! into `figures/` beside RESULTS.md. `--quick` shrinks everything to run on a CPU in minutes.

use anyhow::{Context, Result};
use aurora_hash::model::{Arch, AuroraNet, ModelConfig};
use burn::module::Module;
use burn::tensor::Device;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::baselines_cmd::{self, BaselinesArgs, Row};
use crate::plot;
use crate::device::Choice;
use crate::eval_cmd::{self, EvalArgs, EvalReport};
use crate::train_cmd;
use crate::run::write_atomic;

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// Dataset (as for `train`): the YRS frames, CIFAR-10 with `--split cifar10-1`, or synthetic.
    #[arg(long, default_value = "../shared/data/yrs/labeled", value_parser = train_cmd::parse_source)]
    pub data: crate::dataset::Source,
    /// Folder for the runs and RESULTS.md.
    #[arg(long, default_value = "runs/reproduce")]
    pub out: PathBuf,
    /// Small networks, 12 and 48 bits only, a few epochs: minutes on a CPU. Its figures check
    /// the pipeline, not the paper.
    #[arg(long)]
    pub quick: bool,
    /// Epochs per run (default: 40, or 3 with --quick).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Extra `train` settings for every run, e.g. "--split cifar10-1 --channels 3"; they come
    /// after the mode's own settings and override them (e.g. "--width 0.25").
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub train_args: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

/// The paper's figures (Chen, Peng & Gan 2020), for the tables' "paper" columns.
const PAPER_TABLE3: [(&str, [f64; 4], f64, f64); 3] = [
    ("alexnet", [0.8336, 0.8450, 0.8518, 0.8554], 218.20, 158.0),
    ("alexnet-sp", [0.8729, 0.9004, 0.9066, 0.8963], 179.15, 115.0),
    ("im-alexnet-sp", [0.8995, 0.9072, 0.9173, 0.9095], 100.77, 80.0),
];
const PAPER_TABLE6: [(&str, [f64; 4]); 7] = [
    ("Im-AlexNet-SP", [0.902, 0.904, 0.912, 0.907]),
    ("DPSH", [0.713, 0.727, 0.744, 0.757]),
    ("DSH", [0.673, 0.685, 0.690, 0.694]),
    ("CNNH", [0.439, 0.511, 0.509, 0.522]),
    ("KSH", [0.303, 0.337, 0.346, 0.356]),
    ("ITQ", [0.162, 0.169, 0.172, 0.175]),
    ("LSH", [0.127, 0.137, 0.141, 0.149]),
];
const BITS: [usize; 4] = [12, 24, 32, 48];

struct Done {
    report: EvalReport,
    train_minutes: f64,
    params_mb: f64,
}

pub fn reproduce(a: &ReproduceArgs) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let epochs = a.epochs.or(a.quick.then_some(3));
    let bits: Vec<usize> = if a.quick { vec![12, 48] } else { BITS.to_vec() };
    // The mode's settings, then the user's `--train-args` on top (they override the mode's).
    let mut base = train_cmd::TrainArgs { data: a.data.clone(), epochs, device: a.device, ..train_cmd::TrainArgs::default() };
    if a.quick {
        (base.size, base.width, base.fc, base.batch, base.lr, base.dropout) = (64, 0.125, Some(64), Some(16), Some(1e-3), 0.0);
    } else {
        (base.size, base.width) = (96, 1.0);
    }
    let extra: Vec<String> = a.train_args.split_whitespace().map(String::from).collect();
    train_cmd::override_from_words(&mut base, &extra)?;
    let settings_line = base.describe();
    let run = |name: &str, change: &dyn Fn(&mut train_cmd::TrainArgs)| -> Result<Done> {
        let dir = a.out.join(name);
        let mut settings = train_cmd::TrainArgs { run: dir.clone(), resume: dir.join("run.json").exists(), ..base.clone() };
        change(&mut settings);
        eprintln!("== {name}");
        train_cmd::train(&settings)?;
        let config = crate::run::Run::at(&dir).config()?;
        // A finished run already evaluated at its chosen checkpoint keeps its report: resuming
        // a reproduction then costs nothing for the runs it has.
        let saved: Option<EvalReport> = std::fs::read(dir.join("eval/report.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let chosen = crate::run::Run::at(&dir).best()?.map(|p| p.epoch);
        let report = match saved {
            Some(r) if r.intervals.is_some() && Some(r.epochs_trained) == chosen => r,
            _ => eval_cmd::eval(&EvalArgs { run: dir.clone(), map_at: None, batch: 64, device: a.device, ood: Vec::new(), ood_limit: 500 })?,
        };
        Ok(Done { report, train_minutes: train_minutes(&dir)?, params_mb: params_mb(&config.model) })
    };

    let mut grid: Vec<(Arch, usize, Done)> = Vec::new();
    for arch in [Arch::Alexnet, Arch::AlexnetSp, Arch::ImAlexnetSp] {
        for &b in &bits {
            let done = run(&format!("{}-{b}", arch.name()), &|s| {
                s.arch = arch;
                s.bits = b;
            })?;
            grid.push((arch, b, done));
        }
    }
    // The paper's Tables 1–2 use AlexNet's convolutions (their "with" rows equal Table 3's
    // AlexNet and AlexNet-SP at 48 bits); the same ablations on Im-AlexNet-SP come beside them.
    use train_cmd::PairLossArg;
    let alone = |pair: PairLossArg| {
        move |s: &mut train_cmd::TrainArgs| {
            s.bits = 48;
            (s.pair_loss, s.mu, s.lambda) = (pair, 0.0, 1.0);
        }
    };
    let alexnet_no_hash = run("alexnet-48-no-hash-loss", &|s| (s.arch, s.bits, s.lambda) = (Arch::Alexnet, 48, 0.0))?;
    let no_hash = run("im-alexnet-sp-48-no-hash-loss", &|s| (s.bits, s.lambda) = (48, 0.0))?;
    let no_spp = run("im-alexnet-sp-48-no-spp-pmt", &|s| (s.bits, s.no_spp_pmt) = (48, true))?;
    let dsh = run("dsh-48", &alone(PairLossArg::Dsh))?;
    let dpsh = run("dpsh-48", &alone(PairLossArg::Dpsh))?;
    let cnnh = run("cnnh-48", &alone(PairLossArg::Cnnh))?;
    let main = a.out.join("im-alexnet-sp-48");
    // Always recomputed (minutes): a baselines file from an older tool may lack methods.
    baselines_cmd::baselines(&BaselinesArgs { run: main.clone(), bits: bits.clone(), batch: 64, seed: 1, device: a.device })?;
    let baselines = std::fs::read_to_string(main.join("eval/baselines.md"))?;
    let baseline_rows: Vec<Row> = serde_json::from_str(&std::fs::read_to_string(main.join("eval/baselines.json"))?)?;

    let ours = &grid.iter().find(|(ar, b, _)| *ar == Arch::ImAlexnetSp && *b == 48).expect("the 48-bit run").2;
    let r0 = &ours.report;
    let mut md = String::new();
    let _ = writeln!(md, "# Reproducing Chen, Peng & Gan (2020) with aurora-hash\n");
    let _ = writeln!(
        md,
        "Written by `aurora-hash reproduce{}` on {} (this invocation: {:.1} min; runs finished by an earlier one are reused, and each run's own training time is in Tables 3–4).\n\n## Protocol of every number\n\n- data: {}\n- split: {}\n- {}\n- MAP over the whole ranked database; ranking by {}\n- settings of every run: `{}` plus the run's own (below); each run folder holds its `run.json`, `metrics.jsonl` and `eval/report.json`\n{}",
        if a.quick { " --quick" } else { "" },
        r0.device,
        started.elapsed().as_secs_f64() / 60.0,
        r0.data,
        r0.split,
        r0.protocol,
        r0.tie_rule,
        settings_line,
        if a.quick { "- **quick mode**: small networks and few epochs; these figures check the pipeline, not the paper\n" } else { "" }
    );
    if a.data.describe().to_lowercase().contains("cifar") {
        md.push_str("- CIFAR-10 here is the JPEG q75 copy in `../shared/data/cifar10`, not the original lossless images: its figures are not directly comparable with published CIFAR-10 numbers\n");
    }
    let at48 = |arch: Arch| &grid.iter().find(|(ar, b, _)| *ar == arch && *b == 48).expect("48-bit runs").2;
    let _ = writeln!(md, "\n## Tables 1–2: hash loss and SPP_PMT (48 bits)\n\n| table | run | MAP | accuracy | paper MAP | paper accuracy |\n|---|---|---|---|---|---|");
    for (table, name, d, paper) in [
        ("1", "AlexNet without hash loss (λ = 0)", &alexnet_no_hash, Some((0.7563, 0.8705))),
        ("1, 2", "AlexNet with hash loss, without SPP_PMT", at48(Arch::Alexnet), Some((0.8554, 0.9073))),
        ("2", "AlexNet-SP (with SPP_PMT)", at48(Arch::AlexnetSp), Some((0.8963, 0.9367))),
        ("—", "Im-AlexNet-SP without hash loss", &no_hash, None),
        ("—", "Im-AlexNet-SP without SPP_PMT", &no_spp, None),
        ("—", "Im-AlexNet-SP", ours, None),
    ] {
        let (pm, pa) = paper.map_or(("".into(), "".into()), |(m, a): (f64, f64)| (format!("{m:.4}"), format!("{a:.4}")));
        let _ = writeln!(md, "| {table} | {name} | {:.4} | {:.4} | {pm} | {pa} |", d.report.retrieval.map, d.report.classification.accuracy);
    }
    let _ = writeln!(md, "\nThe paper's Tables 1–2 use AlexNet's convolutions; the Im-AlexNet-SP rows are the same ablations on the paper's network (no paper figure).\n\n## Tables 3–4: networks and code lengths\n\n| network | bits | MAP | accuracy | parameters (MB, f32) | training (min) | paper MAP | paper MB / min (48 bits) |\n|---|---|---|---|---|---|---|---|");
    for (arch, b, d) in &grid {
        let paper = PAPER_TABLE3.iter().find(|p| p.0 == arch.name()).expect("paper row");
        let col = BITS.iter().position(|x| x == b).expect("paper bits");
        let _ = writeln!(
            md,
            "| {} | {b} | {:.4} | {:.4} | {:.2} | {:.2} | {:.4} | {:.2} / {:.0} |",
            arch.name(),
            d.report.retrieval.map,
            d.report.classification.accuracy,
            d.params_mb,
            d.train_minutes,
            paper.1[col],
            paper.2,
            paper.3
        );
    }
    let _ = writeln!(md, "\nThe paper's sizes and times are for its full-width networks at 224 px on a GPU; ours are for the widths above on {}.\n\n## Table 6: hashing methods (paper: CIFAR-10; here: the data above)\n\n| method | bits | MAP | paper MAP (CIFAR-10) |\n|---|---|---|---|", r0.device);
    let paper6 = |name: &str, b: usize| PAPER_TABLE6.iter().find(|p| p.0 == name).map(|p| format!("{:.3}", p.1[BITS.iter().position(|x| *x == b).unwrap_or(3)])).unwrap_or_default();
    for (arch, b, d) in grid.iter().filter(|(ar, _, _)| *ar == Arch::ImAlexnetSp) {
        let _ = writeln!(md, "| {} | {b} | {:.4} | {} |", arch.name(), d.report.retrieval.map, paper6("Im-AlexNet-SP", *b));
    }
    let _ = writeln!(md, "| DSH (alone, this network) | 48 | {:.4} | {} |", dsh.report.retrieval.map, paper6("DSH", 48));
    let _ = writeln!(md, "| DPSH (alone, this network) | 48 | {:.4} | {} |", dpsh.report.retrieval.map, paper6("DPSH", 48));
    let _ = writeln!(md, "| CNNH (stage 1 codes, then this network regressed onto them) | 48 | {:.4} | {} |", cnnh.report.retrieval.map, paper6("CNNH", 48));
    for (prefix, paper) in [("KSH", "KSH"), ("ITQ", "ITQ"), ("LSH", "LSH")] {
        for r in baseline_rows.iter().filter(|r| r.method.starts_with(prefix)) {
            let _ = writeln!(md, "| {} | {} | {:.4} | {} |", r.method, r.bits, r.map, paper6(paper, r.bits));
        }
    }
    let _ = writeln!(
        md,
        "\nLSH, ITQ and KSH hash the 48-bit Im-AlexNet-SP run's fc7 features; DSH, DPSH and CNNH train the same network with their own losses alone (μ = 0). All of them, with one code per class, MAC, R-MAC, VLAD and HE, on that run's split follow, with query times (Table 5; the paper, on its aurora data: HE 0.5253 / 0.65 s, VLAD 0.5868 / 1.22 s, MAC 0.6558, MS-RMAC 0.6901 / 2.89 s, Im-AlexNet-SP 0.9095 / 0.43 s).\n"
    );
    md.push_str(&baselines.replacen("# ", "### ", 1));
    md.push_str(&figures(&a.out, &grid, &[("DSH", &dsh), ("DPSH", &dpsh), ("CNNH", &cnnh)], &baseline_rows)?);
    let path = a.out.join("RESULTS.md");
    write_atomic(&path, md.as_bytes())?;
    println!("wrote {} ({:.1} min)", path.display(), started.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

/// Figures 4–6 of the paper from these runs, as SVG files in `out/figures/`, and their markdown.
fn figures(out: &Path, grid: &[(Arch, usize, Done)], alone: &[(&str, &Done)], baselines: &[Row]) -> Result<String> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let archs = [Arch::Alexnet, Arch::AlexnetSp, Arch::ImAlexnetSp];
    let at48 = |arch: Arch| grid.iter().find(|(ar, b, _)| *ar == arch && *b == 48).map(|(_, _, d)| d).expect("48-bit runs");
    let pr = |d: &Done| d.report.retrieval.pr_curve.iter().map(|p| (p.recall, p.precision)).collect::<Vec<_>>();
    let tk = |d: &Done| d.report.retrieval.top_k_precision.iter().map(|&(k, p)| (k as f64, p)).collect::<Vec<_>>();
    let max_k = |series: &[(String, Vec<(f64, f64)>)]| series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(10.0, f64::max);
    let bits: Vec<usize> = grid.iter().filter(|(ar, _, _)| *ar == Arch::ImAlexnetSp).map(|(_, b, _)| *b).collect();
    let by_bits: Vec<(String, Vec<(f64, f64)>)> = archs
        .iter()
        .map(|&arch| (arch.name().to_string(), grid.iter().filter(|(ar, _, _)| *ar == arch).map(|(_, b, d)| (*b as f64, d.report.retrieval.map)).collect()))
        .collect();
    let (lo, hi) = (*bits.first().unwrap_or(&12) as f64, *bits.last().unwrap_or(&48) as f64);
    let mut files = vec![("fig4a-map-by-bits.svg", plot::lines("MAP by code length", "bits", "MAP", &by_bits, (lo, hi.max(lo + 1.0)), (0.0, 1.0), false))];
    let nets_pr: Vec<(String, Vec<(f64, f64)>)> = archs.iter().map(|&a| (a.name().to_string(), pr(at48(a)))).collect();
    files.push(("fig4b-pr-48.svg", plot::lines("Precision–recall, 48 bits", "recall", "precision", &nets_pr, (0.0, 1.0), (0.0, 1.0), false)));
    let nets_tk: Vec<(String, Vec<(f64, f64)>)> = archs.iter().map(|&a| (a.name().to_string(), tk(at48(a)))).collect();
    files.push(("fig4c-topk-48.svg", plot::lines("Top-k precision, 48 bits", "k (results returned)", "precision", &nets_tk, (1.0, max_k(&nets_tk)), (0.0, 1.0), true)));
    // Fig. 6: the hashing methods at 48 bits.
    let mut methods_pr = vec![("Im-AlexNet-SP".to_string(), pr(at48(Arch::ImAlexnetSp)))];
    let mut methods_tk = vec![("Im-AlexNet-SP".to_string(), tk(at48(Arch::ImAlexnetSp)))];
    for (name, d) in alone {
        methods_pr.push((name.to_string(), pr(d)));
        methods_tk.push((name.to_string(), tk(d)));
    }
    for prefix in ["KSH", "ITQ", "LSH", "one code per predicted class"] {
        if let Some(r) = baselines.iter().find(|r| r.method.starts_with(prefix) && r.bits == 48 && !r.pr.is_empty()) {
            let name = if prefix.starts_with("one") { "class codes" } else { prefix };
            methods_pr.push((name.to_string(), r.pr.clone()));
            methods_tk.push((name.to_string(), r.top_k.iter().map(|&(k, p)| (k as f64, p)).collect()));
        }
    }
    files.push(("fig6b-pr-methods-48.svg", plot::lines("Hashing methods: precision–recall, 48 bits", "recall", "precision", &methods_pr, (0.0, 1.0), (0.0, 1.0), false)));
    files.push(("fig6c-topk-methods-48.svg", plot::lines("Hashing methods: top-k precision, 48 bits", "k (results returned)", "precision", &methods_tk, (1.0, max_k(&methods_tk)), (0.0, 1.0), true)));
    for (name, svg) in &files {
        write_atomic(&dir.join(name), svg.as_bytes())?;
    }
    // Fig. 5: each network's 48-bit confusion matrix, as its own eval drew it.
    let mut fig5 = String::new();
    for arch in archs {
        let name = format!("fig5-confusion-{}-48.svg", arch.name());
        let svg = std::fs::read(out.join(format!("{}-48/eval/confusion.svg", arch.name())))?;
        write_atomic(&dir.join(&name), &svg)?;
        fig5.push_str(&format!("![{} confusion matrix](figures/{name}) ", arch.name()));
    }
    Ok(format!(
        "\n## Figures\n\nFig. 4: MAP by code length, and precision–recall (by Hamming radius) and top-k precision at 48 bits, for the three networks.\n\n![MAP by bits](figures/fig4a-map-by-bits.svg) ![P-R](figures/fig4b-pr-48.svg) ![top-k](figures/fig4c-topk-48.svg)\n\nFig. 5: normalised confusion matrices at 48 bits (AlexNet, AlexNet-SP, Im-AlexNet-SP).\n\n{fig5}\n\nFig. 6: the hashing methods at 48 bits on the data above (the paper's is on CIFAR-10).\n\n![P-R of the methods](figures/fig6b-pr-methods-48.svg) ![top-k of the methods](figures/fig6c-topk-methods-48.svg)\n"
    ))
}

/// Minutes of training recorded in a run's metrics.jsonl.
fn train_minutes(dir: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).with_context(|| format!("cannot read {}", dir.join("metrics.jsonl").display()))?;
    let seconds: f64 = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter_map(|v| v["seconds"].as_f64()).sum();
    Ok(seconds / 60.0)
}

/// Size of a network's parameters in f32, in MB (the paper's Table 3 column).
fn params_mb(config: &ModelConfig) -> f64 {
    AuroraNet::new(config, &Device::flex()).num_params() as f64 * 4.0 / 1e6
}
