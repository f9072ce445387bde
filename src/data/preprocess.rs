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
    /// Per-frame photometric normalisation: each frame's pixels inside the sky circle (the
    /// whole picture without the mask) are shifted and scaled to the same mean and spread
    /// (`mean` ± `std`) before the normalisation above. Nights differ in sky background
    /// (moon, twilight, haze, camera gain) far more than in aurora shape; this takes the
    /// background level and contrast out of what the network has to learn across nights.
    /// Off in bundles written before it existed.
    #[serde(default)]
    pub frame_norm: bool,
}

/// Smallest per-frame spread (in 0–1 pixel units) a frame is scaled by, so that an almost
/// uniform frame (a closed dome, a blank test card) is not blown up into noise.
const FRAME_NORM_MIN_SPREAD: f32 = 0.02;

impl Preprocess {
    pub fn new(size: usize, channels: usize, sky_mask: bool) -> Self {
        // Aurora frames are mostly dark sky; 0.25 ± 0.25 maps them near zero mean, unit range.
        Self { size, channels, sky_mask, mean: 0.25, std: 0.25, frame_norm: false }
    }

    /// `new` with per-frame normalisation on or off.
    pub fn with_frame_norm(mut self, on: bool) -> Self {
        self.frame_norm = on;
        self
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
        if self.frame_norm {
            self.normalise_frame(&mut out, mask.as_deref());
        }
        out
    }

    /// Maps the unmasked pixels of normalised `out` to mean 0 and spread 1 per frame (all
    /// channels together, so colours keep their balance); masked pixels stay as they are.
    /// Augmentation calls it again after its changes, so training inputs obey it too.
    pub(crate) fn normalise_frame(&self, out: &mut [f32], mask: Option<&[bool]>) {
        let n = self.size * self.size;
        let inside = |i: usize| mask.is_none_or(|m| m[i % n]);
        let (mut sum, mut sq, mut count) = (0f64, 0f64, 0usize);
        for (i, &v) in out.iter().enumerate() {
            if inside(i) {
                sum += v as f64;
                sq += (v as f64) * (v as f64);
                count += 1;
            }
        }
        if count == 0 {
            return;
        }
        let mean = sum / count as f64;
        // In normalised units one pixel unit (0–1) is 1 / std.
        let floor = (FRAME_NORM_MIN_SPREAD / self.std) as f64;
        let spread = (sq / count as f64 - mean * mean).max(0.0).sqrt().max(floor);
        for (i, v) in out.iter_mut().enumerate() {
            if inside(i) {
                *v = ((*v as f64 - mean) / spread) as f32;
            }
        }
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

    /// The same sky seen brighter and with more contrast (another night's background and
    /// gain) gives the same input with per-frame normalisation, and different ones without.
    #[test]
    fn frame_norm_removes_background_and_gain_and_keeps_the_mask() {
        let sky = |offset: f32, gain: f32| {
            DynamicImage::ImageLuma8(image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(offset + gain * ((x * 7 + y * 3) % 16) as f32).round() as u8])))
        };
        let on = Preprocess::new(16, 1, true).with_frame_norm(true);
        let (a, b) = (on.apply(&sky(20.0, 4.0)), on.apply(&sky(60.0, 8.0)));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3));
        let mask = on.mask();
        let inside: Vec<f32> = a.iter().zip(&mask).filter(|(_, m)| **m).map(|(v, _)| *v).collect();
        let mean = inside.iter().sum::<f32>() / inside.len() as f32;
        let var = inside.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / inside.len() as f32;
        assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "mean {mean}, variance {var}");
        assert!(a.iter().zip(&mask).filter(|(_, m)| !**m).all(|(v, _)| (v + 1.0).abs() < 1e-6), "masked corners stay black");
        let off = Preprocess::new(16, 1, true);
        assert!(off.apply(&sky(20.0, 4.0)).iter().zip(&off.apply(&sky(60.0, 8.0))).any(|(x, y)| (x - y).abs() > 0.5));
        // A uniform frame is not divided by zero.
        assert!(on.apply(&sky(50.0, 0.0)).iter().all(|v| v.is_finite()));
        // Bundles written before the field existed read back with it off.
        let old = r#"{"size":16,"channels":1,"sky_mask":true,"mean":0.25,"std":0.25}"#;
        assert_eq!(serde_json::from_str::<Preprocess>(old).unwrap(), off);
    }
}
