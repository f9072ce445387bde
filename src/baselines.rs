//! Hashing baselines of the paper's Table 6 that need no training of their own, computed on
//! the trained network's fc7 features so they share its data, split and protocol:
//!
//! * **LSH** (Charikar 2002): signs of random Gaussian projections of the centred features;
//! * **ITQ** (Gong & Lazebnik 2011): PCA to N dimensions, then the rotation that minimises the
//!   quantisation error ‖B − VR‖, found by alternating B = sign(VR) and an orthogonal
//!   Procrustes step;
//! * **class codes**: the trivial baseline every deep-hashing result should beat, one random
//!   code per class, each image getting its predicted class's code;
//! * **MAC** and **R-MAC** (Tolias et al. 2016), the real-valued aurora retrieval baselines of
//!   Table 5: the maximum of each conv5 channel over the whole map, or over square regions at
//!   three scales (each region's vector L2-normalised, then summed), ranked by cosine
//!   similarity. R-MAC's PCA whitening is left out, so there is nothing to learn.
//!
//! KSH and CNNH, which learn from the labels, and HE and VLAD, which aggregate local
//! descriptors, are in their own modules.
//!
//! Features are row-major `n × dim` slices. The linear algebra is small (dim ≤ a few
//! thousand, N ≤ 64), so plain loops do: a covariance, a block power iteration with
//! Gram–Schmidt for the principal directions, and Newton–Schulz for the polar factor.

use crate::hashing::{CodeSet, words_for};
use crate::rng::Rng;

pub mod cnnh;
pub mod ksh;
pub mod local;
pub use ksh::Ksh;

/// A linear hash: bit j of x is ((x − mean) · w_j ≥ 0).
#[derive(Clone, Debug)]
pub struct Projection {
    pub dim: usize,
    pub bits: usize,
    pub mean: Vec<f32>,
    /// `dim × bits`, row-major: column j is w_j.
    pub w: Vec<f32>,
}

impl Projection {
    pub fn encode(&self, feats: &[f32]) -> CodeSet {
        let n = feats.len() / self.dim;
        let mut words = Vec::with_capacity(n * words_for(self.bits));
        let mut proj = vec![0f32; self.bits];
        for row in feats.chunks_exact(self.dim) {
            proj.iter_mut().for_each(|p| *p = 0.0);
            for (k, (&x, &m)) in row.iter().zip(&self.mean).enumerate() {
                let xc = x - m;
                for (p, &w) in proj.iter_mut().zip(&self.w[k * self.bits..(k + 1) * self.bits]) {
                    *p += xc * w;
                }
            }
            push_signs(&mut words, proj.iter().map(|&p| p as f64), self.bits);
        }
        CodeSet::from_words(self.bits, words).expect("whole codes")
    }
}

/// Appends one packed code whose bit j is (projection j ≥ 0), as [`CodeSet`] lays codes out.
fn push_signs(words: &mut Vec<u64>, projections: impl Iterator<Item = f64>, bits: usize) {
    let mut code = vec![0u64; words_for(bits)];
    for (j, p) in projections.enumerate() {
        if p >= 0.0 {
            code[j / 64] |= 1 << (j % 64);
        }
    }
    words.extend(code);
}

/// One backtracking step of an iterative optimiser: `attempt(step)` returns the improved state,
/// or `None` when the step overshoots; the step is halved until it succeeds (at most `tries`
/// times) and grown by half after a success. `None` means no step improved: converged.
fn backtrack<T>(step: &mut f64, tries: usize, mut attempt: impl FnMut(f64) -> Option<T>) -> Option<T> {
    for _ in 0..tries {
        if let Some(better) = attempt(*step) {
            *step *= 1.5;
            return Some(better);
        }
        *step *= 0.5;
    }
    None
}

fn mean_of(feats: &[f32], dim: usize) -> Vec<f32> {
    let n = (feats.len() / dim).max(1);
    let mut mean = vec![0f64; dim];
    for row in feats.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.into_iter().map(|m| (m / n as f64) as f32).collect()
}

/// LSH: `bits` random hyperplanes through the training features' mean.
pub fn lsh(train: &[f32], dim: usize, bits: usize, seed: u64) -> Projection {
    let mut rng = Rng::new(seed);
    Projection { dim, bits, mean: mean_of(train, dim), w: (0..dim * bits).map(|_| rng.normal()).collect() }
}

