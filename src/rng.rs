//! A tiny deterministic random number generator (SplitMix64).
//!
//! The synthetic data, splits, shuffles and pair sampling must give the same result for the
//! same seed on every platform, natively and in wasm32. `rand`'s `SmallRng` changes algorithm
//! with the pointer width, so the library carries its own generator instead.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Mix the seed once so that nearby seeds (0, 1, 2, …) start far apart.
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        r.next_u64();
        r
    }

    /// An independent stream derived from this seed and a label (e.g. sample index).
    pub fn derive(seed: u64, stream: u64) -> Self {
        Rng::new(seed.wrapping_mul(0xD134_2543_DE82_EF95) ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    /// Uniform integer in [0, n). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as u128 * n as u128 >> 53) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.f32().max(1e-7);
        let u2 = self.f32();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let a: Vec<u64> = (0..5).map({ let mut r = Rng::new(7); move |_| r.next_u64() }).collect();
        let b: Vec<u64> = (0..5).map({ let mut r = Rng::new(7); move |_| r.next_u64() }).collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let x = r.f32();
            assert!((0.0..1.0).contains(&x));
            assert!(r.below(3) < 3);
        }
    }

    /// The stream itself is pinned: the synthetic data, every split and every shuffle follow
    /// from it, so a change here silently changes every published figure. Change the values
    /// only on purpose.
    #[test]
    fn stream_is_pinned() {
        let mut r = Rng::new(2020);
        assert_eq!([r.next_u64(), r.next_u64(), r.next_u64()], [0x58c4_3ea9_68aa_16a2, 0x4ef5_ec1b_d4b7_ccbc, 0x914c_05b0_0dea_e143]);
        let mut d = Rng::derive(2020, 5);
        assert_eq!(d.next_u64(), 0xd314_b49b_f159_fc1d);
        assert_eq!(d.below(1000), 838);
        assert_eq!(d.f32(), 0.601_843_9);
    }
}
