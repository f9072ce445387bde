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
    if text.len() != n * 16 || !text.is_ascii() {
        return None;
    }
    let words: Vec<u64> = (0..n).map(|i| u64::from_str_radix(&text[i * 16..(i + 1) * 16], 16).ok()).collect::<Option<_>>()?;
    let spare = n * 64 - bits;
    if spare > 0 && words[n - 1] >> (64 - spare) != 0 {
        return None;
    }
    Some(words)
}

/// Hamming distance between two packed codes of the same length.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
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
    ///
    /// Distances are bounded by the code length, so a counting sort (a histogram of distances,
    /// then one pass placing hits) replaces a comparison sort: O(n + bits) and stable by
    /// construction.
    pub fn top_k(&self, query: &[u64], k: usize) -> Vec<Hit> {
        self.search(query, k, u32::MAX, |_| true)
    }

    /// Every code within `radius` of `query`, nearest first.
    pub fn within_radius(&self, query: &[u64], radius: u32) -> Vec<Hit> {
        self.search(query, usize::MAX, radius, |_| true)
    }

    /// Nearest-first search limited to `k` results, a maximum distance and a filter on the
    /// database position (e.g. "predicted class is drapery").
    pub fn search(
        &self,
        query: &[u64],
        k: usize,
        radius: u32,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<Hit> {
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
        slots.truncate(k);
        slots
    }

    /// Full ranking of the database for `query` (distance, then position): what MAP is
    /// computed over.
    pub fn rank_all(&self, query: &[u64]) -> Vec<Hit> {
        self.search(query, usize::MAX, u32::MAX, |_| true)
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
                assert_eq!(set.top_k(&query, k), reference[..k.min(500)].to_vec(), "bits {bits} k {k}");
            }
            let r = reference[40].distance;
            let within: Vec<Hit> = reference.iter().copied().filter(|h| h.distance <= r).collect();
            assert_eq!(set.within_radius(&query, r), within);
            let filtered: Vec<Hit> = reference.iter().copied().filter(|h| h.index % 3 == 0).take(5).collect();
            assert_eq!(set.search(&query, 5, u32::MAX, |i| i % 3 == 0), filtered);
        }
    }

    #[test]
    fn from_words_rejects_ragged_input_and_masks_tail() {
        assert!(CodeSet::from_words(70, vec![0; 3]).is_none());
        let set = CodeSet::from_words(4, vec![u64::MAX]).unwrap();
        assert_eq!(set.code(0), &[0b1111]);
    }
}
