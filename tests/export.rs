//! The bundle's f16 and q8 weights give the same codes as the f32 model, and damaged bundles
//! are refused with the file named.

use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::data::synthetic;
use aurora_hash::export::{BundleError, Manifest, WeightsDtype, model_from_bytes, weights_to_bytes};
use aurora_hash::infer::encode;
use aurora_hash::model::{Arch, ModelConfig};
use aurora_hash::train::{TrainConfig, Trainer, epoch_batches};
use burn::tensor::Device;

#[test]
fn f16_and_q8_bundle_codes_match_f32_codes() {
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
    let f16 = weights_to_bytes(&f32_model, WeightsDtype::F16).unwrap();
    let f32b = weights_to_bytes(&f32_model, WeightsDtype::F32).unwrap();
    assert!(f16.len() * 10 < f32b.len() * 6, "f16 {} vs f32 {}", f16.len(), f32b.len());
    let q8 = weights_to_bytes(&f32_model, WeightsDtype::Q8).unwrap();
    assert!(q8.len() * 10 < f32b.len() * 4, "q8 {} vs f32 {}", q8.len(), f32b.len());
    let argmax = |p: &[f32]| (0..4).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    for (dtype, bytes) in [("f16", f16), ("q8", q8)] {
        let narrow = model_from_bytes(&cfg, bytes, &device).unwrap();
        let got = encode(&narrow, &cfg, x.concat(), x.len(), &device);
        let same = reference.hash.iter().zip(&got.hash).filter(|(a, b)| (**a >= 0.5) == (**b >= 0.5)).count();
        let share = same as f64 / reference.hash.len() as f64;
        let agree = reference.probs.chunks(4).zip(got.probs.chunks(4)).filter(|(a, b)| argmax(a) == argmax(b)).count();
        println!("{dtype}: {share:.4} of bits and {agree} of {} classes agree with f32", x.len());
        assert!(share >= 0.99, "{dtype}: only {share:.4} of bits agree");
        assert!(agree as f64 >= 0.97 * x.len() as f64, "{dtype}: classes agree on {agree} of {}", x.len());
    }
    // The f32 bundle is exact.
    let exact = model_from_bytes(&cfg, f32b, &device).unwrap();
    assert_eq!(encode(&exact, &cfg, x.concat(), x.len(), &device).hash, reference.hash);
}

/// What each storage costs for the paper's full-size network (full width, 224 px, 48 bits),
/// and that q8 reads back close to the f32 weights.
#[test]
fn q8_weights_of_the_full_network_are_a_quarter_of_f32() {
    let device = Device::flex();
    let cfg = ModelConfig::paper(Arch::ImAlexnetSp, 48, 4, 1, 224);
    let model = aurora_hash::model::AuroraNet::new(&cfg, &device);
    let sizes: Vec<usize> = WeightsDtype::ALL.iter().map(|&d| weights_to_bytes(&model, d).unwrap().len()).collect();
    println!("full-width Im-AlexNet-SP at 224 px, 48 bits: f32 {:.2} MB, f16 {:.2} MB, q8 {:.2} MB", sizes[0] as f64 / 1e6, sizes[1] as f64 / 1e6, sizes[2] as f64 / 1e6);
    assert!(sizes[2] * 100 <= sizes[0] * 28, "q8 {} vs f32 {}", sizes[2], sizes[0]);
}

#[test]
fn q8_blocks_divide_the_weights_and_hold_at_most_64_values() {
    use aurora_hash::export::q8_block;
    assert_eq!(q8_block(&[96, 48, 5, 5]), vec![1, 2, 5, 5]);
    assert_eq!(q8_block(&[256, 96, 3, 3]), vec![1, 6, 3, 3]);
    assert_eq!(q8_block(&[10752, 1024]), vec![1, 64]);
    assert_eq!(q8_block(&[48, 4]), vec![16, 4]);
    assert_eq!(q8_block(&[64, 1, 5, 5]), vec![2, 1, 5, 5]);
    for dims in [[7usize, 13], [1, 1], [300, 11]] {
        let b = q8_block(&dims);
        assert!(dims.iter().zip(&b).all(|(d, b)| d % *b as usize == 0), "{dims:?} {b:?}");
        assert!(b.iter().map(|&b| b as usize).product::<usize>() <= 64, "{dims:?} {b:?}");
    }
}

/// A 12-bit network small enough to build in milliseconds.
fn tiny_config() -> ModelConfig {
    let mut cfg = ModelConfig::paper(Arch::ImAlexnetSp, 12, 4, 1, 64);
    cfg.width = 0.125;
    cfg.fc_width = 16;
    cfg
}

