//! Finding and loading the images of a dataset: the built-in synthetic set, a class-per-folder
//! tree, the CIFAR-10 `train/` + `test/` layout, or a CSV manifest (`name,class,…`).

use anyhow::{Context, Result, bail};
use aurora_hash::data::decode::decode;
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::{AURORA_CLASSES, Sample, synthetic};
use image::DynamicImage;
use std::path::{Path, PathBuf};

use crate::progress;

/// Where the images come from, as given on the command line and saved in the run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum Source {
    /// `synthetic[:N]`: N generated frames per class (default 96) rendered at `size` px.
    Synthetic { per_class: usize, size: u32, seed: u64 },
    /// A folder (class-per-folder, or CIFAR `train/` + `test/`) or a CSV manifest.
    Path(PathBuf),
}

impl Source {
    pub fn parse(spec: &str) -> Result<Source> {
        if let Some(rest) = spec.strip_prefix("synthetic") {
            let per_class = match rest.strip_prefix(':') {
                Some(n) => n.parse().with_context(|| format!("`{spec}`: expected synthetic:N with N frames per class"))?,
                None if rest.is_empty() => 96,
                None => bail!("`{spec}`: expected `synthetic` or `synthetic:N`"),
            };
            if per_class < 2 {
                bail!("`{spec}`: at least 2 frames per class are needed");
            }
            return Ok(Source::Synthetic { per_class, size: 128, seed: 2020 });
        }
        let path = PathBuf::from(spec);
        if !path.exists() {
            bail!("dataset `{spec}` does not exist (give a folder, a CSV manifest, or `synthetic[:N]`)");
        }
        Ok(Source::Path(path))
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Synthetic { per_class, size, seed } => {
                format!("synthetic all-sky frames, {per_class} per class, {size} px, seed {seed}")
            }
            Source::Path(p) => p.display().to_string(),
        }
    }
}

/// A listed dataset: its classes and samples (ids, labels, times), before any pixel is read.
pub struct Listing {
    pub source: Source,
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
    /// For a path source: the file behind each sample.
    pub files: Vec<PathBuf>,
    /// A split that comes with the data (CIFAR `train/` vs `test/`): indices of the test side.
    pub given_test: Option<Vec<usize>>,
}

const IMAGE_EXTS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"];

/// Whether the file name has an extension of a format the decoder reads.
pub fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// Orders class names: the paper's aurora order when they are the four aurora classes,
/// alphabetical otherwise.
fn order_classes(mut names: Vec<String>) -> Vec<String> {
    let mut aurora: Vec<String> = AURORA_CLASSES.iter().map(|s| s.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    aurora.sort();
    if sorted == aurora {
        return AURORA_CLASSES.iter().map(|s| s.to_string()).collect();
    }
    names.sort();
    names
}

pub fn list(source: &Source) -> Result<Listing> {
    match source {
        Source::Synthetic { per_class, .. } => {
            let n = per_class * AURORA_CLASSES.len();
            let samples = (0..n).map(|i| Sample::new(format!("synthetic-{i:05}"), Some(synthetic::class_of(i)))).collect();
            Ok(Listing {
                source: source.clone(),
                classes: AURORA_CLASSES.iter().map(|s| s.to_string()).collect(),
                samples,
                files: Vec::new(),
                given_test: None,
            })
        }
        Source::Path(p) if p.is_file() => list_manifest(source, p),
        Source::Path(p) => {
            let (train, test) = (p.join("train"), p.join("test"));
            if train.is_dir() && test.is_dir() {
                let mut l = list_class_folders(source, &train, "train/")?;
                let t = list_class_folders(source, &test, "test/")?;
                if t.classes != l.classes {
                    bail!("{}: train/ and test/ have different class folders", p.display());
                }
                let start = l.samples.len();
                l.samples.extend(t.samples);
                l.files.extend(t.files);
                l.given_test = Some((start..l.samples.len()).collect());
                Ok(l)
            } else {
                list_class_folders(source, p, "")
            }
        }
    }
}

fn list_class_folders(source: &Source, root: &Path, prefix: &str) -> Result<Listing> {
    let dirs: Vec<PathBuf> = sorted_entries(root)?.into_iter().filter(|p| p.is_dir()).collect();
    let names: Vec<String> = dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    if names.is_empty() {
        bail!("{}: no class folders (expected one sub-folder of images per class)", root.display());
    }
    if names.len() < 2 {
        bail!("{}: only one class folder (`{}`); classification needs at least two", root.display(), names[0]);
    }
    let classes = order_classes(names);
    let mut samples = Vec::new();
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        let before = files.len();
        for f in sorted_entries(&dir)?.into_iter().filter(|f| f.is_file() && is_image(f)) {
            let name = f.file_name().unwrap().to_string_lossy();
            samples.push(Sample::new(format!("{prefix}{class}/{name}"), Some(label)));
            files.push(f);
        }
        if files.len() == before {
            bail!("class folder {} has no images", dir.display());
        }
    }
    Ok(Listing { source: source.clone(), classes, samples, files, given_test: None })
}

