//! The browser client of aurora-hash: a thin wasm shell over the `aurora_hash` library.
//!
//! The page (`index.html` and `web/app.js`) fetches a bundle and an archive index, hands the
//! bytes to [`Engine::load`] and [`Catalog::open`], and gets JSON back: this crate does no
//! fetching and draws nothing. The network is the same burn model the native tool trains
//! and exports; it runs on WebGPU when the browser has it and on burn's CPU backend compiled
//! to wasm otherwise ([`backend`]). The Hamming search runs here too, over the packed codes.
//!
//! The crate is wasm-only: natively it compiles to nothing (its dependencies are wasm-only in
//! Cargo.toml), and its tests run in the browser (`web/tests/in_browser.rs`). The page loads
//! it as modules that differ only in this crate's features: the network as `web/gpu` (WebGPU
//! and the CPU path) or `web/cpu` (the CPU path only, a fraction of the size), and the archive
//! as `web/search`, each in a Web Worker of its own.
#![cfg(target_family = "wasm")]

#[cfg(feature = "search")]
pub mod archive;
#[cfg(feature = "cpu")]
pub mod backend;
#[cfg(feature = "cpu")]
pub mod engine;

#[cfg(feature = "search")]
pub use archive::{Archive, Catalog};
#[cfg(feature = "cpu")]
pub use engine::Engine;

use wasm_bindgen::prelude::*;

/// Panics become readable console messages instead of "unreachable executed".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Milliseconds from the clock of the page or of the Web Worker running this module (0 where
/// there is none), for the timings the page shows.
pub(crate) fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let performance = if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        w.performance()
    } else if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        w.performance()
    } else {
        None
    };
    performance.map_or(0.0, |p| p.now())
}

/// Errors cross into JavaScript as `Error` objects carrying the library's message.
pub(crate) fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}
