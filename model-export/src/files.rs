//! Reading what the user points the tool at, and finding images in a folder: the one place
//! where every command meets the file system on the way in.
//!
//! Two rules hold for every command:
//! - Only regular files are read, and never more than a stated size. A FIFO named `x.png`
//!   would block `read` forever, and a symlink to `/dev/zero` would be read until memory ran
//!   out; both are refused by name before a byte is read, and a file that grows while it is
//!   read is cut off at the cap and refused.
//! - A bad file among good ones is reported by name and skipped; the command carries on and
//!   says at the end how many it skipped. `--strict` makes the first bad file an error.

use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};

/// An image file: compressed, a phone photo is a few MiB and an all-sky frame well under one.
pub const IMAGE_CAP: u64 = 256 << 20;
/// JSON and CSV: a manifest of a million images is about 100 MiB.
pub const TEXT_CAP: u64 = 512 << 20;
/// Weights and code indexes: a full-width f32 model is ~130 MB; 10 M codes with ids ~1 GB.
pub const BINARY_CAP: u64 = 4 << 30;

/// What a path is, for a refusal that says why: "is a FIFO", "is a folder".
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Reads a whole regular file of at most `cap` bytes. The error names the file and the
/// problem; nothing is read from a file that is not regular (the check follows symlinks, so a
/// link to a device is refused too).
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{}: is {}, not a file that can be read", path.display(), kind(&meta));
    }
    if meta.len() > cap {
        bail!("{}: file is {}, larger than the {} limit", path.display(), size(meta.len()), size(cap));
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > cap {
        bail!("{}: file grew past the {} limit while being read", path.display(), size(cap));
    }
    Ok(bytes)
}

/// [`read_capped`] for UTF-8 text (JSON, CSV).
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_capped(path, TEXT_CAP)?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not UTF-8 text (byte {} is not valid)", path.display(), e.utf8_error().valid_up_to()))
}

/// Bytes as a person reads a size: "3.2 MiB".
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

const IMAGE_EXTS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"];

/// Whether the file name has an extension of a format the decoder reads.
pub fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The extensions tried when a manifest names an image without one.
pub fn image_extensions() -> &'static [&'static str] {
    &IMAGE_EXTS
}

/// Files passed over, each with the reason, in the order met.
#[derive(Debug, Default)]
pub struct Skipped(pub Vec<(PathBuf, String)>);

impl Skipped {
    /// Records a bad file: an error at once under `--strict`, else a line on stderr.
    pub fn add(&mut self, path: &Path, why: impl std::fmt::Display, strict: bool) -> Result<()> {
        let why = why.to_string();
        // The reason usually starts with the path already (the readers name the file).
        let shown = if why.starts_with(&path.display().to_string()) { why.clone() } else { format!("{}: {why}", path.display()) };
        if strict {
            bail!("{shown} (--strict: stopping at the first bad file)");
        }
        eprintln!("skipped {}", crate::out_folder::printable(&shown));
        self.0.push((path.to_path_buf(), why));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The closing line: "3 files skipped (named above)", or nothing when none were.
    pub fn summary(&self, what: &str) -> Option<String> {
        match self.0.len() {
            0 => None,
            1 => Some(format!("{what}: 1 file skipped (named above)")),
            n => Some(format!("{what}: {n} files skipped (named above)")),
        }
    }
}

/// Every image file under `root`, sorted by path, and the entries passed over: symlink loops,
/// unreadable folders, and things named like images that are not regular files (a FIFO, a
/// device, a link to either) or whose names are not UTF-8. Symlinks are followed (a dataset is often a folder of links)
/// and each real folder is visited once, so a `loop -> .` link cannot multiply the images or
/// overflow the stack. Hidden entries (`.name`) are passed over silently.
pub fn find_images(root: &Path, strict: bool) -> Result<(Vec<PathBuf>, Skipped)> {
    let meta = std::fs::metadata(root).with_context(|| format!("cannot read folder {}", root.display()))?;
    if !meta.is_dir() {
        bail!("{}: is {}, expected a folder of images", root.display(), kind(&meta));
    }
    let mut files = Vec::new();
    let mut skipped = Skipped::default();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) if !is_image(e.path()) => {}
            // Ids (in an index, a run's split) are text: two names that differ only in bytes
            // that are not UTF-8 would become the same id, so such a name is passed over.
            Ok(e) if e.path().to_str().is_none() => {
                skipped.add(e.path(), "the name is not valid UTF-8 (image ids are text): rename the file", strict)?
            }
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(e) => {
                let why = std::fs::metadata(e.path()).map(|m| format!("is {}", kind(&m))).unwrap_or_else(|err| err.to_string());
                skipped.add(e.path(), why, strict)?;
            }
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                let why = if err.loop_ancestor().is_some() {
                    "a symlink back to a folder above it (a loop): not followed".to_string()
                } else {
                    err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string())
                };
                skipped.add(&path, why, strict)?;
            }
        }
    }
    Ok((files, skipped))
}

/// The immediate sub-folders of `root` (following symlinks), sorted, hidden ones left out.
pub fn sub_folders(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot read folder {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aurora-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_only_regular_files_within_the_cap() {
        let d = scratch("cap");
        std::fs::write(d.join("a.json"), b"12345").unwrap();
        assert_eq!(read_capped(&d.join("a.json"), 5).unwrap(), b"12345");
        let err = read_capped(&d.join("a.json"), 4).unwrap_err().to_string();
        assert!(err.contains("a.json") && err.contains("larger than the 4 bytes limit"), "{err}");
        let err = read_capped(&d, 100).unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/dev/zero", d.join("zero.png")).unwrap();
            let err = read_capped(&d.join("zero.png"), IMAGE_CAP).unwrap_err().to_string();
            assert!(err.contains("zero.png") && err.contains("a device"), "{err}");
            let fifo = d.join("pipe.png");
            assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
            // Would block forever if it were opened.
            let err = read_capped(&fifo, IMAGE_CAP).unwrap_err().to_string();
            assert!(err.contains("pipe.png") && err.contains("FIFO"), "{err}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn walker_survives_loops_and_reports_non_files() {
        let d = scratch("walk");
        std::fs::create_dir_all(d.join("arc")).unwrap();
        std::fs::write(d.join("arc/1.png"), b"x").unwrap();
        std::fs::write(d.join("b.jpg"), b"x").unwrap();
        std::fs::write(d.join("notes.txt"), b"x").unwrap();
        std::fs::create_dir_all(d.join("folder.png")).unwrap();
        std::os::unix::fs::symlink(".", d.join("arc/loop")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("zero.png")).unwrap();
        let (files, skipped) = find_images(&d, false).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.strip_prefix(&d).unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["arc/1.png", "b.jpg"]);
        let why: Vec<String> = skipped.0.iter().map(|(p, w)| format!("{} {w}", p.file_name().unwrap().to_string_lossy())).collect();
        assert_eq!(skipped.len(), 2, "{why:?}");
        assert!(why.iter().any(|w| w.starts_with("loop") && w.contains("loop")), "{why:?}");
        assert!(why.iter().any(|w| w.starts_with("zero.png") && w.contains("device")), "{why:?}");
        assert!(find_images(&d, true).is_err(), "--strict stops at the first");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
