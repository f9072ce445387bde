//! Finding and loading the images of a dataset: the built-in synthetic set, a class-per-folder
//! tree, the CIFAR-10 `train/` + `test/` layout, or a CSV manifest (`name,class,…`).

use anyhow::{Context, Result, bail};
use aurora_hash::data::decode::decode;
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::{AURORA_CLASSES, Sample, synthetic};
use image::DynamicImage;
use std::path::{Path, PathBuf};

use crate::files::{IMAGE_CAP, Skipped, find_images, image_extensions, read_capped, read_text, sub_folders};
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

/// Lists a dataset. Files that cannot be images (a FIFO, a device, a symlink loop) and manifest
/// rows without a file are reported by name and left out, or stop the listing under `strict`.
pub fn list(source: &Source, strict: bool) -> Result<Listing> {
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
        Source::Path(p) if p.is_file() => list_manifest(source, p, strict),
        Source::Path(p) => {
            let (train, test) = (p.join("train"), p.join("test"));
            if train.is_dir() && test.is_dir() {
                let mut l = list_class_folders(source, &train, "train/", strict)?;
                let t = list_class_folders(source, &test, "test/", strict)?;
                if t.classes != l.classes {
                    bail!("{}: train/ and test/ have different class folders", p.display());
                }
                let start = l.samples.len();
                l.samples.extend(t.samples);
                l.files.extend(t.files);
                l.given_test = Some((start..l.samples.len()).collect());
                Ok(l)
            } else {
                list_class_folders(source, p, "", strict)
            }
        }
    }
}

fn list_class_folders(source: &Source, root: &Path, prefix: &str, strict: bool) -> Result<Listing> {
    let dirs = sub_folders(root)?;
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
    let mut skipped = Skipped::default();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        let (found, bad) = find_images(&dir, strict)?;
        skipped.0.extend(bad.0);
        if found.is_empty() {
            bail!("class folder {} has no images", dir.display());
        }
        for f in found {
            let name = f.strip_prefix(&dir).unwrap_or(&f).to_string_lossy().replace('\\', "/");
            samples.push(Sample::new(format!("{prefix}{class}/{name}"), Some(label)));
            files.push(f);
        }
    }
    if let Some(line) = skipped.summary(&root.display().to_string()) {
        eprintln!("{line}");
    }
    Ok(Listing { source: source.clone(), classes, samples, files, given_test: None })
}

