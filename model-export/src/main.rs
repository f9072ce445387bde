//! `aurora-hash`: the native tool. Trains Im-AlexNet-SP (or the paper's other networks) on a
//! GPU through burn-wgpu or on the CPU, evaluates it as the paper does, and generates the
//! built-in synthetic data. A thin shell over the `aurora_hash` library.

mod baselines_cmd;
mod bench;
mod bundle_cmd;
mod calibrate_cmd;
mod compare_cmd;
mod dataset;
mod device;
mod eval_cmd;
mod files;
mod generate;
mod ood_eval;
mod out_folder;
mod plot;
mod posttrain;
mod precompress;
mod progress;
mod pseudo_labels;
mod repeat_cmd;
mod reproduce;
mod run;
mod serve;
mod sheet;
mod site;
mod train_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "aurora-hash", version, about = "Aurora image classification and retrieval by deep hashing (Im-AlexNet-SP)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate → train a small model → evaluate, on the built-in synthetic data.
    ///
    /// Then exports the bundle, indexes a synthetic archive with thumbnails, puts the page built
    /// by trunk (`--web`) beside them in RUN/site and serves it on localhost.
    Demo(DemoArgs),
    /// Write synthetic all-sky frames as PNG files, one folder per class.
    Generate(generate::GenerateArgs),
    /// Train a network into a run folder (resumable).
    Train(train_cmd::TrainArgs),
    /// Score a trained run: MAP, P-R and top-k curves, accuracy, confusion matrix.
    Eval(eval_cmd::EvalArgs),
    /// MAP of the training-free hashing baselines (LSH, ITQ on fc7; one code per class)
    /// beside the run's own codes, on the run's split (the paper's Table 6).
    Baselines(baselines_cmd::BaselinesArgs),
    /// Paired comparison of two evaluated runs on the same test images (B − A, with intervals).
    Compare(compare_cmd::CompareArgs),
    /// Fit the calibration of a run trained without validation blocks from runs trained on
    /// folds of its training part (cross-fitting).
    Calibrate(calibrate_cmd::CalibrateArgs),
    /// Train and evaluate the same settings over block-wise folds and/or seeds: mean ± sd.
    Repeat(repeat_cmd::RepeatArgs),
    /// Write the bundle the browser loads: q8 weights (or f16, f32), configuration, manifest with checksums.
    Export(bundle_cmd::ExportArgs),
    /// Build or merge packed code indexes of image archives.
    #[command(subcommand)]
    Index(bundle_cmd::IndexCommand),
    /// Classify an image and list its nearest archive images.
    Query(bundle_cmd::QueryArgs),
    /// Measure training and inference speed of the networks on this machine's backends.
    Bench(bench::BenchArgs),
    /// The paper's experiments in one command: networks × code lengths, ablations, DSH/DPSH,
    /// baselines; writes RESULTS.md beside the paper's numbers (`--quick`: minutes on a CPU).
    Reproduce(reproduce::ReproduceArgs),
    /// Serve a built site (the page, its wasm and bundle/) on this machine.
    Serve(serve::ServeArgs),
    /// Write a static web site of an image archive (or one self-contained HTML file): page,
    /// wasm, bundle, index, thumbnails. Rebuilding after adding images touches only what changed.
    Site(site::SiteArgs),
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Run folder.
    #[arg(long, default_value = "runs/demo")]
    run: PathBuf,
    /// Synthetic frames per class.
    #[arg(long, default_value_t = 192)]
    per_class: usize,
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    #[arg(long, value_enum, default_value = "auto")]
    device: device::Choice,
    /// The page as `trunk build --release` writes it (dist/). Without it the bundle and index
    /// are still written; the page is not.
    #[arg(long)]
    web: Option<PathBuf>,
    /// Port to serve the page on; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Stop after writing the site instead of serving it.
    #[arg(long)]
    no_serve: bool,
}

/// burn falls back to its default device where a caller names none. In burn 0.22.1 the one
/// such place this tool meets is the optimiser state `train --resume` loads
/// (`ModuleOptimizer::load` puts it on `Device::default()`, and the next step moves it to the
/// parameters' device). That default is wgpu in this build, and initialising it starts a GPU,
/// or on a machine without one Mesa's software GL, whose teardown at exit corrupted the heap in
/// about one resume in twenty here (seen as `malloc_consolidate(): unaligned fastbin chunk`
/// and an EGL `BadDisplay` panic, 2026-12-06). So the default is the CPU; every command still
/// runs where `device::select` put it. A `BURN_DEVICE` the user set is kept.
fn default_device_is_the_cpu() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the first thing `main` does, while no other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

fn main() {
    default_device_is_the_cpu();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.command) {
        // `aurora-hash query … | head`: the reader went away; nothing is wrong.
        if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Demo(a) => demo(&a),
        Command::Generate(a) => generate::generate(&a),
        Command::Train(a) => train_cmd::train(&a),
        Command::Eval(a) => {
            let r = eval_cmd::eval(&a)?;
            eval_cmd::print_summary(&r, &a.run.join("eval"));
            Ok(())
        }
        Command::Bench(a) => bench::bench(&a),
        Command::Compare(a) => compare_cmd::compare(&a),
        Command::Calibrate(a) => calibrate_cmd::calibrate(&a),
        Command::Repeat(a) => repeat_cmd::repeat(&a),
        Command::Baselines(a) => baselines_cmd::baselines(&a),
        Command::Export(a) => bundle_cmd::export(&a),
        Command::Index(c) => bundle_cmd::index(&c),
        Command::Query(a) => bundle_cmd::query(&a),
        Command::Serve(a) => serve::serve(&a),
        Command::Reproduce(a) => reproduce::reproduce(&a),
        Command::Site(a) => site::site(&a),
    }
}

