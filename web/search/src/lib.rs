//! The page's wasm module for the archive: the browser client (`aurora_hash_web`) with only
//! its search part linked in, run in a Web Worker of its own (`web/app.js`). The search then
//! never waits behind an inference, and it runs at the speed of a small module: measured in
//! the WebGPU module's worker, every call cost several times more (README, "The browser
//! client").
#![cfg(target_family = "wasm")]

pub use aurora_hash_web::*;
