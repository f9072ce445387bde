//! `aurora-hash export`, `index` and `query`: the bundle and code index the browser loads,
//! built and searched natively.

use anyhow::{Context, Result, bail};
use aurora_hash::data::split::timestamp_from_name;
use aurora_hash::export::{
    BUNDLE_FORMAT, BundleConfig, CONFIG_FILE, INDEX_FILE, MANIFEST_FILE, Manifest, WEIGHTS_FILE, WeightsDtype, weights_to_bytes,
};
use aurora_hash::hashing::{CodeSet, code_to_hex, pack_code, soft_bytes, soft_to_hex};
use aurora_hash::index::{CodeIndex, Entry, thumb_path};
use aurora_hash::answer::{Answer, ClassInfo, answer};
use aurora_hash::infer::{Layers, encode, encode_layers};
use aurora_hash::ood::Layer;
use burn::tensor::Device;
use std::path::{Path, PathBuf};

use crate::dataset::read_image;
use crate::files::{BINARY_CAP, TEXT_CAP, find_images, read_capped};
use aurora_hash::infer::predicted_classes;
use crate::device::{self, Choice};
use crate::out_folder::printable;
use crate::progress;
use crate::run::{Run, write_atomic, write_replacing};

/// Im-AlexNet-SP's parameter size in the paper's Table 3, for comparison.
const PAPER_MODEL_MB: f64 = 100.77;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Trained run folder.
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    /// Bundle folder to write.
    #[arg(long, default_value = "bundle")]
    pub out: PathBuf,
    /// How `model.bpk` stores the weights. `q8` (the default): the conv and linear weights as
    /// 8-bit values with an f16 scale per block of at most 64, about a quarter of f32, widened to
    /// f32 when the bundle is loaded; measured on 2026-12-06 against f32, the YRS run's codes
    /// agreed on 99.81% of bits and its classes on 99.82% of 2,722 frames (the demo's: 99.98%,
    /// 99.87% of 768). `f16`: half of f32, codes within a few bits in 100,000. `f32`: exact.
    #[arg(long, value_enum, default_value = "q8", alias = "quant")]
    pub weights: Weights,
    /// Write into a folder that is not a bundle (files of the bundle's names are replaced;
    /// nothing else is touched).
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    Q8,
    F16,
    F32,
}

impl Weights {
    pub fn dtype(self) -> WeightsDtype {
        match self {
            Self::Q8 => WeightsDtype::Q8,
            Self::F16 => WeightsDtype::F16,
            Self::F32 => WeightsDtype::F32,
        }
    }
}

pub fn export(a: &ExportArgs) -> Result<()> {
    // A bundle folder is recognised by its manifest; any other folder with files in it is the
    // user's, and is not written into without --force.
    crate::out_folder::set_force(a.force);
    crate::out_folder::check_folder(&a.out, "bundle", |root| {
        read_capped(&root.join(MANIFEST_FILE), TEXT_CAP).is_ok_and(|b| Manifest::parse(&b).is_ok())
    })?;
    let run = Run::at(&a.run);
    let config = run.config()?;
    let device = Device::flex();
    let (model, ptr) = run.load_chosen_model(&config.model, &device)?;
    let dtype = a.weights.dtype();
    let weights = weights_to_bytes(&model, dtype)?;
    let bundle = BundleConfig {
        format: BUNDLE_FORMAT,
        model: config.model.clone(),
        preprocess: config.preprocess.clone(),
        classes: config.classes.clone(),
        weights_dtype: dtype.name().into(),
        provenance: format!("{} after epoch {}", a.run.display(), ptr.epoch),
        confidence: crate::posttrain::confidence(&run, &config)?,
        class_info: ClassInfo::defaults(&config.classes),
    };
    let bundle_json = serde_json::to_vec_pretty(&bundle)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    write_replacing(&a.out.join(WEIGHTS_FILE), &weights)?;
    write_replacing(&a.out.join(CONFIG_FILE), &bundle_json)?;
    let mut manifest = Manifest::for_files(&[(WEIGHTS_FILE, &weights), (CONFIG_FILE, &bundle_json)]);
    // Exporting the same weights again keeps an index built beside them valid (and listed),
    // so a site rebuild encodes only new images.
    if let Ok(old) = read_capped(&a.out.join(MANIFEST_FILE), TEXT_CAP).and_then(|b| Ok(Manifest::parse(&b)?)) {
        let same = |name: &str| old.files.iter().find(|f| f.name == name).map(|f| &f.sha256) == manifest.files.iter().find(|f| f.name == name).map(|f| &f.sha256);
        if same(WEIGHTS_FILE) && same(CONFIG_FILE) {
            manifest.files.extend(old.files.iter().filter(|f| f.name != WEIGHTS_FILE && f.name != CONFIG_FILE).cloned());
        }
    }
    write_replacing(&a.out.join(MANIFEST_FILE), &serde_json::to_vec_pretty(&manifest)?)?;
    let mb = weights.len() as f64 / 1e6;
    println!(
        "wrote bundle {} ({} weights {:.2} MB; the paper's Im-AlexNet-SP: {PAPER_MODEL_MB} MB, ratio {:.2}×)",
        a.out.display(),
        bundle.weights_dtype,
        mb,
        mb / PAPER_MODEL_MB
    );
    Ok(())
}

