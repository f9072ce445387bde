//! **KSH**, kernel-based supervised hashing (Liu, Wang, Ji, Jiang & Chang, CVPR 2012), one of
//! the paper's Table 6 baselines, fitted here on the trained network's fc7 features.
//!
//! Each bit is the sign of a kernel expansion over m anchors, `b_k(x) = sgn(k̄(x)ᵀ a_k)` with
//! `k̄(x) = [κ(x, x₁) … κ(x, x_m)] − μ` (an RBF kernel, centred on the labelled set). Bits are
//! fitted one after another so that code inner products match the pair labels:
//! min ‖B Bᵀ − r S‖², S = +1 for same-class pairs and −1 otherwise, r = the code length. Bit k
//! maximises `b_kᵀ R b_k` with R = rS − Σ_{t<k} b_t b_tᵀ, first relaxed to a generalised
//! eigenproblem (the spectral start), then refined by gradient ascent on the sigmoid-smoothed
//! objective; the better of the two by the discrete objective is kept, as in the paper.
//!
//! S is class-structured, so R is never formed: `R v = r(2·Y(Yᵀv) − 1(1ᵀv)) − Σ b_t(b_tᵀv)`
//! with Y the one-hot labels, which makes every labelled image usable (the original code
//! samples 1,000–2,000 of them to keep an l × l matrix in memory).

use super::{backtrack, matmul, push_signs, transpose};
use crate::hashing::{CodeSet, words_for};
use crate::rng::Rng;

/// A fitted KSH hash function.
#[derive(Clone, Debug)]
pub struct Ksh {
    pub dim: usize,
    pub bits: usize,
    /// `m × dim` anchors (feature rows of the training set).
    pub anchors: Vec<f32>,
    /// RBF bandwidth: κ(x, y) = exp(−‖x − y‖² / 2σ²).
    pub sigma: f64,
    /// Mean kernel row over the labelled set, subtracted before projecting.
    pub kernel_mean: Vec<f64>,
    /// `m × bits`, row-major: column k is a_k.
    pub a: Vec<f64>,
}

/// `R v` for R = r·S − Σ_t b_t b_tᵀ, with S from the labels (see the module doc).
struct Residual<'a> {
    labels: &'a [usize],
    classes: usize,
    r: f64,
    done: Vec<Vec<f64>>,
}

impl Residual<'_> {
    fn apply(&self, v: &[f64]) -> Vec<f64> {
        let mut per_class = vec![0f64; self.classes];
        for (&l, &x) in self.labels.iter().zip(v) {
            per_class[l] += x;
        }
        let total: f64 = v.iter().sum();
        let dots: Vec<f64> = self.done.iter().map(|b| b.iter().zip(v).map(|(p, q)| p * q).sum()).collect();
        self.labels
            .iter()
            .enumerate()
            .map(|(i, &l)| self.r * (2.0 * per_class[l] - total) - self.done.iter().zip(&dots).map(|(b, d)| b[i] * d).sum::<f64>())
            .collect()
    }

    fn objective(&self, b: &[f64]) -> f64 {
        self.apply(b).iter().zip(b).map(|(p, q)| p * q).sum()
    }
}

