//! Choosing where the network runs: a GPU through burn-wgpu when there is one, else the CPU
//! (burn's flex backend, the fastest CPU backend for this network's convolutions).

use burn::tensor::{Device, DeviceKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// A GPU when one is found, else the CPU.
    Auto,
    Gpu,
    Cpu,
    /// The CPU through burn's LibTorch backend (the libtorch inside PyPI's `torch`): an optional
    /// training device, built only with the `libtorch` feature (see scripts/libtorch.sh).
    #[cfg(feature = "libtorch")]
    Libtorch,
}

/// The device and a name for it (written into metrics and reports).
pub fn select(choice: Choice) -> anyhow::Result<(Device, String)> {
    match choice {
        Choice::Cpu => Ok((Device::flex(), "cpu (flex)".into())),
        Choice::Gpu => gpu().ok_or_else(|| anyhow::anyhow!("no GPU adapter found through wgpu (Vulkan/Metal/DX12); use --device cpu")),
        Choice::Auto => Ok(gpu().unwrap_or_else(|| (Device::flex(), "cpu (flex)".into()))),
        // burn marks burn-tch deprecated in favour of its CubeCL backends; it is offered because
        // on a 2-core CPU it trained this network 3× faster than flex (`bench --devices
        // cpu,libtorch`, README).
        #[cfg(feature = "libtorch")]
        #[allow(deprecated)]
        Choice::Libtorch => Ok((Device::libtorch(), "cpu (libtorch)".into())),
    }
}

fn gpu() -> Option<(Device, String)> {
    // Discrete first, then integrated; a software (CPU) adapter is not taken for a GPU. Probing
    // can panic inside wgpu (e.g. an EGL display that refuses a context); that only means "no
    // GPU here", so the panic is caught and its message kept off the terminal.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut found = None;
    for kind in [DeviceKind::DiscreteGpu(0), DeviceKind::IntegratedGpu(0)] {
        let label = format!("gpu (wgpu {kind:?})");
        let attempt = std::panic::catch_unwind(|| Device::wgpu_options().device_kind(kind).init());
        if let Ok(Ok(device)) = attempt {
            found = Some((device, label));
            break;
        }
    }
    std::panic::set_hook(hook);
    found
}
