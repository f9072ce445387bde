//! The page's wasm module with the CPU path only (no WebGPU, wgpu or shader compiler in it): the browser client
//! (`aurora_hash_web`) linked into a module of its own, so that a visitor downloads only the
//! backend the page picks (`web/app.js`, `loadModule`).
#![cfg(target_family = "wasm")]

pub use aurora_hash_web::*;
