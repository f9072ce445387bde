//! [`Catalog`] and [`Archive`]: an image archive's packed codes and metadata, opened against
//! the bundle they belong to and searched in the page.

use aurora_hash::export::{self, INDEX_FILE};
use aurora_hash::hashing::{code_from_hex, code_to_hex, soft_from_hex};
use aurora_hash::index::{CodeIndex, Entry, thumb_path};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{js_err, now_ms};

/// The bundle an archive belongs to, as far as its search needs it: the manifest and
/// bundle.json, without the network (which the page loads in another module).
#[wasm_bindgen]
pub struct Catalog {
    catalog: export::Catalog,
}

#[wasm_bindgen]
impl Catalog {
    /// Reads the manifest and bundle.json, checking the one against the other, as the
    /// engine's `Engine::load` does.
    pub fn open(manifest: &[u8], config: &[u8]) -> Result<Catalog, JsError> {
        export::Catalog::open(manifest, config).map(|catalog| Catalog { catalog }).map_err(js_err)
    }

    /// Reads an archive index, checking it against the manifest when the bundle lists one,
    /// against its own checksum always, and that its codes are this model's length.
    pub fn open_archive(&self, bytes: &[u8]) -> Result<Archive, JsError> {
        self.catalog.open_index(INDEX_FILE, bytes, false).map(Archive::from_index).map_err(js_err)
    }

    /// One shard of a sharded archive (`shard-NNNN.idx`), which the manifest must list.
    pub fn open_shard(&self, name: &str, bytes: &[u8]) -> Result<Archive, JsError> {
        self.catalog.open_index(name, bytes, true).map(Archive::from_index).map_err(js_err)
    }

    /// Checks a fetched file (a shard's image names) against the manifest (size and SHA-256).
    pub fn verify(&self, name: &str, bytes: &[u8]) -> Result<(), JsError> {
        self.catalog.manifest.verify(name, bytes).map_err(js_err)
    }
}

/// An archive index in the page's memory. Opened through [`Catalog::open_archive`], which
/// checks that it belongs to the bundle.
#[wasm_bindgen]
pub struct Archive {
    index: CodeIndex,
    /// First position of each shard after the first (a sharded site's archive arrives in
    /// parts; see [`CodeIndex::split`]).
    shard_starts: Vec<usize>,
}

/// One search result, as the page shows it.
#[derive(Serialize)]
pub struct HitJson<'a> {
    /// Position in the index: what [`Archive::search_entry`] takes.
    pub index: usize,
    pub id: &'a str,
    pub distance: u32,
    pub predicted: u16,
    pub probability: f32,
    pub label: Option<u16>,
    /// Seconds since 1970, when the image's name carries a time.
    pub timestamp: Option<i64>,
    /// Relative URL of the thumbnail ([`aurora_hash::index::thumb_path`]); empty, like the
    /// id, while the shard's ids are not loaded yet.
    pub thumb: String,
    /// The shard holding the image, whose ids the page fetches to show it.
    pub shard: usize,
}

#[derive(Serialize)]
struct Results<'a> {
    hits: Vec<HitJson<'a>>,
    /// Milliseconds for the distance scan and ranking.
    search_ms: f64,
    searched: usize,
}

impl Archive {
    pub(crate) fn from_index(index: CodeIndex) -> Self {
        Self { index, shard_starts: Vec::new() }
    }

    fn shard_of(&self, i: usize) -> usize {
        self.shard_starts.partition_point(|&s| s <= i)
    }

    fn hit(&self, i: usize, distance: u32) -> HitJson<'_> {
        let e: &Entry = &self.index.entries[i];
        HitJson {
            index: i,
            id: &e.id,
            distance,
            predicted: e.predicted,
            probability: e.probability,
            label: e.label,
            timestamp: e.timestamp,
            thumb: if e.id.is_empty() { String::new() } else { thumb_path(&e.id) },
            shard: self.shard_of(i),
        }
    }

    fn run(&self, query: &[u64], soft: Option<&[u8]>, k: usize, class: i32, radius: u32, skip: Option<usize>) -> String {
        let t0 = now_ms();
        let class = u16::try_from(class).ok();
        let hits = self.index.search(query, soft, k, radius, |i| {
            Some(i) != skip && class.is_none_or(|c| self.index.entries[i].predicted == c)
        });
        let search_ms = now_ms() - t0;
        let hits = hits.iter().map(|h| self.hit(h.index, h.distance)).collect();
        serde_json::to_string(&Results { hits, search_ms, searched: self.index.len() }).expect("results serialise")
    }
}

#[wasm_bindgen]
impl Archive {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn bits(&self) -> usize {
        self.index.bits()
    }

    /// The `k` nearest images to a code (hex, as the engine's `Engine::classify` returns it),
    /// nearest first, equal distances ordered by the hash layer's outputs (`soft`, the hex of
    /// `Engine::classify`; empty: archive order), as `aurora-hash query` orders them. `class` < 0
    /// means any predicted class; `radius` is the largest Hamming distance kept. Returns
    /// `{hits, search_ms, searched}` as JSON.
    pub fn search(&self, code: &str, soft: &str, k: usize, class: i32, radius: u32) -> Result<String, JsError> {
        let query = code_from_hex(code, self.bits()).ok_or_else(|| js_err(format!("not a {}-bit code: `{code}`", self.bits())))?;
        let soft = match soft {
            "" => None,
            s => Some(soft_from_hex(s, self.bits()).ok_or_else(|| js_err(format!("not {} output bytes: `{s}`", self.bits())))?),
        };
        Ok(self.run(&query, soft.as_deref(), k, class, radius, None))
    }

