//! `aurora-hash train`: trains a network on a dataset into a run folder, resumably.
//!
//! This file is the shell around the library's pipeline: it turns settings into the library's
//! typed configuration ([`RunConfig`]), reads the images, and saves what the epoch loop
//! ([`aurora_hash::train::fit`]) reports. The recipe, the sampler, the augmentation, the
//! validation rule and the split protocols all live in the library.

use anyhow::{Context, Result, bail};
use aurora_hash::data::augment::Augment;
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::protocol::{Plan, Protocol, partition};
use aurora_hash::loss::PairLoss;
use aurora_hash::model::{Arch, ModelConfig};
use aurora_hash::train::{Balance, EpochRecord, FitError, Labelled, Observer, Optimizer, Progress, Schedule, TrainConfig, Trainer, fit};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::dataset::{self, Listing, Source};
use crate::device::{self, Choice};
use crate::progress;
use crate::pseudo_labels;
use crate::run::{EpochMetrics, RUN_FORMAT, Run, RunConfig, SavedSplit, load_model};
use crate::sheet;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PairLossArg {
    Contrastive,
    Dsh,
    Dpsh,
    /// CNNH's second stage: regress the hash layer onto target bits found from the labels.
    Cnnh,
}

/// Which preset the settings start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecipeArg {
    /// The current recipe (`aurora_hash::train::TrainConfig::recipe`).
    Default,
    /// The project's first recipe, for comparison (`TrainConfig::legacy`).
    Legacy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AugmentArg {
    /// Rotations, scale and shift of the sky circle, photometric jitter, noise, mirror.
    AllSky,
    /// Mirror, scale and shift, photometric jitter (ordinary photographs).
    Photos,
    /// East–west mirror only.
    Mirror,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BalanceArg {
    None,
    Sampler,
    LossWeights,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Dataset: `synthetic[:N]` (built in), a class-per-folder tree, a CIFAR-style folder with
    /// train/ and test/, or a CSV manifest (name,class,…).
    #[arg(long, default_value = "synthetic", value_parser = parse_source)]
    pub data: Source,
    /// Run folder to create (or to continue with --resume).
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    /// Continue the run in --run from its last checkpoint (its saved settings are used).
    #[arg(long)]
    pub resume: bool,
    /// Stop at the first image that cannot be read (default: report it by name and train
    /// without it).
    #[arg(long)]
    pub strict: bool,
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
    #[arg(long, default_value_t = 96)]
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
    /// The preset the optimisation settings below start from.
    #[arg(long, value_enum, default_value = "default")]
    pub recipe: RecipeArg,
    /// Epochs (the recipe's: 60; legacy 10).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Epochs of linear warm-up before the cosine decay (0 with --constant-lr is the legacy schedule).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Keep the learning rate constant (no warm-up, no decay).
    #[arg(long)]
    pub constant_lr: bool,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    #[arg(long)]
    pub weight_decay: Option<f32>,
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Largest gradient norm of each parameter tensor (0: no clipping).
    #[arg(long)]
    pub grad_clip: Option<f32>,
    /// Against class imbalance.
    #[arg(long, value_enum)]
    pub balance: Option<BalanceArg>,
    #[arg(long, value_enum)]
    pub augment: Option<AugmentArg>,
    /// Stop after this many epochs without a better validation score (0: never).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Validate, keep and export a moving average of the weights over about this many epochs
    /// instead of the last step's weights (0: off).
    #[arg(long)]
    pub average_epochs: Option<f32>,
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
    /// Seed of the initial weights, the batches and the augmentations.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Seed of the split (test, validation and fold assignment), kept apart from --seed so that
    /// runs with other seeds are scored on the same images.
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
    /// Fraction of the data (of its time blocks, when names carry times) held out for testing.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Fraction of the training part (by time block) held out for validation: early stopping,
    /// the exported checkpoint, calibration and every other choice. 0: none (the last epoch is kept).
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// Validation by folds of the training part instead of one carve: fold
    /// --validation-fold (1-based) of this many block-wise folds validates (train one run per
    /// fold to choose settings on every training night; the test part stays the same).
    #[arg(long, requires = "validation_fold")]
    pub validation_folds: Option<usize>,
    #[arg(long, requires = "validation_folds")]
    pub validation_fold: Option<usize>,
    /// Length of a time block in seconds.
    #[arg(long, default_value_t = 600)]
    pub block_seconds: i64,
    /// Split protocol: `auto` (time blocks, or the data's own train/test) or `cifar10-1`
    /// (1,000 queries, 5,000 training images, the other 59,000 as database).
    #[arg(long, default_value = "auto")]
    pub split: String,
    /// Cross-validation: test on fold --fold (1-based) of this many block-wise folds.
    #[arg(long, requires = "fold")]
    pub folds: Option<usize>,
    #[arg(long, requires = "folds")]
    pub fold: Option<usize>,
    /// Don't black out the corners outside the all-sky circle.
    #[arg(long)]
    pub no_sky_mask: bool,
    /// Per-frame photometric normalisation: every frame's sky brought to the same mean and
    /// spread before training and inference (saved with the model; the page does the same).
    #[arg(long)]
    pub frame_norm: bool,
    /// Unlabelled frames to pseudo-label with --teacher (a folder of images).
    #[arg(long, requires = "teacher")]
    pub unlabeled: Option<PathBuf>,
    /// A trained run whose calibrated predictions label the --unlabeled frames.
    #[arg(long, requires = "unlabeled")]
    pub teacher: Option<PathBuf>,
    /// Smallest calibrated probability for a pseudo-label.
    #[arg(long, default_value_t = 0.95)]
    pub pseudo_threshold: f32,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
    /// Stop after this many epochs in this invocation (the run stays resumable); for tests and
    /// for splitting long runs into sessions.
    #[arg(long)]
    pub max_epochs_now: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Adamw,
}

impl Default for TrainArgs {
    /// The settings `aurora-hash train` gets with no options.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let cmd = TrainArgs::augment_args(clap::Command::new("train"));
        TrainArgs::from_arg_matches(&cmd.get_matches_from(["train"])).expect("defaults parse")
    }
}

