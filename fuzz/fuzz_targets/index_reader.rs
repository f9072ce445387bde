//! The index reader must return an error, never panic or allocate wildly, on any input.
//! `cargo +nightly fuzz run index_reader` (seed the corpus with files from `index build`).
#![no_main]

use aurora_hash::index::CodeIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = CodeIndex::from_bytes(data) {
        // Whatever parses must write a file that parses to the same index. (Not the same bytes:
        // the reader accepts bits set above the code length and clears them.)
        let again = CodeIndex::from_bytes(&index.to_bytes()).expect("a written index parses");
        assert_eq!(again, index);
    }
});
