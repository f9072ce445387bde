//! **VLAD** (Jégou, Douze, Schmid & Pérez 2010) and **HE**, Hamming embedding (Jégou, Douze &
//! Schmid 2008): the paper's Table 5 retrieval baselines built on local descriptors (SIFT,
//! extracted by the native tool; here they are rows of `dim` floats, one image a slice of rows).
//!
//! * VLAD: a k-word vocabulary (k-means); an image is the sum of its descriptors' residuals to
//!   their nearest word, k·dim floats, signed-square-rooted and L2-normalised, ranked by cosine.
//! * HE: a larger vocabulary, and per descriptor a 64-bit signature, bit j = ((P x)_j > τ_{w,j})
//!   with P a random orthonormal projection and τ_{w,j} the median of (P x)_j over the training
//!   descriptors of word w. Two descriptors match when they share a word and their signatures
//!   differ in at most [`HE_THRESHOLD`] bits; an image's score is the sum of idf(w)² over its
//!   matches with the query, divided by both images' tf-idf norms (an inverted file per word).

use super::{normalised, orthonormalise};
use crate::rng::Rng;

/// Signature bits of HE, and the Hamming distance at which two descriptors still match (the
/// HE paper's 64 and 24).
pub const HE_BITS: usize = 64;
pub const HE_THRESHOLD: u32 = 24;

/// Lloyd's k-means from `k` distinct random rows, `iterations` rounds; `k × dim` centroids. An
/// emptied cluster keeps its previous centroid.
pub fn kmeans(data: &[f32], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = data.len() / dim;
    assert!(n >= 1 && k >= 1, "k-means needs data");
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let mut centroids: Vec<f32> = (0..k).flat_map(|c| data[order[c % n] * dim..(order[c % n] + 1) * dim].iter().copied()).collect();
    for _ in 0..iterations {
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for row in data.chunks_exact(dim) {
            let c = nearest(&centroids, dim, row);
            counts[c] += 1;
            sums[c * dim..(c + 1) * dim].iter_mut().zip(row).for_each(|(s, &x)| *s += x as f64);
        }
        for c in 0..k {
            if counts[c] > 0 {
                for d in 0..dim {
                    centroids[c * dim + d] = (sums[c * dim + d] / counts[c] as f64) as f32;
                }
            }
        }
    }
    centroids
}

/// The nearest centroid (squared Euclidean), ties to the lower index.
pub fn nearest(centroids: &[f32], dim: usize, x: &[f32]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (c, centre) in centroids.chunks_exact(dim).enumerate() {
        let d: f32 = centre.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.0 {
            best = (d, c);
        }
    }
    best.1
}

/// A VLAD vocabulary.
pub struct Vlad {
    pub dim: usize,
    pub centroids: Vec<f32>,
}

impl Vlad {
    pub fn fit(sample: &[f32], dim: usize, words: usize, seed: u64) -> Vlad {
        Vlad { dim, centroids: kmeans(sample, dim, words, 15, seed) }
    }

    /// An image's VLAD vector (`words × dim`); all zeros for an image with no descriptors.
    pub fn describe(&self, descriptors: &[f32]) -> Vec<f32> {
        let mut v = vec![0f32; self.centroids.len()];
        for row in descriptors.chunks_exact(self.dim) {
            let c = nearest(&self.centroids, self.dim, row);
            v[c * self.dim..(c + 1) * self.dim].iter_mut().zip(row.iter().zip(&self.centroids[c * self.dim..])).for_each(|(s, (x, m))| *s += x - m);
        }
        normalised(v.into_iter().map(|x| x.signum() * x.abs().sqrt()).collect())
    }
}

/// A Hamming-embedding vocabulary: words, projection and per-word medians.
pub struct HammingEmbedding {
    pub dim: usize,
    pub centroids: Vec<f32>,
    /// `HE_BITS × dim`, orthonormal rows.
    pub projection: Vec<f32>,
    /// `words × HE_BITS`.
    pub thresholds: Vec<f32>,
}

/// One image under HE: each descriptor's word and signature.
#[derive(Clone, Debug, Default)]
pub struct HeImage {
    pub words: Vec<u32>,
    pub signatures: Vec<u64>,
}

impl HammingEmbedding {
    pub fn fit(sample: &[f32], dim: usize, words: usize, seed: u64) -> HammingEmbedding {
        let centroids = kmeans(sample, dim, words, 15, seed);
        let mut rng = Rng::new(seed ^ 0x4E);
        // Orthonormal rows = orthonormal columns of the transpose (`dim × k`); with fewer
        // dimensions than bits the extra rows stay zero and their bits are never set.
        let k = HE_BITS.min(dim);
        let mut cols: Vec<f64> = (0..dim * k).map(|_| rng.normal() as f64).collect();
        orthonormalise(&mut cols, dim, k, &mut rng);
        let mut projection = vec![0f32; HE_BITS * dim];
        for j in 0..k {
            for d in 0..dim {
                projection[j * dim + d] = cols[d * k + j] as f32;
            }
        }
        let mut per_word: Vec<Vec<Vec<f32>>> = vec![vec![Vec::new(); HE_BITS]; words];
        let mut he = HammingEmbedding { dim, centroids, projection, thresholds: vec![0.0; words * HE_BITS] };
        for row in sample.chunks_exact(dim) {
            let w = nearest(&he.centroids, dim, row);
            for (j, p) in he.project(row).into_iter().enumerate() {
                per_word[w][j].push(p);
            }
        }
        for (w, bits) in per_word.iter_mut().enumerate() {
            for (j, values) in bits.iter_mut().enumerate() {
                if !values.is_empty() {
                    values.sort_by(f32::total_cmp);
                    he.thresholds[w * HE_BITS + j] = values[values.len() / 2];
                }
            }
        }
        he
    }

