//! Where the network runs in the browser: WebGPU, or burn's CPU backend (flex) compiled to wasm.
//!
//! WebGPU is initialised once, asynchronously (a browser cannot block on the GPU), and only
//! when `navigator.gpu` exists; every failure is a reason the page can show before it falls
//! back to the CPU.

use burn::tensor::Device;

/// What the page asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preference {
    /// WebGPU when it works, else the CPU.
    Auto,
    WebGpu,
    Cpu,
}

impl Preference {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" | "" => Some(Self::Auto),
            "webgpu" | "gpu" => Some(Self::WebGpu),
            "cpu" => Some(Self::Cpu),
            _ => None,
        }
    }
}

/// The device chosen, and why, in words for the page.
pub struct Chosen {
    pub device: Device,
    pub webgpu: bool,
    /// Empty when the preferred backend was used; else why not (shown to the visitor).
    pub note: String,
}

thread_local! {
    /// WebGPU can be initialised once per page; later engines (a benchmark's full-size model
    /// beside the demo's) share the first device.
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// Picks the device. With `WebGpu` a failure is an error; with `Auto` it is a note and the CPU.
pub async fn choose(pref: Preference) -> Result<Chosen, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone())
        && pref != Preference::Cpu
    {
        return Ok(Chosen { device, webgpu: true, note: String::new() });
    }
    if pref == Preference::Cpu {
        return Ok(Chosen { device: Device::flex(), webgpu: false, note: String::new() });
    }
    match webgpu().await {
        Ok(device) => {
            WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
            Ok(Chosen { device, webgpu: true, note: String::new() })
        }
        Err(why) if pref == Preference::Auto => {
            Ok(Chosen { device: Device::flex(), webgpu: false, note: format!("{why}: using the CPU, slower") })
        }
        Err(why) => Err(why),
    }
}

async fn webgpu() -> Result<Device, String> {
    use burn::tensor::wgpu::WgpuBackend;
    let has_gpu = web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null());
    if !has_gpu {
        return Err("this browser has no WebGPU".into());
    }
    Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not start ({e})"))
}