/// A loaded, verified bundle.
pub struct Bundle {
    opened: aurora_hash::export::Bundle,
    pub device: Device,
    pub device_name: String,
}

pub fn load_bundle(dir: &Path, choice: Choice) -> Result<Bundle> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let p = dir.join(name);
        let cap = if name == WEIGHTS_FILE { BINARY_CAP } else { TEXT_CAP };
        read_capped(&p, cap).with_context(|| format!("bundle {}", dir.display()))
    };
    let (manifest, config, weights) = (read(MANIFEST_FILE)?, read(CONFIG_FILE)?, read(WEIGHTS_FILE)?);
    let (device, device_name) = device::select(choice)?;
    let opened = aurora_hash::export::Bundle::open(&manifest, &config, weights, &device).with_context(|| format!("bundle {}", dir.display()))?;
    Ok(Bundle { opened, device, device_name })
}

impl std::ops::Deref for Bundle {
    type Target = aurora_hash::export::Bundle;
    fn deref(&self) -> &Self::Target {
        &self.opened
    }
}

impl Bundle {
    /// An index file to search with this bundle, refused when it was made with another
    /// (`BundleConfig::check_index`, the page's check too). Not checked against the manifest:
    /// `index build` updates an index in place after the bundle was exported.
    pub fn read_index(&self, path: &Path) -> Result<CodeIndex> {
        let index = read_index(path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.config.check_index(&name, &index).with_context(|| format!("index {}", path.display()))?;
        Ok(index)
    }
}

pub fn read_index(path: &Path) -> Result<CodeIndex> {
    let bytes = read_capped(path, BINARY_CAP)?;
    CodeIndex::from_bytes(&bytes).with_context(|| format!("index {}", path.display()))
}

#[derive(clap::Subcommand, Debug)]
pub enum IndexCommand {
    /// Encode a folder of images (recursively) into an index; with an existing --out, only
    /// images not in it yet are encoded and added.
    Build(IndexArgs),
    /// MAP of an index's codes under a run's split: test images as queries, training images as
    /// the database (the same protocol as `eval`, from the stored codes alone).
    Score {
        index: PathBuf,
        /// Run folder whose split.json defines queries and database.
        #[arg(long)]
        run: PathBuf,
    },
    /// An index of random codes (ids `random/<i>`, one a minute) for a bundle's code length and
    /// classes: for load tests of search and of published sites at sizes no archive here has.
    Random {
        #[arg(long, default_value = "bundle")]
        bundle: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Replace an --out file that is not an index.
        #[arg(long)]
        force: bool,
    },
    /// Join indexes built on different machines (later files add only images not seen yet).
    Merge {
        /// Indexes to join, in order.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Replace an --out file that is not an index.
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct IndexArgs {
    /// Folder of images. Sub-folders named after the bundle's classes give true labels.
    pub images: PathBuf,
    #[arg(long, default_value = "bundle")]
    pub bundle: PathBuf,
    #[arg(long, default_value = "archive.idx")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
    /// Also write a small JPEG of each image to `thumbs/` beside the index, for the page's
    /// results (named by `aurora_hash::index::thumb_path`).
    #[arg(long)]
    pub thumbs: bool,
    /// Stop at the first image that cannot be read (default: report it by name, index the
    /// rest, and say how many were skipped).
    #[arg(long)]
    pub strict: bool,
    /// Replace a file at `--out` that is not an index, or write thumbnails into a `thumbs/`
    /// folder that holds other files (files of the same names are replaced; nothing else is
    /// touched).
    #[arg(long)]
    pub force: bool,
}

/// Longest side of a thumbnail: sharp on a phone's results grid (YRS frames: ~3.3 KB each).
const THUMB_SIDE: u32 = 160;

fn write_thumb(dir: &Path, id: &str, img: &image::DynamicImage) -> Result<()> {
    let path = dir.join(thumb_path(id));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let small = img.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&small)
        .with_context(|| format!("cannot encode the thumbnail of {id}"))?;
    write_atomic(&path, &jpeg)
}

/// An index written into a bundle folder is listed in the bundle's manifest, so the page can
/// tell an index that belongs to its model from a stale or foreign one.
fn list_in_manifest(index_path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        return Ok(());
    }
    let raw = read_capped(&manifest_path, TEXT_CAP)?;
    let mut manifest = Manifest::parse(&raw).with_context(|| format!("{}", manifest_path.display()))?;
    let name = index_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    manifest.set(&name, bytes);
    write_replacing(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)
}

/// Writes an index (atomically) and lists it in the bundle's manifest when it sits in one.
pub fn write_index(path: &Path, index: &CodeIndex) -> Result<()> {
    let bytes = index.to_bytes();
    write_replacing(path, &bytes)?;
    list_in_manifest(path, &bytes)
}

/// An index inside a bundle folder that the bundle's manifest does not list as it is was made
/// with other weights (the bundle was exported again since): its codes cannot be extended.
fn stale_in_bundle(index_path: &Path) -> Result<bool> {
    let manifest_path = index_path.parent().unwrap_or(Path::new(".")).join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        return Ok(false);
    }
    let manifest = Manifest::parse(&read_capped(&manifest_path, TEXT_CAP)?).with_context(|| format!("{}", manifest_path.display()))?;
    let name = index_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = read_capped(index_path, BINARY_CAP)?;
    let stale = manifest.verify(&name, &bytes).is_err();
    if stale {
        eprintln!("{}: made before the bundle was last exported: indexing everything again", index_path.display());
    }
    Ok(stale)
}

