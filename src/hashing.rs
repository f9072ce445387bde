//! Binary codes and Hamming-distance search.
//!
//! A code is the hash layer's sigmoid output thresholded at 0.5 (paper eq. 3). Codes are packed
//! little-endian into `u64` words: bit `i` of the code is bit `i % 64` of word `i / 64`. Words
//! make the distance one `popcount(a ^ b)` per word, which is what keeps a scan over a million
//! codes in the low milliseconds on one core, natively and in wasm.
//!
//! # Tie order
//! Results are ordered by Hamming distance, then by database position (the order the codes were
//! added). The order is therefore stable and identical on every platform; MAP computed from a
//! ranking depends on it when distances tie, so every metric in this crate uses the same rule.
//!
//! A trained network gives most images of a class the same code (on the YRS archive one 48-bit
//! code is shared by two frames in three), so "then by position" made the first few archive
//! images the answer to most queries. Where the hash layer's outputs are kept ([`Soft`]),
//! [`CodeSet::search_ranked`] orders equal distances by how far the outputs are apart
//! ([`soft_distance`]) before position: the code still decides which images are near, the
//! outputs only order the images the code cannot tell apart.

/// Packed binary codes of one bit length, stored contiguously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSet {
    bits: usize,
    words_per_code: usize,
    words: Vec<u64>,
}

/// One search hit: the database position and its Hamming distance to the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub index: usize,
    pub distance: u32,
}

/// Number of `u64` words that hold a code of `bits` bits.
pub fn words_for(bits: usize) -> usize {
    bits.div_ceil(64)
}

/// Threshold sigmoid outputs into one packed code (paper eq. 3: bit = 1 where output ≥ 0.5).
pub fn pack_code(outputs: &[f32]) -> Vec<u64> {
    let mut words = vec![0u64; words_for(outputs.len())];
    for (i, &v) in outputs.iter().enumerate() {
        if v >= 0.5 {
            words[i / 64] |= 1u64 << (i % 64);
        }
    }
    words
}

/// The code's bits as booleans, for display and for comparing codes bit by bit.
pub fn unpack_code(words: &[u64], bits: usize) -> Vec<bool> {
    (0..bits).map(|i| words[i / 64] >> (i % 64) & 1 == 1).collect()
}

/// A packed code as text: each word as 16 lowercase hex digits, word 0 first. This is how a
/// code crosses from the model to the page's search and how `query --json` prints it, so the
/// two can be compared character for character.
pub fn code_to_hex(words: &[u64]) -> String {
    words.iter().map(|w| format!("{w:016x}")).collect()
}

/// The inverse of [`code_to_hex`] for a code of `bits` bits; `None` if the text is not such a
/// code (wrong length, a non-hex digit, or bits set beyond `bits`).
pub fn code_from_hex(text: &str, bits: usize) -> Option<Vec<u64>> {
    let n = words_for(bits);
    // Hex digits only: `from_str_radix` would also take a leading `+`.
    if text.len() != n * 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let words: Vec<u64> = (0..n).map(|i| u64::from_str_radix(&text[i * 16..(i + 1) * 16], 16).ok()).collect::<Option<_>>()?;
    let spare = n * 64 - bits;
    if spare > 0 && words[n - 1] >> (64 - spare) != 0 {
        return None;
    }
    Some(words)
}

/// The hash layer's outputs of one image, one byte per bit: the ranking key among equal codes.
///
/// A byte is the output's logit clamped to ±[`SOFT_LOGIT_RANGE`] and mapped linearly onto
/// 0..=255 (128 is the threshold 0.5). The logit, not the sigmoid, because a trained network's
/// outputs sit close to 0 and 1, where a linear byte of the sigmoid is 0 or 255 for all of them.
pub type Soft = Vec<u8>;

/// Half the logit range a [`Soft`] byte covers.
pub const SOFT_LOGIT_RANGE: f32 = 16.0;

