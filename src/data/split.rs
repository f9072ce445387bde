//! Train/test splits that do not leak near-duplicates.
//!
//! Consecutive all-sky frames are 10 s apart and almost identical, so a random split puts the
//! same scene on both sides and inflates every score. When sample names carry a time, whole
//! time blocks go to one side; otherwise the split is random (seeded). Blocks are grouped by
//! their majority class and each group contributes its share of test blocks, so a rare class
//! (hot-spot: 72 of 1,922 YRS frames) still appears in both halves.

use super::Sample;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which samples (by position in the dataset) train and which test, and how it was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Split {
    pub method: String,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Seconds since the Unix epoch from a YRS-style name `NYYYYMMDDGHHMMSS` (any single letter for
/// the leading station and the band letter), anywhere in the file stem; `None` otherwise.
pub fn timestamp_from_name(name: &str) -> Option<i64> {
    let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = stem.split('.').next().unwrap_or(stem);
    let b = stem.as_bytes();
    (0..b.len().saturating_sub(15)).find_map(|s| parse_at(&b[s..s + 16]))
}

fn parse_at(b: &[u8]) -> Option<i64> {
    if !b[0].is_ascii_alphabetic() || !b[9].is_ascii_alphabetic() {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64))
    };
    let (y, mo, d) = (digits(1..5)?, digits(5..7)?, digits(7..9)?);
    let (h, mi, s) = (digits(10..12)?, digits(12..14)?, digits(14..16)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether every sample carries a time (then splits are by time block).
fn is_timed(samples: &[Sample]) -> bool {
    !samples.is_empty() && samples.iter().all(|s| s.timestamp.is_some())
}

/// The time block a frame taken at `t` (seconds) falls in: blocks are `block_seconds` long and
/// aligned to the epoch, so the split, the bootstrap over test blocks and the pseudo-label
/// guard all mean the same block by the same number.
pub fn block_of(t: i64, block_seconds: i64) -> i64 {
    t.div_euclid(block_seconds.max(1))
}

/// The time blocks (`block_seconds` long) that `names` fall in; names without a time add none.
pub fn blocks_of<'a>(names: impl IntoIterator<Item = &'a str>, block_seconds: i64) -> std::collections::BTreeSet<i64> {
    names.into_iter().filter_map(timestamp_from_name).map(|t| block_of(t, block_seconds)).collect()
}

/// Whether `name`'s time falls in one of `blocks`. An unlabelled frame there is a near-duplicate
/// of the held-out frames of that block (10 s apart on YRS): training on it, even with a
/// teacher's label, would carry the held-out block into training.
pub fn in_blocks(name: &str, blocks: &std::collections::BTreeSet<i64>, block_seconds: i64) -> bool {
    timestamp_from_name(name).is_some_and(|t| blocks.contains(&block_of(t, block_seconds)))
}

/// The samples' blocks (positions), grouped by the block's majority label: one `Vec` of blocks
/// per label, in label order (unlabelled blocks form their own group). With a time on every
/// sample a block is `block_seconds` of frames; otherwise each sample is its own block.
pub fn block_groups(samples: &[Sample], block_seconds: i64) -> Vec<Vec<Vec<usize>>> {
    let timed = is_timed(samples);
    let mut blocks: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let key = match s.timestamp {
            Some(t) if timed => block_of(t, block_seconds),
            _ => i as i64,
        };
        blocks.entry(key).or_default().push(i);
    }
    let mut groups: BTreeMap<Option<usize>, Vec<Vec<usize>>> = BTreeMap::new();
    for members in blocks.into_values() {
        let mut counts: BTreeMap<Option<usize>, usize> = BTreeMap::new();
        for &i in &members {
            *counts.entry(samples[i].label).or_default() += 1;
        }
        let major = counts.iter().max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l))).map(|(l, _)| *l).unwrap();
        groups.entry(major).or_default().push(members);
    }
    groups.into_values().collect()
}

/// How many of each group's samples to test: `fraction` of the whole, rounded once for the
/// whole (so 25% of 40 is 10, not 4 × round(2.5) = 12) and shared out by largest remainder.
fn apportion(sizes: &[usize], fraction: f64) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let target = (total as f64 * fraction).round() as usize;
    let exact: Vec<f64> = sizes.iter().map(|&n| n as f64 * fraction).collect();
    let mut wants: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    // Largest remainder first; ties to the earlier group.
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let short = target.saturating_sub(wants.iter().sum());
    for &g in order.iter().take(short) {
        wants[g] += 1;
    }
    wants
}