/// An index file may be replaced; any other file at `out` is the user's, and is not, unless
/// `force`.
fn refuse_foreign_index(out: &Path, force: bool) -> Result<()> {
    crate::out_folder::set_force(force);
    crate::out_folder::check_replace(out, "an index", 8, |head| head == aurora_hash::index::MAGIC)
}

pub fn index(cmd: &IndexCommand) -> Result<()> {
    match cmd {
        IndexCommand::Merge { inputs, out, force } => {
            refuse_foreign_index(out, *force)?;
            let mut joined = read_index(&inputs[0])?;
            for p in &inputs[1..] {
                let added = joined.merge(&read_index(p)?).with_context(|| format!("joining {}", p.display()))?;
                eprintln!("{}: {added} new images", p.display());
            }
            let bytes = joined.to_bytes();
            write_replacing(out, &bytes)?;
            list_in_manifest(out, &bytes)?;
            println!("wrote {} ({} images, {} bits)", out.display(), joined.len(), joined.bits());
            Ok(())
        }
        IndexCommand::Build(a) => build(a),
        IndexCommand::Random { bundle, count, seed, out, force } => {
            refuse_foreign_index(out, *force)?;
            let config = BundleConfig::parse(&read_capped(&bundle.join(CONFIG_FILE), TEXT_CAP)?)
                .with_context(|| format!("bundle {}", bundle.display()))?;
            let index = CodeIndex::random(*count, config.model.bits, config.classes.clone(), *seed);
            write_replacing(out, &index.to_bytes())?;
            println!("wrote {} ({count} random {}-bit codes)", out.display(), config.model.bits);
            Ok(())
        }
        IndexCommand::Score { index, run } => score(index, run),
    }
}

/// A thumbnail folder holds only names [`thumb_path`] gives (and the temporary files of a
/// killed build): any other file in it is the user's.
fn only_thumbs(dir: &Path) -> bool {
    let ours = |name: &str| {
        let name = name.strip_prefix('.').and_then(|n| n.split_once(".tmp-").map(|(f, _)| f)).unwrap_or(name);
        name.strip_suffix(".jpg").is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().all(|e| e.file_type().is_ok_and(|t| t.is_file()) && ours(&e.file_name().to_string_lossy())))
}

