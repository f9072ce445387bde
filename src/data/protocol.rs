//! Evaluation protocols: which images train, which choose settings, which test.
//!
//! Every choice a run makes — when to stop, which epoch to export, the calibration
//! temperature, the out-of-domain threshold, whether pseudo-labels help — is made on the
//! **validation** images, whole time blocks carved from the training part. The test images
//! are looked at only to report. Four protocols:
//!
//! * **held-out blocks** ([`Protocol::Blocks`]): a share of the time blocks (or of random
//!   samples, for data without times) tests, the rest trains; validation blocks come from the
//!   training part;
//! * **given** ([`Protocol::Given`]): the dataset's own test images (CIFAR's `test/`);
//! * **cifar10-1** ([`Protocol::Cifar10_1`]): DPSH/DSH's protocol, 100 queries and 500
//!   training images per class, everything but the queries as the retrieval database;
//! * **k-fold** ([`Protocol::Fold`]): fold `i` of `k` block-wise folds tests, for
//!   cross-validation.

use super::Sample;
use super::split::{block_groups, split};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// How to divide a dataset.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// `test_fraction` of the time blocks test.
    Blocks { test_fraction: f64 },
    /// The dataset's own test set.
    Given,
    /// 100 queries and 500 training images per class; database = all but the queries.
    Cifar10_1,
    /// Fold `fold` (0-based) of `folds` block-wise folds tests.
    Fold { folds: usize, fold: usize },
}

/// Everything that fixes a partition: the same plan on the same listing gives the same one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub protocol: Protocol,
    /// Share of the training part (by block) held out for validation; 0 for none.
    pub validation_fraction: f64,
    /// Instead of one carve of `validation_fraction`: fold `.1` (0-based) of `.0` block-wise
    /// folds of the training part validates. Training one run per fold puts every training
    /// block in validation once, so a choice between settings rests on all the training nights
    /// rather than on the handful one carve holds, and the test blocks still decide nothing.
    #[serde(default)]
    pub validation_fold: Option<(usize, usize)>,
    pub block_seconds: i64,
    pub seed: u64,
}

/// Positions (into the dataset's samples) of each part, and how they were chosen.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Partition {
    pub method: String,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    /// Held-out images: the queries of retrieval and the test set of classification.
    pub test: Vec<usize>,
    /// The retrieval database when it is not the training part (cifar10-1).
    pub database: Option<Vec<usize>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("the dataset is too small to split ({0} images)")]
    TooSmall(usize),
    #[error("cifar10-1 needs at least 600 images of each class; class {0} has {1}")]
    Cifar(usize, usize),
    #[error("the dataset has no test set of its own")]
    NoGivenTest,
    #[error("fold {fold} of {folds}: folds must be at least 2 and fold below folds")]
    Fold { fold: usize, folds: usize },
    #[error("every sample needs a label")]
    Unlabelled,
}

