//! Classification scores: accuracy, balanced accuracy (mean per-class recall) and the
//! confusion matrix of the paper's figure 5, and the mean negative log-likelihood the training
//! loop uses to break ties between checkpoints.
//!
//! Balanced accuracy is reported beside accuracy because YRS is 67 % arcs: a model that calls
//! everything an arc is 67 % accurate and 25 % balanced-accurate.

use serde::{Deserialize, Serialize};

/// Classification accuracy and the confusion matrix normalised by true class (each row sums
/// to 1, or is all zero for a class with no samples), as in the paper's figure 5.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassificationReport {
    pub accuracy: f64,
    /// Mean recall over the classes that have samples (reports written before it existed
    /// read as 0).
    #[serde(default)]
    pub balanced_accuracy: f64,
    /// Recall of each class (0 for a class without samples).
    #[serde(default)]
    pub recall: Vec<f64>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<usize>>,
    pub normalised: Vec<Vec<f64>>,
}

pub fn classification(truth: &[usize], predicted: &[usize], classes: usize) -> ClassificationReport {
    assert_eq!(truth.len(), predicted.len());
    let mut counts = vec![vec![0usize; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        counts[t][p] += 1;
    }
    let correct: usize = (0..classes).map(|c| counts[c][c]).sum();
    let normalised: Vec<Vec<f64>> = counts
        .iter()
        .map(|row| {
            let s: usize = row.iter().sum();
            row.iter().map(|&v| if s == 0 { 0.0 } else { v as f64 / s as f64 }).collect()
        })
        .collect();
    let present: Vec<usize> = (0..classes).filter(|&c| counts[c].iter().sum::<usize>() > 0).collect();
    let recall: Vec<f64> = (0..classes).map(|c| normalised[c][c]).collect();
    let balanced_accuracy = if present.is_empty() { 0.0 } else { present.iter().map(|&c| recall[c]).sum::<f64>() / present.len() as f64 };
    ClassificationReport {
        accuracy: if truth.is_empty() { 0.0 } else { correct as f64 / truth.len() as f64 },
        balanced_accuracy,
        recall,
        counts,
        normalised,
    }
}

/// Mean −ln p(true class) over images; `probs` row-major, `classes` per image. Probabilities
/// are floored at 1e-12 so one confident mistake costs ~28, not infinity.
pub fn mean_nll(probs: &[f32], truth: &[usize], classes: usize) -> f64 {
    let n = truth.len().max(1) as f64;
    probs.chunks_exact(classes).zip(truth).map(|(p, &t)| -(p[t].max(1e-12) as f64).ln()).sum::<f64>() / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_is_row_normalised() {
        let r = classification(&[0, 0, 1, 1, 1, 2], &[0, 1, 1, 1, 0, 2], 4);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.counts[1], vec![1, 2, 0, 0]);
        assert!((r.normalised[1][1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.normalised[3], vec![0.0; 4]);
        // Recalls 1/2, 2/3, 1 over the three classes present (class 3 has no samples).
        assert!((r.balanced_accuracy - (0.5 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
        assert!((mean_nll(&[0.5, 0.5, 0.25, 0.75], &[0, 1], 2) - (2f64.ln() + (4f64 / 3.0).ln()) / 2.0).abs() < 1e-6);
    }
}
