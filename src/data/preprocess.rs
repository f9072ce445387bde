//! Image → model input. The browser calls exactly this code, so a photo gives the same input
//! tensor (and so the same code) in both places.

use image::{DynamicImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

/// How an image becomes a `channels × size × size` input. Saved with the weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Preprocess {
    /// Side of the square input in pixels.
    pub size: usize,
    /// 1 for grey all-sky frames, 3 for colour photos.
    pub channels: usize,
    /// Black out everything outside the inscribed circle (the all-sky camera's field of view).
    /// Off for ordinary photos.
    pub sky_mask: bool,
    /// Normalisation: `(pixel / 255 − mean) / std`, the same for every channel.
    pub mean: f32,
    pub std: f32,
}

impl Preprocess {
    pub fn new(size: usize, channels: usize, sky_mask: bool) -> Self {
        // Aurora frames are mostly dark sky; 0.25 ± 0.25 maps them near zero mean, unit range.
        Self { size, channels, sky_mask, mean: 0.25, std: 0.25 }
    }

    /// Centre-crops to a square (an all-sky frame already is one), resizes, and returns the
    /// normalised pixels in CHW order.
    pub fn apply(&self, img: &DynamicImage) -> Vec<f32> {
        let (w, h) = (img.width(), img.height());
        let side = w.min(h);
        let cropped = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
        let s = self.size as u32;
        let resized = cropped.resize_exact(s, s, FilterType::Triangle);
        let n = self.size * self.size;
        let mut out = vec![0f32; self.channels * n];
        let mask = self.sky_mask.then(|| self.mask());
        match self.channels {
            1 => {
                let g = resized.to_luma8();
                for (i, p) in g.pixels().enumerate() {
                    out[i] = self.norm(p.0[0], mask.as_ref().is_some_and(|m| !m[i]));
                }
            }
            _ => {
                let rgb = resized.to_rgb8();
                for (i, p) in rgb.pixels().enumerate() {
                    let masked = mask.as_ref().is_some_and(|m| !m[i]);
                    for c in 0..3 {
                        out[c * n + i] = self.norm(p.0[c], masked);
                    }
                }
            }
        }
        out
    }

    fn norm(&self, v: u8, masked: bool) -> f32 {
        let x = if masked { 0.0 } else { v as f32 / 255.0 };
        (x - self.mean) / self.std
    }

    /// Which pixels lie inside the sky circle (row-major), whether or not masking is on.
    pub fn mask(&self) -> Vec<bool> {
        let s = self.size as f32;
        let c = (s - 1.0) / 2.0;
        let r2 = (s / 2.0) * (s / 2.0);
        (0..self.size * self.size)
            .map(|i| {
                let (x, y) = ((i % self.size) as f32 - c, (i / self.size) as f32 - c);
                x * x + y * y <= r2
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_resizes_masks_and_normalises() {
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(40, 20, image::Luma([255])));
        let p = Preprocess::new(8, 1, true);
        let x = p.apply(&img);
        assert_eq!(x.len(), 64);
        // Centre is inside the sky circle: (1 − 0.25) / 0.25 = 3. Corner is masked: −1.
        assert!((x[4 * 8 + 4] - 3.0).abs() < 1e-6);
        assert!((x[0] + 1.0).abs() < 1e-6);
        let rgb = Preprocess::new(4, 3, false).apply(&img);
        assert_eq!(rgb.len(), 48);
        assert!(rgb.iter().all(|v| (v - 3.0).abs() < 1e-6));
    }
}
