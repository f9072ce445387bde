//! The model pieces and the search, run inside Chromium by wasm-bindgen-test: WebGPU against
//! hand-computed values and against the CPU backend compiled to wasm, and the page-side search
//! against a brute-force ranking. `scripts/test.sh` runs them:
//! `cargo test --release --target wasm32-unknown-unknown -p aurora-hash-web`.
#![cfg(target_family = "wasm")]

use aurora_hash::data::AURORA_CLASSES;
use aurora_hash::data::preprocess::Preprocess;
use aurora_hash::export::{BUNDLE_FORMAT, Bundle, BundleConfig, CONFIG_FILE, Manifest, WEIGHTS_FILE, WeightsDtype, weights_to_bytes};
use aurora_hash::index::CodeIndex;
use aurora_hash::hashing::{code_from_hex, hamming, pack_code};
use aurora_hash::model::{Arch, AuroraNet, ModelConfig, Pmt, spatial_pyramid_pool};
use aurora_hash::ood::Layer;
use aurora_hash_web::backend::{Preference, choose};
use aurora_hash_web::{Archive, Catalog, Engine};
use burn::tensor::{Device, Tensor, TensorData};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn webgpu() -> Device {
    let chosen = choose(Preference::WebGpu).await.expect("headless Chromium with --enable-unsafe-webgpu has a WebGPU adapter");
    assert!(chosen.webgpu);
    chosen.device
}

async fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_into_vec::<f32>().unwrap()
}

#[wasm_bindgen_test]
async fn spp_on_webgpu_matches_hand_computed_maxima() {
    let device = webgpu().await;
    // One 5×5 map holding 0..25: bins of 4 over 5 rows are 0..2, 1..3, 2..4, 3..5.
    let x = Tensor::<4>::from_data(TensorData::new((0..25).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 5, 5]), &device);
    let levels = spatial_pyramid_pool(x, &[4, 2, 1]);
    let four = values(levels[0].clone()).await;
    assert_eq!(four[0], 6.0);
    assert_eq!(four[15], 24.0);
    assert_eq!(values(levels[1].clone()).await, vec![12.0, 14.0, 22.0, 24.0]);
    assert_eq!(values(levels[2].clone()).await, vec![24.0]);
}

#[wasm_bindgen_test]
async fn pmt_on_webgpu_is_ln_and_ln_squared() {
    let device = webgpu().await;
    let pmt = Pmt::new(1, &device);
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 5.0], [1, 1, 2, 2]), &device);
    let y = values(pmt.forward(x)).await;
    for (i, v) in [0.0f32, 1.0, 2.0, 5.0].into_iter().enumerate() {
        let l = (v + 1.0).ln();
        assert!((y[i] - l).abs() < 1e-5 && (y[4 + i] - l * l).abs() < 1e-5, "{y:?}");
    }
}

/// One untrained network of `config` on the CPU path and on WebGPU, through bytes stored as
/// `dtype` as a bundle ships them, so both sides hold the same rounded weights.
async fn on_both(config: &ModelConfig, dtype: WeightsDtype) -> (AuroraNet, Device, AuroraNet, Device) {
    let gpu = webgpu().await;
    let cpu = Device::flex();
    let bytes = weights_to_bytes(&AuroraNet::new(config, &cpu), dtype).unwrap();
    let on_cpu = aurora_hash::export::model_from_bytes(config, bytes.clone(), &cpu).unwrap();
    let on_gpu = aurora_hash::export::model_from_bytes(config, bytes, &gpu).unwrap();
    (on_cpu, cpu, on_gpu, gpu)
}

#[wasm_bindgen_test]
async fn network_on_webgpu_matches_the_cpu_path() {
    network_matches_on_both(WeightsDtype::F16).await;
}

/// A q8 bundle is widened on the CPU backend (in wasm here) before the weights reach WebGPU.
#[wasm_bindgen_test]
async fn q8_network_on_webgpu_matches_the_cpu_path() {
    network_matches_on_both(WeightsDtype::Q8).await;
}

async fn network_matches_on_both(dtype: WeightsDtype) {
    let mut config = ModelConfig::paper(Arch::ImAlexnetSp, 48, 4, 1, 64);
    config.width = 0.25;
    config.fc_width = 128;
    let (on_cpu, cpu, on_gpu, gpu) = on_both(&config, dtype).await;
    // One image (what the page sends) and a batch.
    for (round, n) in [1, 1, 4, 4].into_iter().enumerate() {
        let pixels: Vec<f32> = (0..n * 64 * 64).map(|i| ((i * 7919 + round * 31) % 255) as f32 / 255.0 - 0.25).collect();
        let (h_cpu, p_cpu) = aurora_hash::infer::encode_tensors(&on_cpu, &config, pixels.clone(), n, &cpu);
        let (h_gpu, p_gpu) = aurora_hash::infer::encode_tensors(&on_gpu, &config, pixels, n, &gpu);
        let (h_cpu, h_gpu) = (values(h_cpu).await, values(h_gpu).await);
        let (p_cpu, p_gpu) = (values(p_cpu).await, values(p_gpu).await);
        let worst = h_cpu.iter().zip(&h_gpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-3, "round {round}, batch {n}: hash outputs differ by up to {worst}");
        let differing: u32 = (0..n).map(|i| hamming(&pack_code(&h_cpu[i * 48..(i + 1) * 48]), &pack_code(&h_gpu[i * 48..(i + 1) * 48]))).sum();
        assert!(differing as f64 <= 0.01 * (n * 48) as f64, "batch {n}: {differing} bits differ");
        assert!(p_cpu.iter().zip(&p_gpu).all(|(a, b)| (a - b).abs() < 1e-3), "batch {n}: probabilities differ");
    }
}

