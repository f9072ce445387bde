//! `aurora-hash train`: trains a network on a dataset into a run folder, resumably.

use anyhow::{Context, Result, bail};
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::split::split;
use aurora_hash::model::{Arch, ModelConfig};
use aurora_hash::rng::Rng;
use aurora_hash::loss::PairLoss;
use aurora_hash::train::{TrainConfig, Trainer, epoch_batches};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::dataset::{self, Listing, Source};
use crate::device::{self, Choice};
use crate::progress;
use crate::run::{EpochMetrics, RUN_FORMAT, Run, RunConfig, SavedSplit, load_model};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PairLossArg {
    Contrastive,
    Dsh,
    Dpsh,
    /// CNNH's second stage: regress the hash layer onto target bits found from the labels.
    Cnnh,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Dataset: `synthetic[:N]` (built in), a class-per-folder tree, a CIFAR-style folder with
    /// train/ and test/, or a CSV manifest (name,class,…).
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Run folder to create (or to continue with --resume).
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    /// Continue the run in --run from its last checkpoint (its saved settings are used).
    #[arg(long)]
    pub resume: bool,
    /// Network: alexnet, alexnet-sp or im-alexnet-sp.
    #[arg(long, default_value = "im-alexnet-sp", value_parser = parse_arch)]
    pub arch: Arch,
    /// Ablation: drop SPP + PMT (use the plain last max pool).
    #[arg(long)]
    pub no_spp_pmt: bool,
    /// Code length N.
    #[arg(long, default_value_t = 48)]
    pub bits: usize,
    /// Input side in pixels.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Input channels: 1 (grey all-sky frames) or 3 (colour). Default: 3 for CIFAR-style data, 1 otherwise.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Width multiplier of the conv layers (1 = AlexNet's channel counts).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// fc6/fc7 width (default: the paper's, 1024 or 4096).
    #[arg(long)]
    pub fc: Option<usize>,
    /// Dropout after fc6 and fc7.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f64,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// μ, weight of the cross-entropy loss.
    #[arg(long, default_value_t = 1.0)]
    pub mu: f32,
    /// λ, weight of the contrastive hash loss (0 = the "no hash loss" ablation).
    #[arg(long, default_value_t = 0.1)]
    pub lambda: f32,
    /// m, contrastive margin on squared distance (default: bits / 4; with DSH 2·bits, on ±1 codes).
    #[arg(long)]
    pub margin: Option<f32>,
    /// The hash term: the paper's contrastive loss, or the DSH / DPSH / CNNH baselines (with
    /// `--mu 0 --lambda 1` they are those methods alone).
    #[arg(long, value_enum, default_value = "contrastive")]
    pub pair_loss: PairLossArg,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of the data (of its time blocks, when names carry times) held out for testing.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Length of a time block in seconds.
    #[arg(long, default_value_t = 600)]
    pub block_seconds: i64,
    /// Split protocol: `auto` (time blocks, or the data's own train/test) or `cifar10-1`
    /// (1,000 queries, 5,000 training images, the other 59,000 as database).
    #[arg(long, default_value = "auto")]
    pub split: String,
    /// Don't black out the corners outside the all-sky circle.
    #[arg(long)]
    pub no_sky_mask: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
    /// Stop after this many epochs in this invocation (the run stays resumable); for tests and
    /// for splitting long runs into sessions.
    #[arg(long)]
    pub max_epochs_now: Option<usize>,
}

pub fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::parse(s).ok_or_else(|| format!("unknown network `{s}` (alexnet, alexnet-sp, im-alexnet-sp)"))
}

fn new_config(args: &TrainArgs, listing: &Listing) -> Result<RunConfig> {
    let channels = args.channels.unwrap_or(if listing.given_test.is_some() { 3 } else { 1 });
    let mut model = ModelConfig::paper(args.arch, args.bits, listing.classes.len(), channels, args.size);
    model.spp_pmt = model.spp_pmt && !args.no_spp_pmt;
    model.width = args.width;
    model.dropout = args.dropout;
    if let Some(fc) = args.fc {
        model.fc_width = fc;
    }
    model.validate().context("bad model settings")?;
    let mut train = TrainConfig::new(args.bits);
    train.epochs = args.epochs;
    train.batch_size = args.batch;
    train.learning_rate = args.lr;
    train.seed = args.seed;
    train.loss.mu = args.mu;
    train.loss.lambda = args.lambda;
    train.loss.pair = match args.pair_loss {
        PairLossArg::Contrastive => PairLoss::Contrastive,
        PairLossArg::Dsh => PairLoss::Dsh,
        PairLossArg::Dpsh => PairLoss::Dpsh,
        PairLossArg::Cnnh => PairLoss::Cnnh,
    };
    if train.loss.pair == PairLoss::Dsh {
        train.loss.margin = 2.0 * args.bits as f32;
    }
    if let Some(m) = args.margin {
        train.loss.margin = m;
    }
    if args.batch < 2 {
        bail!("--batch must be at least 2 (pairs are formed within a batch)");
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        bail!("--lr must be a positive number, got {}", args.lr);
    }
    if !(0.0..1.0).contains(&args.test_fraction) || args.test_fraction == 0.0 {
        bail!("--test-fraction must be in (0, 1), got {}", args.test_fraction);
    }
    let sky = listing.given_test.is_none() && channels == 1 && !args.no_sky_mask;
    Ok(RunConfig {
        format: RUN_FORMAT,
        model,
        train,
        preprocess: Preprocess::new(args.size, channels, sky),
        source: listing.source.clone(),
        classes: listing.classes.clone(),
        test_fraction: args.test_fraction,
        block_seconds: args.block_seconds,
    })
}

