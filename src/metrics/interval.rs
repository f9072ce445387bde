//! 95 % intervals for every reported figure, by bootstrap over time blocks.
//!
//! Frames of one time block are 10 s apart and nearly identical, so they are not independent
//! evidence: a bootstrap over frames would pretend 508 test frames are 508 observations when
//! they are a few dozen blocks' worth. Resampling whole blocks (with replacement, each drawn
//! block bringing all its frames) gives intervals that reflect how much a figure would move on
//! other blocks of the same camera. Percentile intervals, 2,000 resamples by default.
//!
//! The paired version resamples the same blocks for two models scored on the same queries and
//! gives the interval of their difference: a gain is real when that interval excludes zero.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Resamples used unless a caller asks otherwise.
pub const RESAMPLES: usize = 2000;

/// A figure and its 95 % bootstrap interval.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// `0.830 [0.790, 0.866]`.
    pub fn display(&self) -> String {
        format!("{:.3} [{:.3}, {:.3}]", self.value, self.low, self.high)
    }

    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The statistic on every item, then on `resamples` resamples of whole groups: each resample
/// draws `groups.len()` groups with replacement and passes the concatenation of their items
/// (positions, repeated as drawn) to `stat`.
pub fn block_bootstrap(groups: &[Vec<usize>], resamples: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> Interval {
    let all: Vec<usize> = groups.concat();
    let value = stat(&all);
    let draws = resample(groups, resamples, seed, |items| stat(items));
    percentile_interval(value, draws)
}

/// Interval of `stat_a − stat_b` over the same resamples (two models, the same queries).
pub fn paired_block_bootstrap(
    groups: &[Vec<usize>],
    resamples: usize,
    seed: u64,
    stat_a: impl Fn(&[usize]) -> f64,
    stat_b: impl Fn(&[usize]) -> f64,
) -> Interval {
    let all: Vec<usize> = groups.concat();
    let value = stat_a(&all) - stat_b(&all);
    let draws = resample(groups, resamples, seed, |items| stat_a(items) - stat_b(items));
    percentile_interval(value, draws)
}

/// Positions grouped by time block (`block_seconds`) of their timestamps; positions without a
/// time are each a group of their own (an ordinary bootstrap over items).
pub fn groups_by_block(timestamps: &[Option<i64>], block_seconds: i64) -> Vec<Vec<usize>> {
    let mut blocks: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
    let mut single = Vec::new();
    for (i, t) in timestamps.iter().enumerate() {
        match t {
            Some(t) => blocks.entry(crate::data::split::block_of(*t, block_seconds)).or_default().push(i),
            None => single.push(vec![i]),
        }
    }
    blocks.into_values().chain(single).collect()
}

/// Mean of per-item values over a (multi)set of positions.
pub fn mean_of(values: &[f64], items: &[usize]) -> f64 {
    if items.is_empty() {
        return 0.0;
    }
    items.iter().map(|&i| values[i]).sum::<f64>() / items.len() as f64
}

fn resample(groups: &[Vec<usize>], resamples: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> Vec<f64> {
    let mut rng = Rng::new(seed ^ 0xB007);
    let mut items = Vec::new();
    (0..resamples)
        .map(|_| {
            items.clear();
            for _ in 0..groups.len() {
                items.extend_from_slice(&groups[rng.below(groups.len())]);
            }
            stat(&items)
        })
        .filter(|v| v.is_finite())
        .collect()
}

fn percentile_interval(value: f64, mut draws: Vec<f64>) -> Interval {
    if draws.is_empty() {
        return Interval { value, low: value, high: value };
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    Interval { value, low: at(0.025), high: at(0.975) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_two_blocks() {
        // Two blocks of equal size, all 0 and all 1. A resample draws two blocks: mean 0 with
        // probability ¼, ½ with ½, 1 with ¼, so the 95 % interval is [0, 1] around 0.5.
        let values = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let groups = vec![vec![0, 1, 2], vec![3, 4, 5]];
        let i = block_bootstrap(&groups, 4000, 1, |items| mean_of(&values, items));
        assert_eq!((i.value, i.low, i.high), (0.5, 0.0, 1.0));
        // The same frames as six independent items give a narrower interval: blocks matter.
        let singles: Vec<Vec<usize>> = (0..6).map(|k| vec![k]).collect();
        let j = block_bootstrap(&singles, 4000, 1, |items| mean_of(&values, items));
        assert!(j.low > 0.0 && j.high < 1.0, "{j:?}");
        // Constant data: a zero-width interval.
        let flat = block_bootstrap(&groups, 500, 2, |items| mean_of(&[0.7; 6], items));
        assert!((flat.low - 0.7).abs() < 1e-12 && (flat.high - 0.7).abs() < 1e-12, "{flat:?}");
    }

    #[test]
    fn paired_difference_of_a_uniform_gain_excludes_zero() {
        // Model b is better than a by 0.1 on every query, with large block-to-block spread.
        let a: Vec<f64> = (0..40).map(|i| (i / 10) as f64 * 0.2).collect();
        let b: Vec<f64> = a.iter().map(|v| v + 0.1).collect();
        let groups: Vec<Vec<usize>> = (0..4).map(|g| (g * 10..g * 10 + 10).collect()).collect();
        let d = paired_block_bootstrap(&groups, 1000, 3, |it| mean_of(&b, it), |it| mean_of(&a, it));
        assert!((d.value - 0.1).abs() < 1e-12 && (d.low - 0.1).abs() < 1e-9 && (d.high - 0.1).abs() < 1e-9);
        assert!(d.excludes_zero());
        // Unpaired, the same gain is lost in the spread between blocks.
        let ia = block_bootstrap(&groups, 1000, 3, |it| mean_of(&a, it));
        let ib = block_bootstrap(&groups, 1000, 3, |it| mean_of(&b, it));
        assert!(ib.low < ia.high, "the two intervals overlap");
    }

    #[test]
    fn groups_follow_time_blocks() {
        let t = [Some(0), Some(599), Some(600), None, Some(1250)];
        assert_eq!(groups_by_block(&t, 600), vec![vec![0, 1], vec![2], vec![4], vec![3]]);
    }
}
