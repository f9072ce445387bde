//! Brotli and gzip copies of a site's large files (`NAME.br`, `NAME.gz` beside `NAME`), made
//! once when the site is built, so no server compresses a 10 MB wasm on every request: static
//! hosts (nginx `gzip_static` / `brotli_static`, Caddy `precompressed`, Netlify, and
//! `aurora-hash serve`) send them to browsers that accept them.

use std::io::Write;

/// Files smaller than this gain less from compression than the request costs.
const MIN_BYTES: usize = 1024;

/// Brotli quality by file. On the page's 39.3 MB wasm (measured here, with a build running
/// beside it): q9 gave 4.42 MB in 5.7 s, q11 3.85 MB in 89 s. Every visitor downloads the wasm
/// and a site rebuild compresses it again only when it changed, so it gets the maximum; other
/// files (the bundle, index shards of random-looking codes) get q9, which keeps a rebuild quick.
const BROTLI_WASM_QUALITY: u32 = 11;
const BROTLI_QUALITY: u32 = 9;
/// Window 2^22 = 4 MiB: as large as the other files get.
const BROTLI_WINDOW: u32 = 22;
/// Window 2^24 = 16 MiB, the largest standard brotli (RFC 7932) and so every browser decodes:
/// on the WebGPU module (39.5 MB, q11, measured 2026-12-06) 3.77 MB against 3.86 MB at 2^22,
/// enough to keep that page within its 4 MB once the search's module joined it.
const BROTLI_WASM_WINDOW: u32 = 24;

/// Whether `name` is worth a compressed copy: text and wasm compress 3–6×; images (already
/// compressed) do not.
pub fn worth_compressing(name: &str, len: usize) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    len >= MIN_BYTES && matches!(ext.as_str(), "wasm" | "js" | "mjs" | "html" | "css" | "json" | "svg" | "idx" | "bpk")
}

/// The brotli copy of the file `name` holding `bytes`.
pub fn brotli(name: &str, bytes: &[u8]) -> Vec<u8> {
    let (quality, window) = if name.ends_with(".wasm") { (BROTLI_WASM_QUALITY, BROTLI_WASM_WINDOW) } else { (BROTLI_QUALITY, BROTLI_WINDOW) };
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, quality, window);
        w.write_all(bytes).expect("writing to memory");
    }
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    w.write_all(bytes).expect("writing to memory");
    w.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_round_trip_and_shrink_text() {
        let text: Vec<u8> = (0..20_000).flat_map(|i| format!("line {i} of a page\n").into_bytes()).collect();
        let gz = gzip(&text);
        // Scripts and wasm (the larger window) alike.
        for name in ["page.js", "page_bg.wasm"] {
            let br = brotli(name, &text);
            assert!(br.len() * 4 < text.len() && gz.len() * 4 < text.len(), "{name}: {} {} {}", text.len(), br.len(), gz.len());
            let mut back = Vec::new();
            brotli::Decompressor::new(&br[..], 4096).read_to_end(&mut back).unwrap();
            assert_eq!(back, text, "{name}");
        }
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, text);
        assert!(worth_compressing("app-1234.wasm", 5000) && !worth_compressing("thumb.jpg", 5000) && !worth_compressing("a.js", 10));
    }
}