pub fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::parse(s).ok_or_else(|| format!("unknown network `{s}` (alexnet, alexnet-sp, im-alexnet-sp)"))
}

pub fn parse_source(s: &str) -> Result<Source, String> {
    Source::parse(s).map_err(|e| format!("{e:#}"))
}

/// Applies `train` options given as words (a user's `reproduce --train-args "…"`) on top of
/// `settings`: only the options named change.
pub fn override_from_words(settings: &mut TrainArgs, words: &[String]) -> Result<()> {
    use clap::{Args, FromArgMatches};
    let cmd = TrainArgs::augment_args(clap::Command::new("train"));
    let matches = cmd.try_get_matches_from(std::iter::once("train".to_string()).chain(words.iter().cloned()))?;
    settings.update_from_arg_matches(&matches)?;
    Ok(())
}

impl TrainArgs {
    /// The settings that shape a model and its training, in `train` option syntax, for
    /// documents that state how a figure was made.
    pub fn describe(&self) -> String {
        let mut w = vec![
            format!("--data {}", self.data.describe()),
            format!("--arch {} --bits {} --size {} --width {}", self.arch.name(), self.bits, self.size, self.width),
            format!("--dropout {} --recipe {:?}", self.dropout, self.recipe).to_lowercase(),
            format!(
                "--validation-fraction {} --test-fraction {} --block-seconds {} --seed {} --split-seed {}",
                self.validation_fraction, self.test_fraction, self.block_seconds, self.seed, self.split_seed
            ),
        ];
        if let (Some(k), Some(f)) = (self.validation_folds, self.validation_fold) {
            w.push(format!("--validation-folds {k} --validation-fold {f}"));
        }
        let opt = |name: &str, v: Option<String>| v.map(|v| format!("--{name} {v}"));
        w.extend(
            [
                opt("fc", self.fc.map(|v| v.to_string())),
                opt("epochs", self.epochs.map(|v| v.to_string())),
                opt("batch", self.batch.map(|v| v.to_string())),
                opt("lr", self.lr.map(|v| v.to_string())),
                opt("warmup", self.warmup.map(|v| v.to_string())),
                opt("weight-decay", self.weight_decay.map(|v| v.to_string())),
                opt("label-smoothing", self.label_smoothing.map(|v| v.to_string())),
                opt("grad-clip", self.grad_clip.map(|v| v.to_string())),
                opt("patience", self.patience.map(|v| v.to_string())),
                opt("average-epochs", self.average_epochs.map(|v| v.to_string())),
                opt("balance", self.balance.map(|v| format!("{v:?}").to_lowercase())),
                opt("augment", self.augment.map(|v| format!("{v:?}").to_lowercase())),
                opt("optimizer", self.optimizer.map(|v| format!("{v:?}").to_lowercase())),
            ]
            .into_iter()
            .flatten(),
        );
        if self.constant_lr {
            w.push("--constant-lr".into());
        }
        w.join(" ")
    }
}