impl Ksh {
    /// Fits `bits` bits on `n × dim` features with class `labels` (`classes` of them), using
    /// `anchors` random training rows as the kernel's anchors.
    pub fn fit(feats: &[f32], labels: &[usize], classes: usize, dim: usize, bits: usize, anchors: usize, seed: u64) -> Ksh {
        let n = labels.len();
        assert_eq!(feats.len(), n * dim, "features and labels disagree");
        assert!(n >= 2 && bits >= 1, "KSH needs at least two labelled images");
        let mut rng = Rng::new(seed);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let m = anchors.clamp(1, n);
        let anchor_rows: Vec<f32> = order[..m].iter().flat_map(|&i| feats[i * dim..(i + 1) * dim].iter().copied()).collect();
        // σ: the mean distance from the labelled images to the anchors, as in the paper's code.
        let sq = squared_distances(feats, &anchor_rows, dim);
        let sigma = (sq.iter().map(|d| d.sqrt()).sum::<f64>() / sq.len() as f64).max(1e-12);
        let mut k: Vec<f64> = sq.iter().map(|d| (-d / (2.0 * sigma * sigma)).exp()).collect();
        let mut kernel_mean = vec![0f64; m];
        for row in k.chunks_exact(m) {
            kernel_mean.iter_mut().zip(row).for_each(|(s, v)| *s += v / n as f64);
        }
        for row in k.chunks_exact_mut(m) {
            row.iter_mut().zip(&kernel_mean).for_each(|(v, mu)| *v -= mu);
        }
        // D = K̄ᵀK̄ (regularised), the constraint of the spectral relaxation, and its Cholesky factor.
        let kt = transpose(&k, n, m);
        let mut d = matmul(&kt, &k, m, n, m);
        let ridge = 1e-6 * (0..m).map(|i| d[i * m + i]).sum::<f64>() / m as f64 + 1e-12;
        (0..m).for_each(|i| d[i * m + i] += ridge);
        let chol = cholesky(&d, m);

        let mut residual = Residual { labels, classes, r: bits as f64, done: Vec::with_capacity(bits) };
        let mut a = vec![0f64; m * bits];
        for bit in 0..bits {
            // Spectral start: max aᵀ(K̄ᵀRK̄)a subject to aᵀDa = n.
            let rk: Vec<f64> = (0..m).flat_map(|j| residual.apply(&(0..n).map(|i| k[i * m + j]).collect::<Vec<_>>())).collect(); // m × n: column j of R K̄, as a row
            let c = matmul(&rk, &k, m, n, m); // (R K̄)ᵀ K̄ = K̄ᵀ R K̄ (R is symmetric)
            let start = generalised_top_eigenvector(&c, &chol, m, &mut rng);
            let scale = (n as f64 / quad(&d, &start, m).max(1e-300)).sqrt();
            let start: Vec<f64> = start.iter().map(|x| x * scale).collect();
            let refined = smooth_ascent(&k, &kt, n, m, &start, &residual);
            let b_start = signs(&matmul(&k, &start, n, m, 1));
            let b_refined = signs(&matmul(&k, &refined, n, m, 1));
            let (best, b) = if residual.objective(&b_refined) >= residual.objective(&b_start) { (refined, b_refined) } else { (start, b_start) };
            for j in 0..m {
                a[j * bits + bit] = best[j];
            }
            residual.done.push(b);
        }
        Ksh { dim, bits, anchors: anchor_rows, sigma, kernel_mean, a }
    }

    /// Codes of `n × dim` features: bit k = (k̄(x)ᵀ a_k ≥ 0).
    pub fn encode(&self, feats: &[f32]) -> CodeSet {
        let m = self.kernel_mean.len();
        let sq = squared_distances(feats, &self.anchors, self.dim);
        let mut words = Vec::with_capacity(feats.len() / self.dim * words_for(self.bits));
        for row in sq.chunks_exact(m) {
            let kr: Vec<f64> = row.iter().zip(&self.kernel_mean).map(|(d, mu)| (-d / (2.0 * self.sigma * self.sigma)).exp() - mu).collect();
            push_signs(&mut words, matmul(&kr, &self.a, 1, m, self.bits).into_iter(), self.bits);
        }
        CodeSet::from_words(self.bits, words).expect("whole codes")
    }
}

/// Squared distances between every row of `x` and every row of `y` (`dim` columns), `|x| × |y|`.
fn squared_distances(x: &[f32], y: &[f32], dim: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len() / dim * (y.len() / dim));
    for xr in x.chunks_exact(dim) {
        for yr in y.chunks_exact(dim) {
            out.push(xr.iter().zip(yr).map(|(p, q)| ((p - q) as f64).powi(2)).sum());
        }
    }
    out
}

fn signs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| if x >= 0.0 { 1.0 } else { -1.0 }).collect()
}

