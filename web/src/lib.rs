//! The browser client of aurora-hash: a thin wasm shell over the `aurora_hash` library.
//!
//! The page (`index.html` and `web/app.js`) fetches a bundle and an archive index, hands the
//! bytes to [`Engine::load`] and [`Engine::open_archive`], and gets JSON back: this crate does
//! no fetching and draws nothing. The network is the same burn model the native tool trains
//! and exports; it runs on WebGPU when the browser has it and on burn's CPU backend compiled
//! to wasm otherwise ([`backend`]). The Hamming search runs here too, over the packed codes.
//!
//! The crate is wasm-only: natively it compiles to nothing (its dependencies are wasm-only in
//! Cargo.toml), and its tests run in the browser (`web/tests/in_browser.rs`).
#![cfg(target_family = "wasm")]

pub mod archive;
pub mod backend;
pub mod engine;

pub use archive::Archive;
pub use engine::Engine;

use wasm_bindgen::prelude::*;

/// Panics become readable console messages instead of "unreachable executed".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Milliseconds from the page's clock (or 0 outside a browser), for the timings the page shows.
pub(crate) fn now_ms() -> f64 {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        return p.now();
    }
    0.0
}

/// Errors cross into JavaScript as `Error` objects carrying the library's message.
pub(crate) fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}