fn make_split(args: &TrainArgs, listing: &Listing) -> Result<SavedSplit> {
    let id = |i: &usize| listing.samples[*i].id.clone();
    if args.split == "cifar10-1" {
        return cifar10_1(listing, args.seed);
    }
    if args.split != "auto" {
        bail!("unknown --split `{}` (auto, cifar10-1)", args.split);
    }
    if let Some(test) = &listing.given_test {
        let test_set: std::collections::HashSet<usize> = test.iter().copied().collect();
        let train: Vec<usize> = (0..listing.samples.len()).filter(|i| !test_set.contains(i)).collect();
        return Ok(SavedSplit {
            method: "the dataset's own train/ and test/ folders".into(),
            train: train.iter().map(id).collect(),
            test: test.iter().map(id).collect(),
            database: None,
        });
    }
    let s = split(&listing.samples, args.test_fraction, args.block_seconds, args.seed);
    if s.train.is_empty() || s.test.is_empty() {
        bail!("the dataset is too small to split ({} images)", listing.samples.len());
    }
    Ok(SavedSplit { method: s.method, train: s.train.iter().map(id).collect(), test: s.test.iter().map(id).collect(), database: None })
}

/// The "cifar10-1" protocol of DPSH/DSH: 100 queries per class, 500 training images per class
/// drawn from the rest, and everything but the queries as the database.
fn cifar10_1(listing: &Listing, seed: u64) -> Result<SavedSplit> {
    let classes = listing.classes.len();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, s) in listing.samples.iter().enumerate() {
        by_class[s.label.expect("labelled")].push(i);
    }
    let mut rng = Rng::new(seed);
    let (mut q, mut t, mut db) = (Vec::new(), Vec::new(), Vec::new());
    for (c, mut members) in by_class.into_iter().enumerate() {
        if members.len() < 600 {
            bail!("cifar10-1 needs at least 600 images of each class; `{}` has {}", listing.classes[c], members.len());
        }
        rng.shuffle(&mut members);
        q.extend_from_slice(&members[..100]);
        t.extend_from_slice(&members[100..600]);
        db.extend_from_slice(&members[100..]);
    }
    let id = |v: Vec<usize>| -> Vec<String> {
        let mut v = v;
        v.sort_unstable();
        v.into_iter().map(|i| listing.samples[i].id.clone()).collect()
    };
    Ok(SavedSplit {
        method: format!("cifar10-1: 100 queries and 500 training images per class, database = all but the queries, seed {seed}"),
        train: id(t),
        test: id(q),
        database: Some(id(db)),
    })
}

