//! Which images each step sees: shuffled epochs, or class-balanced ones.
//!
//! YRS is 67 % arcs and 4 % hot-spots. Trained on shuffled epochs, a network can reach 85 %
//! accuracy by hardly ever answering "hot-spot" — which is what the first recipe did (hot-spot
//! recall 0). Two remedies, measured against each other in `docs/results/`: draw every class
//! equally often ([`Balance::Sampler`]), or weight each class's cross-entropy by its rarity
//! ([`Balance::LossWeights`]).

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Every image once an epoch, shuffled.
    #[default]
    None,
    /// An epoch of as many draws as there are images: a class uniformly at random, then one of
    /// its images uniformly, so rare classes are seen (augmented) several times an epoch.
    Sampler,
    /// Shuffled epochs, cross-entropy weighted by `n / (classes · n_class)`.
    LossWeights,
}

/// One epoch's order of sample positions (into `labels`). Depends only on the seed and the
/// epoch, so a resumed run sees the batches it would have seen.
pub fn epoch_order(labels: &[usize], balance: Balance, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = Rng::derive(seed, 0xE90C + epoch as u64);
    match balance {
        Balance::None | Balance::LossWeights => {
            let mut order: Vec<usize> = (0..labels.len()).collect();
            rng.shuffle(&mut order);
            order
        }
        Balance::Sampler => {
            let classes = labels.iter().max().map_or(0, |m| m + 1);
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes];
            for (i, &l) in labels.iter().enumerate() {
                members[l].push(i);
            }
            let present: Vec<&Vec<usize>> = members.iter().filter(|m| !m.is_empty()).collect();
            if present.is_empty() {
                return Vec::new();
            }
            (0..labels.len())
                .map(|_| {
                    let m = present[rng.below(present.len())];
                    m[rng.below(m.len())]
                })
                .collect()
        }
    }
}

/// `order` cut into batches of `batch_size`; a last batch of one image is dropped (it has no
/// pair for the contrastive loss).
pub fn batches(order: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    order.chunks(batch_size.max(2)).filter(|c| c.len() >= 2).map(<[usize]>::to_vec).collect()
}

/// Shuffled batches of `0..n` for one epoch (the legacy sampler, [`Balance::None`]).
pub fn epoch_batches(n: usize, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    batches(&epoch_order(&vec![0; n], Balance::None, seed, epoch), batch_size)
}

/// Cross-entropy weight of each class, `n / (classes · n_class)` (1 for every class when
/// balanced); a class without images gets weight 0.
pub fn class_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts.iter().map(|&c| if c == 0 { 0.0 } else { labels.len() as f32 / (present as f32 * c as f32) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_sampler_draws_classes_equally() {
        // 90 % class 0, 10 % class 1.
        let labels: Vec<usize> = (0..1000).map(|i| usize::from(i % 10 == 0)).collect();
        let mut drawn = [0usize; 2];
        for epoch in 0..5 {
            for i in epoch_order(&labels, Balance::Sampler, 1, epoch) {
                drawn[labels[i]] += 1;
            }
        }
        let share = drawn[1] as f64 / 5000.0;
        assert!((share - 0.5).abs() < 0.03, "rare class share {share}");
        assert_eq!(epoch_order(&labels, Balance::Sampler, 1, 2), epoch_order(&labels, Balance::Sampler, 1, 2));
        let shuffled = epoch_order(&labels, Balance::None, 1, 0);
        let mut sorted = shuffled.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "an unbalanced epoch is a permutation");
    }

    #[test]
    fn weights_invert_frequency() {
        let w = class_weights(&[0, 0, 0, 1, 2, 2], 4);
        assert_eq!(w, vec![6.0 / 9.0, 2.0, 1.0, 0.0]);
        assert_eq!(batches(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2], vec![3, 4]]);
    }
}
