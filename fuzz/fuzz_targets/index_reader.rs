//! The index reader must return an error, never panic or allocate wildly, on any input.
//! `cargo +nightly fuzz run index_reader` (seed the corpus with files from `index build`).
#![no_main]

use aurora_hash::index::CodeIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = CodeIndex::from_bytes(data) {
        // Whatever parses must serialise back to the same bytes.
        assert_eq!(index.to_bytes(), data);
    }
});