/// Positions in `listing` of the given ids; an id that is gone means the data changed.
pub fn resolve_ids(listing: &Listing, ids: &[String]) -> Result<Vec<usize>> {
    let map: HashMap<&str, usize> = listing.samples.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    ids.iter()
        .map(|id| {
            map.get(id.as_str()).copied().with_context(|| {
                format!("`{id}` of the saved split is not in the dataset any more; was the data changed?")
            })
        })
        .collect()
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let run = Run::at(&args.run);
    let (config, listing, saved) = if args.resume {
        let config = run.config()?;
        let listing = dataset::list(&config.source)?;
        (config, listing, run.split()?)
    } else {
        let source = Source::parse(&args.data)?;
        let listing = dataset::list(&source)?;
        if listing.samples.is_empty() {
            bail!("dataset {} holds no images", source.describe());
        }
        let config = new_config(args, &listing)?;
        let saved = make_split(args, &listing)?;
        Run::create(&args.run, &config, &saved)?;
        (config, listing, saved)
    };
    let train_idx = resolve_ids(&listing, &saved.train)?;
    let labels: Vec<usize> = train_idx.iter().map(|&i| listing.samples[i].label.expect("labelled training data")).collect();
    eprintln!(
        "data: {} — {} training images, {} classes ({}); split: {}",
        config.source.describe(),
        train_idx.len(),
        config.classes.len(),
        config.classes.join(", "),
        saved.method
    );
    let pixels = dataset::load_pixels(&listing, &train_idx, &config.preprocess, "loading")?;
    // CNNH's stage 1, from the training labels alone; seeded, so a resumed run gets the same bits.
    let bits = config.model.bits;
    let targets = (config.train.loss.pair == PairLoss::Cnnh).then(|| {
        eprintln!("CNNH stage 1: target codes for {} training images", labels.len());
        aurora_hash::baselines::cnnh::target_codes(&labels, config.classes.len(), bits, 500, config.train.seed)
    });

    let (device, device_name) = device::select(args.device)?;
    let mut trainer = Trainer::new(config.model.clone(), config.train.clone(), device.clone());
    let mut start_epoch = 0;
    if let Some(ptr) = run.latest()? {
        let dir = run.dir.join(&ptr.dir);
        trainer.model = load_model(&config.model, &dir.join("model.bpk"), &trainer.device)?;
        trainer.optim = config
            .train
            .optimizer()
            .load(dir.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: damaged optimiser state: {e:?}", dir.join("optim.bpk").display()))?;
        start_epoch = ptr.epoch;
        eprintln!("resuming {} after epoch {}", run.dir.display(), ptr.epoch);
    }
    eprintln!(
        "model: {} ({} bits, {} px, {:.1} M parameters) on {device_name}",
        config.model.arch.name(),
        config.model.bits,
        config.model.input_size,
        burn::module::Module::num_params(&trainer.model) as f64 / 1e6
    );
    let epochs = config.train.epochs;
    let stop_at = args.max_epochs_now.map_or(epochs, |n| (start_epoch + n).min(epochs));
    if start_epoch >= epochs {
        eprintln!("run already finished ({epochs} epochs)");
        return Ok(());
    }
    let item = config.model.in_channels * config.model.input_size * config.model.input_size;
    let s = config.model.input_size;
    for epoch in start_epoch..stop_at {
        let batches = epoch_batches(train_idx.len(), config.train.batch_size, config.train.seed, epoch);
        let bar = progress::bar(batches.iter().map(Vec::len).sum::<usize>() as u64, &format!("epoch {}/{}", epoch + 1, epochs));
        let started = Instant::now();
        let (mut sum, mut n_img, mut correct) = (aurora_hash::train::StepLoss::default(), 0usize, 0usize);
        let mut flip_rng = Rng::derive(config.train.seed, 0xF11F + epoch as u64);
        for batch in &batches {
            let mut x = Vec::with_capacity(batch.len() * item);
            for &i in batch {
                let img = &pixels[i];
                if config.train.flip && flip_rng.f32() < 0.5 {
                    for row in img.chunks_exact(s) {
                        x.extend(row.iter().rev());
                    }
                } else {
                    x.extend_from_slice(img);
                }
            }
            let y: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
            let codes = targets.as_ref().map(|t| batch.iter().flat_map(|&i| t[i * bits..(i + 1) * bits].iter().copied()).collect());
            let step = trainer.step_with_codes(x, &y, codes);
            let w = batch.len() as f32;
            sum.total += step.loss.total * w;
            sum.cross_entropy += step.loss.cross_entropy * w;
            sum.contrastive += step.loss.contrastive * w;
            correct += step.correct;
            n_img += batch.len();
            if !step.loss.total.is_finite() {
                bail!("the loss became {} at epoch {}: lower --lr", step.loss.total, epoch + 1);
            }
            bar.set_message(format!("loss {:.4}", sum.total / n_img as f32));
            bar.inc(batch.len() as u64);
        }
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let n = n_img.max(1) as f32;
        let m = EpochMetrics {
            epoch: epoch + 1,
            loss: sum.total / n,
            cross_entropy: sum.cross_entropy / n,
            contrastive: sum.contrastive / n,
            train_accuracy: correct as f32 / n,
            seconds: secs,
            images_per_second: n_img as f64 / secs,
            device: device_name.clone(),
        };
        run.save_checkpoint(epoch + 1, &trainer.model, &trainer.optim)?;
        run.append_metrics(&m)?;
        eprintln!(
            "epoch {:>3}/{epochs}: loss {:.4} (ce {:.4}, contrastive {:.4}), train accuracy {:.3}, {:.0} s, {:.1} img/s",
            epoch + 1,
            m.loss,
            m.cross_entropy,
            m.contrastive,
            m.train_accuracy,
            secs,
            m.images_per_second
        );
    }
    Ok(())
}
