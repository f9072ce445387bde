//! Writing where the user says without destroying what the tool did not write.
//!
//! A folder the tool writes many files into (a site, a bundle, generated frames, a run) holds
//! a marker, [`MARKER`], listing what the tool wrote there. A folder is written into only when
//! it is missing, empty, or holds that marker (or, for a bundle, a manifest an older version
//! wrote); anything else is refused with a list of what is there, unless `--force` is given,
//! and even then nothing is removed. Files are only ever removed by name from the marker's
//! list, never through a symlink, never outside the folder.
//!
//! The names about to be written are added to the marker before any of them is, so a build
//! killed at any moment leaves a folder the next run recognises, completes and cleans.
//! A single output file (an index, a one-file site) is replaced only when it is one the tool
//! wrote, which is told from its content.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::run::write_atomic;

/// The marker is a short list of names; anything larger is not ours.
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// `text` with every control character written as a visible escape, so a file name cannot
/// rewrite the terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

pub const MARKER: &str = ".aurora-hash-files.json";

static FORCE: AtomicBool = AtomicBool::new(false);

/// `--force`: write into a folder that holds other files, or replace a file the tool did not
/// write (files of the same names are overwritten; nothing else is removed).
pub fn set_force(force: bool) {
    FORCE.store(force, Ordering::Relaxed);
}

/// Whether `--force` was given.
pub fn forced() -> bool {
    FORCE.load(Ordering::Relaxed)
}

#[derive(Serialize, Deserialize)]
struct Marker {
    /// What the folder is ("site", "bundle", …): a site is not rebuilt over a bundle.
    kind: String,
    /// Paths relative to the folder, `/`-separated.
    files: BTreeSet<String>,
}

/// A folder being written, with what its last build wrote.
pub struct OutFolder {
    root: PathBuf,
    kind: &'static str,
    previous: BTreeSet<String>,
    planned: BTreeSet<String>,
    pub written: usize,
    pub unchanged: usize,
}

fn shown(p: &Path) -> String {
    printable(&p.display().to_string())
}

impl OutFolder {
    /// Opens `root` for writing files of `kind`. `legacy` tells whether a folder without the
    /// marker was nevertheless written by an older version of this tool.
    pub fn open(root: &Path, kind: &'static str, legacy: impl Fn(&Path) -> bool) -> Result<Self> {
        let mut previous = BTreeSet::new();
        match std::fs::symlink_metadata(root) {
            Err(_) => std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", shown(root)))?,
            Ok(_) if !root.is_dir() => bail!("{}: exists and is not a folder", shown(root)),
            Ok(_) => {
                let marker = root.join(MARKER);
                if marker.exists() {
                    let m: Marker = serde_json::from_slice(&crate::files::read_capped(&marker, MAX_TEXT_BYTES)?)
                        .with_context(|| format!("{}: damaged; remove it and give --force to write here", shown(&marker)))?;
                    if m.kind != kind && !forced() {
                        bail!("{} holds a {} this tool wrote, not a {kind}: choose another folder, or give --force", shown(root), m.kind);
                    }
                    previous = m.files;
                } else if !legacy(root) {
                    refuse_foreign(root, kind)?;
                }
            }
        }
        Ok(Self { root: root.to_path_buf(), kind, previous, planned: BTreeSet::new(), written: 0, unchanged: 0 })
    }

    /// Declares the files this build writes (relative, `/`-separated), recording them in the
    /// marker before any is written.
    pub fn plan(&mut self, names: impl IntoIterator<Item = String>) -> Result<()> {
        for name in names {
            self.target(&name)?;
            self.planned.insert(name);
        }
        self.write_marker(self.previous.union(&self.planned).cloned().collect())
    }

    fn write_marker(&self, files: BTreeSet<String>) -> Result<()> {
        let m = Marker { kind: self.kind.into(), files };
        write_atomic(&self.root.join(MARKER), &serde_json::to_vec_pretty(&m)?)
    }