fn build(a: &IndexArgs) -> Result<()> {
    // Checked before the model is loaded: nothing of the user's is replaced, and a refusal
    // comes at once.
    refuse_foreign_index(&a.out, a.force)?;
    let thumbs_dir = a.out.parent().unwrap_or(Path::new("."));
    if a.thumbs {
        let folder = thumbs_dir.join(thumb_path("x")).parent().map(Path::to_path_buf).unwrap_or_default();
        crate::out_folder::check_folder(&folder, "thumbnail folder", only_thumbs)?;
    }
    let bundle = load_bundle(&a.bundle, a.device)?;
    let bits = bundle.config.model.bits;
    let mut index = if a.out.exists() && !stale_in_bundle(&a.out)? {
        bundle.read_index(&a.out)?
    } else {
        CodeIndex::new(bits, bundle.config.classes.clone())
    };
    if index.soft().is_none() {
        eprintln!(
            "note: {} was written by an older build, without the hash layer's outputs: images with equal codes stay in archive order; build it again under another name to rank them",
            a.out.display()
        );
    }
    let (files, mut skipped) = find_images(&a.images, a.strict)?;
    if files.is_empty() {
        bail!("{}: no images found", a.images.display());
    }
    let id_of = |p: &Path| p.strip_prefix(&a.images).unwrap_or(p).to_string_lossy().replace('\\', "/");
    let todo: Vec<&PathBuf> = files.iter().filter(|p| !index.contains(&id_of(p))).collect();
    eprintln!("{} images, {} already indexed, {} to encode on {}", files.len(), files.len() - todo.len(), todo.len(), bundle.device_name);
    let bar = progress::bar(todo.len() as u64, "indexing");
    let classes = &bundle.config.classes;
    for batch in todo.chunks(a.batch.max(1)) {
        let mut pixels = Vec::new();
        // The images of this batch that could be read; a bad one is reported and left out.
        let mut chunk = Vec::with_capacity(batch.len());
        for &p in batch {
            let img = match read_image(p) {
                Ok(img) => img,
                Err(e) => {
                    skipped.add(p, format!("{e:#}"), a.strict)?;
                    continue;
                }
            };
            if a.thumbs {
                write_thumb(thumbs_dir, &id_of(p), &img)?;
            }
            pixels.extend(bundle.config.preprocess.apply(&img));
            chunk.push(p);
        }
        bar.inc(batch.len() as u64);
        if chunk.is_empty() {
            continue;
        }
        let mut e = encode(&bundle.model, &bundle.config.model, pixels, chunk.len(), &bundle.device);
        // The probability an entry carries is the calibrated one, as `query` and the page show.
        // With class offsets the calibrated class can differ from the network's: the archive's
        // predicted class is the one `query` and the page would answer.
        e.probs = bundle.config.confidence.calibrated(&e.probs, classes.len());
        let predicted_all = predicted_classes(&e.probs, classes.len());
        for (k, p) in chunk.iter().enumerate() {
            let id = id_of(p);
            let predicted = predicted_all[k];
            let probs = &e.probs[k * classes.len()..(k + 1) * classes.len()];
            // A parent folder named after a class is the image's true label.
            let label = Path::new(&id)
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|d| classes.iter().position(|c| *c == d.to_string_lossy()))
                .map(|c| c as u16);
            let entry = Entry {
                timestamp: timestamp_from_name(&id),
                id,
                predicted: predicted as u16,
                probability: probs[predicted],
                label,
            };
            let outputs = &e.hash[k * bits..(k + 1) * bits];
            index.push_with(entry, &pack_code(outputs), Some(&soft_bytes(outputs)));
        }
    }
    bar.finish_and_clear();
    if index.is_empty() {
        bail!("{}: none of the {} images could be read", a.images.display(), files.len());
    }
    let bytes = index.to_bytes();
    write_replacing(&a.out, &bytes)?;
    list_in_manifest(&a.out, &bytes)?;
    println!(
        "wrote {} ({} images, {} bits, {:.1} KB: {} bytes of code per image{})",
        a.out.display(),
        index.len(),
        bits,
        bytes.len() as f64 / 1e3,
        bits.div_ceil(8),
        if index.soft().is_some() { format!(" and {bits} of outputs") } else { String::new() }
    );
    if let Some(line) = skipped.summary(&a.images.display().to_string()) {
        eprintln!("{line}");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// The images to search with.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[arg(long, default_value = "bundle")]
    pub bundle: PathBuf,
    /// The archive index (default: archive.idx in the bundle folder).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Number of neighbours.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Only neighbours predicted as this class.
    #[arg(long)]
    pub class: Option<String>,
    /// Only neighbours within this Hamming distance.
    #[arg(long)]
    pub radius: Option<u32>,
    /// Print one JSON object per image (JSON Lines) instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Choice,
}

