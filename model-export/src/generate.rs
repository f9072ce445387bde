//! `aurora-hash generate`: the synthetic all-sky frames as PNG files, to look at or to train on
//! like any other class-per-folder dataset.

use anyhow::Result;
use aurora_hash::data::{AURORA_CLASSES, synthetic};
use std::path::{Path, PathBuf};

use crate::out_folder::OutFolder;
use crate::progress;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Output folder (class sub-folders are created in it).
    #[arg(long, default_value = "synthetic")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 32)]
    pub per_class: usize,
    /// Side in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// Write into a folder that holds other files (frames of the same names are replaced;
    /// nothing else is removed).
    #[arg(long)]
    pub force: bool,
}

/// A folder an older version generated: only class folders of `synthetic-NNNNN.png` frames.
fn generated_before(root: &Path) -> bool {
    let Ok(classes) = std::fs::read_dir(root) else { return false };
    classes.filter_map(|e| e.ok()).all(|c| {
        AURORA_CLASSES.contains(&c.file_name().to_string_lossy().as_ref())
            && std::fs::read_dir(c.path()).is_ok_and(|files| {
                files.filter_map(|f| f.ok()).all(|f| {
                    let name = f.file_name().to_string_lossy().into_owned();
                    name.starts_with("synthetic-") && name.ends_with(".png")
                })
            })
    })
}

pub fn generate(a: &GenerateArgs) -> Result<()> {
    // The folder's marker lists the frames this tool wrote: a regeneration with fewer frames
    // removes only those, and a folder of the user's files is refused unless --force.
    crate::out_folder::set_force(a.force);
    let mut out = OutFolder::open(&a.out, "synthetic frames", generated_before)?;
    let n = a.per_class * AURORA_CLASSES.len();
    let name = |i: usize| format!("{}/synthetic-{i:05}.png", AURORA_CLASSES[synthetic::class_of(i)]);
    out.plan((0..n).map(name))?;
    let bar = progress::bar(n as u64, "generating");
    for i in 0..n {
        let img = synthetic::frame(a.seed, i, a.size);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        out.put(&name(i), &png)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.finish()?;
    eprintln!("wrote {n} frames ({} per class, {} px) to {}", a.per_class, a.size, a.out.display());
    Ok(())
}
