//! Helpers for the tests of this crate and of its users (std only).

use alloc::{format, string::String};

/// A deterministic xorshift64 stream for fuzz-style tests: reproducible, no dependency.
pub struct XorShift(u64);

impl XorShift {
	/// A stream from a non-zero seed.
	pub fn new(seed: u64) -> Self {
		Self(seed.max(1))
	}

	/// The next value.
	pub fn next(&mut self) -> u64 {
		self.0 ^= self.0 << 13;
		self.0 ^= self.0 >> 7;
		self.0 ^= self.0 << 17;
		self.0
	}

	/// A value in `0..n` (0 when `n` is 0).
	pub fn below(&mut self, n: u32) -> u32 {
		if n == 0 {
			0
		} else {
			(self.next() % n as u64) as u32
		}
	}
}

/// WAT text of a minimal actor (ABI v1 exports) with `imports` (WAT import clauses) spliced in.
pub fn actor_wat(imports: &str) -> String {
	format!(
		r#"(module
			{imports}
			(memory (export "memory") 1)
			(func (export "tea_alloc") (param i32) (result i32) i32.const 1024)
			(func (export "tea_run") (param i32 i32) (result i64) i64.const 0))"#
	)
}

/// `k·G` on P-256 as an uncompressed SEC1 point: a valid attestation key for tests.
pub fn p256_point(k: u64) -> [u8; 65] {
	crate::tpm::dev_attestation_key(k)
}

pub use crate::soft_tpm::SoftTpm;
