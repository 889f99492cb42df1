//! xorshift64: a small deterministic generator for the soak drivers (same seed, same run).

pub struct Rng(pub u64);

impl Rng {
    /// A value in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }

    /// One of `items`, `None` when there are none.
    #[allow(dead_code)] // not every driver picks
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}