/// Quantises sigmoid outputs to [`Soft`] bytes. An output of exactly 0 or 1 (an f32 sigmoid
/// saturates past a logit of about 17) takes the end of the range.
pub fn soft_bytes(outputs: &[f32]) -> Soft {
    outputs
        .iter()
        .map(|&p| {
            // f64, so an output just under 0.5 stays under 128 (its bit is 0).
            let p = (p as f64).clamp(0.0, 1.0);
            let range = SOFT_LOGIT_RANGE as f64;
            let logit = (p / (1.0 - p)).ln();
            let logit = if logit.is_nan() { 0.0 } else { logit.clamp(-range, range) };
            ((logit / range + 1.0) * 127.5).round() as u8
        })
        .collect()
}

/// L1 distance between two images' [`Soft`] bytes.
#[inline]
pub fn soft_distance(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y) as u32).sum()
}

/// [`Soft`] bytes as text, two lowercase hex digits a bit: how they cross from the model to the
/// page's search and how `query --json` prints them (compared like [`code_to_hex`]).
pub fn soft_to_hex(soft: &[u8]) -> String {
    soft.iter().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`soft_to_hex`] for `bits` bytes; `None` if the text is not that.
pub fn soft_from_hex(text: &str, bits: usize) -> Option<Soft> {
    if text.len() != 2 * bits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..bits).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect()
}

/// Hamming distance between two packed codes of the same length.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Codes per block of the short-list scan: 16 one-word codes are two cache lines, and a
/// block's distances fit in a few vector registers.
const BLOCK: usize = 16;

/// The short-list scan is used when the answer is at most this fraction (1/n) of the database;
/// above it, keeping candidates costs more than counting every distance.
const SHORT_LIST_RATIO: usize = 32;

/// The running state of the short-list scan: the cut-off, the kept codes counted per distance,
/// and the codes found so far (database order).
struct ShortList {
    k: usize,
    cut: usize,
    counts: Vec<usize>,
    /// Kept codes at distance ≤ `cut`.
    within: usize,
    found: Vec<Hit>,
    /// Keep every code tied with the k-th (a ranking that orders ties by another key needs
    /// them); otherwise a code at the cut-off after k others can never enter the answer.
    ties: bool,
    /// `found`'s length at which codes beyond the cut-off are next dropped: doubled after each
    /// compaction, so an archive whose codes mostly tie costs linear time, not quadratic.
    compact_at: usize,
}

impl ShortList {
    fn new(k: usize, max_d: usize, ties: bool) -> Self {
        let compact_at = 4 * k.min(1 << 16) + BLOCK;
        Self { k, cut: max_d, counts: vec![0; max_d + 1], within: 0, found: Vec::with_capacity(compact_at), ties, compact_at }
    }

    #[inline]
    fn offer(&mut self, i: usize, d: u32, keep: &impl Fn(usize) -> bool) {
        let du = d as usize;
        if du > self.cut || (!self.ties && du == self.cut && self.within >= self.k) || !keep(i) {
            return;
        }
        self.counts[du] += 1;
        self.within += 1;
        self.found.push(Hit { index: i, distance: d });
        while self.cut > 0 && self.within - self.counts[self.cut] >= self.k {
            self.within -= self.counts[self.cut];
            self.cut -= 1;
        }
        if self.found.len() >= self.compact_at {
            let c = self.cut as u32;
            self.found.retain(|h| h.distance <= c);
            self.compact_at = self.compact_at.max(2 * self.found.len());
        }
    }

    /// Every kept code at distance ≤ the cut-off, nearest first, ties in database order: the
    /// answer and the codes that tie with its last one.
    fn finish(mut self) -> Vec<Hit> {
        let c = self.cut as u32;
        self.found.retain(|h| h.distance <= c);
        // `found` is in database order, so a stable sort by distance gives the tie rule.
        self.found.sort_by_key(|h| h.distance);
        self.found
    }
}

