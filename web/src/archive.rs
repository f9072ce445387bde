//! [`Archive`]: an image archive's packed codes and metadata, searched in the page.

use aurora_hash::hashing::{CodeSet, code_from_hex, code_to_hex, words_for};
use aurora_hash::index::{CodeIndex, Entry, thumb_path};
use aurora_hash::rng::Rng;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{js_err, now_ms};

/// An archive index in the page's memory. Opened through [`crate::Engine::open_archive`],
/// which checks that it belongs to the loaded model.
#[wasm_bindgen]
pub struct Archive {
    index: CodeIndex,
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
    /// Relative URL of the thumbnail ([`aurora_hash::index::thumb_path`]).
    pub thumb: String,
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
        Self { index }
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
            thumb: thumb_path(&e.id),
        }
    }

    fn run(&self, query: &[u64], k: usize, class: i32, radius: u32, skip: Option<usize>) -> String {
        let t0 = now_ms();
        let class = u16::try_from(class).ok();
        let hits = self.index.codes.search(query, k, radius, |i| {
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

    /// The `k` nearest images to a code (hex, as [`crate::Engine::classify`] returns it),
    /// nearest first, ties in archive order. `class` < 0 means any predicted class; `radius`
    /// is the largest Hamming distance kept. Returns `{hits, search_ms, searched}` as JSON.
    pub fn search(&self, code: &str, k: usize, class: i32, radius: u32) -> Result<String, JsError> {
        let query = code_from_hex(code, self.bits()).ok_or_else(|| js_err(format!("not a {}-bit code: `{code}`", self.bits())))?;
        Ok(self.run(&query, k, class, radius, None))
    }

    /// Search by an archive image (clicking a result): its stored code is the query, and the
    /// image itself is left out of its results.
    pub fn search_entry(&self, index: usize, k: usize, class: i32, radius: u32) -> Result<String, JsError> {
        if index >= self.len() {
            return Err(js_err(format!("no archive image {index} (the archive has {})", self.len())));
        }
        let query = self.index.codes.code(index).to_vec();
        Ok(self.run(&query, k, class, radius, Some(index)))
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

    /// An archive of `n` random codes, for measuring search speed at sizes no demo has images
    /// for (100k, 1M). Ids are `random-<i>`; every image is predicted as class 0.
    pub fn random(n: usize, bits: usize, seed: u32) -> Result<Archive, JsError> {
        if bits == 0 || bits > 1024 {
            return Err(js_err(format!("{bits} bits: codes have 1 to 1024 bits")));
        }
        let mut rng = Rng::new(seed as u64);
        let words_per = words_for(bits);
        let spare = words_per * 64 - bits;
        let mut words = Vec::with_capacity(n * words_per);
        for _ in 0..n {
            for w in 0..words_per {
                let v = rng.next_u64();
                words.push(if w + 1 == words_per && spare > 0 { v >> spare } else { v });
            }
        }
        let codes = CodeSet::from_words(bits, words).expect("whole codes");
        let entries = (0..n)
            .map(|i| Entry { id: format!("random-{i}"), predicted: 0, probability: 1.0, label: None, timestamp: None })
            .collect();
        Ok(Archive { index: CodeIndex { classes: vec!["random".into()], entries, codes } })
    }
}