/// What a newcomer should see of the demo's model, on its held-out synthetic frames, printed
/// beside the figures (the goals of the issue that asked for a demo that looks like it works).
fn demo_goals(r: &eval_cmd::EvalReport, trained_in: Option<f64>) {
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let accuracy = r.intervals.as_ref().map_or(format!("{:.3}", r.classification.accuracy), |i| i.accuracy.display());
    let sure = r.calibration.as_ref().map_or(0.0, |c| c.sure_share);
    let page = r.retrieval.whole_page_right;
    println!("demo goals on its held-out frames:");
    println!("  accuracy ≥ 0.97: {accuracy} ({})", mark(r.classification.accuracy >= 0.97));
    println!("  answered above {:.0}% on ≥ 90% of frames: {:.1}% ({})", eval_cmd::SURE * 100.0, sure * 100.0, mark(sure >= 0.9));
    println!("  all {} similar images of the true class on ≥ 90% of queries: {:.1}% ({})", aurora_hash::metrics::PAGE_RESULTS, page * 100.0, mark(page >= 0.9));
    if let Some(s) = trained_in {
        println!("  trained in ≤ 90 s: {s:.0} s ({})", mark(s <= 90.0));
    }
}

/// The README's main command: a small Im-AlexNet-SP on synthetic frames, end to end, in a few
/// minutes on two CPU cores, ending with the browser page served on localhost.
fn demo(a: &DemoArgs) -> Result<()> {
    let run = &a.run;
    let resume = run.join("run.json").exists();
    if resume {
        eprintln!("{} exists: continuing it", run.display());
    }
    // A small network that learns the synthetic classes in about a minute on two cores. The
    // recipe was chosen on synthetic sets of other seeds (31, 57; two training seeds each),
    // never on the demo's own frames: the legacy optimiser at a 10× rate with all-sky
    // augmentation reached accuracy 0.969–0.984 there; the previous settings (default recipe
    // with validation blocks, 96 frames per class, 30 epochs) 0.79, a cosine decay 0.958, 80
    // epochs 0.953–0.979. No validation frames means no fitted temperature: the softmax of this
    // model was already within 0.05 ECE of its accuracy on those sets.
    let settings = train_cmd::TrainArgs {
        data: dataset::Source::Synthetic { per_class: a.per_class, size: 128, seed: 2020 },
        run: run.clone(),
        resume,
        size: 64,
        width: 0.25,
        fc: Some(256),
        bits: 48,
        epochs: Some(a.epochs),
        // A network this narrow learns slowly behind dropout; the full-size one keeps 0.5.
        dropout: 0.0,
        recipe: train_cmd::RecipeArg::Legacy,
        lr: Some(1e-3),
        augment: Some(train_cmd::AugmentArg::AllSky),
        validation_fraction: 0.0,
        device: a.device,
        ..train_cmd::TrainArgs::default()
    };
    let started = std::time::Instant::now();
    train_cmd::train(&settings)?;
    let trained_in = started.elapsed().as_secs_f64();
    let eval_args = eval_cmd::EvalArgs { run: run.clone(), map_at: Some(100), batch: 64, device: a.device, ood: Vec::new(), ood_limit: 500 };
    let r = eval_cmd::eval(&eval_args)?;
    eval_cmd::print_summary(&r, &run.join("eval"));
    demo_goals(&r, if resume { None } else { Some(trained_in) });

    // The site: page + bundle + an archive of synthetic frames to search.
    let site = run.join("site");
    let bundle = site.join("bundle");
    bundle_cmd::export(&bundle_cmd::ExportArgs { run: run.clone(), out: bundle.clone(), weights: bundle_cmd::Weights::Q8, force: false })?;
    let archive = run.join("archive");
    if !archive.exists() {
        generate::generate(&generate::GenerateArgs { out: archive.clone(), per_class: a.per_class, size: 128, seed: 2020, force: false })?;
    }
    let examples = run.join("examples");
    if !examples.exists() {
        // Frames the model has never seen, to drop on the page.
        generate::generate(&generate::GenerateArgs { out: examples.clone(), per_class: 2, size: 256, seed: 7, force: false })?;
    }
    bundle_cmd::index(&bundle_cmd::IndexCommand::Build(bundle_cmd::IndexArgs {
        images: archive,
        bundle: bundle.clone(),
        out: bundle.join(aurora_hash::export::INDEX_FILE),
        batch: 64,
        device: a.device,
        thumbs: true,
        strict: false,
        force: false,
    }))?;
    let Some(web) = &a.web else {
        println!("bundle and index in {}; the page itself is built by `trunk build --release` (scripts/demo.sh does all of it)", bundle.display());
        return Ok(());
    };
    let copied = serve::copy_site(web, &site)?;
    println!("site in {} ({copied} page files); photos to try: {}", site.display(), examples.display());
    if a.no_serve {
        return Ok(());
    }
    serve::serve(&serve::ServeArgs { dir: site, port: a.port, host: "127.0.0.1".into() })
}