/// The short-list scan over one-word codes. Each block's distances and their minimum are
/// computed without branches (the compiler vectorises that loop); only a block whose minimum
/// is within the cut-off is looked at code by code.
#[inline(always)]
fn scan_one_word(words: &[u64], q: u64, list: &mut ShortList, keep: &impl Fn(usize) -> bool) {
    let blocks = words.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    let mut dist = [0u32; BLOCK];
    for (b, block) in blocks.enumerate() {
        for (o, w) in dist.iter_mut().zip(block) {
            *o = (w ^ q).count_ones();
        }
        if dist.iter().copied().fold(u32::MAX, u32::min) as usize <= list.cut {
            for (j, &d) in dist.iter().enumerate() {
                list.offer(b * BLOCK + j, d, keep);
            }
        }
    }
    let base = words.len() - tail.len();
    for (j, w) in tail.iter().enumerate() {
        list.offer(base + j, (w ^ q).count_ones(), keep);
    }
}

/// [`scan_one_word`] compiled for AVX2 + POPCNT, chosen at run time: the baseline x86-64
/// target has no popcount instruction, and the emulated one halves the scan's speed.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn scan_one_word_avx2(words: &[u64], q: u64, list: &mut ShortList, keep: &impl Fn(usize) -> bool) {
    scan_one_word(words, q, list, keep)
}

impl CodeSet {
    pub fn new(bits: usize) -> Self {
        assert!(bits > 0, "a code has at least one bit");
        Self { bits, words_per_code: words_for(bits), words: Vec::new() }
    }

    /// Builds a set from row-major sigmoid outputs, `bits` values per row.
    pub fn from_outputs(outputs: &[f32], bits: usize) -> Self {
        let mut set = Self::new(bits);
        for row in outputs.chunks_exact(bits) {
            set.push_outputs(row);
        }
        set
    }

    /// Builds a set from already packed words (`words_for(bits)` words per code).
    /// Bits beyond `bits` in the last word are cleared so equal codes compare equal.
    pub fn from_words(bits: usize, mut words: Vec<u64>) -> Option<Self> {
        let wpc = words_for(bits);
        if bits == 0 || words.len() % wpc != 0 {
            return None;
        }
        if bits % 64 != 0 {
            let mask = (1u64 << (bits % 64)) - 1;
            for code in words.chunks_exact_mut(wpc) {
                code[wpc - 1] &= mask;
            }
        }
        Some(Self { bits, words_per_code: wpc, words })
    }

    pub fn push_outputs(&mut self, outputs: &[f32]) {
        assert_eq!(outputs.len(), self.bits, "code length mismatch");
        self.words.extend(pack_code(outputs));
    }