/// Orthonormalises the columns of a row-major `rows × cols` matrix in place (modified
/// Gram–Schmidt); a column that vanishes is replaced by a fresh random one.
fn orthonormalise(m: &mut [f64], rows: usize, cols: usize, rng: &mut Rng) {
    for j in 0..cols {
        for _attempt in 0..3 {
            for p in 0..j {
                let dot: f64 = (0..rows).map(|r| m[r * cols + j] * m[r * cols + p]).sum();
                for r in 0..rows {
                    m[r * cols + j] -= dot * m[r * cols + p];
                }
            }
            let norm = (0..rows).map(|r| m[r * cols + j].powi(2)).sum::<f64>().sqrt();
            if norm > 1e-10 {
                (0..rows).for_each(|r| m[r * cols + j] /= norm);
                break;
            }
            (0..rows).for_each(|r| m[r * cols + j] = rng.normal() as f64);
        }
    }
}

/// The top `k` principal directions of centred `n × dim` data, as a row-major `dim × k`
/// matrix with orthonormal columns (block power iteration on the covariance).
pub fn principal_directions(centred: &[f64], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f64> {
    let n = centred.len() / dim;
    let mut cov = vec![0f64; dim * dim];
    for row in centred.chunks_exact(dim) {
        for a in 0..dim {
            let ra = row[a];
            if ra == 0.0 {
                continue;
            }
            for (c, &rb) in cov[a * dim..(a + 1) * dim].iter_mut().zip(row) {
                *c += ra * rb;
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= n.max(1) as f64);
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = (0..dim * k).map(|_| rng.normal() as f64).collect();
    orthonormalise(&mut v, dim, k, &mut rng);
    let mut next = vec![0f64; dim * k];
    for _ in 0..iterations {
        next.iter_mut().for_each(|x| *x = 0.0);
        for a in 0..dim {
            for b in 0..dim {
                let c = cov[a * dim + b];
                if c != 0.0 {
                    for j in 0..k {
                        next[a * k + j] += c * v[b * k + j];
                    }
                }
            }
        }
        std::mem::swap(&mut v, &mut next);
        orthonormalise(&mut v, dim, k, &mut rng);
    }
    v
}

/// `a (r × m) · b (m × c)`, row-major.
fn matmul(a: &[f64], b: &[f64], r: usize, m: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0f64; r * c];
    for i in 0..r {
        for p in 0..m {
            let x = a[i * m + p];
            for j in 0..c {
                out[i * c + j] += x * b[p * c + j];
            }
        }
    }
    out
}

fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut t = vec![0f64; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = a[i * c + j];
        }
    }
    t
}

/// The orthogonal polar factor of a square `k × k` matrix (the R of the Procrustes problem
/// max tr(Rᵀ M)), by Newton–Schulz iteration from M scaled to unit Frobenius norm.
pub fn polar(m: &[f64], k: usize) -> Vec<f64> {
    let norm = m.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
    let mut x: Vec<f64> = m.iter().map(|v| v / norm).collect();
    for _ in 0..100 {
        let xtx = matmul(&transpose(&x, k, k), &x, k, k, k);
        let mut three_minus = xtx.iter().map(|v| -v).collect::<Vec<_>>();
        (0..k).for_each(|i| three_minus[i * k + i] += 3.0);
        x = matmul(&x, &three_minus, k, k, k).into_iter().map(|v| 0.5 * v).collect();
    }
    x
}

/// ITQ: PCA to `bits` dimensions, then `iterations` rounds of rotation refinement.
pub fn itq(train: &[f32], dim: usize, bits: usize, iterations: usize, seed: u64) -> Projection {
    let mean = mean_of(train, dim);
    let centred: Vec<f64> = train.chunks_exact(dim).flat_map(|row| row.iter().zip(&mean).map(|(&x, &m)| (x - m) as f64)).collect();
    let n = centred.len() / dim;
    let pca = principal_directions(&centred, dim, bits, 30, seed);
    let v = matmul(&centred, &pca, n, dim, bits);
    let mut rng = Rng::new(seed ^ 0x1709);
    let mut r: Vec<f64> = (0..bits * bits).map(|_| rng.normal() as f64).collect();
    orthonormalise(&mut r, bits, bits, &mut rng);
    let vt = transpose(&v, n, bits);
    for _ in 0..iterations {
        let b: Vec<f64> = matmul(&v, &r, n, bits, bits).into_iter().map(|x| if x >= 0.0 { 1.0 } else { -1.0 }).collect();
        r = polar(&matmul(&vt, &b, bits, n, bits), bits);
    }
    let w = matmul(&pca, &r, dim, bits, bits).into_iter().map(|x| x as f32).collect();
    Projection { dim, bits, mean, w }
}