/// The optimisation settings: the preset, then every option given.
pub fn train_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut t = match args.recipe {
        RecipeArg::Default => TrainConfig::recipe(args.bits),
        RecipeArg::Legacy => TrainConfig::legacy(args.bits),
    };
    t.seed = args.seed;
    if let Some(v) = args.epochs {
        t.epochs = v;
    }
    if let Some(v) = args.batch {
        t.batch_size = v;
    }
    if let Some(v) = args.lr {
        t.learning_rate = v;
    }
    if args.constant_lr {
        t.schedule = Schedule::Constant;
    } else if let Some(w) = args.warmup {
        let final_fraction = match t.schedule {
            Schedule::WarmupCosine { final_fraction, .. } => final_fraction,
            Schedule::Constant => 0.01,
        };
        t.schedule = Schedule::WarmupCosine { warmup_epochs: w, final_fraction };
    }
    if let Some(o) = args.optimizer {
        t.optimizer = match o {
            OptimizerArg::Adam => Optimizer::Adam,
            OptimizerArg::Adamw => Optimizer::AdamW,
        };
    }
    if let Some(v) = args.weight_decay {
        t.weight_decay = v;
    }
    if let Some(v) = args.label_smoothing {
        t.label_smoothing = v;
    }
    if let Some(v) = args.grad_clip {
        t.grad_clip = (v > 0.0).then_some(v);
    }
    if let Some(b) = args.balance {
        t.balance = match b {
            BalanceArg::None => Balance::None,
            BalanceArg::Sampler => Balance::Sampler,
            BalanceArg::LossWeights => Balance::LossWeights,
        };
    }
    if let Some(a) = args.augment {
        t.augment = match a {
            AugmentArg::AllSky => Augment::all_sky(),
            AugmentArg::Photos => Augment::photos(),
            AugmentArg::Mirror => Augment::mirror_only(),
            AugmentArg::None => Augment::none(),
        };
    }
    if let Some(h) = args.average_epochs {
        t.average_epochs = (h != 0.0).then_some(h);
    }
    if let Some(p) = args.patience {
        t.patience = (p > 0).then_some(p);
    }
    t.loss.mu = args.mu;
    t.loss.lambda = args.lambda;
    t.loss.pair = match args.pair_loss {
        PairLossArg::Contrastive => PairLoss::Contrastive,
        PairLossArg::Dsh => PairLoss::Dsh,
        PairLossArg::Dpsh => PairLoss::Dpsh,
        PairLossArg::Cnnh => PairLoss::Cnnh,
    };
    if t.loss.pair == PairLoss::Dsh {
        t.loss.margin = 2.0 * args.bits as f32;
    }
    if let Some(m) = args.margin {
        t.loss.margin = m;
    }
    t.validate().map_err(|e| anyhow::anyhow!("bad training settings: {e}"))?;
    Ok(t)
}