    pub fn push_words(&mut self, code: &[u64]) {
        assert_eq!(code.len(), self.words_per_code, "code length mismatch");
        self.words.extend_from_slice(code);
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    pub fn len(&self) -> usize {
        self.words.len() / self.words_per_code
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn code(&self, i: usize) -> &[u64] {
        &self.words[i * self.words_per_code..(i + 1) * self.words_per_code]
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Distances from `query` to every code, in database order.
    pub fn distances(&self, query: &[u64]) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        match self.words_per_code {
            // One-word codes (up to 64 bits: every length the paper uses) get a loop the
            // compiler vectorises; the general case is a zip over words.
            1 => {
                let q = query[0];
                out.extend(self.words.iter().map(|w| (w ^ q).count_ones()));
            }
            _ => out.extend(self.words.chunks_exact(self.words_per_code).map(|c| hamming(c, query))),
        }
        out
    }

    /// The `k` nearest codes to `query`, by distance then database position.
    pub fn top_k(&self, query: &[u64], k: usize) -> Vec<Hit> {
        self.search(query, k, u32::MAX, |_| true)
    }

    /// Every code within `radius` of `query`, nearest first.
    pub fn within_radius(&self, query: &[u64], radius: u32) -> Vec<Hit> {
        self.search(query, usize::MAX, radius, |_| true)
    }

    /// Nearest-first search limited to `k` results, a maximum distance and a filter on the
    /// database position (e.g. "predicted class is drapery").
    ///
    /// Two strategies, chosen by how much of the database the answer holds. A short list (the
    /// page's top 12, `query`'s top 10) comes from one scan that keeps only the codes under a
    /// running cut-off ([`Self::search_short`]): after the first few thousand codes almost
    /// none pass, so the scan costs little more than the popcounts. A long list (a full ranking
    /// for MAP, a wide radius) comes from a counting sort over all distances
    /// ([`Self::search_counting`]). Both give the same hits in the same order.
    pub fn search(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut hits = self.search_with_ties(query, k, radius, keep, false);
        hits.truncate(k);
        hits
    }

    /// [`Self::search`], then equal distances ordered by `tie` (smaller first; database
    /// position after that): the ranking of [`Self::search_ranked`] with any key. The order is
    /// total (position last), so it is the same whichever scan strategy found the hits.
    pub fn search_by(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool, tie: impl Fn(usize) -> u32) -> Vec<Hit> {
        let hits = self.search_with_ties(query, k, radius, keep, true);
        // `hits` is ordered by distance and holds every code tied with the k-th. Only the
        // k-th's distance group can lose members to the cut: the groups before it are sorted
        // whole, that one by a partial selection (a query whose code two thirds of a million
        // images share keys all of them, but sorts only the few it keeps).
        let mut keyed: Vec<(u32, u32, usize)> = hits.iter().map(|h| (h.distance, tie(h.index), h.index)).collect();
        if keyed.len() > k {
            let last = keyed[k - 1].0;
            let start = keyed.partition_point(|e| e.0 < last);
            let group = &mut keyed[start..];
            group.select_nth_unstable(k - 1 - start);
            keyed.truncate(k);
        }
        keyed.sort_unstable();
        keyed.into_iter().map(|(distance, _, index)| Hit { index, distance }).collect()
    }

    /// The ranking users see: Hamming distance, then the distance between the query's and each
    /// image's hash-layer outputs ([`soft_distance`]), then position. `soft` holds the
    /// database's [`Soft`] bytes, `bits` per code in database order; without them (an index
    /// written before they were kept) the order is [`Self::search`]'s.
    pub fn search_ranked(&self, query: &[u64], query_soft: &[u8], soft: Option<&[u8]>, k: usize, radius: u32, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        match soft {
            Some(soft) if query_soft.len() == self.bits && soft.len() == self.bits * self.len() => {
                let b = self.bits;
                self.search_by(query, k, radius, keep, |i| soft_distance(query_soft, &soft[i * b..(i + 1) * b]))
            }
            _ => self.search(query, k, radius, keep),
        }
    }

    /// The nearest `k` and, with `ties`, every code tied with the last of them (without, at
    /// least the first k in database order), nearest first, ties in database order.
    fn search_with_ties(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool, ties: bool) -> Vec<Hit> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        if k.saturating_mul(SHORT_LIST_RATIO) <= self.len() {
            self.short_list(query, k, radius, keep, ties)
        } else {
            self.counting(query, k, radius, keep)
        }
    }

    /// One pass with a running cut-off: `cut` is the smallest distance at which at least `k`
    /// kept codes have been seen so far (or the radius). A code farther than `cut` can never
    /// enter the answer, since `k` codes already rank ahead of it; nor can a code at exactly
    /// `cut` once `k` codes are within it, since they come first in position. (The ranked
    /// search keeps those too: its ties are ordered by another key.)
    pub fn search_short(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut hits = self.short_list(query, k, radius, keep, false);
        hits.truncate(k);
        hits
    }

    fn short_list(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool, ties: bool) -> Vec<Hit> {
        let mut list = ShortList::new(k, self.bits.min(radius as usize), ties);
        if self.words_per_code == 1 {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt") {
                // SAFETY: the features the function is compiled for were detected on this CPU.
                unsafe { scan_one_word_avx2(&self.words, query[0], &mut list, &keep) };
                return list.finish();
            }
            scan_one_word(&self.words, query[0], &mut list, &keep);
        } else {
            for (i, c) in self.words.chunks_exact(self.words_per_code).enumerate() {
                list.offer(i, hamming(c, query), &keep);
            }
        }
        list.finish()
    }

