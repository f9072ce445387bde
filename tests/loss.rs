//! The loss of eq. 4–6 against values computed by hand.

use aurora_hash::loss::{LossConfig, PairLoss, contrastive, dpsh, dsh, hash_loss};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Tensor, TensorData};

fn scalar(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

#[test]
fn contrastive_loss_of_a_worked_batch() {
    let device = Device::flex();
    // Three 2-bit outputs. Pairs: (0,1) same class, d² = 0.5² + 0.5² = 0.5;
    // (0,2) different, d² = 1 + 1 = 2; (1,2) different, d² = 0.25 + 0.25 = 0.5.
    let h = Tensor::<2>::from_data(TensorData::new(vec![0.0, 0.0, 0.5, 0.5, 1.0, 1.0], [3, 2]), &device);
    let labels = [0, 0, 1];
    let m = 1.0;
    // ½·d² for the similar pair; ½·max(m − d², 0) for the others: 0.25 + 0 + 0.25, over 3 pairs.
    let want = (0.5 * 0.5 + 0.5 * 0.0 + 0.5 * 0.5) / 3.0;
    let got = scalar(contrastive(h.clone(), &labels, m));
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn total_is_mu_ce_plus_lambda_contrastive() {
    let device = Device::flex();
    let h = Tensor::<2>::from_data(TensorData::new(vec![0.2, 0.9, 0.7, 0.1], [2, 2]), &device);
    let logits = Tensor::<2>::from_data(TensorData::new(vec![2.0, 0.0, 0.0, 1.0], [2, 2]), &device);
    let labels = [0, 1];
    // CE: mean of −ln softmax(true class) = −½[ln(e²/(e²+1)) + ln(e/(1+e))].
    let e = std::f32::consts::E;
    let ce = -0.5 * ((e * e / (e * e + 1.0)).ln() + (e / (1.0 + e)).ln());
    // One dissimilar pair: d² = 0.25 + 0.64 = 0.89, margin 2 → ½(2 − 0.89) = 0.555.
    let cl = 0.5 * (2.0 - 0.89);
    let cfg = LossConfig { pair: PairLoss::Contrastive, mu: 0.5, lambda: 2.0, margin: 2.0 };
    let parts = hash_loss(&CrossEntropyLossConfig::new().init(&Device::flex()), logits, h, &labels, None, &cfg);
    assert!((scalar(parts.cross_entropy) - ce).abs() < 1e-5);
    assert!((scalar(parts.contrastive) - cl).abs() < 1e-5);
    assert!((scalar(parts.total) - (0.5 * ce + 2.0 * cl)).abs() < 1e-5);
}

#[test]
fn lambda_zero_is_the_no_hash_loss_ablation() {
    let device = Device::flex();
    let h = Tensor::<2>::zeros([2, 4], &device);
    let logits = Tensor::<2>::zeros([2, 3], &device);
    let parts = hash_loss(&CrossEntropyLossConfig::new().init(&Device::flex()), logits, h, &[0, 1], None, &LossConfig { pair: PairLoss::Contrastive, mu: 1.0, lambda: 0.0, margin: 1.0 });
    assert_eq!(scalar(parts.contrastive), 0.0);
    assert!((scalar(parts.total) - 3f32.ln()).abs() < 1e-5);
}

#[test]
fn dsh_and_dpsh_of_a_worked_pair() {
    let device = Device::flex();
    // Two 2-bit outputs, h = (0.75, 0.5) and (0.25, 1.0): u = 2h − 1 = (0.5, 0) and (−0.5, 1).
    let h = Tensor::<2>::from_data(TensorData::new(vec![0.75, 0.5, 0.25, 1.0], [2, 2]), &device);
    // DSH, different classes, m = 4: ‖ui − uj‖² = 1 + 1 = 2 → ½·max(4 − 2, 0) = 1; regulariser
    // 0.01·(Σ|1 − |u||) over both images = 0.01·(0.5 + 1 + 0.5 + 0) = 0.02.
    let got = scalar(dsh(h.clone(), &[0, 1], 4.0));
    assert!((got - 1.02).abs() < 1e-5, "{got}");
    // Same class: ½·2 = 1, same regulariser.
    let got = scalar(dsh(h.clone(), &[0, 0], 4.0));
    assert!((got - 1.02).abs() < 1e-5, "{got}");
    // DPSH: θ = ½(−0.25 + 0) = −0.125. Similar: softplus(θ) − θ; dissimilar: softplus(θ).
    // Quantisation: η/B·Σ‖sign(u) − u‖² = 0.05·((1 − 0.5)² + (0 − 0)² + (−1 + 0.5)² + 0) = 0.025
    // (sign(0) = 0).
    let softplus = |x: f32| (1.0 + x.exp()).ln();
    let got = scalar(dpsh(h.clone(), &[0, 0]));
    assert!((got - (softplus(-0.125) + 0.125 + 0.025)).abs() < 1e-5, "{got}");
    let got = scalar(dpsh(h, &[0, 1]));
    assert!((got - (softplus(-0.125) + 0.025)).abs() < 1e-5, "{got}");
}