fn new_config(args: &TrainArgs, listing: &Listing) -> Result<RunConfig> {
    let photos = listing.given_test.is_some();
    let channels = args.channels.unwrap_or(if photos { 3 } else { 1 });
    let mut model = ModelConfig::paper(args.arch, args.bits, listing.classes.len(), channels, args.size);
    model.spp_pmt = model.spp_pmt && !args.no_spp_pmt;
    model.width = args.width;
    model.dropout = args.dropout;
    if let Some(fc) = args.fc {
        model.fc_width = fc;
    }
    model.validate().context("bad model settings")?;
    let sky = !photos && channels == 1 && !args.no_sky_mask;
    let mut train = train_config(args)?;
    if args.augment.is_none() && !sky && train.augment == Augment::all_sky() {
        // Rotating a photo or a CIFAR image about its centre is not a valid image of it.
        train.augment = Augment::photos();
    }
    if !(0.0..1.0).contains(&args.test_fraction) || args.test_fraction == 0.0 {
        bail!("--test-fraction must be in (0, 1), got {}", args.test_fraction);
    }
    if !(0.0..1.0).contains(&args.validation_fraction) {
        bail!("--validation-fraction must be in [0, 1), got {}", args.validation_fraction);
    }
    Ok(RunConfig {
        format: RUN_FORMAT,
        model,
        train,
        preprocess: Preprocess::new(args.size, channels, sky).with_frame_norm(args.frame_norm),
        source: listing.source.clone(),
        classes: listing.classes.clone(),
        test_fraction: args.test_fraction,
        block_seconds: args.block_seconds,
        validation_fraction: args.validation_fraction,
    })
}

/// The split protocol the settings ask for, as the library's [`Plan`].
pub fn plan(args: &TrainArgs, listing: &Listing) -> Result<Plan> {
    let protocol = match (args.split.as_str(), args.folds, args.fold) {
        (_, Some(k), Some(f)) => {
            if f == 0 || f > k {
                bail!("--fold must be between 1 and --folds ({k}), got {f}");
            }
            Protocol::Fold { folds: k, fold: f - 1 }
        }
        ("cifar10-1", _, _) => Protocol::Cifar10_1,
        ("auto", _, _) if listing.given_test.is_some() => Protocol::Given,
        ("auto", _, _) => Protocol::Blocks { test_fraction: args.test_fraction },
        (other, _, _) => bail!("unknown --split `{other}` (auto, cifar10-1)"),
    };
    let validation_fold = match (args.validation_folds, args.validation_fold) {
        (Some(k), Some(f)) if f == 0 || f > k || k < 2 => bail!("--validation-fold must be between 1 and --validation-folds ({k}, at least 2), got {f}"),
        (Some(k), Some(f)) => Some((k, f - 1)),
        _ => None,
    };
    Ok(Plan { protocol, validation_fraction: args.validation_fraction, validation_fold, block_seconds: args.block_seconds, seed: args.split_seed })
}