/// Splits `samples` with about `test_fraction` of them in the test set.
///
/// With timestamps on every sample, blocks of `block_seconds` go whole to one side; without,
/// samples are shuffled with `seed` and cut (still grouped by class).
pub fn split(samples: &[Sample], test_fraction: f64, block_seconds: i64, seed: u64) -> Split {
    let timed = is_timed(samples);
    let groups = block_groups(samples, block_seconds);
    let mut rng = Rng::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let wants = apportion(&groups.iter().map(|g| g.iter().map(Vec::len).sum()).collect::<Vec<usize>>(), test_fraction);
    for (mut group_blocks, want) in groups.into_iter().zip(wants) {
        rng.shuffle(&mut group_blocks);
        let mut taken = 0usize;
        let mut kept = 0usize;
        let n_blocks = group_blocks.len();
        for (bi, block) in group_blocks.into_iter().enumerate() {
            // A group of two or more blocks always keeps one for training.
            let last_for_train = bi + 1 == n_blocks && kept == 0 && n_blocks > 1;
            // Take a block when it brings the test share closer to the target (ties: take).
            let closer = taken.abs_diff(want) >= (taken + block.len()).abs_diff(want);
            if taken < want && closer && !last_for_train {
                taken += block.len();
                test.extend(block);
            } else {
                kept += block.len();
                train.extend(block);
            }
        }
    }
    train.sort_unstable();
    test.sort_unstable();
    let method = if timed {
        format!("time blocks of {block_seconds} s, {:.0}% test by block, grouped by majority class, seed {seed}", test_fraction * 100.0)
    } else {
        format!("random, {:.0}% test, grouped by class, seed {seed}", test_fraction * 100.0)
    };
    Split { method, train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_blocks_catch_near_duplicates_only() {
        let held = blocks_of(["arc/N20031221G031041.png", "N20031221G041500", "cat_0001.jpg"], 600);
        assert_eq!(held.len(), 2);
        // 10 s after a held-out frame, same block; the next block; a name without a time.
        assert!(in_blocks("/data/unlabeled/N20031221G031051.png", &held, 600));
        assert!(!in_blocks("N20031221G032001.png", &held, 600));
        assert!(!in_blocks("photo.jpg", &held, 600));
    }

    #[test]
    fn parses_yrs_names() {
        // 2003-12-21 03:10:41 UTC.
        assert_eq!(timestamp_from_name("arc/N20031221G031041.png"), Some(1_071_976_241));
        assert_eq!(timestamp_from_name("N20031221G031041"), Some(1_071_976_241));
        assert_eq!(timestamp_from_name("cat_0001.jpg"), None);
        assert_eq!(timestamp_from_name("N20031321G031041"), None);
    }

    #[test]
    fn time_blocks_never_straddle_the_split() {
        let mut samples = Vec::new();
        for i in 0..600 {
            let t = 1_071_976_241 + i * 10;
            samples.push(Sample { id: format!("f{i}"), label: Some((i / 97) as usize % 4), timestamp: Some(t) });
        }
        let s = split(&samples, 0.25, 120, 3);
        assert_eq!(s.train.len() + s.test.len(), 600);
        let block = |i: usize| samples[i].timestamp.unwrap().div_euclid(120);
        let test_blocks: std::collections::BTreeSet<i64> = s.test.iter().map(|&i| block(i)).collect();
        assert!(s.train.iter().all(|&i| !test_blocks.contains(&block(i))));
        let frac = s.test.len() as f64 / 600.0;
        assert!((0.2..0.3).contains(&frac), "{frac}");
        assert_eq!(s, split(&samples, 0.25, 120, 3));
    }

    #[test]
    fn untimed_split_is_random_but_covers_every_class() {
        let samples: Vec<Sample> = (0..40).map(|i| Sample::new(format!("img{i}.png"), Some(i % 4))).collect();
        let s = split(&samples, 0.25, 600, 1);
        assert_eq!(s.test.len(), 10, "25% of 40 is 10");
        for c in 0..4 {
            assert!(s.test.iter().any(|&i| samples[i].label == Some(c)));
            assert!(s.train.iter().any(|&i| samples[i].label == Some(c)));
        }
    }
}