    /// Where `name` is under the folder, refused when it would leave it: `..`, an absolute
    /// path, or a symlink (or file) where a folder of the path should be.
    fn target(&self, name: &str) -> Result<PathBuf> {
        let rel = Path::new(name);
        if name.is_empty() || name == MARKER || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("`{}`: not a plain path inside {}", printable(name), shown(&self.root));
        }
        let mut at = self.root.clone();
        let parts: Vec<_> = rel.components().collect();
        for part in &parts[..parts.len() - 1] {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => bail!("{}: a symlink where {} writes a folder: not written through", shown(&at), self.kind),
                Ok(m) if !m.is_dir() => bail!("{}: a file where {} writes a folder", shown(&at), self.kind),
                _ => {}
            }
        }
        Ok(self.root.join(rel))
    }

    /// Writes `bytes` as `name` (declared with [`OutFolder::plan`]) unless it already holds
    /// exactly them. Returns whether it wrote.
    pub fn put(&mut self, name: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.prepare(name)?;
        if same_content(&path, bytes) {
            self.unchanged += 1;
            return Ok(false);
        }
        write_atomic(&path, bytes)?;
        self.written += 1;
        Ok(true)
    }

    /// Whether `name` is there as a regular file (a compressed copy kept from the last build).
    pub fn has(&self, name: &str) -> bool {
        self.target(name).is_ok_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Copies the file `source` to `name`, or leaves it when a file of the same size is
    /// there already (originals can be large, and are not read again to compare).
    pub fn put_copy(&mut self, name: &str, source: &Path, max: u64) -> Result<()> {
        let path = self.prepare(name)?;
        let size = |p: &Path| std::fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| m.len());
        let target_is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if target_is_file && size(&path).is_some() && size(&path) == size(source) {
            self.unchanged += 1;
            return Ok(());
        }
        write_atomic(&path, &crate::files::read_capped(source, max)?)?;
        self.written += 1;
        Ok(())
    }

    fn prepare(&self, name: &str) -> Result<PathBuf> {
        if !self.planned.contains(name) {
            bail!("internal: `{name}` written to {} without being planned", shown(&self.root));
        }
        let path = self.target(name)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", shown(parent)))?;
        }
        if path.is_dir() && !std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            bail!("{}: a folder where {} writes a file", shown(&path), self.kind);
        }
        Ok(path)
    }

    /// Records exactly this build's files and removes those of the last build it did not
    /// write again (regular files only, by name), then folders that left empty. Returns how
    /// many files were removed.
    pub fn finish(self) -> Result<usize> {
        self.write_marker(self.planned.clone())?;
        self.remove_leftovers();
        let mut removed = 0;
        for name in self.previous.difference(&self.planned) {
            let Ok(path) = self.target(name) else { continue };
            if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", shown(&path)))?;
            removed += 1;
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Ok(removed)
    }
}

impl OutFolder {
    /// Temporary files a killed build left beside the files it was writing (`.NAME.tmp-PID`,
    /// `.NAME.staged-PID`): this tool's, by their names, and never published.
    fn remove_leftovers(&self) {
        let mut by_dir: std::collections::BTreeMap<PathBuf, BTreeSet<String>> = Default::default();
        for name in self.planned.iter().map(String::as_str).chain([MARKER]) {
            let path = self.root.join(name);
            if let (Some(dir), Some(file)) = (path.parent(), path.file_name()) {
                by_dir.entry(dir.to_path_buf()).or_default().insert(file.to_string_lossy().into_owned());
            }
        }
        for (dir, names) in by_dir {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let ours = n.strip_prefix('.').and_then(|rest| {
                    let (file, pid) = rest.rsplit_once(".tmp-").or_else(|| rest.rsplit_once(".staged-"))?;
                    (names.contains(file) && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(())
                });
                if ours.is_some() && e.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Whether the regular file at `path` (not a symlink) holds exactly `bytes`.
fn same_content(path: &Path, bytes: &[u8]) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
        && crate::files::read_capped(path, bytes.len() as u64).is_ok_and(|old| old == bytes)
}

/// Refuses a folder that holds anything, unless `--force`: for a folder that is not (as far as
/// the caller can tell) one this tool wrote. The message names what is there.
fn refuse_foreign(root: &Path, kind: &str) -> Result<()> {
    if forced() {
        return Ok(());
    }
    let found = entries(root)?;
    if found.is_empty() {
        return Ok(());
    }
    bail!(
        "{} is not empty and not a {kind} this tool wrote (it holds {}): choose an empty or new folder, or give --force to write into it (files of the same names are replaced; nothing else is removed)",
        shown(root),
        listing(&found)
    )
}

/// The first few of `names` for a message: `` `a`, `b` and 3 more ``.
pub fn listing(names: &[String]) -> String {
    let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
    names.iter().take(5).map(|n| format!("`{}`", printable(n))).collect::<Vec<_>>().join(", ") + &more
}

/// For commands that write a few files of fixed names into a folder that other commands add
/// to (`export`: a bundle, to which `index build` adds the archive): the folder must be
/// missing, empty, or recognised by `ours` as one this tool wrote, unless `--force`.
pub fn check_folder(root: &Path, kind: &str, ours: impl Fn(&Path) -> bool) -> Result<()> {
    match std::fs::symlink_metadata(root) {
        Err(_) => Ok(()),
        Ok(_) if !root.is_dir() => bail!("{}: exists and is not a folder", shown(root)),
        Ok(_) if ours(root) => Ok(()),
        Ok(_) => refuse_foreign(root, kind),
    }
}

/// Names in `dir`, sorted.
pub fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", shown(dir)))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    v.sort();
    Ok(v)
}

/// Refuses to replace `path` unless it is missing, `--force` is given, or `ours` recognises
/// the file's first `peek` bytes as one this tool wrote (`what` names it in the message).
pub fn check_replace(path: &Path, what: &str, peek: u64, ours: impl Fn(&[u8]) -> bool) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if path.is_dir() {
        bail!("{}: a folder, not {what}", shown(path));
    }
    if forced() {
        return Ok(());
    }
    let head = if meta.is_file() { read_prefix(path, peek).ok() } else { None };
    if head.is_some_and(|h| ours(&h)) {
        return Ok(());
    }
    bail!("{} exists and is not {what} this tool wrote: choose another path, or give --force to replace it", shown(path))
}

fn read_prefix(path: &Path, n: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(n).read_to_end(&mut out)?;
    Ok(out)
}

