//! Learning-rate schedules, as a pure function of the step: a resumed run continues exactly
//! where it stopped, and the schedule can be plotted or tested without training.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The peak rate throughout (the legacy recipe).
    #[default]
    Constant,
    /// Linear warm-up from ~0 over `warmup_epochs`, then cosine decay to `final_fraction` of the
    /// peak at the last step. Warm-up keeps Adam's first, badly estimated steps small, which is
    /// what lets an AlexNet without normalisation layers leave its initial constant output;
    /// the decay lets it settle into a minimum instead of bouncing around one.
    WarmupCosine { warmup_epochs: f64, final_fraction: f64 },
}

impl Schedule {
    /// The rate at `step` (0-based) of `total` steps, `per_epoch` steps an epoch.
    pub fn rate(&self, peak: f64, step: usize, per_epoch: usize, total: usize) -> f64 {
        match *self {
            Schedule::Constant => peak,
            Schedule::WarmupCosine { warmup_epochs, final_fraction } => {
                let warmup = (warmup_epochs * per_epoch as f64).round().max(0.0) as usize;
                if step < warmup {
                    return peak * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let t = ((step - warmup) as f64 / span).min(1.0);
                let floor = peak * final_fraction;
                floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::WarmupCosine { warmup_epochs, final_fraction } => {
                if !(warmup_epochs >= 0.0 && warmup_epochs.is_finite()) {
                    return Err(format!("warm-up must be ≥ 0 epochs, got {warmup_epochs}"));
                }
                if !(0.0..=1.0).contains(&final_fraction) {
                    return Err(format!("the final learning-rate fraction must be in [0, 1], got {final_fraction}"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_the_floor() {
        let s = Schedule::WarmupCosine { warmup_epochs: 1.0, final_fraction: 0.1 };
        let (per_epoch, total) = (10, 100);
        let r: Vec<f64> = (0..total).map(|i| s.rate(1.0, i, per_epoch, total)).collect();
        assert!((r[0] - 0.1).abs() < 1e-12 && (r[9] - 1.0).abs() < 1e-12, "linear warm-up to the peak");
        assert!(r[10..].windows(2).all(|w| w[1] <= w[0] + 1e-12), "monotone decay after warm-up");
        assert!((s.rate(1.0, total, per_epoch, total) - 0.1).abs() < 1e-12, "ends at the floor");
        let mid = s.rate(1.0, 10 + 45, per_epoch, total);
        assert!((mid - 0.55).abs() < 1e-9, "half-way down the cosine: {mid}");
        assert_eq!(Schedule::Constant.rate(0.3, 57, 10, 100), 0.3);
    }
}
