//! `aurora-hash generate`: the synthetic all-sky frames as PNG files, to look at or to train on
//! like any other class-per-folder dataset.

use anyhow::{Context, Result};
use aurora_hash::data::{AURORA_CLASSES, synthetic};
use std::path::PathBuf;

use crate::progress;
use crate::run::write_atomic;

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
}

pub fn generate(a: &GenerateArgs) -> Result<()> {
    for c in AURORA_CLASSES {
        std::fs::create_dir_all(a.out.join(c)).with_context(|| format!("cannot create {}", a.out.join(c).display()))?;
    }
    let n = a.per_class * AURORA_CLASSES.len();
    let bar = progress::bar(n as u64, "generating");
    for i in 0..n {
        let img = synthetic::frame(a.seed, i, a.size);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        let class = AURORA_CLASSES[synthetic::class_of(i)];
        write_atomic(&a.out.join(class).join(format!("synthetic-{i:05}.png")), &png)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("wrote {n} frames ({} per class, {} px) to {}", a.per_class, a.size, a.out.display());
    Ok(())
}
