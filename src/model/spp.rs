//! Spatial pyramid pooling (He et al. 2015) as the paper uses it: max over a 4×4, 2×2 and
//! 1×1 grid of every conv5 feature map, so the vector entering fc6 has the same length
//! whatever the input size.
//!
//! burn has no adaptive max pool, so bins follow the adaptive-pool rule (bin `i` of `n` over a
//! side of `h` covers rows `⌊i·h/n⌋ .. ⌈(i+1)·h/n⌉`, never empty, overlapping when `h` is
//! not a multiple of `n`). When `n` divides the side a single strided max pool does the same.

use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

/// One `[batch, channels, n, n]` tensor per pyramid level.
pub fn spatial_pyramid_pool(x: Tensor<4>, levels: &[usize]) -> Vec<Tensor<4>> {
    let [_, _, h, w] = x.dims();
    levels.iter().map(|&n| level(x.clone(), n, h, w)).collect()
}

fn bins(side: usize, n: usize) -> Vec<(usize, usize)> {
    (0..n).map(|i| (i * side / n, ((i + 1) * side).div_ceil(n))).collect()
}

fn level(x: Tensor<4>, n: usize, h: usize, w: usize) -> Tensor<4> {
    if h % n == 0 && w % n == 0 {
        return max_pool2d(x, MaxPoolOptions::new([h / n, w / n]));
    }
    let rows: Vec<Tensor<4>> = bins(h, n)
        .into_iter()
        .map(|(r0, r1)| {
            let band = x.clone().slice_dim(2, r0..r1);
            let cols: Vec<Tensor<4>> = bins(w, n)
                .into_iter()
                .map(|(c0, c1)| band.clone().slice_dim(3, c0..c1).max_dims(&[2, 3]))
                .collect();
            Tensor::cat(cols, 3)
        })
        .collect();
    Tensor::cat(rows, 2)
}

#[cfg(test)]
mod tests {
    use super::bins;

    #[test]
    fn bins_cover_the_side_and_are_never_empty() {
        assert_eq!(bins(7, 4), vec![(0, 2), (1, 4), (3, 6), (5, 7)]);
        assert_eq!(bins(3, 4), vec![(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(bins(8, 2), vec![(0, 4), (4, 8)]);
        assert_eq!(bins(1, 4), vec![(0, 1); 4]);
    }
}
