//! Power mean transformation (Zhang & Wu 2019, paper section 2.2.2): `x ↦ [ln(x + b), ln²(x + b)]`
//! between SPP and fc6, adding a non-linearity the ReLUs and max pools do not give.
//!
//! `b` is learned, one value per conv5 channel (shared by all pyramid bins of that channel, so it
//! does not depend on the input size). It must stay positive for the log to be defined at
//! x = 0 (x ≥ 0 after ReLU and max pooling), so the parameter is `raw` and `b = softplus(raw)`,
//! initialised to b = 1 (ln(x + 1) starts at 0 for silent features). The gradients of paper
//! eq. 1–2 are what autodiff derives from this forward.

use burn::module::{Module, Param};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct Pmt {
    pub raw_b: Param<Tensor<1>>,
}

/// softplus⁻¹(1) = ln(e − 1).
const RAW_FOR_B_ONE: f32 = 0.541_324_87;

impl Pmt {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self { raw_b: Param::from_tensor(Tensor::full([channels], RAW_FOR_B_ONE, device)) }
    }

    /// The current `b`, one per channel.
    pub fn b(&self) -> Tensor<1> {
        softplus(self.raw_b.val(), 1.0)
    }

    /// `[batch, c, h, w]` → `[batch, 2c, h, w]`: ln(x + b) for every channel, then ln²(x + b).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let b = self.b().reshape([1, c, 1, 1]);
        let l = (x + b).log();
        Tensor::cat(vec![l.clone(), l.square()], 1)
    }
}