fn quad(d: &[f64], v: &[f64], m: usize) -> f64 {
    (0..m).map(|i| v[i] * (0..m).map(|j| d[i * m + j] * v[j]).sum::<f64>()).sum()
}

/// Lower-triangular L with L Lᵀ = `a` (symmetric positive definite, `m × m`).
pub(crate) fn cholesky(a: &[f64], m: usize) -> Vec<f64> {
    let mut l = vec![0f64; m * m];
    for i in 0..m {
        for j in 0..=i {
            let s: f64 = a[i * m + j] - (0..j).map(|p| l[i * m + p] * l[j * m + p]).sum::<f64>();
            l[i * m + j] = if i == j { s.max(1e-300).sqrt() } else { s / l[j * m + j] };
        }
    }
    l
}

/// Solves L x = b (`lower`) or Lᵀ x = b (not `lower`).
pub(crate) fn triangular_solve(l: &[f64], b: &[f64], m: usize, lower: bool) -> Vec<f64> {
    let mut x = vec![0f64; m];
    if lower {
        for i in 0..m {
            x[i] = (b[i] - (0..i).map(|p| l[i * m + p] * x[p]).sum::<f64>()) / l[i * m + i];
        }
    } else {
        for i in (0..m).rev() {
            x[i] = (b[i] - (i + 1..m).map(|p| l[p * m + i] * x[p]).sum::<f64>()) / l[i * m + i];
        }
    }
    x
}

/// The top eigenvector of C a = λ D a with D = L Lᵀ: power iteration on M = L⁻¹ C L⁻ᵀ shifted by
/// a Gershgorin bound so that its largest eigenvalue is also its largest in magnitude.
fn generalised_top_eigenvector(c: &[f64], l: &[f64], m: usize, rng: &mut Rng) -> Vec<f64> {
    // M = L⁻¹ C L⁻ᵀ, column by column.
    let mut half = vec![0f64; m * m]; // L⁻¹ C, row-major
    for j in 0..m {
        let col: Vec<f64> = (0..m).map(|i| c[i * m + j]).collect();
        let x = triangular_solve(l, &col, m, true);
        (0..m).for_each(|i| half[i * m + j] = x[i]);
    }
    let mut mm = vec![0f64; m * m];
    for i in 0..m {
        let x = triangular_solve(l, &half[i * m..(i + 1) * m], m, true); // row i of (L⁻¹C)L⁻ᵀ = L⁻¹(row i)ᵀ
        mm[i * m..(i + 1) * m].copy_from_slice(&x);
    }
    let shift = (0..m).map(|i| mm[i * m..(i + 1) * m].iter().map(|x| x.abs()).sum::<f64>()).fold(0.0, f64::max);
    let mut v: Vec<f64> = (0..m).map(|_| rng.normal() as f64).collect();
    for _ in 0..1000 {
        let mut next: Vec<f64> = (0..m).map(|i| mm[i * m..(i + 1) * m].iter().zip(&v).map(|(p, q)| p * q).sum::<f64>() + shift * v[i]).collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        next.iter_mut().for_each(|x| *x /= norm);
        let change: f64 = next.iter().zip(&v).map(|(p, q)| (p - q).abs()).sum();
        v = next;
        if change < 1e-10 {
            break;
        }
    }
    triangular_solve(l, &v, m, false)
}

