//! What a user is told about one picture, computed the same way by `aurora-hash query` and
//! by the page: the calibrated probabilities, whether the top two classes are too close to
//! call, whether the picture looks like the frames the model learned from at all, and the
//! words for each class.
//!
//! The numbers come from the network; the settings that turn them into an answer (the
//! calibration temperature, the out-of-domain statistics and threshold, the class names and
//! descriptions) travel in the bundle as [`Confidence`] and [`ClassInfo`].

use crate::calibrate;
use crate::data::AURORA_CLASSES;
use crate::ood::OodModel;
use serde::{Deserialize, Serialize};

/// When the two most probable classes are closer than this (calibrated), the answer says the
/// model cannot tell them apart rather than naming one.
pub const AMBIGUOUS_MARGIN: f32 = 0.2;

/// How sure a bundle's model may claim to be.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Confidence {
    /// Divides the logits (fitted on validation frames); 1 = the raw softmax.
    pub temperature: f32,
    /// Added to each class's logit after the temperature ([`calibrate::fit_class_offsets`]);
    /// empty (bundles without them): none. They can change the answer's class, which is why
    /// the archive's predicted classes are computed through [`Confidence::calibrated`] too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_offsets: Vec<f32>,
    /// Out-of-domain statistics and threshold; none for bundles made before they existed.
    #[serde(default)]
    pub ood: Option<OodModel>,
}

impl Default for Confidence {
    fn default() -> Self {
        Self { temperature: 1.0, class_offsets: Vec::new(), ood: None }
    }
}

impl Confidence {
    /// The calibrated probabilities of a batch of softmax rows (`classes` per image).
    pub fn calibrated(&self, raw_probs: &[f32], classes: usize) -> Vec<f32> {
        calibrate::apply(raw_probs, classes, self.temperature, &self.class_offsets)
    }
}

/// A class as people read it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassInfo {
    /// The label as in the data ("hot_spot").
    pub id: String,
    /// The name shown ("hot-spot aurora").
    pub name: String,
    /// One or two sentences on what it is; may be empty.
    pub description: String,
}

impl ClassInfo {
    /// The words for `classes`: the aurora classes' own, and the label itself for others (a
    /// bundle trained on other data says nothing it does not know).
    pub fn defaults(classes: &[String]) -> Vec<ClassInfo> {
        classes
            .iter()
            .map(|c| {
                let (name, description) = match c.as_str() {
                    "arc" => ("arc aurora", "A quiet band of light stretched east–west across the sky, often the first aurora of the night."),
                    "drapery" => ("drapery corona", "Curtains of light hanging in folds and rays, rippling as the aurora becomes active."),
                    "radial" => ("radial corona", "Rays that seem to burst outward from one point overhead: you are looking straight up along Earth's magnetic field."),
                    "hot_spot" => ("hot-spot aurora", "Bright, irregular patches and spots of light, typical of the dayside aurora near noon."),
                    other => (other, ""),
                };
                ClassInfo { id: c.clone(), name: name.to_string(), description: description.to_string() }
            })
            .collect()
    }

    /// Whether `classes` are the paper's four aurora classes (in any order).
    pub fn are_aurora(classes: &[String]) -> bool {
        let mut a: Vec<&str> = classes.iter().map(String::as_str).collect();
        let mut b = AURORA_CLASSES.to_vec();
        a.sort_unstable();
        b.sort_unstable();
        a == b
    }
}

/// The answer for one picture.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    /// Index of the most probable class.
    pub class: usize,
    /// The runner-up, for "arc or drapery".
    pub runner_up: usize,
    /// Calibrated probabilities.
    pub probabilities: Vec<f32>,
    /// The top two are within [`AMBIGUOUS_MARGIN`]: the model cannot tell them apart.
    pub ambiguous: bool,
    /// Out-of-domain score (Mahalanobis distance² to the nearest class) and its threshold;
    /// none when the bundle carries no statistics.
    pub ood_score: Option<f32>,
    pub ood_threshold: Option<f32>,
    /// The picture does not look like the frames the model learned from: the class is a guess.
    pub out_of_domain: bool,
}

/// `raw_probs`: the network's softmax for one picture; `feature`: its activations of the
/// layer `confidence.ood` was fitted on (ignored without statistics).
pub fn answer(raw_probs: &[f32], feature: &[f32], confidence: &Confidence) -> Answer {
    let probabilities = confidence.calibrated(raw_probs, raw_probs.len());
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    // Most probable first; the first class wins a tie, as in `infer::predicted_classes`.
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
    let (class, runner_up) = (order[0], order.get(1).copied().unwrap_or(order[0]));
    let ambiguous = order.len() > 1 && probabilities[class] - probabilities[runner_up] < AMBIGUOUS_MARGIN;
    let ood_score = confidence.ood.as_ref().map(|m| m.score(feature));
    let out_of_domain = confidence.ood.as_ref().zip(ood_score).is_some_and(|(m, s)| m.is_out(s));
    Answer {
        class,
        runner_up,
        probabilities,
        ambiguous,
        ood_score,
        ood_threshold: confidence.ood.as_ref().map(|m| m.threshold),
        out_of_domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrates_and_says_when_it_cannot_tell() {
        let c = Confidence { temperature: 2.0, ..Confidence::default() };
        let a = answer(&[0.9, 0.09, 0.01], &[], &c);
        assert_eq!((a.class, a.runner_up), (0, 1));
        assert!(a.probabilities[0] < 0.9, "softened: {:?}", a.probabilities);
        assert!(!a.ambiguous && !a.out_of_domain && a.ood_score.is_none());
        let close = answer(&[0.45, 0.4, 0.15], &[], &Confidence::default());
        assert!(close.ambiguous);
        let names = ClassInfo::defaults(&["hot_spot".into(), "cat".into()]);
        assert_eq!(names[0].name, "hot-spot aurora");
        assert_eq!((names[1].name.as_str(), names[1].description.as_str()), ("cat", ""));
        // An offset can move the answer to another class.
        let shifted = Confidence { class_offsets: vec![0.0, 3.0, 0.0], ..Confidence::default() };
        assert_eq!(answer(&[0.6, 0.3, 0.1], &[], &shifted).class, 1);
        assert!(ClassInfo::are_aurora(&["radial".into(), "arc".into(), "hot_spot".into(), "drapery".into()]));
    }
}