/// Divides `samples`. `given_test` is the dataset's own test set, when it has one.
pub fn partition(samples: &[Sample], given_test: Option<&[usize]>, plan: &Plan) -> Result<Partition, ProtocolError> {
    let all: Vec<usize> = (0..samples.len()).collect();
    let (method, rest, test, database) = match &plan.protocol {
        Protocol::Blocks { test_fraction } => {
            let s = split(samples, *test_fraction, plan.block_seconds, plan.seed);
            (s.method, s.train, s.test, None)
        }
        Protocol::Given => {
            let test = given_test.ok_or(ProtocolError::NoGivenTest)?.to_vec();
            let rest = without(&all, &test);
            ("the dataset's own train/ and test/ folders".to_string(), rest, test, None)
        }
        Protocol::Cifar10_1 => {
            let labels: Vec<usize> = samples.iter().map(|s| s.label.ok_or(ProtocolError::Unlabelled)).collect::<Result<_, _>>()?;
            let (q, t, db) = cifar10_1(&labels, plan.seed)?;
            let method = format!("cifar10-1: 100 queries and 500 training images per class, database = all but the queries, seed {}", plan.seed);
            (method, t, q, Some(db))
        }
        Protocol::Fold { folds, fold } => {
            if *folds < 2 || fold >= folds {
                return Err(ProtocolError::Fold { fold: *fold, folds: *folds });
            }
            let parts = k_folds(samples, *folds, plan.block_seconds, plan.seed);
            let test = parts[*fold].clone();
            let method = format!("fold {} of {folds} by time blocks of {} s (grouped by majority class), seed {}", fold + 1, plan.block_seconds, plan.seed);
            (method, without(&all, &test), test, None)
        }
    };
    if rest.is_empty() || test.is_empty() {
        return Err(ProtocolError::TooSmall(samples.len()));
    }
    let (train, validation) = match plan.validation_fold {
        Some((folds, fold)) => {
            if folds < 2 || fold >= folds {
                return Err(ProtocolError::Fold { fold, folds });
            }
            let subset: Vec<Sample> = rest.iter().map(|&i| samples[i].clone()).collect();
            let parts = k_folds(&subset, folds, plan.block_seconds, plan.seed ^ 0x5A11_DA7E);
            let validation: Vec<usize> = parts[fold].iter().map(|&i| rest[i]).collect();
            (without(&rest, &validation), validation)
        }
        None if plan.validation_fraction > 0.0 => carve(samples, &rest, plan.validation_fraction, plan.block_seconds, plan.seed ^ 0x5A11_DA7E),
        None => (rest, Vec::new()),
    };
    let method = match plan.validation_fold {
        _ if validation.is_empty() => method,
        Some((folds, fold)) => format!("{method}; validation: {} images, fold {} of {folds} of the training part by block", validation.len(), fold + 1),
        None => format!("{method}; validation: {} images, {:.0}% of the training part by block", validation.len(), plan.validation_fraction * 100.0),
    };
    Ok(Partition { method, train, validation, test, database })
}

/// Splits the samples at `part` into (train, validation) the way [`split`] splits a dataset:
/// whole blocks, grouped by majority class.
pub fn carve(samples: &[Sample], part: &[usize], fraction: f64, block_seconds: i64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let subset: Vec<Sample> = part.iter().map(|&i| samples[i].clone()).collect();
    let s = split(&subset, fraction, block_seconds, seed);
    if s.train.is_empty() {
        return (part.to_vec(), Vec::new());
    }
    (s.train.iter().map(|&i| part[i]).collect(), s.test.iter().map(|&i| part[i]).collect())
}