/// The activations the out-of-domain score reads (each conv block's spatial means and spreads
/// among them) are computed on WebGPU in the page: they must match the CPU path. A test of its
/// own, on a smaller network, because SwiftShader compiles every new kernel slowly and the
/// runner gives each test a fixed time.
#[wasm_bindgen_test]
async fn out_of_domain_features_on_webgpu_match_the_cpu_path() {
    let mut config = ModelConfig::paper(Arch::ImAlexnetSp, 12, 4, 1, 64);
    config.width = 0.125;
    config.fc_width = 32;
    let (on_cpu, cpu, on_gpu, gpu) = on_both(&config, WeightsDtype::F16).await;
    let pixels: Vec<f32> = (0..2 * 64 * 64).map(|i| ((i * 104729) % 251) as f32 / 251.0 - 0.25).collect();
    let (_, _, f_cpu) = aurora_hash::infer::encode_tensors_with_features(&on_cpu, &config, pixels.clone(), 2, &cpu);
    let (_, _, f_gpu) = aurora_hash::infer::encode_tensors_with_features(&on_gpu, &config, pixels, 2, &gpu);
    for layer in [Layer::Blocks, Layer::BlockStats] {
        let (a, b) = (values(f_cpu.of(layer)).await, values(f_gpu.of(layer)).await);
        assert_eq!(a.len(), 2 * aurora_hash::infer::Layers::width(&config, layer), "{layer:?}");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-3 * scale + 1e-5, "{layer:?}: WebGPU differs from the CPU path by up to {worst} (values up to {scale})");
    }
}

fn bundle(config: &ModelConfig, weights: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let bundle = BundleConfig {
        format: BUNDLE_FORMAT,
        model: config.clone(),
        preprocess: Preprocess::new(config.input_size, 1, true),
        classes: AURORA_CLASSES.iter().map(|c| c.to_string()).collect(),
        weights_dtype: "f16".into(),
        provenance: "test".into(),
        confidence: Default::default(),
        class_info: Vec::new(),
    };
    let json = serde_json::to_vec(&bundle).unwrap();
    let manifest = Manifest::for_files(&[(WEIGHTS_FILE, weights), (CONFIG_FILE, &json)]);
    (serde_json::to_vec(&manifest).unwrap(), json)
}

