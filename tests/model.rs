//! Shapes of the three networks at several input sizes, and SPP / PMT against hand-computed
//! values.

use aurora_hash::model::{Arch, AuroraNet, ModelConfig, Pmt, spatial_pyramid_pool};
use burn::tensor::{Device, Tensor, TensorData};

fn tiny(arch: Arch, size: usize, channels: usize) -> ModelConfig {
    let mut c = ModelConfig::paper(arch, 24, 4, channels, size);
    c.width = 0.125;
    c.fc_width = 32;
    c
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
fn every_network_gives_codes_and_logits_at_several_sizes() {
    let device = Device::flex();
    for arch in Arch::ALL {
        for size in [64, 97, 128] {
            for channels in [1, 3] {
                let cfg = tiny(arch, size, channels);
                let net = AuroraNet::new(&cfg, &device);
                let x = Tensor::<4>::zeros([2, channels, size, size], &device);
                let out = net.forward(x);
                assert_eq!(out.logits.dims(), [2, 4], "{arch:?} {size}px");
                assert_eq!(out.hash.dims(), [2, 24], "{arch:?} {size}px");
                let h = values(out.hash);
                assert!(h.iter().all(|v| (0.0..=1.0).contains(v)), "sigmoid range");
            }
        }
    }
}

#[test]
fn spp_networks_accept_sizes_other_than_the_training_size() {
    let device = Device::flex();
    let cfg = tiny(Arch::ImAlexnetSp, 96, 1);
    let net = AuroraNet::new(&cfg, &device);
    for size in [40, 150] {
        let out = net.forward(Tensor::<4>::ones([1, 1, size, size], &device));
        assert_eq!(out.hash.dims(), [1, 24]);
    }
    // Without SPP the flattened pool fixes the size: too small an input is refused up front.
    let mut no_spp = tiny(Arch::Alexnet, 32, 3);
    assert!(no_spp.validate().is_err());
    no_spp.input_size = no_spp.min_input();
    assert!(no_spp.validate().is_ok());
}

#[test]
fn paper_layer_sizes() {
    let c = ModelConfig::paper(Arch::ImAlexnetSp, 48, 4, 1, 224);
    assert_eq!(c.conv1(), (5, 4, 2));
    assert_eq!(c.channels(), [96, 256, 384, 384, 256]);
    // 21 bins × 256 channels, doubled by PMT.
    assert_eq!(c.fc6_inputs(), 2 * 21 * 256);
    assert_eq!(c.fc_width, 1024);
    let a = ModelConfig::paper(Arch::Alexnet, 48, 4, 3, 224);
    assert_eq!(a.conv1(), (11, 4, 2));
    // 224 → conv1 55 → pool 27 → pool 13 → pool 6: 6 × 6 × 256 = 9216, AlexNet's fc6 input.
    assert_eq!(a.fc6_inputs(), 9216);
    assert_eq!(a.fc_width, 4096);
    assert!(!a.spp_pmt);
    assert!(ModelConfig::paper(Arch::AlexnetSp, 48, 4, 3, 224).spp_pmt);
}

#[test]
fn full_size_im_alexnet_sp_forward() {
    let device = Device::flex();
    let cfg = ModelConfig::paper(Arch::ImAlexnetSp, 48, 4, 1, 224);
    let net = AuroraNet::new(&cfg, &device);
    let out = net.forward(Tensor::<4>::zeros([1, 1, 224, 224], &device));
    assert_eq!(out.hash.dims(), [1, 48]);
    let params = burn::module::Module::num_params(&net);
    // conv ≈ 3.8 M (with the 1×1 convs), fc6 11 M, fc7 1 M, hash + fc8 small.
    assert!((15_000_000..17_000_000).contains(&params), "{params}");
}

#[test]
fn spp_matches_hand_computed_bins() {
    let device = Device::flex();
    // One 5×5 map holding 0..25 row-major: the max of any block is its bottom-right entry.
    let x = Tensor::<4>::from_data(TensorData::new((0..25).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 5, 5]), &device);
    let levels = spatial_pyramid_pool(x, &[4, 2, 1]);
    // 4 bins over 5: rows/cols [0,2) [1,3) [2,4) [3,5) → last index 1, 2, 3, 4.
    let ends = [1.0f32, 2.0, 3.0, 4.0];
    let want4: Vec<f32> = ends.iter().flat_map(|&r| ends.iter().map(move |&c| r * 5.0 + c)).collect();
    assert_eq!(values(levels[0].clone()), want4);
    // 2 bins over 5: [0,3) [2,5) → last index 2, 4.
    assert_eq!(values(levels[1].clone()), vec![12.0, 14.0, 22.0, 24.0]);
    assert_eq!(values(levels[2].clone()), vec![24.0]);
    // Divisible sides take the strided-pool path: 4×4 map, 2 bins.
    let y = Tensor::<4>::from_data(TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]), &device);
    assert_eq!(values(spatial_pyramid_pool(y, &[2])[0].clone()), vec![5.0, 7.0, 13.0, 15.0]);
}

#[test]
fn pmt_matches_hand_computed_values() {
    let device = Device::flex();
    let pmt = Pmt::new(2, &device);
    let b = values(pmt.b());
    assert!(b.iter().all(|v| (v - 1.0).abs() < 1e-5), "b starts at 1: {b:?}");
    // x = [[0, e−1]] per channel (1×1 maps): ln(x+1) = [0, 1], squared = [0, 1].
    let e = std::f32::consts::E;
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0, e - 1.0, 3.0, 0.5], [2, 2, 1, 1]), &device);
    let y = values(pmt.forward(x));
    let l = |v: f32| (v + 1.0).ln();
    let want = [l(0.0), l(e - 1.0), l(0.0).powi(2), l(e - 1.0).powi(2), l(3.0), l(0.5), l(3.0).powi(2), l(0.5).powi(2)];
    for (a, w) in y.iter().zip(want) {
        assert!((a - w).abs() < 1e-5, "{y:?} vs {want:?}");
    }
}

#[test]
fn pmt_b_is_learnable_and_stays_positive() {
    use burn::module::Module;
    let device = Device::flex().autodiff();
    let pmt = Pmt::new(3, &device);
    let x = Tensor::<4>::ones([1, 3, 2, 2], &device);
    let grads = pmt.forward(x).sum().backward();
    let g = pmt.raw_b.grad(&grads).expect("b receives a gradient");
    assert!(g.into_data().try_into_vec_as::<f32>().unwrap().iter().all(|v| v.abs() > 0.0));
    // Even a very negative raw value gives b > 0.
    let neg = Pmt { raw_b: burn::module::Param::from_tensor(Tensor::full([3], -30.0, &Device::flex())) };
    assert!(values(neg.b()).iter().all(|&v| v > 0.0));
    assert_eq!(pmt.num_params(), 3);
}