    /// Search by an archive image (clicking a result): its stored code is the query, and the
    /// image itself is left out of its results.
    pub fn search_entry(&self, index: usize, k: usize, class: i32, radius: u32) -> Result<String, JsError> {
        if index >= self.len() {
            return Err(js_err(format!("no archive image {index} (the archive has {})", self.len())));
        }
        Ok(self.run(self.index.codes.code(index), self.index.soft_of(index), k, class, radius, Some(index)))
    }

    /// One image's metadata as JSON (the same fields as a search hit, at distance 0).
    pub fn entry(&self, index: usize) -> Result<String, JsError> {
        if index >= self.len() {
            return Err(js_err(format!("no archive image {index} (the archive has {})", self.len())));
        }
        Ok(serde_json::to_string(&self.hit(index, 0)).expect("entry serialises"))
    }

    /// A page of the archive for browsing, in archive order: images whose class (the predicted
    /// one, or the true label when `by_label`) is `class` (< 0: any) and whose time lies in
    /// `[from, to]` seconds since 1970 (infinite bounds: no limit; an image without a time is
    /// kept only when both bounds are infinite). Returns `{total, items}` as JSON; `total` counts
    /// every match, `items` holds at most `count` of them from `offset` on.
    pub fn browse(&self, offset: usize, count: usize, class: i32, by_label: bool, from: f64, to: f64) -> String {
        let class = u16::try_from(class).ok();
        let timed = from.is_finite() || to.is_finite();
        let matches = |e: &Entry| {
            let c = if by_label { e.label } else { Some(e.predicted) };
            class.is_none_or(|want| c == Some(want))
                && (!timed || e.timestamp.is_some_and(|t| (t as f64) >= from && (t as f64) <= to))
        };
        let mut total = 0;
        let mut items = Vec::new();
        for (i, e) in self.index.entries.iter().enumerate() {
            if matches(e) {
                if total >= offset && items.len() < count {
                    items.push(self.hit(i, 0));
                }
                total += 1;
            }
        }
        #[derive(Serialize)]
        struct Page<'a> {
            total: usize,
            items: Vec<HitJson<'a>>,
        }
        serde_json::to_string(&Page { total, items }).expect("page serialises")
    }

    /// Earliest and latest image time (seconds since 1970) as `[from, to]` JSON, or `null`.
    pub fn time_range(&self) -> String {
        let times = self.index.entries.iter().filter_map(|e| e.timestamp);
        match (times.clone().min(), times.max()) {
            (Some(a), Some(b)) => format!("[{a},{b}]"),
            _ => "null".into(),
        }
    }

    /// An image's stored code, as hex.
    pub fn code(&self, index: usize) -> Result<String, JsError> {
        if index >= self.len() {
            return Err(js_err(format!("no archive image {index} (the archive has {})", self.len())));
        }
        Ok(code_to_hex(self.index.codes.code(index)))
    }

    /// An archive of `n` random codes ([`CodeIndex::random`]), for measuring search speed at
    /// sizes no demo has images for (100k, 1M).
    pub fn random(n: usize, bits: usize, seed: u32) -> Result<Archive, JsError> {
        if bits == 0 || bits > 1024 {
            return Err(js_err(format!("{bits} bits: codes have 1 to 1024 bits")));
        }
        Ok(Archive::from_index(CodeIndex::random(n, bits, vec!["random".into()], seed as u64)))
    }

    /// Adds the next shard of a sharded archive (opened with [`Catalog::open_shard`]).
    pub fn append(&mut self, shard: &Archive) -> Result<(), JsError> {
        let start = self.len();
        self.index.append(&shard.index).map_err(js_err)?;
        self.shard_starts.push(start);
        Ok(())
    }

    pub fn shards(&self) -> usize {
        self.shard_starts.len() + 1
    }

    /// Fills in the ids of shard `shard` from its ids file (a JSON array of strings, already
    /// checked against the manifest with [`Catalog::verify`]).
    pub fn set_ids(&mut self, shard: usize, json: &[u8]) -> Result<(), JsError> {
        let ids: Vec<String> = serde_json::from_slice(json).map_err(|e| js_err(format!("ids of shard {shard}: {e}")))?;
        let start = if shard == 0 { 0 } else { *self.shard_starts.get(shard - 1).ok_or_else(|| js_err(format!("no shard {shard}")))? };
        let end = self.shard_starts.get(shard).copied().unwrap_or(self.len());
        if ids.len() != end - start {
            return Err(js_err(format!("ids of shard {shard}: {} ids for {} images", ids.len(), end - start)));
        }
        for (e, id) in self.index.entries[start..end].iter_mut().zip(ids) {
            e.id = id;
        }
        Ok(())
    }
}