/// The quantisation error ‖sign(VR) − VR‖² of data `v` (`n × k`) under rotation `r`, which ITQ
/// decreases.
pub fn quantisation_error(v: &[f64], r: &[f64], n: usize, k: usize) -> f64 {
    matmul(v, r, n, k, k).iter().map(|&x| (if x >= 0.0 { 1.0 } else { -1.0 } - x).powi(2)).sum()
}

/// One random code per class; each image gets its predicted class's code.
pub fn class_codes(predicted: &[usize], classes: usize, bits: usize, seed: u64) -> CodeSet {
    let mut rng = Rng::new(seed);
    let per_class: Vec<Vec<f32>> = (0..classes).map(|_| (0..bits).map(|_| if rng.next_u64() & 1 == 1 { 1.0 } else { 0.0 }).collect()).collect();
    let mut set = CodeSet::new(bits);
    for &c in predicted {
        set.push_outputs(&per_class[c]);
    }
    set
}

/// MAC of one `c × h × w` conv map: the maximum of each channel, L2-normalised.
pub fn mac(map: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    normalised((0..c).map(|ch| region_max(map, ch, h, w, 0, 0, h, w)).collect())
}

/// R-MAC of one `c × h × w` conv map over square regions at scales l = 1, 2, 3: side
/// 2·min(h, w)/(l + 1), l + 1 positions per axis (overlapping), plus the whole map.
pub fn rmac(map: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut sum = mac(map, c, h, w);
    for l in 1..=3usize {
        let side = (2 * h.min(w) / (l + 1)).max(1);
        let steps = l + 1;
        let starts = |len: usize| -> Vec<usize> { (0..steps).map(|i| if steps == 1 { 0 } else { i * (len - side) / (steps - 1) }).collect() };
        for y in starts(h) {
            for x in starts(w) {
                let v = normalised((0..c).map(|ch| region_max(map, ch, h, w, y, x, y + side, x + side)).collect());
                sum.iter_mut().zip(&v).for_each(|(s, v)| *s += v);
            }
        }
    }
    normalised(sum)
}

