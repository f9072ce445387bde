//! An exponential moving average of the weights (Polyak averaging), the model that is
//! validated, kept and exported when the recipe asks for it.
//!
//! Why: on YRS the validation score of the raw weights swings by 0.1–0.15 of balanced accuracy
//! from one epoch to the next (a few nights decide it), so "the best epoch" is mostly the
//! luckiest one. The average of the last few epochs' weights sits in the middle of that swing:
//! it moves slowly, so the epoch chosen on validation nights says more about other nights.

use crate::model::AuroraNet;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// The averaging rate of step `step` (0-based) for a horizon of `horizon_steps`: `1 − 1/h`,
/// but lower at the start (`(1 + t) / (10 + t)`, as in TensorFlow's moving averages), so the
/// first, random weights are forgotten quickly instead of dragging the average for hundreds
/// of steps.
pub fn decay(step: usize, horizon_steps: f64) -> f64 {
    let long = 1.0 - 1.0 / horizon_steps.max(1.0);
    let t = step as f64;
    long.min((1.0 + t) / (10.0 + t))
}

/// Moves `average` towards `current` (the same network): `average·d + current·(1 − d)` for
/// every float parameter. Both must be inference models on the same device.
pub fn update(average: AuroraNet, current: &AuroraNet, d: f64) -> AuroraNet {
    let mut collect = Collect(Vec::new());
    current.visit(&mut collect);
    let mut blend = Blend { current: collect.0.into_iter(), d };
    average.map(&mut blend)
}

/// Every float parameter, flattened, in the module's visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// Blends each parameter with the next collected one (same order, same network, so the same
/// shapes).
struct Blend<I> {
    current: I,
    d: f64,
}

impl<I: Iterator<Item = Tensor<1>>> ModuleMapper for Blend<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self.current.next().expect("the averaged and the trained network have the same parameters");
        let d = self.d;
        param.map(|avg| {
            let dims = avg.dims();
            avg.mul_scalar(d).add(current.reshape(dims).mul_scalar(1.0 - d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, ModelConfig};
    use burn::tensor::Device;

    fn first_weights(m: &AuroraNet) -> Vec<f32> {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0[0].clone().into_data().try_into_vec_as::<f32>().expect("float data")
    }

    #[test]
    fn the_average_moves_part_of_the_way_to_the_current_weights() {
        let device = Device::flex();
        let config = ModelConfig { width: 0.125, fc_width: 16, ..ModelConfig::paper(Arch::ImAlexnetSp, 12, 4, 1, 32) };
        device.seed(1);
        let a = AuroraNet::new(&config, &device);
        device.seed(2);
        let b = AuroraNet::new(&config, &device);
        let (wa, wb) = (first_weights(&a), first_weights(&b));
        let mixed = first_weights(&update(a, &b, 0.75));
        for ((x, y), m) in wa.iter().zip(&wb).zip(&mixed) {
            assert!((m - (0.75 * x + 0.25 * y)).abs() < 1e-5, "{m} vs {x}, {y}");
        }
    }

    #[test]
    fn decay_forgets_the_start_quickly_then_follows_the_horizon() {
        assert!((decay(0, 1000.0) - 0.1).abs() < 1e-12);
        assert!(decay(10, 1000.0) < 0.6);
        assert!((decay(1_000_000, 1000.0) - 0.999).abs() < 1e-12);
        // A horizon under one step still gives a rate in [0, 1).
        assert_eq!(decay(5, 0.5), 0.0);
    }
}