/// `name,class,…` with a header row. `name` is a path relative to the manifest's folder, with or
/// without extension, or a bare name found under `<class>/` there (the YRS layout).
fn list_manifest(source: &Source, csv: &Path) -> Result<Listing> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("cannot read manifest {}", csv.display()))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().with_context(|| format!("{}: empty manifest", csv.display()))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let ni = cols.iter().position(|c| *c == "name" || *c == "path");
    let ci = cols.iter().position(|c| *c == "class" || *c == "label");
    let (Some(ni), Some(ci)) = (ni, ci) else {
        bail!("{}: the header must have `name` (or `path`) and `class` columns, found `{header}`", csv.display());
    };
    let mut rows = Vec::new();
    for (lineno, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() <= ni.max(ci) {
            bail!("{}:{}: expected at least {} columns", csv.display(), lineno + 1, ni.max(ci) + 1);
        }
        rows.push((f[ni].to_string(), f[ci].to_string(), lineno + 1));
    }
    if rows.is_empty() {
        bail!("{}: the manifest lists no images", csv.display());
    }
    let mut names: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        bail!("{}: only one class (`{}`); classification needs at least two", csv.display(), names[0]);
    }
    let classes = order_classes(names);
    let mut samples = Vec::new();
    let mut files = Vec::new();
    for (name, class, lineno) in rows {
        let label = classes.iter().position(|c| *c == class).unwrap();
        let file = resolve(base, &name, &class)
            .with_context(|| format!("{}:{lineno}: no image file found for `{name}`", csv.display()))?;
        samples.push(Sample::new(name, Some(label)));
        files.push(file);
    }
    Ok(Listing { source: source.clone(), classes, samples, files, given_test: None })
}

fn resolve(base: &Path, name: &str, class: &str) -> Option<PathBuf> {
    let dirs = [base.to_path_buf(), base.join(class), base.join("labeled").join(class)];
    for d in &dirs {
        let p = d.join(name);
        if p.is_file() {
            return Some(p);
        }
        for ext in IMAGE_EXTS {
            let p = d.join(format!("{name}.{ext}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Reads, decodes and preprocesses the samples at `which`; one `Vec<f32>` per sample, in order.
/// A file that cannot be read or decoded is an error naming it.
pub fn load_pixels(listing: &Listing, which: &[usize], pre: &Preprocess, what: &str) -> Result<Vec<Vec<f32>>> {
    let bar = progress::bar(which.len() as u64, what);
    let load_one = |i: usize| -> Result<Vec<f32>> {
        let img = load_image(listing, i)?;
        Ok(pre.apply(&img))
    };
    // One worker per core (up to 8): decoding is the slow part.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunk = which.len().div_ceil(workers).max(1);
    let results: Vec<Result<Vec<Vec<f32>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = which
            .chunks(chunk)
            .map(|part| {
                let bar = &bar;
                let load_one = &load_one;
                s.spawn(move || {
                    part.iter()
                        .map(|&i| {
                            let r = load_one(i);
                            bar.inc(1);
                            r
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("loader thread panicked")).collect()
    });
    bar.finish_and_clear();
    let mut out = Vec::with_capacity(which.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

pub fn load_image(listing: &Listing, i: usize) -> Result<DynamicImage> {
    match &listing.source {
        Source::Synthetic { size, seed, .. } => Ok(DynamicImage::ImageLuma8(synthetic::frame(*seed, i, *size))),
        Source::Path(_) => read_image(&listing.files[i]),
    }
}

/// Reads and decodes one image file, with an error that names it.
pub fn read_image(path: &Path) -> Result<DynamicImage> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Compressed files over 256 MiB are not photos or all-sky frames; refuse before reading.
    if meta.len() > 256 * 1024 * 1024 {
        bail!("{}: file is {} MiB, larger than the 256 MiB limit", path.display(), meta.len() >> 20);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    decode(&bytes).with_context(|| format!("{}", path.display()))
}
