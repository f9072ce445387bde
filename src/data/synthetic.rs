//! Synthetic all-sky aurora frames in the paper's four classes: the project's built-in data,
//! so the demo and the tests run with nothing downloaded.
//!
//! The frames imitate the Yellow River Station 557.7 nm imager: a grey fisheye image whose
//! circular field of view holds the whole sky (zenith at the centre, horizon at the rim),
//! airglow that brightens toward the horizon, stars, sensor noise, and one auroral form:
//!
//! * **arc** — one or two long, thin, smooth bands crossing the sky, sharp on the lower edge;
//! * **drapery** — several folded bands with fine ray structure along them (curtains);
//! * **radial** (corona) — rays converging on a point near the magnetic zenith;
//! * **hot-spot** — irregular bright patches and spots, often several together.
//!
//! Brightness, width, position and orientation vary per frame. The same `(seed, index)` always
//! gives the same frame on every platform.

use super::AURORA_CLASSES;
use crate::rng::Rng;
use image::GrayImage;
use std::f32::consts::{PI, TAU};

/// Class of frame `index` in a balanced synthetic set: classes cycle 0, 1, 2, 3, 0, …
pub fn class_of(index: usize) -> usize {
    index % AURORA_CLASSES.len()
}

/// Renders frame `index` of the set with `seed`, `size` × `size` px.
pub fn frame(seed: u64, index: usize, size: u32) -> GrayImage {
    render(class_of(index), &mut Rng::derive(seed, index as u64), size)
}

/// Smooth random field: a coarse grid of random values, bilinearly interpolated.
struct ValueNoise {
    n: usize,
    v: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, n: usize) -> Self {
        Self { n, v: (0..(n + 1) * (n + 1)).map(|_| rng.f32()).collect() }
    }

    /// `x`, `y` in [-1, 1].
    fn at(&self, x: f32, y: f32) -> f32 {
        let fx = ((x + 1.0) * 0.5).clamp(0.0, 0.9999) * self.n as f32;
        let fy = ((y + 1.0) * 0.5).clamp(0.0, 0.9999) * self.n as f32;
        let (ix, iy) = (fx as usize, fy as usize);
        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
        let (tx, ty) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
        let g = |i: usize, j: usize| self.v[j * (self.n + 1) + i];
        let a = g(ix, iy) * (1.0 - tx) + g(ix + 1, iy) * tx;
        let b = g(ix, iy + 1) * (1.0 - tx) + g(ix + 1, iy + 1) * tx;
        a * (1.0 - ty) + b * ty
    }
}

/// One band following the circle |p − c| = radius, seen from inside the sky dome.
struct Band {
    cx: f32,
    cy: f32,
    radius: f32,
    width: f32,
    /// Fold amplitude and wavenumber (along the band's angle), zero for a plain arc.
    fold_amp: f32,
    fold_k: f32,
    fold_phase: f32,
    /// Ray striation: angular frequency and depth; rays extend away from the centre `c`.
    ray_freq: f32,
    ray_depth: f32,
    ray_len: f32,
    ray_phase: Vec<f32>,
    brightness: f32,
}

