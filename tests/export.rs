//! The bundle's f16 weights give the same codes as the f32 model, and damaged bundles are
//! refused with the file named.

use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::synthetic;
use aurora_hash::export::{BundleError, Manifest, model_from_bytes, weights_to_bytes};
use aurora_hash::infer::encode;
use aurora_hash::model::{Arch, ModelConfig};
use aurora_hash::train::{TrainConfig, Trainer, epoch_batches};
use burn::tensor::Device;

#[test]
fn f16_bundle_codes_match_f32_codes() {
    let size = 64;
    let pre = Preprocess::new(size, 1, true);
    let x: Vec<Vec<f32>> =
        (0..96).map(|i| pre.apply(&image::DynamicImage::ImageLuma8(synthetic::frame(5, i, 96)))).collect();
    let y: Vec<usize> = (0..96).map(synthetic::class_of).collect();
    let mut cfg = ModelConfig::paper(Arch::ImAlexnetSp, 48, 4, 1, size);
    cfg.width = 0.25;
    cfg.fc_width = 128;
    cfg.dropout = 0.0;
    let mut tc = TrainConfig::new(48);
    tc.learning_rate = 3e-4;
    tc.batch_size = 16;
    let mut trainer = Trainer::new(cfg.clone(), tc.clone(), Device::flex());
    for epoch in 0..4 {
        for b in epoch_batches(x.len(), 16, 1, epoch) {
            let xb: Vec<f32> = b.iter().flat_map(|&i| x[i].iter().copied()).collect();
            let yb: Vec<usize> = b.iter().map(|&i| y[i]).collect();
            trainer.step(xb, &yb);
        }
    }
    let device = Device::flex();
    let f32_model = trainer.inference_model();
    let reference = encode(&f32_model, &cfg, x.concat(), x.len(), &device);
    let f16 = weights_to_bytes(&f32_model, true).unwrap();
    let f32b = weights_to_bytes(&f32_model, false).unwrap();
    assert!(f16.len() * 10 < f32b.len() * 6, "f16 {} vs f32 {}", f16.len(), f32b.len());
    let half = model_from_bytes(&cfg, f16, &device).unwrap();
    let got = encode(&half, &cfg, x.concat(), x.len(), &device);
    let same = reference.hash.iter().zip(&got.hash).filter(|(a, b)| (**a >= 0.5) == (**b >= 0.5)).count();
    let share = same as f64 / reference.hash.len() as f64;
    assert!(share >= 0.99, "only {:.4} of bits agree", share);
    let argmax = |p: &[f32]| (0..4).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    let agree = reference.probs.chunks(4).zip(got.probs.chunks(4)).filter(|(a, b)| argmax(a) == argmax(b)).count();
    assert!(agree as f64 >= 0.97 * x.len() as f64, "classes agree on {agree} of {}", x.len());
    // The f32 bundle is exact.
    let exact = model_from_bytes(&cfg, f32b, &device).unwrap();
    assert_eq!(encode(&exact, &cfg, x.concat(), x.len(), &device).hash, reference.hash);
}

#[test]
fn damaged_or_mismatched_weights_are_refused() {
    let device = Device::flex();
    let mut cfg = ModelConfig::paper(Arch::ImAlexnetSp, 12, 4, 1, 64);
    cfg.width = 0.125;
    cfg.fc_width = 16;
    let model = aurora_hash::model::AuroraNet::new(&cfg, &device);
    let bytes = weights_to_bytes(&model, true).unwrap();
    assert!(matches!(model_from_bytes(&cfg, bytes[..bytes.len() / 2].to_vec(), &device), Err(BundleError::Weights(_))));
    assert!(matches!(model_from_bytes(&cfg, b"not weights".to_vec(), &device), Err(BundleError::Weights(_))));
    let mut other = cfg.clone();
    other.bits = 24;
    assert!(model_from_bytes(&other, bytes.clone(), &device).is_err());
    // The manifest names the damaged file.
    let m = Manifest::for_files(&[("model.bpk", &bytes)]);
    assert!(m.verify("model.bpk", &bytes).is_ok());
    let mut flipped = bytes.clone();
    flipped[100] ^= 1;
    let err = m.verify("model.bpk", &flipped).unwrap_err().to_string();
    assert!(err.contains("model.bpk") && err.contains("checksum"), "{err}");
    let err = m.verify("model.bpk", &bytes[..10]).unwrap_err().to_string();
    assert!(err.contains("size"), "{err}");
    assert!(m.verify("archive.idx", &bytes).is_err());
}