/// Gradient ascent on bᵀRb with b = φ(K̄a), φ(x) = 2/(1 + e⁻ˣ) − 1, from `start`, with a
/// backtracking step.
fn smooth_ascent(k: &[f64], kt: &[f64], n: usize, m: usize, start: &[f64], residual: &Residual) -> Vec<f64> {
    let phi = |a: &[f64]| -> Vec<f64> { matmul(k, a, n, m, 1).into_iter().map(|x| 2.0 / (1.0 + (-x).exp()) - 1.0).collect() };
    let value = |b: &[f64]| residual.objective(b);
    let mut a = start.to_vec();
    let mut b = phi(&a);
    let mut f = value(&b);
    let mut step = 1.0 / n as f64;
    for _ in 0..300 {
        let rb = residual.apply(&b);
        let inner: Vec<f64> = rb.iter().zip(&b).map(|(r, x)| r * (1.0 - x * x)).collect();
        let grad = matmul(kt, &inner, m, n, 1);
        let gnorm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if gnorm < 1e-9 {
            break;
        }
        let Some(better) = backtrack(&mut step, 30, |step| {
            let trial: Vec<f64> = a.iter().zip(&grad).map(|(x, g)| x + step * g).collect();
            let tb = phi(&trial);
            let tf = value(&tb);
            (tf > f).then_some((trial, tb, tf))
        }) else {
            break;
        };
        (a, b, f) = better;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::hamming;

    #[test]
    fn cholesky_and_solves_invert_a_known_matrix() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2);
        assert!((l[0] - 2.0).abs() < 1e-12 && (l[2] - 1.0).abs() < 1e-12 && (l[3] - 2f64.sqrt()).abs() < 1e-12, "{l:?}");
        let x = triangular_solve(&l, &triangular_solve(&l, &[6.0, 5.0], 2, true), 2, false);
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12, "{x:?}");
    }

    #[test]
    fn generalised_eigenvector_of_a_diagonal_pair() {
        // C = diag(1, 6, 2), D = diag(1, 3, 4): ratios 1, 2, 0.5, so the top is e₂.
        let c = [1.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 2.0];
        let d = [1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 4.0];
        let v = generalised_top_eigenvector(&c, &cholesky(&d, 3), 3, &mut Rng::new(1));
        assert!(v[1].abs() > 1e3 * (v[0].abs() + v[2].abs()), "{v:?}");
    }

    #[test]
    fn residual_matches_the_dense_matrix() {
        let labels = [0usize, 1, 0, 2];
        let b = vec![1.0, -1.0, 1.0, 1.0];
        let res = Residual { labels: &labels, classes: 3, r: 4.0, done: vec![b.clone()] };
        let v = [0.5, -2.0, 1.0, 3.0];
        let got = res.apply(&v);
        for i in 0..4 {
            let dense: f64 = (0..4).map(|j| (4.0 * if labels[i] == labels[j] { 1.0 } else { -1.0 } - b[i] * b[j]) * v[j]).sum();
            assert!((got[i] - dense).abs() < 1e-12, "{i}: {} vs {dense}", got[i]);
        }
    }

    /// Four Gaussian clusters where the labels pair opposite corners (an XOR): features alone
    /// put cluster 0 nearer to 1 than to 3, the labels say 0 belongs with 3. Supervised codes
    /// must follow the labels.
    #[test]
    fn codes_follow_labels_not_just_geometry() {
        let mut rng = Rng::new(5);
        let (mut feats, mut labels) = (Vec::new(), Vec::new());
        let corners = [(-3.0f32, -3.0f32), (3.0, -3.0), (-3.0, 3.0), (3.0, 3.0)];
        for i in 0..240 {
            let c = i % 4;
            labels.push(if c == 0 || c == 3 { 0 } else { 1 });
            feats.extend([corners[c].0 + rng.normal() * 0.5, corners[c].1 + rng.normal() * 0.5]);
        }
        let ksh = Ksh::fit(&feats, &labels, 2, 2, 8, 60, 3);
        let codes = ksh.encode(&feats);
        let (mut same, mut cross, mut ns, mut nc) = (0.0, 0.0, 0, 0);
        for i in 0..80 {
            for j in 0..80 {
                let d = hamming(codes.code(i), codes.code(j)) as f64;
                if labels[i] == labels[j] { (same, ns) = (same + d, ns + 1) } else { (cross, nc) = (cross + d, nc + 1) }
            }
        }
        let (same, cross) = (same / ns as f64, cross / nc as f64);
        assert!(same < 1.0 && cross > 6.0, "same-class {same:.2} bits apart, cross-class {cross:.2}");
    }
}
