//! Pseudo-labels: unlabelled frames the model is sure of, added to the training images with
//! the class it gave them (Lee 2013). Whether they help is decided on the validation blocks,
//! not assumed: a model trained with them replaces the one without only if it scores better
//! there.

/// The frames whose most probable class has probability ≥ `threshold`, with that class:
/// `(position, class)` pairs in position order. `probs` is row-major, `classes` per frame,
/// and should be calibrated (a temperature fitted on validation data), or the threshold means
/// little.
pub fn select(probs: &[f32], classes: usize, threshold: f32) -> Vec<(usize, usize)> {
    probs
        .chunks_exact(classes)
        .enumerate()
        .filter_map(|(i, p)| {
            let (c, &best) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            (best >= threshold).then_some((i, c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_only_confident_frames() {
        let probs = [0.9, 0.05, 0.05, 0.4, 0.35, 0.25, 0.02, 0.97, 0.01];
        assert_eq!(super::select(&probs, 3, 0.9), vec![(0, 0), (2, 1)]);
        assert!(super::select(&probs, 3, 0.99).is_empty());
    }
}