impl Band {
    fn random(rng: &mut Rng, orient: f32, curtain: bool) -> Self {
        let d = rng.range(1.6, 4.0);
        // The band's centre of curvature lies far away, poleward or equatorward.
        let side = if rng.f32() < 0.5 { 0.0 } else { PI };
        let ang = orient + side + PI / 2.0;
        let offset = rng.range(-0.55, 0.55);
        Self {
            cx: d * ang.cos(),
            cy: d * ang.sin(),
            radius: d + offset,
            width: if curtain { rng.range(0.025, 0.06) } else { rng.range(0.012, 0.04) },
            fold_amp: if curtain { rng.range(0.03, 0.09) } else { rng.range(0.0, 0.008) },
            fold_k: rng.range(6.0, 16.0),
            fold_phase: rng.range(0.0, TAU),
            ray_freq: rng.range(120.0, 260.0),
            ray_depth: if curtain { rng.range(0.6, 0.95) } else { 0.0 },
            ray_len: if curtain { rng.range(0.06, 0.18) } else { 0.0 },
            ray_phase: (0..4).map(|_| rng.range(0.0, TAU)).collect(),
            brightness: rng.range(0.55, 1.0),
        }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let theta = dy.atan2(dx);
        let dist = (dx * dx + dy * dy).sqrt();
        let s = theta * self.radius;
        let fold = self.fold_amp
            * ((self.fold_k * s + self.fold_phase).sin() + 0.5 * (2.3 * self.fold_k * s + self.ray_phase[2]).sin());
        let signed = dist - self.radius - fold;
        // Sharp lower edge (toward the centre of curvature), soft upper edge, and for curtains a
        // long ray-lit tail above it.
        let core = if signed < 0.0 {
            (-(signed / (0.6 * self.width)).powi(2)).exp()
        } else {
            (-(signed / self.width).powi(2)).exp()
        };
        let tail = if self.ray_len > 0.0 && signed > 0.0 { (-signed / self.ray_len).exp() * 0.55 } else { 0.0 };
        let rays = if self.ray_depth > 0.0 {
            let f = self.ray_freq * s;
            let r = 0.5 + 0.25 * (f + self.ray_phase[0]).sin() + 0.15 * (1.7 * f + self.ray_phase[1]).sin()
                + 0.1 * (3.1 * f + self.ray_phase[2]).sin();
            1.0 - self.ray_depth + self.ray_depth * r.clamp(0.0, 1.0).powf(1.5) * 1.6
        } else {
            1.0
        };
        let along = 0.75 + 0.25 * (0.9 * s + self.ray_phase[3]).sin();
        self.brightness * along * (core + tail) * rays
    }
}

struct Corona {
    cx: f32,
    cy: f32,
    rays: Vec<(f32, f32, f32)>, // angle, angular width, intensity
    reach: f32,
    hole: f32,
    brightness: f32,
}

impl Corona {
    fn random(rng: &mut Rng) -> Self {
        let r = rng.range(0.0, 0.45);
        let a = rng.range(0.0, TAU);
        let n = 18 + rng.below(30);
        Self {
            cx: r * a.cos(),
            cy: r * a.sin(),
            rays: (0..n)
                .map(|_| (rng.range(-PI, PI), rng.range(0.03, 0.1), rng.range(0.3, 1.0)))
                .collect(),
            reach: rng.range(0.5, 1.1),
            hole: rng.range(0.08, 0.25),
            brightness: rng.range(0.55, 1.0),
        }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let d = (dx * dx + dy * dy).sqrt();
        let theta = dy.atan2(dx);
        let mut v = 0.0;
        for &(a, w, i) in &self.rays {
            let mut da = (theta - a).abs();
            if da > PI {
                da = TAU - da;
            }
            // Rays look wider where they are closer to the viewer (farther from convergence).
            let w = w * (0.6 + d);
            v += i * (-(da / w).powi(2)).exp();
        }
        let radial = (1.0 - (-(d / self.hole).powi(2)).exp()) * (-d / self.reach).exp();
        self.brightness * (v.min(1.6) + 0.25) * radial
    }
}

struct HotSpot {
    blobs: Vec<(f32, f32, f32, f32, f32, f32)>, // x, y, sx, sy, rotation, intensity
    texture: ValueNoise,
}

impl HotSpot {
    fn random(rng: &mut Rng) -> Self {
        // Patches cluster around one region of the sky, with a few strays.
        let r = rng.range(0.1, 0.7);
        let a = rng.range(0.0, TAU);
        let (gx, gy) = (r * a.cos(), r * a.sin());
        let n = 4 + rng.below(8);
        let blobs = (0..n)
            .map(|i| {
                let spread = if i < n - 2 { 0.28 } else { 0.7 };
                (
                    (gx + spread * rng.normal()).clamp(-0.9, 0.9),
                    (gy + spread * rng.normal()).clamp(-0.9, 0.9),
                    rng.range(0.05, 0.2),
                    rng.range(0.04, 0.12),
                    rng.range(0.0, PI),
                    rng.range(0.6, 1.2),
                )
            })
            .collect();
        Self { blobs, texture: ValueNoise::new(rng, 12) }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let mut v = 0.0;
        for &(bx, by, sx, sy, rot, i) in &self.blobs {
            let (dx, dy) = (x - bx, y - by);
            let (c, s) = (rot.cos(), rot.sin());
            let (u, w) = (c * dx + s * dy, -s * dx + c * dy);
            v += i * (-(u / sx).powi(2) - (w / sy).powi(2)).exp();
        }
        v.min(1.5) * (0.35 + 1.1 * self.texture.at(x, y))
    }
}

