//! A short training run on the built-in synthetic frames lowers the loss and classifies and
//! retrieves held-out frames better than chance.

use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::synthetic;
use aurora_hash::hashing::CodeSet;
use aurora_hash::infer::encode;
use aurora_hash::metrics;
use aurora_hash::model::{Arch, ModelConfig};
use aurora_hash::train::{TrainConfig, Trainer, epoch_batches};
use burn::tensor::Device;

#[test]
fn short_run_lowers_loss_and_beats_chance() {
    let size = 64;
    let pre = Preprocess::new(size, 1, true);
    let frames = |range: std::ops::Range<usize>| -> (Vec<Vec<f32>>, Vec<usize>) {
        range
            .map(|i| {
                let img = image::DynamicImage::ImageLuma8(synthetic::frame(11, i, 96));
                (pre.apply(&img), synthetic::class_of(i))
            })
            .unzip()
    };
    let (train_x, train_y) = frames(0..320);
    let (test_x, test_y) = frames(1000..1080);

    let mut cfg = ModelConfig::paper(Arch::ImAlexnetSp, 16, 4, 1, size);
    cfg.width = 0.125;
    cfg.fc_width = 64;
    cfg.dropout = 0.0;
    let mut tc = TrainConfig::new(16);
    tc.batch_size = 16;
    tc.learning_rate = 1e-3;
    tc.seed = 3;
    let mut trainer = Trainer::new(cfg.clone(), tc.clone(), Device::flex());
    let mut epoch_loss = Vec::new();
    for epoch in 0..25 {
        let mut sum = 0.0;
        let batches = epoch_batches(train_x.len(), tc.batch_size, tc.seed, epoch);
        for b in &batches {
            let x: Vec<f32> = b.iter().flat_map(|&i| train_x[i].iter().copied()).collect();
            let y: Vec<usize> = b.iter().map(|&i| train_y[i]).collect();
            sum += trainer.step(x, &y).loss.total;
        }
        epoch_loss.push(sum / batches.len() as f32);
    }
    assert!(epoch_loss.last().unwrap() < &(epoch_loss[0] * 0.8), "loss did not fall: {epoch_loss:?}");

    let model = trainer.inference_model();
    let device = Device::flex();
    let enc = |x: &[Vec<f32>]| encode(&model, &cfg, x.concat(), x.len(), &device);
    let (q, db) = (enc(&test_x), enc(&train_x));
    let predicted: Vec<usize> = q
        .probs
        .chunks_exact(4)
        .map(|p| (0..4).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap())
        .collect();
    let acc = metrics::classification(&test_y, &predicted, 4).accuracy;
    let r = metrics::retrieval(
        &CodeSet::from_outputs(&q.hash, 16),
        &test_y,
        &CodeSet::from_outputs(&db.hash, 16),
        &train_y,
        None,
        &[10],
    );
    // Chance: accuracy 0.25, MAP ≈ 0.25 (balanced classes).
    assert!(acc > 0.45, "accuracy {acc} (losses {epoch_loss:?})");
    assert!(r.map > 0.4, "MAP {} (losses {epoch_loss:?})", r.map);
}