#[test]
fn damaged_or_mismatched_weights_are_refused() {
    let device = Device::flex();
    let cfg = tiny_config();
    let model = aurora_hash::model::AuroraNet::new(&cfg, &device);
    let bytes = weights_to_bytes(&model, WeightsDtype::F16).unwrap();
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

/// The one way every loader opens a bundle: the files against the manifest, the
/// configuration, the weights; then an index against the bundle (code length, class names,
/// and the manifest when it lists the index).
#[test]
fn a_bundle_opens_as_a_whole_and_refuses_an_index_made_with_another() {
    use aurora_hash::export::{BUNDLE_FORMAT, Bundle, BundleConfig, Catalog};
    use aurora_hash::index::{CodeIndex, Entry};
    let device = Device::flex();
    let cfg = tiny_config();
    let classes: Vec<String> = ["arc", "drapery", "radial", "hot-spot"].iter().map(|c| c.to_string()).collect();
    let config = BundleConfig {
        format: BUNDLE_FORMAT,
        preprocess: Preprocess::new(64, 1, true),
        classes: classes.clone(),
        weights_dtype: "f16".into(),
        provenance: "test".into(),
        model: cfg.clone(),
        confidence: Default::default(),
        class_info: Vec::new(),
    };
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let weights = weights_to_bytes(&aurora_hash::model::AuroraNet::new(&cfg, &device), WeightsDtype::F16).unwrap();
    let mut index = CodeIndex::new(12, classes.clone());
    index.push(Entry { id: "a.png".into(), predicted: 1, label: None, probability: 0.9, timestamp: None }, &[0b1010]);
    let index_bytes = index.to_bytes();
    let manifest = Manifest::for_files(&[("bundle.json", &config_bytes), ("model.bpk", &weights), ("archive.idx", &index_bytes)]);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();

    let bundle = Bundle::open(&manifest_bytes, &config_bytes, weights.clone(), &device).unwrap();
    assert_eq!(bundle.open_index("archive.idx", &index_bytes, false).unwrap().len(), 1);
    // A shard must be listed; a listed index must match its entry.
    let err = bundle.open_index("shard-0000.idx", &index_bytes, true).unwrap_err().to_string();
    assert!(err.contains("shard-0000.idx") && err.contains("not listed"), "{err}");
    let mut other_bytes = index_bytes.clone();
    other_bytes[40] ^= 1;
    let err = bundle.open_index("archive.idx", &other_bytes, false).unwrap_err().to_string();
    assert!(err.contains("archive.idx"), "{err}");
    // Another bundle's index: its code length, then its class names.
    let other = CodeIndex::new(24, classes.clone());
    let err = bundle.open_index("other.idx", &other.to_bytes(), false).unwrap_err().to_string();
    assert!(err.contains("other.idx") && err.contains("24-bit") && err.contains("do not belong together"), "{err}");
    let cifar = CodeIndex::new(12, vec!["cat".into(), "dog".into(), "ship".into(), "truck".into()]);
    let err = bundle.open_index("cifar.idx", &cifar.to_bytes(), false).unwrap_err().to_string();
    assert!(err.contains("cifar.idx") && err.contains("cat, dog") && err.contains("arc, drapery"), "{err}");
    let err = bundle.open_index("junk.idx", b"not an index", false).unwrap_err().to_string();
    assert!(err.contains("junk.idx"), "{err}");
    // The page's search module opens indexes without the network (a Catalog of the same
    // manifest and bundle.json): the same verdict, in the same words, every time.
    let catalog = Catalog::open(&manifest_bytes, &config_bytes).unwrap();
    let cases: [(&str, &[u8], bool); 6] = [
        ("archive.idx", &index_bytes, false),
        ("shard-0000.idx", &index_bytes, true),
        ("archive.idx", &other_bytes, false),
        ("other.idx", &other.to_bytes(), false),
        ("cifar.idx", &cifar.to_bytes(), false),
        ("junk.idx", b"not an index", false),
    ];
    for (name, bytes, listed) in cases {
        let opened = |r: Result<CodeIndex, _>| r.map(|i| i.len()).map_err(|e: aurora_hash::export::BundleError| e.to_string());
        assert_eq!(opened(catalog.open_index(name, bytes, listed)), opened(bundle.open_index(name, bytes, listed)), "{name}");
    }
    let err = Catalog::open(&manifest_bytes, b"{}").err().unwrap().to_string();
    assert!(err.contains("bundle.json"), "{err}");

    // The files against the manifest, each named.
    let err = Bundle::open(&manifest_bytes, b"{}", weights.clone(), &device).err().unwrap().to_string();
    assert!(err.contains("bundle.json"), "{err}");
    let err = Bundle::open(&manifest_bytes, &config_bytes, weights[..weights.len() - 1].to_vec(), &device).err().unwrap().to_string();
    assert!(err.contains("model.bpk"), "{err}");
    let err = Bundle::open(b"[", &config_bytes, weights, &device).err().unwrap().to_string();
    assert!(err.contains("manifest.json"), "{err}");
}