fn make_split(args: &TrainArgs, listing: &Listing) -> Result<SavedSplit> {
    let p = partition(&listing.samples, listing.given_test.as_deref(), &plan(args, listing)?)
        .with_context(|| format!("cannot split {}", listing.source.describe()))?;
    let ids = |v: &[usize]| -> Vec<String> { v.iter().map(|&i| listing.samples[i].id.clone()).collect() };
    Ok(SavedSplit {
        method: p.method.clone(),
        train: ids(&p.train),
        validation: ids(&p.validation),
        test: ids(&p.test),
        database: p.database.as_deref().map(ids),
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

/// Saves each epoch into the run folder and shows progress.
struct Saver<'a> {
    run: &'a Run,
    device_name: String,
    epochs: usize,
    bar: Option<indicatif::ProgressBar>,
}

impl Observer for Saver<'_> {
    type Error = anyhow::Error;

    fn batch(&mut self, epoch: usize, done: usize, total: usize, mean_loss: f32) {
        let bar = self.bar.get_or_insert_with(|| progress::bar(total as u64, &format!("epoch {}/{}", epoch + 1, self.epochs)));
        bar.set_position(done as u64);
        bar.set_message(format!("loss {mean_loss:.4}"));
    }

    fn epoch(&mut self, trainer: &Trainer, r: &EpochRecord, progress: &Progress, improved: bool) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.run.save_checkpoint(r.epoch, &trainer.model, trainer.average.as_ref(), &trainer.optim, progress, improved)?;
        self.run.append_metrics(&EpochMetrics { record: r.clone(), device: self.device_name.clone() })?;
        let val = r.validation.as_ref().map_or(String::new(), |v| {
            format!(", validation balanced accuracy {:.3} (accuracy {:.3}, nll {:.3}){}", v.balanced_accuracy, v.accuracy, v.nll, if improved { " *" } else { "" })
        });
        eprintln!(
            "epoch {:>3}/{}: loss {:.4} (ce {:.4}, hash {:.4}), train accuracy {:.3}, lr {:.2e}{val}, {:.0} s, {:.1} img/s",
            r.epoch, self.epochs, r.loss, r.cross_entropy, r.contrastive, r.train_accuracy, r.learning_rate, r.seconds, r.images_per_second
        );
        if progress.stopped_early {
            eprintln!("early stop: no better validation score for {} epochs (best: epoch {})", progress.stale, progress.best_epoch.unwrap_or(0));
        }
        Ok(())
    }
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let run = Run::at(&args.run);
    let (config, listing, saved) = if args.resume {
        let config = run.config()?;
        let listing = dataset::list(&config.source, args.strict)?;
        (config, listing, run.split()?)
    } else {
        let listing = dataset::list(&args.data, args.strict)?;
        if listing.samples.is_empty() {
            bail!("dataset {} holds no images", args.data.describe());
        }
        let config = new_config(args, &listing)?;
        let saved = make_split(args, &listing)?;
        if let Some(teacher) = &args.teacher {
            pseudo_labels::check_teacher(teacher, &saved)?;
        }
        Run::create(&args.run, &config, &saved)?;
        (config, listing, saved)
    };
    let train_idx = resolve_ids(&listing, &saved.train)?;
    let val_idx = resolve_ids(&listing, &saved.validation)?;
    let label = |i: &usize| listing.samples[*i].label.context("training and validation images need labels");
    let labels: Vec<usize> = train_idx.iter().map(label).collect::<Result<_>>()?;
    let val_labels: Vec<usize> = val_idx.iter().map(label).collect::<Result<_>>()?;
    eprintln!(
        "data: {} — {} training and {} validation images, {} classes ({}); split: {}",
        config.source.describe(),
        train_idx.len(),
        val_idx.len(),
        config.classes.len(),
        config.classes.join(", "),
        saved.method
    );
    // An image that cannot be read is left out of this run (reported by name), here and in the
    // calibration that follows; the split on disk keeps it, so a repaired file comes back.
    let (mut pixels, kept, bad_train) = dataset::load_pixels_skipping(&listing, &train_idx, &config.preprocess, "loading", args.strict)?;
    let mut labels: Vec<usize> = kept.iter().map(|&k| labels[k]).collect();
    let (val_pixels, val_kept, bad_val) = dataset::load_pixels_skipping(&listing, &val_idx, &config.preprocess, "validation", args.strict)?;
    let val_labels: Vec<usize> = val_kept.iter().map(|&k| val_labels[k]).collect();
    let mut saved = saved;
    if !bad_train.is_empty() || !bad_val.is_empty() {
        eprintln!("{} training and {} validation images skipped (named above)", bad_train.len(), bad_val.len());
        saved.train = kept.iter().map(|&k| saved.train[k].clone()).collect();
        saved.validation = val_kept.iter().map(|&k| saved.validation[k].clone()).collect();
    }
    if labels.is_empty() {
        bail!("none of the training images could be read");
    }
    let sheet_path = run.dir.join("augmentations.png");
    if !sheet_path.exists() {
        sheet::write_contact_sheet(&sheet_path, &pixels, &labels, &config)?;
    }

    let (device, device_name) = device::select(args.device)?;
    if let Some((unlabeled, teacher)) = args.unlabeled.as_ref().zip(args.teacher.as_ref()) {
        let added = pseudo_labels::add(&run, unlabeled, teacher, args.pseudo_threshold, &config, &device, &mut pixels, &mut labels)?;
        eprintln!("pseudo-labels: {added} unlabelled frames added at calibrated probability ≥ {}", args.pseudo_threshold);
    } else if args.resume {
        let added = pseudo_labels::reload(&run, &config, &mut pixels, &mut labels)?;
        if added > 0 {
            eprintln!("pseudo-labels: {added} frames from pseudo.json");
        }
    }
    // CNNH's stage 1, from the training labels alone; seeded, so a resumed run gets the same bits.
    let bits = config.model.bits;
    let targets = (config.train.loss.pair == PairLoss::Cnnh).then(|| {
        eprintln!("CNNH stage 1: target codes for {} training images", labels.len());
        aurora_hash::baselines::cnnh::target_codes(&labels, config.classes.len(), bits, 500, config.train.seed)
    });

    let mut trainer = Trainer::new(config.model.clone(), config.train.clone(), device.clone());
    let mut progress = Progress::default();
    if let Some(ptr) = run.latest()? {
        let dir = run.dir.join(&ptr.dir);
        trainer.model = load_model(&config.model, &dir.join("model.bpk"), &trainer.device)?;
        trainer.optim = config
            .train
            .optimizer()
            .load(dir.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: damaged optimiser state: {e:?}", dir.join("optim.bpk").display()))?;
        let average = dir.join("average.bpk");
        if config.train.average_epochs.is_some() && average.exists() {
            trainer.average = Some(load_model(&config.model, &average, &trainer.inference_device)?);
        }
        progress = run.progress(&ptr)?;
        eprintln!("resuming {} after epoch {}", run.dir.display(), ptr.epoch);
    }
    let epochs = config.train.epochs;
    if progress.finished(epochs) {
        eprintln!("run already finished ({} epochs{})", progress.epochs_done, if progress.stopped_early { ", stopped early" } else { "" });
        return Ok(());
    }
    eprintln!(
        "model: {} ({} bits, {} px, {:.1} M parameters) on {device_name}",
        config.model.arch.name(),
        config.model.bits,
        config.model.input_size,
        burn::module::Module::num_params(&trainer.model) as f64 / 1e6
    );
    let until = args.max_epochs_now.map_or(epochs, |n| progress.epochs_done + n);
    let train_set = Labelled { pixels: &pixels, labels: &labels, codes: targets.as_deref() };
    let val_set = (!val_labels.is_empty()).then_some(Labelled { pixels: &val_pixels, labels: &val_labels, codes: None });
    let mut saver = Saver { run: &run, device_name, epochs, bar: None };
    let progress = fit(&mut trainer, train_set, val_set, &config.preprocess, progress, until, &mut saver).map_err(|e| match e {
        FitError::Observer(e) => e,
        other => anyhow::anyhow!("{other}"),
    })?;
    if let (true, Some(epoch), Some(v)) = (progress.finished(epochs), progress.best_epoch, &progress.best) {
        eprintln!("best validation: epoch {epoch}, balanced accuracy {:.3}, accuracy {:.3}", v.balanced_accuracy, v.accuracy);
    }
    if progress.finished(epochs) {
        let (c, f) = crate::posttrain::after_training(&run, &config, &listing, &saved, &device)?;
        if c.validation_images > 0 {
            eprintln!(
                "calibration: T = {:.2} (validation NLL {:.3} → {:.3}, ECE {:.3} → {:.3}); fitted on {}",
                c.temperature, c.validation_nll_before, c.validation_nll_after, c.validation_ece_before, c.validation_ece_after, c.fitted_on
            );
        } else {
            eprintln!("calibration: none (no validation frames; `aurora-hash calibrate --run RUN --folds FOLD-RUN…` fits one from runs trained on folds of this run's training part)");
        }
        eprintln!("out-of-domain statistics: {} features, {} directions, threshold {:.1} (set with {})", f.model.layer.name(), f.model.k, f.model.threshold, f.threshold_from);
    }
    Ok(())
}