enum Form {
    Bands(Vec<Band>),
    Corona(Corona),
    HotSpot(HotSpot),
}

fn render(class: usize, rng: &mut Rng, size: u32) -> GrayImage {
    let orient = rng.range(-0.5, 0.5); // arcs run roughly east–west (north up)
    let form = match class {
        0 => Form::Bands((0..1 + rng.below(2)).map(|_| Band::random(rng, orient, false)).collect()),
        1 => Form::Bands((0..2 + rng.below(3)).map(|_| Band::random(rng, orient, true)).collect()),
        2 => Form::Corona(Corona::random(rng)),
        _ => Form::HotSpot(HotSpot::random(rng)),
    };
    let sky = rng.range(0.06, 0.2);
    let horizon_glow = rng.range(0.05, 0.25);
    let aurora_gain = rng.range(0.35, 0.85);
    let clouds = ValueNoise::new(rng, 5);
    let cloud_amp = rng.range(0.0, 0.12);
    let noise_sigma = rng.range(0.008, 0.03);
    let stars: Vec<(f32, f32, f32)> =
        (0..20 + rng.below(60)).map(|_| (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(0.1, 0.6))).collect();
    let half = size as f32 / 2.0;
    let mut img = GrayImage::new(size, size);
    for py in 0..size {
        for px in 0..size {
            let x = (px as f32 + 0.5 - half) / half;
            let y = (py as f32 + 0.5 - half) / half;
            let r = (x * x + y * y).sqrt();
            if r > 1.0 {
                continue; // outside the fisheye field of view: black
            }
            let mut v = sky + horizon_glow * r.powi(3) + cloud_amp * (clouds.at(x, y) - 0.5);
            let aurora = match &form {
                Form::Bands(bands) => bands.iter().map(|b| b.at(x, y)).sum::<f32>(),
                Form::Corona(c) => c.at(x, y),
                Form::HotSpot(h) => h.at(x, y),
            };
            // Forms near the horizon are seen through more atmosphere: dimmer and smeared.
            v += aurora_gain * aurora * (1.0 - 0.45 * r * r);
            for &(sx, sy, sb) in &stars {
                let d2 = (x - sx).powi(2) + (y - sy).powi(2);
                if d2 < 1e-4 {
                    v += sb * (-d2 * 4e4).exp();
                }
            }
            v += noise_sigma * rng.normal();
            img.put_pixel(px, py, image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]));
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_masked_and_varied() {
        let a = frame(5, 3, 64);
        assert_eq!(a, frame(5, 3, 64));
        assert_ne!(a, frame(6, 3, 64));
        // Corners are outside the field of view.
        assert_eq!(a.get_pixel(0, 0).0[0], 0);
        // Every class draws something brighter than the sky background.
        for i in 0..8 {
            let f = frame(1, i, 64);
            let max = f.pixels().map(|p| p.0[0]).max().unwrap();
            let mean = f.pixels().map(|p| p.0[0] as f32).sum::<f32>() / (64.0 * 64.0);
            assert!(max as f32 > 2.0 * mean, "frame {i}: max {max} mean {mean}");
        }
    }

    /// One frame of each class, pinned by the SHA-256 of its pixels: the demo's and the tests'
    /// figures are measured on these frames, so a change to the generator must be seen (and
    /// the figures measured again), not slip in.
    #[test]
    fn frames_are_pinned() {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for i in 0..4 {
            h.update(frame(2020, i, 128).as_raw());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "050792aac748f7d852d640e6e5a87cc813eb708f7acca470de3b62ab56ecb73c");
    }
}