    /// Counting sort over every distance: a histogram, the distance at which `k` results are
    /// reached, then one pass placing hits. O(n + bits) and stable by construction.
    pub fn search_counting(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut hits = self.counting(query, k, radius, keep);
        hits.truncate(k);
        hits
    }

    fn counting(&self, query: &[u64], k: usize, radius: u32, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let max_d = self.bits.min(radius as usize);
        // One pass computes the distances (two bytes each, codes having at most 1024 bits: half
        // the memory traffic of u32, which is what a million-code scan costs in wasm) and their
        // histogram.
        let mut hist = vec![0usize; max_d + 2];
        let dist: Vec<u16> = if self.words_per_code == 1 {
            let q = query[0];
            self.words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let d = (w ^ q).count_ones() as usize;
                    if d <= max_d && keep(i) {
                        hist[d] += 1;
                    }
                    d as u16
                })
                .collect()
        } else {
            self.words
                .chunks_exact(self.words_per_code)
                .enumerate()
                .map(|(i, c)| {
                    let d = hamming(c, query) as usize;
                    if d <= max_d && keep(i) {
                        hist[d] += 1;
                    }
                    d as u16
                })
                .collect()
        };
        // Find the distance at which k results are reached; farther codes are never placed.
        let mut total = 0usize;
        let mut cutoff = max_d;
        for (d, &h) in hist.iter().enumerate().take(max_d + 1) {
            total += h;
            if total >= k {
                cutoff = d;
                break;
            }
        }
        let mut start = vec![0usize; cutoff + 1];
        let mut acc = 0;
        for d in 0..=cutoff {
            start[d] = acc;
            acc += hist[d];
        }
        let mut slots: Vec<Hit> = vec![Hit { index: 0, distance: 0 }; acc];
        for (i, &d) in dist.iter().enumerate() {
            let du = d as usize;
            if du <= cutoff && keep(i) {
                slots[start[du]] = Hit { index: i, distance: d as u32 };
                start[du] += 1;
            }
        }
        slots
    }

    /// Full ranking of the database for `query` (distance, then position): what MAP is
    /// computed over.
    pub fn rank_all(&self, query: &[u64]) -> Vec<Hit> {
        self.search(query, usize::MAX, u32::MAX, |_| true)
    }

    /// Full ranking in [`Self::search_ranked`]'s order.
    pub fn rank_all_ranked(&self, query: &[u64], query_soft: &[u8], soft: Option<&[u8]>) -> Vec<Hit> {
        self.search_ranked(query, query_soft, soft, usize::MAX, u32::MAX, |_| true)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trip_and_rejects() {
        let code = pack_code(&[1.0, 0.0, 0.7, 0.2, 0.5]);
        let hex = code_to_hex(&code);
        assert_eq!(hex, "0000000000000015");
        assert_eq!(code_from_hex(&hex, 5), Some(code));
        assert_eq!(code_from_hex("0000000000000020", 5), None, "bit 5 of a 5-bit code");
        assert_eq!(code_from_hex("00000000000000", 5), None);
        assert_eq!(code_from_hex("000000000000001g", 5), None);
        assert_eq!(code_from_hex("+000000000000001", 5), None, "a sign is not a digit");
    }

    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed
    }

    #[test]
    fn pack_thresholds_at_half() {
        let words = pack_code(&[0.5, 0.49, 1.0, 0.0]);
        assert_eq!(words, vec![0b101]);
        assert_eq!(unpack_code(&words, 4), vec![true, false, true, false]);
    }

    #[test]
    fn top_k_matches_brute_force_with_ties() {
        for bits in [12usize, 48, 64, 100] {
            let mut seed = bits as u64;
            let mut set = CodeSet::new(bits);
            let wpc = words_for(bits);
            for _ in 0..500 {
                // Few distinct values so that ties are frequent.
                let code: Vec<u64> = (0..wpc).map(|_| lcg(&mut seed) & lcg(&mut seed) & 0xF0F).collect();
                set.push_words(&code);
            }
            let set = CodeSet::from_words(bits, set.words().to_vec()).unwrap();
            let query: Vec<u64> = (0..wpc).map(|_| lcg(&mut seed) & 0xFFF).collect();
            let query = CodeSet::from_words(bits, query).unwrap().code(0).to_vec();
            let mut reference: Vec<Hit> = (0..set.len())
                .map(|i| Hit { index: i, distance: hamming(set.code(i), &query) })
                .collect();
            reference.sort_by_key(|h| (h.distance, h.index));
            for k in [1, 10, 77, 500, 900] {
                let want = reference[..k.min(500)].to_vec();
                assert_eq!(set.top_k(&query, k), want, "bits {bits} k {k}");
                // Both strategies, whichever `search` would pick for this size.
                assert_eq!(set.search_short(&query, k, u32::MAX, |_| true), want, "short, bits {bits} k {k}");
                assert_eq!(set.search_counting(&query, k, u32::MAX, |_| true), want, "counting, bits {bits} k {k}");
                let r = reference[20].distance;
                let near: Vec<Hit> = reference.iter().copied().filter(|h| h.distance <= r && h.index % 2 == 1).take(k).collect();
                assert_eq!(set.search_short(&query, k, r, |i| i % 2 == 1), near, "short, radius {r} k {k}");
                assert_eq!(set.search_counting(&query, k, r, |i| i % 2 == 1), near, "counting, radius {r} k {k}");
            }
            let r = reference[40].distance;
            let within: Vec<Hit> = reference.iter().copied().filter(|h| h.distance <= r).collect();
            assert_eq!(set.within_radius(&query, r), within);
            let filtered: Vec<Hit> = reference.iter().copied().filter(|h| h.index % 3 == 0).take(5).collect();
            assert_eq!(set.search(&query, 5, u32::MAX, |i| i % 3 == 0), filtered);
        }
    }

    #[test]
    fn soft_bytes_keep_order_threshold_and_saturation() {
        let outputs = [0.0, 1e-30, 1e-6, 0.1, 0.499, 0.5, 0.501, 0.9, 0.999_999, 1.0, f32::NAN];
        let soft = soft_bytes(&outputs);
        assert_eq!(soft[0], 0);
        assert_eq!(soft[5], 128, "the threshold 0.5 sits at 128");
        assert_eq!(soft[9], 255);
        assert_eq!(soft[10], 128, "an undefined output is undecided, not an end");
        assert!(soft[..10].windows(2).all(|w| w[0] <= w[1]), "monotone: {soft:?}");
        // Outputs a linear byte of the sigmoid could not tell apart (both round to 255 or 0).
        assert!(soft[2] > soft[1] && soft[8] < soft[9] && soft_bytes(&[0.9999])[0] < soft[8]);
        // Bytes agree with the code: ≥ 128 exactly where the bit is set.
        for (v, b) in outputs[..10].iter().zip(&soft) {
            assert_eq!(*v >= 0.5, *b >= 128, "{v}");
        }
        assert_eq!(soft_from_hex(&soft_to_hex(&soft), soft.len()), Some(soft.clone()));
        assert_eq!(soft_from_hex("0g", 1), None);
        assert_eq!(soft_from_hex("+f", 1), None, "a sign is not a digit");
        assert_eq!(soft_from_hex("00", 2), None);
        assert_eq!(soft_distance(&[0, 255, 10], &[255, 0, 12]), 512);
    }

    /// Equal codes come back ordered by their outputs' distance to the query's, then position;
    /// both scan strategies, at every cut-off, against a brute-force sort on the full key.
    #[test]
    fn ranked_search_orders_ties_by_outputs() {
        for bits in [8usize, 48] {
            let mut seed = 99 + bits as u64;
            let n = 3_001;
            let mask = (1u64 << bits) - 1;
            // Three distinct codes only: every answer is decided among ties.
            let words: Vec<u64> = (0..n).map(|_| [0u64, 1, mask][(lcg(&mut seed) % 3) as usize]).collect();
            let set = CodeSet::from_words(bits, words).unwrap();
            let soft: Vec<u8> = (0..n * bits).map(|_| (lcg(&mut seed) >> 56) as u8).collect();
            let q_soft: Vec<u8> = (0..bits).map(|_| (lcg(&mut seed) >> 56) as u8).collect();
            let key = |i: usize| soft_distance(&q_soft, &soft[i * bits..(i + 1) * bits]);
            let mut reference: Vec<Hit> = (0..n).map(|i| Hit { index: i, distance: hamming(set.code(i), &[1]) }).collect();
            reference.sort_by_key(|h| (h.distance, key(h.index), h.index));
            for k in [1, 12, 93, 2_000, n] {
                assert_eq!(set.search_ranked(&[1], &q_soft, Some(&soft), k, u32::MAX, |_| true), reference[..k].to_vec(), "bits {bits} k {k}");
                let keep = |i: usize| i % 4 != 1;
                let want: Vec<Hit> = reference.iter().copied().filter(|h| keep(h.index) && h.distance <= 1).take(k).collect();
                assert_eq!(set.search_ranked(&[1], &q_soft, Some(&soft), k, 1, keep), want, "filtered, bits {bits} k {k}");
            }
            assert_eq!(set.rank_all_ranked(&[1], &q_soft, Some(&soft)), reference);
            // The plain search on the same heavily tied codes: position order.
            let mut by_position = reference.clone();
            by_position.sort_by_key(|h| (h.distance, h.index));
            for k in [1, 12, 93, 2_000] {
                assert_eq!(set.search(&[1], k, u32::MAX, |_| true), by_position[..k].to_vec(), "plain, bits {bits} k {k}");
            }
            // No outputs stored (or the wrong number): the plain order, not a panic.
            assert_eq!(set.search_ranked(&[1], &q_soft, None, 40, u32::MAX, |_| true), set.search(&[1], 40, u32::MAX, |_| true));
            assert_eq!(set.search_ranked(&[1], &q_soft, Some(&soft[1..]), 40, u32::MAX, |_| true), set.search(&[1], 40, u32::MAX, |_| true));
        }
    }

    #[test]
    fn from_words_rejects_ragged_input_and_masks_tail() {
        assert!(CodeSet::from_words(70, vec![0; 3]).is_none());
        let set = CodeSet::from_words(4, vec![u64::MAX]).unwrap();
        assert_eq!(set.code(0), &[0b1111]);
    }

    /// A database large enough that `search` takes the short-list scan, with heavy ties at the
    /// cut-off and a query equal to many codes: the scan's cut-off, its compaction and its
    /// block skipping must give exactly the full ranking's head.
    #[test]
    fn short_list_scan_equals_full_ranking_on_large_sets() {
        for bits in [8usize, 48, 64] {
            let mut seed = 7 + bits as u64;
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let words: Vec<u64> = (0..20_011).map(|i| if i % 97 == 0 { 0 } else { lcg(&mut seed) & lcg(&mut seed) & mask }).collect();
            let set = CodeSet::from_words(bits, words).unwrap();
            for query in [0u64, lcg(&mut seed) & mask] {
                let full = set.rank_all(&[query]);
                for k in [1, 12, 100, 600] {
                    assert_eq!(set.top_k(&[query], k), full[..k].to_vec(), "bits {bits} k {k}");
                    let keep = |i: usize| i % 5 != 0;
                    let want: Vec<Hit> = full.iter().copied().filter(|h| keep(h.index)).take(k).collect();
                    assert_eq!(set.search(&[query], k, u32::MAX, keep), want, "filtered, bits {bits} k {k}");
                }
            }
        }
    }
}