#[allow(clippy::too_many_arguments)]
fn region_max(map: &[f32], ch: usize, h: usize, w: usize, y0: usize, x0: usize, y1: usize, x1: usize) -> f32 {
    let plane = &map[ch * h * w..(ch + 1) * h * w];
    (y0..y1.min(h)).flat_map(|y| plane[y * w + x0..y * w + x1.min(w)].iter().copied()).fold(f32::NEG_INFINITY, f32::max)
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// MAP of ranking the database by cosine similarity (vectors already L2-normalised, `dim`
/// each), highest first, ties by database position; relevant = same label.
pub fn cosine_map(queries: &[f32], q_labels: &[usize], database: &[f32], db_labels: &[usize], dim: usize) -> f64 {
    let mut rows = queries.chunks_exact(dim);
    map_by_scores(|_| {
        let q = rows.next().expect("one row per query label");
        database.chunks_exact(dim).map(|d| d.iter().zip(q).map(|(a, b)| a * b).sum()).collect()
    }, q_labels, db_labels)
}

/// MAP of ranking the database by `scores(query)` (one per database image), highest first,
/// ties by database position; relevant = same label.
pub fn map_by_scores(mut scores: impl FnMut(usize) -> Vec<f32>, q_labels: &[usize], db_labels: &[usize]) -> f64 {
    let mut order: Vec<usize> = (0..db_labels.len()).collect();
    let mut total = 0.0;
    for (qi, &ql) in q_labels.iter().enumerate() {
        let sims = scores(qi);
        order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
        let relevant: Vec<bool> = order.iter().map(|&i| db_labels[i] == ql).collect();
        total += crate::metrics::average_precision(&relevant, relevant.len());
        order.sort_unstable();
    }
    total / q_labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated Gaussian clusters in 16 dimensions.
    fn clusters(n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut feats = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let c = i % 2;
            labels.push(c);
            feats.extend((0..16).map(|d| rng.normal() * 0.3 + if (d % 2 == 0) == (c == 0) { 2.0 } else { -2.0 }));
        }
        (feats, labels)
    }

    #[test]
    fn polar_factor_is_the_orthogonal_part() {
        // M = Q·S with Q a rotation and S positive definite: polar(M) = Q.
        let (c, s) = (0.6f64, 0.8f64);
        let q = [c, -s, s, c];
        let m = matmul(&q, &[3.0, 0.5, 0.5, 1.0], 2, 2, 2);
        let p = polar(&m, 2);
        for (a, b) in p.iter().zip(q) {
            assert!((a - b).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn principal_direction_of_a_line() {
        // Points along (1, 2)/√5 with a little noise: the first direction is that line.
        let mut rng = Rng::new(3);
        let data: Vec<f64> = (0..200).flat_map(|_| {
            let t = rng.normal() as f64 * 5.0;
            [t + rng.normal() as f64 * 0.01, 2.0 * t + rng.normal() as f64 * 0.01]
        }).collect();
        let v = principal_directions(&data, 2, 1, 50, 1);
        let cos = (v[0] + 2.0 * v[1]).abs() / 5f64.sqrt();
        assert!(cos > 0.999, "{v:?}");
    }

    #[test]
    fn itq_rotation_lowers_the_quantisation_error_and_codes_separate_clusters() {
        let (feats, labels) = clusters(200, 9);
        let bits = 8;
        let p = itq(&feats, 16, bits, 50, 1);
        let codes = p.encode(&feats);
        // Same-cluster codes are closer than cross-cluster ones.
        let (mut same, mut cross) = (0f64, 0f64);
        for i in 0..20 {
            for j in 0..20 {
                let d = crate::hashing::hamming(codes.code(i), codes.code(j)) as f64;
                if labels[i] == labels[j] { same += d } else { cross += d }
            }
        }
        assert!(same < cross, "{same} vs {cross}");
        // The learned rotation quantises better than no rotation at all.
        let mean = mean_of(&feats, 16);
        let centred: Vec<f64> = feats.chunks_exact(16).flat_map(|r| r.iter().zip(&mean).map(|(&x, &m)| (x - m) as f64)).collect();
        let pca = principal_directions(&centred, 16, bits, 30, 1);
        let v = matmul(&centred, &pca, 200, 16, bits);
        let mut identity = vec![0f64; bits * bits];
        (0..bits).for_each(|i| identity[i * bits + i] = 1.0);
        let w: Vec<f64> = p.w.iter().map(|&x| x as f64).collect();
        let r = matmul(&transpose(&pca, 16, bits), &w, bits, 16, bits);
        assert!(quantisation_error(&v, &r, 200, bits) < quantisation_error(&v, &identity, 200, bits));
    }

    #[test]
    fn mac_and_rmac_by_hand() {
        // Two channels on a 4×4 map: channel 0 peaks at the top left, channel 1 is flat 1.
        let mut map = vec![0f32; 32];
        map[0] = 3.0;
        map[16..].iter_mut().for_each(|v| *v = 1.0);
        let m = mac(&map, 2, 4, 4);
        assert!((m[0] - 3.0 / 10f32.sqrt()).abs() < 1e-6 && (m[1] - 1.0 / 10f32.sqrt()).abs() < 1e-6, "{m:?}");
        let r = rmac(&map, 2, 4, 4);
        assert!((r.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        // Most regions miss the peak, so R-MAC weighs the flat channel more than MAC does.
        assert!(r[1] > m[1], "{r:?} vs {m:?}");
        let db = [1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8];
        assert_eq!(cosine_map(&[1.0, 0.0], &[0], &db, &[0, 1, 0], 2), 1.0);
        assert!((cosine_map(&[0.0, 1.0], &[0], &db, &[0, 1, 0], 2) - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn lsh_and_class_codes() {
        let (feats, labels) = clusters(100, 4);
        let codes = lsh(&feats, 16, 32, 2).encode(&feats);
        assert_eq!(codes.len(), 100);
        let d_same = crate::hashing::hamming(codes.code(0), codes.code(2));
        let d_cross = crate::hashing::hamming(codes.code(0), codes.code(1));
        assert!(d_same < d_cross, "{d_same} vs {d_cross}");
        let c = class_codes(&labels, 2, 12, 1);
        assert_eq!(c.code(0), c.code(2));
        assert_eq!(crate::hashing::hamming(c.code(1), c.code(3)), 0);
    }
}