pub fn query(a: &QueryArgs) -> Result<()> {
    let bundle = load_bundle(&a.bundle, a.device)?;
    let index_path = a.index.clone().unwrap_or_else(|| a.bundle.join(INDEX_FILE));
    let index = bundle.read_index(&index_path)?;
    let bits = bundle.config.model.bits;
    let classes = &bundle.config.classes;
    let filter = match &a.class {
        Some(c) => Some(
            classes.iter().position(|x| x == c).with_context(|| format!("unknown class `{c}` (classes: {})", classes.join(", ")))? as u16,
        ),
        None => None,
    };
    let info = bundle.config.class_info();
    let confidence = &bundle.config.confidence;
    let layer = confidence.ood.as_ref().map_or(Layer::Conv5, |m| m.layer);
    // An index entry whose class is beyond the bundle's is reported, not indexed into.
    let class_name = |c: usize| classes.get(c).cloned().unwrap_or_else(|| format!("class {c} (not in the bundle)"));
    // Written through a lock with `?`, so a closed pipe ends the command instead of panicking,
    // and names shown are stripped of control characters (an id cannot rewrite the terminal).
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for image in &a.images {
        let img = read_image(image)?;
        let (e, layers) = encode_layers(&bundle.model, &bundle.config.model, bundle.config.preprocess.apply(&img), 1, &bundle.device);
        let said = answer(&e.probs, Layers::get(&layers, layer), confidence);
        let code = pack_code(&e.hash);
        let soft = soft_bytes(&e.hash);
        let hits = index.search(&code, Some(&soft), a.k, a.radius.unwrap_or(u32::MAX), |i| filter.is_none_or(|c| index.entries[i].predicted == c));
        let predicted = said.class;
        if a.json {
            let by_class = |p: &[f32]| classes.iter().zip(p).map(|(c, p)| (c.clone(), serde_json::json!(p))).collect::<serde_json::Map<String, serde_json::Value>>();
            let v = serde_json::json!({
                "image": image.display().to_string(),
                "predicted": classes[predicted],
                "name": info[predicted].name,
                "probabilities": by_class(&said.probabilities),
                "raw_probabilities": by_class(&e.probs),
                "temperature": confidence.temperature,
                "class_offsets": confidence.class_offsets,
                "ambiguous": said.ambiguous,
                "runner_up": classes[said.runner_up],
                "ood_score": said.ood_score,
                "ood_threshold": said.ood_threshold,
                "out_of_domain": said.out_of_domain,
                "verdict": verdict(&said, &info),
                "code": code_to_hex(&code),
                "soft": soft_to_hex(&soft),
                "hash": e.hash,
                "neighbours": hits.iter().map(|h| {
                    let en = &index.entries[h.index];
                    serde_json::json!({
                        "id": en.id, "distance": h.distance, "predicted": class_name(en.predicted as usize),
                        "probability": en.probability,
                        "label": en.label.map(|l| class_name(l as usize)), "timestamp": en.timestamp,
                    })
                }).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
        } else {
            writeln!(out, "{}: {}", printable(&image.display().to_string()), verdict(&said, &info))?;
            for (c, p) in info.iter().zip(&said.probabilities) {
                writeln!(out, "  {:>16} {:5.1}%", c.name, p * 100.0)?;
            }
            let ties = if index.soft().is_some() { ", equal distances by the hash layer's outputs" } else { "" };
            writeln!(out, "nearest {} of {} archive images (Hamming distance of {bits}-bit codes{ties}):", hits.len(), index.len())?;
            for h in &hits {
                let en = &index.entries[h.index];
                let label = en.label.map_or(String::new(), |l| format!(", labelled {}", class_name(l as usize)));
                writeln!(out, "  {:>3}  {}  ({}{label})", h.distance, printable(&en.id), class_name(en.predicted as usize))?;
            }
        }
    }
    Ok(())
}

/// The sentence a person reads first, as the page words it: out of domain first, then "cannot
/// tell" when the top two are close, else the class with its calibrated probability.
fn verdict(a: &Answer, info: &[ClassInfo]) -> String {
    let guess = if a.ambiguous {
        format!("{} or {}: the model cannot tell ({:.0}% / {:.0}%)", info[a.class].name, info[a.runner_up].name, a.probabilities[a.class] * 100.0, a.probabilities[a.runner_up] * 100.0)
    } else {
        format!("{} ({:.0}%)", info[a.class].name, a.probabilities[a.class] * 100.0)
    };
    if a.out_of_domain {
        format!("this does not look like an all-sky aurora frame like the ones this model learned from: the answer is a guess: {guess}")
    } else {
        guess
    }
}

fn score(path: &Path, run: &Path) -> Result<()> {
    use aurora_hash::metrics::interval::{RESAMPLES, block_bootstrap, groups_by_block, mean_of};
    let index = read_index(path)?;
    let run_dir = Run::at(run);
    let split = run_dir.split()?;
    let config = run_dir.config()?;
    let pos: std::collections::HashMap<&str, usize> =
        index.entries.iter().enumerate().map(|(i, e)| (e.id.as_str(), i)).collect();
    // A run trained from a CSV manifest names its images by stem (`N20031221G031041`) while an
    // index built over the image folder names them by path (`drapery/N20031221G031041.png`):
    // the same images, found by stem when the exact id is not there and the stem is unique.
    let mut by_stem: std::collections::HashMap<&str, Option<usize>> = std::collections::HashMap::new();
    for (i, e) in index.entries.iter().enumerate() {
        by_stem.entry(file_stem(&e.id)).and_modify(|seen| *seen = None).or_insert(Some(i));
    }
    let find = |id: &str| -> Result<usize> {
        if let Some(&i) = pos.get(id) {
            return Ok(i);
        }
        match by_stem.get(file_stem(id)) {
            Some(Some(i)) => Ok(*i),
            Some(None) => bail!("{}: `{id}` of the run's split matches several indexed images by file name", path.display()),
            None => bail!("{}: `{id}` of the run's split is not indexed", path.display()),
        }
    };
    let pick = |ids: &[String]| -> Result<(CodeSet, Vec<usize>, Vec<Option<i64>>)> {
        let mut codes = CodeSet::new(index.bits());
        let (mut labels, mut times) = (Vec::new(), Vec::new());
        for id in ids {
            let i = find(id)?;
            let label = index.entries[i].label.with_context(|| format!("{}: `{id}` has no true label", path.display()))?;
            codes.push_words(index.codes.code(i));
            labels.push(label as usize);
            times.push(index.entries[i].timestamp.or_else(|| timestamp_from_name(id)));
        }
        Ok((codes, labels, times))
    };
    let (q, ql, q_times) = pick(&split.test)?;
    let (db, dbl, _) = pick(split.database.as_ref().unwrap_or(&split.train))?;
    let r = aurora_hash::metrics::retrieval(&q, &ql, &db, &dbl, None, &[10, 100]);
    // The same interval as `eval`'s: whole test time blocks resampled.
    let groups = groups_by_block(&q_times, config.block_seconds);
    let map = block_bootstrap(&groups, RESAMPLES, config.train.seed, |it| mean_of(&r.ap, it));
    println!(
        "{}: {} queries, database {}: MAP {:.4} {} (95% bootstrap over {} test blocks), P@10 {:.4}, P@100 {:.4}",
        path.display(),
        q.len(),
        db.len(),
        r.map,
        map.display(),
        groups.len(),
        r.top_k_precision[0].1,
        r.top_k_precision[1].1
    );
    Ok(())
}

/// The last path component without its extension: how a CSV manifest names an image file.
fn file_stem(id: &str) -> &str {
    let name = id.rsplit(['/', '\\']).next().unwrap_or(id);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}
