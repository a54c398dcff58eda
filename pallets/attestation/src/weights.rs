//! The weight functions of `pallet_tea_attestation`, and hand-set upper bounds for tests
//! (`benchmarking.rs` measures them; the runtime uses its generated weights).

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_tea_attestation`.
pub trait WeightInfo {
	/// Drawing a committee in `on_initialize` over `n` registered nodes.
	fn draw_committee(n: u32) -> Weight;
	/// A candidate's valid admission quote (the draw is `draw_committee`).
	fn submit_admission() -> Weight;
	/// A valid heartbeat (without the rollout signal).
	fn submit_heartbeat() -> Weight;
	/// A quote that fails at the signature, quarantining an active node (without the signal).
	fn submit_rejected() -> Weight;
	fn vote() -> Weight;
	fn set_heartbeat_rules() -> Weight;
	/// One review tallied in `on_initialize`.
	fn close_review() -> Weight;
	/// The heartbeat check over `n` attesting nodes.
	fn check_heartbeats(n: u32) -> Weight;
	/// Replaying and judging an event log of `n` entries and signalling the rollouts of the
	/// releases in it (on top of a submission without a log).
	fn log_entries(n: u32) -> Weight;
}

// For tests.
impl WeightInfo for () {
	fn submit_admission() -> Weight {
		Weight::from_parts(2_000_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(3_u64))
	}
	fn submit_heartbeat() -> Weight {
		Weight::from_parts(2_000_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn submit_rejected() -> Weight {
		Weight::from_parts(2_000_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(9_u64))
			.saturating_add(RocksDbWeight::get().writes(8_u64))
	}
	fn draw_committee(n: u32) -> Weight {
		Weight::from_parts(2_000_000_000, 10_000)
			.saturating_add(Weight::from_parts(5_000_000, 100).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().reads(n.into()))
			.saturating_add(RocksDbWeight::get().writes(8_u64))
	}
	fn vote() -> Weight {
		Weight::from_parts(50_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn set_heartbeat_rules() -> Weight {
		Weight::from_parts(20_000_000, 0)
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn close_review() -> Weight {
		Weight::from_parts(200_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(16_u64))
			.saturating_add(RocksDbWeight::get().writes(16_u64))
	}
	fn log_entries(n: u32) -> Weight {
		Weight::from_parts(10_000_000, 1_000)
			.saturating_add(Weight::from_parts(10_000_000, 3_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().reads((5_u64).saturating_mul(n.into())))
			.saturating_add(RocksDbWeight::get().writes((2_u64).saturating_mul(n.into())))
	}
	fn check_heartbeats(n: u32) -> Weight {
		Weight::from_parts(20_000_000, 1_000)
			.saturating_add(Weight::from_parts(20_000_000, 3_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads((2_u64).saturating_mul(n.into())))
			.saturating_add(RocksDbWeight::get().writes((6_u64).saturating_mul(n.into())))
	}
}
