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

#[cfg(feature = "webgpu")]
thread_local! {
    /// WebGPU can be initialised once per page; later engines (a benchmark's full-size model
    /// beside the demo's) share the first device.
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// Picks the device. With `WebGpu` a failure is an error; with `Auto` it is a note and the CPU.
#[cfg(all(feature = "webgpu", feature = "cpu"))]
pub async fn choose(pref: Preference) -> Result<Chosen, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone())
        && pref != Preference::Cpu
    {
        return Ok(Chosen { device, webgpu: true, note: String::new() });
    }
    if pref == Preference::Cpu {
        return Ok(cpu());
    }
    match webgpu().await {
        Ok(device) => Ok(Chosen { device, webgpu: true, note: String::new() }),
        Err(why) if pref == Preference::Auto => Ok(Chosen { note: format!("{why}: using the CPU, slower"), ..cpu() }),
        Err(why) => Err(why),
    }
}

/// The CPU module: WebGPU is not in it (the page loads the WebGPU module when it wants one).
#[cfg(all(feature = "cpu", not(feature = "webgpu")))]
pub async fn choose(pref: Preference) -> Result<Chosen, String> {
    match pref {
        Preference::WebGpu => Err("this is the page's CPU module: it has no WebGPU".into()),
        Preference::Auto | Preference::Cpu => Ok(cpu()),
    }
}

#[cfg(all(feature = "webgpu", not(feature = "cpu")))]
compile_error!("the `webgpu` feature needs the `cpu` feature too (the WebGPU module falls back to it)");

fn cpu() -> Chosen {
    Chosen { device: Device::flex(), webgpu: false, note: String::new() }
}

/// Starts WebGPU once and keeps the device. `navigator` is read from the global object, which
/// is the window in a page and the worker's own scope in a Web Worker.
#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, String> {
    use burn::tensor::wgpu::WgpuBackend;
    let has_gpu = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null());
    if !has_gpu {
        return Err("this browser has no WebGPU".into());
    }
    let device = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not start ({e})"))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}