/// `k` disjoint folds covering every sample, each made of whole time blocks (or single samples
/// without times). Blocks are grouped by majority class and each group's blocks are dealt to
/// the fold holding the fewest of that group's frames, so every class is spread over the folds.
pub fn k_folds(samples: &[Sample], k: usize, block_seconds: i64, seed: u64) -> Vec<Vec<usize>> {
    let mut folds = vec![Vec::new(); k];
    let mut rng = Rng::new(seed ^ 0xF01D);
    for mut blocks in block_groups(samples, block_seconds) {
        rng.shuffle(&mut blocks);
        // Largest blocks first, each to the currently smallest fold (of this group).
        blocks.sort_by_key(|b| std::cmp::Reverse(b.len()));
        let mut held = vec![0usize; k];
        for block in blocks {
            let f = (0..k).min_by_key(|&f| (held[f], f)).unwrap_or(0);
            held[f] += block.len();
            folds[f].extend(block);
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// The "cifar10-1" protocol of DPSH/DSH: (queries, training images, database) positions.
pub fn cifar10_1(labels: &[usize], seed: u64) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>), ProtocolError> {
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut rng = Rng::new(seed);
    let (mut q, mut t, mut db) = (Vec::new(), Vec::new(), Vec::new());
    for (c, mut members) in by_class.into_iter().enumerate() {
        if members.len() < 600 {
            return Err(ProtocolError::Cifar(c, members.len()));
        }
        rng.shuffle(&mut members);
        q.extend_from_slice(&members[..100]);
        t.extend_from_slice(&members[100..600]);
        db.extend_from_slice(&members[100..]);
    }
    for v in [&mut q, &mut t, &mut db] {
        v.sort_unstable();
    }
    Ok((q, t, db))
}

fn without(all: &[usize], remove: &[usize]) -> Vec<usize> {
    let gone: std::collections::HashSet<usize> = remove.iter().copied().collect();
    all.iter().copied().filter(|i| !gone.contains(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample { id: format!("f{i}"), label: Some((i / 60) % 4), timestamp: Some(1_071_976_241 + i as i64 * 10) })
            .collect()
    }

    fn block(s: &[Sample], i: usize) -> i64 {
        s[i].timestamp.unwrap().div_euclid(120)
    }

    #[test]
    fn validation_never_shares_a_block_with_test_or_train() {
        let samples = timed(1200);
        let plan = Plan { protocol: Protocol::Blocks { test_fraction: 0.25 }, validation_fraction: 0.2, validation_fold: None, block_seconds: 120, seed: 5 };
        let p = partition(&samples, None, &plan).unwrap();
        assert_eq!(p.train.len() + p.validation.len() + p.test.len(), 1200);
        let blocks = |v: &[usize]| v.iter().map(|&i| block(&samples, i)).collect::<std::collections::BTreeSet<_>>();
        let (tr, va, te) = (blocks(&p.train), blocks(&p.validation), blocks(&p.test));
        assert!(va.is_disjoint(&te) && va.is_disjoint(&tr) && tr.is_disjoint(&te));
        assert!(!p.validation.is_empty());
        for c in 0..4 {
            assert!(p.validation.iter().any(|&i| samples[i].label == Some(c)), "class {c} missing from validation");
        }
        assert_eq!(p, partition(&samples, None, &plan).unwrap(), "deterministic");
    }

    #[test]
    fn folds_cover_everything_once_by_block() {
        let samples = timed(1200);
        let folds = k_folds(&samples, 5, 120, 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..1200).collect::<Vec<_>>());
        for (a, fa) in folds.iter().enumerate() {
            assert!(fa.len() >= 200 && fa.len() <= 280, "fold {a} has {}", fa.len());
            for fb in &folds[a + 1..] {
                let ba: std::collections::BTreeSet<_> = fa.iter().map(|&i| block(&samples, i)).collect();
                assert!(fb.iter().all(|&i| !ba.contains(&block(&samples, i))));
            }
        }
        let plan = Plan { protocol: Protocol::Fold { folds: 5, fold: 2 }, validation_fraction: 0.2, validation_fold: None, block_seconds: 120, seed: 1 };
        let p = partition(&samples, None, &plan).unwrap();
        assert_eq!(p.test, folds[2]);
    }

    /// Validation folds of the training part: the test part is the same for every fold, and
    /// the folds' validation blocks together are the whole training part, once each.
    #[test]
    fn validation_folds_cover_the_training_part_once_and_leave_test_alone() {
        let samples = timed(1200);
        let plan = |f| Plan { protocol: Protocol::Blocks { test_fraction: 0.25 }, validation_fraction: 0.2, validation_fold: Some((3, f)), block_seconds: 120, seed: 5 };
        let parts: Vec<Partition> = (0..3).map(|f| partition(&samples, None, &plan(f)).unwrap()).collect();
        let mut seen: Vec<usize> = parts.iter().flat_map(|p| p.validation.clone()).collect();
        seen.sort_unstable();
        let mut rest: Vec<usize> = parts[0].train.iter().chain(&parts[0].validation).copied().collect();
        rest.sort_unstable();
        assert_eq!(seen, rest, "every training image validates once");
        for p in &parts {
            assert_eq!(p.test, parts[0].test);
            let blocks = |v: &[usize]| v.iter().map(|&i| block(&samples, i)).collect::<std::collections::BTreeSet<_>>();
            assert!(blocks(&p.validation).is_disjoint(&blocks(&p.train)));
            assert!(p.method.contains("of 3 of the training part"), "{}", p.method);
        }
        assert!(matches!(partition(&samples, None, &plan(3)), Err(ProtocolError::Fold { fold: 3, folds: 3 })));
    }

    #[test]
    fn cifar_protocol_counts() {
        let labels: Vec<usize> = (0..6000).map(|i| i % 10).collect();
        let (q, t, db) = cifar10_1(&labels, 3).unwrap();
        assert_eq!((q.len(), t.len(), db.len()), (1000, 5000, 5000));
        assert!(q.iter().all(|i| db.binary_search(i).is_err()));
        assert!(matches!(cifar10_1(&labels[..5000], 3), Err(ProtocolError::Cifar(_, 500))));
    }
}