/// `name,class,…` with a header row. `name` is a path relative to the manifest's folder, with or
/// without extension, or a bare name found under `<class>/` there (the YRS layout).
fn list_manifest(source: &Source, csv_path: &Path, strict: bool) -> Result<Listing> {
    let text = read_text(csv_path).with_context(|| format!("cannot read manifest {}", csv_path.display()))?;
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = reader.headers().with_context(|| format!("{}: not a CSV manifest", csv_path.display()))?.clone();
    let ni = header.iter().position(|c| c == "name" || c == "path");
    let ci = header.iter().position(|c| c == "class" || c == "label");
    let (Some(ni), Some(ci)) = (ni, ci) else {
        bail!(
            "{}: the header must have `name` (or `path`) and `class` columns, found `{}`",
            csv_path.display(),
            header.iter().collect::<Vec<_>>().join(",")
        );
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: not a CSV manifest", csv_path.display()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let (Some(name), Some(class)) = (record.get(ni), record.get(ci)) else {
            bail!("{}:{line}: expected at least {} columns", csv_path.display(), ni.max(ci) + 1);
        };
        if name.is_empty() || class.is_empty() {
            bail!("{}:{line}: empty `{}`", csv_path.display(), if name.is_empty() { "name" } else { "class" });
        }
        rows.push((name.to_string(), class.to_string(), line));
    }
    if rows.is_empty() {
        bail!("{}: the manifest lists no images", csv_path.display());
    }
    let mut names: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        bail!("{}: only one class (`{}`); classification needs at least two", csv_path.display(), names[0]);
    }
    let classes = order_classes(names);
    let mut samples = Vec::new();
    let mut files = Vec::new();
    let mut skipped = Skipped::default();
    for (name, class, line) in rows {
        let label = classes.iter().position(|c| *c == class).unwrap();
        match resolve(base, &name, &class) {
            Some(file) => {
                samples.push(Sample::new(name, Some(label)));
                files.push(file);
            }
            None => skipped.add(csv_path, format!("{}:{line}: no image file found for `{name}`", csv_path.display()), strict)?,
        }
    }
    if samples.is_empty() {
        bail!("{}: none of the images it lists were found", csv_path.display());
    }
    if let Some(line) = skipped.summary(&csv_path.display().to_string()) {
        eprintln!("{line}");
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
        for ext in image_extensions() {
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
    load_each(listing, which, pre, what).into_iter().collect()
}

/// [`load_pixels`] that passes over the images it cannot read or decode (each reported by
/// name, or an error under `strict`): the pixels of the good ones and their positions in
/// `which`.
pub fn load_pixels_skipping(
    listing: &Listing,
    which: &[usize],
    pre: &Preprocess,
    what: &str,
    strict: bool,
) -> Result<(Vec<Vec<f32>>, Vec<usize>, Skipped)> {
    let mut pixels = Vec::with_capacity(which.len());
    let mut kept = Vec::with_capacity(which.len());
    let mut skipped = Skipped::default();
    for (k, r) in load_each(listing, which, pre, what).into_iter().enumerate() {
        match r {
            Ok(p) => {
                pixels.push(p);
                kept.push(k);
            }
            Err(e) => {
                let i = which[k];
                let name = listing.files.get(i).cloned().unwrap_or_else(|| PathBuf::from(&listing.samples[i].id));
                skipped.add(&name, format!("{e:#}"), strict)?;
            }
        }
    }
    Ok((pixels, kept, skipped))
}

fn load_each(listing: &Listing, which: &[usize], pre: &Preprocess, what: &str) -> Vec<Result<Vec<f32>>> {
    let bar = progress::bar(which.len() as u64, what);
    let load_one = |i: usize| -> Result<Vec<f32>> {
        let img = load_image(listing, i)?;
        Ok(pre.apply(&img))
    };
    // One worker per core (up to 8): decoding is the slow part.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunk = which.len().div_ceil(workers).max(1);
    let results: Vec<Vec<Result<Vec<f32>>>> = std::thread::scope(|s| {
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
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("loader thread panicked")).collect()
    });
    bar.finish_and_clear();
    results.into_iter().flatten().collect()
}

pub fn load_image(listing: &Listing, i: usize) -> Result<DynamicImage> {
    match &listing.source {
        Source::Synthetic { size, seed, .. } => Ok(DynamicImage::ImageLuma8(synthetic::frame(*seed, i, *size))),
        Source::Path(_) => read_image(&listing.files[i]),
    }
}

/// Reads and decodes one image file, with an error that names it.
pub fn read_image(path: &Path) -> Result<DynamicImage> {
    let bytes = read_capped(path, IMAGE_CAP)?;
    decode(&bytes).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_manifest_with_bom_quotes_and_extra_columns() {
        let dir = std::env::temp_dir().join(format!("aurora-hash-csv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("arc")).unwrap();
        std::fs::create_dir_all(dir.join("radial")).unwrap();
        let png = |p: PathBuf| image::GrayImage::new(4, 4).save(p).unwrap();
        png(dir.join("arc/a, first.png"));
        png(dir.join("radial/N20040101G120000.png"));
        // A byte-order mark (spreadsheets write one), a quoted name holding a comma, columns in
        // another order with an extra one, a blank line, padded cells.
        let csv = dir.join("labels.csv");
        std::fs::write(&csv, "\u{feff}note,class,name\n\"x, y\",arc,\"a, first.png\"\n\n  seen , radial ,N20040101G120000.png  \n").unwrap();
        let listing = list(&Source::Path(csv.clone()), true).unwrap();
        assert_eq!(listing.classes, ["arc", "radial"]);
        let mut ids: Vec<(&str, Option<usize>)> = listing.samples.iter().map(|s| (s.id.as_str(), s.label)).collect();
        ids.sort();
        assert_eq!(ids, [("N20040101G120000.png", Some(1)), ("a, first.png", Some(0))]);
        // A header without the needed columns is named, not guessed.
        std::fs::write(&csv, "file,kind\na.png,arc\n").unwrap();
        let Err(e) = list(&Source::Path(csv.clone()), true) else { panic!("a header without `name` was accepted") };
        let e = format!("{e:#}");
        assert!(e.contains("labels.csv") && e.contains("`name`"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