    fn project(&self, x: &[f32]) -> Vec<f32> {
        self.projection.chunks_exact(self.dim).map(|p| p.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
    }

    pub fn describe(&self, descriptors: &[f32]) -> HeImage {
        let mut image = HeImage::default();
        for row in descriptors.chunks_exact(self.dim) {
            let w = nearest(&self.centroids, self.dim, row);
            let mut sig = 0u64;
            for (j, p) in self.project(row).into_iter().enumerate() {
                if p > self.thresholds[w * HE_BITS + j] {
                    sig |= 1 << j;
                }
            }
            image.words.push(w as u32);
            image.signatures.push(sig);
        }
        image
    }
}

/// An inverted file of HE images (the database), with idf weights and tf-idf norms.
pub struct HeIndex {
    lists: Vec<Vec<(u32, u64)>>,
    idf: Vec<f32>,
    norms: Vec<f32>,
}

impl HeIndex {
    pub fn new(words: usize, images: &[HeImage]) -> HeIndex {
        let mut lists = vec![Vec::new(); words];
        let mut containing = vec![0usize; words];
        for (i, img) in images.iter().enumerate() {
            let mut seen = std::collections::HashSet::new();
            for (&w, &s) in img.words.iter().zip(&img.signatures) {
                lists[w as usize].push((i as u32, s));
                if seen.insert(w) {
                    containing[w as usize] += 1;
                }
            }
        }
        let n = images.len().max(1) as f32;
        let idf: Vec<f32> = containing.iter().map(|&c| if c == 0 { 0.0 } else { (n / c as f32).ln() }).collect();
        let mut index = HeIndex { lists, idf, norms: Vec::new() };
        index.norms = images.iter().map(|img| index.norm(img)).collect();
        index
    }

    /// ‖tf·idf‖ of an image's bag of words.
    fn norm(&self, img: &HeImage) -> f32 {
        let mut tf = std::collections::HashMap::new();
        for &w in &img.words {
            *tf.entry(w).or_insert(0f32) += 1.0;
        }
        tf.iter().map(|(&w, &t)| (t * self.idf[w as usize]).powi(2)).sum::<f32>().sqrt()
    }

    /// Similarity of the query to every database image.
    pub fn scores(&self, query: &HeImage) -> Vec<f32> {
        let mut scores = vec![0f32; self.norms.len()];
        for (&w, &s) in query.words.iter().zip(&query.signatures) {
            let weight = self.idf[w as usize].powi(2);
            for &(i, t) in &self.lists[w as usize] {
                if (s ^ t).count_ones() <= HE_THRESHOLD {
                    scores[i as usize] += weight;
                }
            }
        }
        let qn = self.norm(query);
        for (score, &n) in scores.iter_mut().zip(&self.norms) {
            let d = qn * n;
            *score = if d > 0.0 { *score / d } else { 0.0 };
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptors drawn around a few prototype directions; an image is a bag of them.
    fn bag(rng: &mut Rng, prototypes: &[Vec<f32>], which: &[usize], per: usize) -> Vec<f32> {
        which.iter().flat_map(|&p| (0..per).flat_map(|_| prototypes[p].iter().map(|&x| x + 0.05 * rng.normal()).collect::<Vec<_>>()).collect::<Vec<_>>()).collect()
    }

    #[test]
    fn kmeans_finds_separated_clusters() {
        let mut rng = Rng::new(2);
        let data: Vec<f32> = (0..300).flat_map(|i| { let c = (i % 3) as f32 * 10.0; [c + rng.normal() * 0.1, -c + rng.normal() * 0.1] }).collect();
        let cents = kmeans(&data, 2, 3, 10, 1);
        let mut firsts: Vec<i32> = cents.chunks_exact(2).map(|c| c[0].round() as i32).collect();
        firsts.sort();
        assert_eq!(firsts, vec![0, 10, 20], "{cents:?}");
    }

    #[test]
    fn vlad_and_he_rank_images_of_the_same_content_first() {
        let mut rng = Rng::new(8);
        let dim = 16;
        let prototypes: Vec<Vec<f32>> = (0..6).map(|_| (0..dim).map(|_| rng.normal()).collect()).collect();
        // Class A images are bags of prototypes 0–2, class B of 3–5.
        let images: Vec<Vec<f32>> = (0..10).map(|i| bag(&mut rng, &prototypes, if i % 2 == 0 { &[0, 1, 2] } else { &[3, 4, 5] }, 4)).collect();
        let sample: Vec<f32> = images.concat();
        let vlad = Vlad::fit(&sample, dim, 6, 1);
        let v: Vec<Vec<f32>> = images.iter().map(|d| vlad.describe(d)).collect();
        assert!((v[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(cos(&v[0], &v[2]) > cos(&v[0], &v[1]), "VLAD: same {} vs other {}", cos(&v[0], &v[2]), cos(&v[0], &v[1]));

        let he = HammingEmbedding::fit(&sample, dim, 6, 1);
        let he_images: Vec<HeImage> = images.iter().map(|d| he.describe(d)).collect();
        let index = HeIndex::new(6, &he_images[1..]);
        let s = index.scores(&he_images[0]);
        // Database positions 1, 3, 5, 7 hold images 2, 4, 6, 8: class A, like the query.
        for a in [1, 3, 5, 7] {
            for b in [0, 2, 4, 6, 8] {
                assert!(s[a] > s[b], "HE scores {s:?}");
            }
        }
        assert_eq!(HeIndex::new(6, &[]).scores(&he_images[0]), Vec::<f32>::new());
    }
}