#[wasm_bindgen_test]
async fn engine_loads_a_bundle_and_refuses_a_damaged_one() {
    let mut config = ModelConfig::paper(Arch::ImAlexnetSp, 12, 4, 1, 64);
    config.width = 0.125;
    config.fc_width = 32;
    let weights = weights_to_bytes(&AuroraNet::new(&config, &Device::flex()), WeightsDtype::F16).unwrap();
    let (manifest, json) = bundle(&config, &weights);
    let engine = Engine::load(manifest.clone(), json.clone(), weights.clone(), "cpu".into()).await.unwrap_or_else(|_| panic!("loads"));
    assert_eq!(engine.backend(), "CPU (wasm)");
    assert_eq!(engine.bits(), 12);
    let mut damaged = weights.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    // JsError carries its message only across the JS boundary; the library error says the same.
    assert!(Engine::load(manifest.clone(), json.clone(), damaged.clone(), "cpu".into()).await.is_err());
    let m = Manifest::parse(&manifest).unwrap();
    assert!(m.verify(WEIGHTS_FILE, &damaged).unwrap_err().to_string().contains("model.bpk"));

    // bundle.json wrong one field at a time (the manifest fixed up, as a hand edit would be),
    // through the page's loader: refused every time, and the shared check names the file.
    let good: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let edits: [(&str, serde_json::Value); 10] = [
        ("/format", serde_json::json!(99)),
        ("/model/bits", serde_json::json!(16)),
        ("/model/width", serde_json::json!(0.25)),
        ("/model/input_size", serde_json::json!(1_000_000)),
        ("/model/in_channels", serde_json::json!(3)),
        ("/preprocess/std", serde_json::json!(0.0)),
        ("/preprocess/size", serde_json::json!(96)),
        ("/confidence/temperature", serde_json::json!(0.0)),
        ("/classes", serde_json::json!(["arc", "drapery", "radial"])),
        ("/confidence/class_offsets", serde_json::json!([0.0, 2.0])),
    ];
    for (pointer, value) in edits {
        let mut edited = good.clone();
        if edited.pointer(pointer).is_none() {
            edited["confidence"]["class_offsets"] = serde_json::Value::Null;
        }
        *edited.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        let edited = serde_json::to_vec(&edited).unwrap();
        let fixed = serde_json::to_vec(&Manifest::for_files(&[(WEIGHTS_FILE, &weights), (CONFIG_FILE, &edited)])).unwrap();
        assert!(Engine::load(fixed.clone(), edited.clone(), weights.clone(), "cpu".into()).await.is_err(), "bundle.json {pointer} = {value} loaded");
        let Err(e) = Bundle::open(&fixed, &edited, weights.clone(), &Device::flex()) else { panic!("bundle.json {pointer} = {value} opened") };
        let e = e.to_string();
        assert!(e.contains("bundle.json") || e.contains("model.bpk"), "bundle.json {pointer} = {value}: {e}");
    }
    // Archive indexes, through the search module's catalog of the same bundle: a good one
    // opens; cut short, of another code length or of other classes, refused, naming the file.
    let catalog = Catalog::open(&manifest, &json).unwrap_or_else(|_| panic!("the catalog opens"));
    assert!(catalog.verify(WEIGHTS_FILE, &weights).is_ok() && catalog.verify(WEIGHTS_FILE, &damaged).is_err());
    let classes: Vec<String> = AURORA_CLASSES.iter().map(|c| c.to_string()).collect();
    let index = CodeIndex::random(20, 12, classes.clone(), 1).to_bytes();
    assert_eq!(catalog.open_archive(&index).unwrap_or_else(|_| panic!("a good index opens")).len(), 20);
    let opened = Bundle::open(&manifest, &json, weights.clone(), &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    let mut bad: Vec<(String, Vec<u8>)> = [0, 10, index.len() / 2, index.len() - 1].iter().map(|&n| (format!("cut to {n} bytes"), index[..n].to_vec())).collect();
    bad.push(("16-bit codes".into(), CodeIndex::random(20, 16, classes.clone(), 1).to_bytes()));
    bad.push(("other classes".into(), CodeIndex::random(20, 12, vec!["a".into(), "b".into(), "c".into(), "d".into()], 1).to_bytes()));
    for (what, bytes) in &bad {
        assert!(catalog.open_archive(bytes).is_err(), "an index {what} opened");
        let e = opened.open_index("archive.idx", bytes, false).err().unwrap_or_else(|| panic!("an index {what} opened")).to_string();
        assert!(e.contains("archive.idx"), "an index {what}: {e}");
    }
}

#[wasm_bindgen_test]
fn search_in_the_page_ranks_like_brute_force() {
    let archive = Archive::random(5_000, 48, 3).unwrap_or_else(|_| panic!("archive"));
    let query = archive.code(17).unwrap_or_else(|_| panic!("code"));
    let q = code_from_hex(&query, 48).unwrap();
    let got: serde_json::Value = serde_json::from_str(&archive.search(&query, "", 20, -1, u32::MAX).unwrap_or_else(|_| panic!("search"))).unwrap();
    let mut want: Vec<(u32, usize)> = (0..archive.len())
        .map(|i| (hamming(&code_from_hex(&archive.code(i).unwrap_or_else(|_| panic!()), 48).unwrap(), &q), i))
        .collect();
    want.sort();
    let hits = got["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 20);
    for (h, (d, i)) in hits.iter().zip(&want) {
        assert_eq!((h["distance"].as_u64().unwrap() as u32, h["index"].as_u64().unwrap() as usize), (*d, *i));
    }
    // Searching by an archive image leaves the image itself out.
    let by_entry: serde_json::Value = serde_json::from_str(&archive.search_entry(17, 5, -1, u32::MAX).unwrap_or_else(|_| panic!())).unwrap();
    assert!(by_entry["hits"].as_array().unwrap().iter().all(|h| h["index"] != 17));
}

#[wasm_bindgen_test]
fn browsing_pages_through_matches_in_archive_order() {
    let archive = Archive::random(1_000, 12, 5).unwrap_or_else(|_| panic!("archive"));
    let page: serde_json::Value = serde_json::from_str(&archive.browse(990, 48, -1, false, f64::NEG_INFINITY, f64::INFINITY)).unwrap();
    assert_eq!(page["total"], 1_000);
    let idx: Vec<u64> = page["items"].as_array().unwrap().iter().map(|h| h["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, (990..1000).collect::<Vec<_>>());
    // Random archives have no labels (a label filter matches nothing) and one image a minute.
    let none: serde_json::Value = serde_json::from_str(&archive.browse(0, 10, 0, true, f64::NEG_INFINITY, f64::INFINITY)).unwrap();
    assert_eq!(none["total"], 0);
    let start = 1_071_964_800.0;
    let hour: serde_json::Value = serde_json::from_str(&archive.browse(0, 100, -1, false, start, start + 3599.0)).unwrap();
    assert_eq!(hour["total"], 60);
    assert_eq!(archive.time_range(), format!("[{},{}]", start as i64, start as i64 + 60 * 999));
}
