//! The augmentation contact sheet every run writes (`augmentations.png`): a few training
//! frames, each followed by augmented copies made exactly as the training loop makes them, so
//! a person can see that augmented frames are still frames of their class.

use anyhow::Result;
use aurora_hash::rng::Rng;
use image::{GrayImage, Luma};
use std::path::Path;

use crate::run::{RunConfig, write_atomic};

/// Rows (frames) and copies per row.
const ROWS: usize = 8;
const COPIES: usize = 7;
const GAP: u32 = 2;

pub fn write_contact_sheet(path: &Path, pixels: &[Vec<f32>], labels: &[usize], config: &RunConfig) -> Result<()> {
    let pre = &config.preprocess;
    let s = pre.size as u32;
    // Frames spread over the classes: the first of each class, then the next of each, …
    let classes = config.classes.len();
    let mut picks = Vec::new();
    for round in 0.. {
        let before = picks.len();
        for c in 0..classes {
            if let Some(i) = labels.iter().enumerate().filter(|(_, l)| **l == c).map(|(i, _)| i).nth(round * 37) {
                if picks.len() < ROWS {
                    picks.push(i);
                }
            }
        }
        if picks.len() >= ROWS || picks.len() == before {
            break;
        }
    }
    let (w, h) = ((COPIES as u32 + 1) * (s + GAP), picks.len() as u32 * (s + GAP));
    let mut sheet = GrayImage::from_pixel(w.max(1), h.max(1), Luma([40]));
    for (row, &i) in picks.iter().enumerate() {
        for col in 0..=COPIES {
            let img = if col == 0 {
                pixels[i].clone()
            } else {
                config.train.augment.apply(&pixels[i], pre, &mut Rng::derive(config.train.seed, (row * 100 + col) as u64))
            };
            let (x0, y0) = (col as u32 * (s + GAP), row as u32 * (s + GAP));
            for y in 0..s {
                for x in 0..s {
                    // The first channel, back to intensity.
                    let v = img[(y * s + x) as usize] * pre.std + pre.mean;
                    sheet.put_pixel(x0 + x, y0 + y, Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]));
                }
            }
        }
    }
    let mut png = Vec::new();
    sheet.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png)
}
