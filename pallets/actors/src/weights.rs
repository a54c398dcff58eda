//! The weight functions of `pallet_tea_actors`, and hand-set upper bounds for tests and for
//! runtimes that have not benchmarked the pallet. The TEA runtime uses the weights generated on
//! its reference machine: `runtime/src/weights/pallet_tea_actors.rs` (`scripts/benchmark.sh`).

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_tea_actors`.
pub trait WeightInfo {
	fn register_actor() -> Weight;
	fn publish_release(g: u32) -> Weight;
	fn revoke_grant() -> Weight;
	fn revoke_release() -> Weight;
	fn submit_verdict() -> Weight;
	fn authorize_submit_verdict() -> Weight;
	fn register_provider(o: u32) -> Weight;
	fn retire_provider() -> Weight;
	fn set_grant_limits() -> Weight;
	fn set_required_approvals() -> Weight;
	fn remove_release() -> Weight;
	fn report_refusals(r: u32) -> Weight;
	fn clear_refusals() -> Weight;
}

/// Weights for `pallet_tea_actors` using the Substrate node and recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_actor() -> Weight {
		Weight::from_parts(40_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	fn publish_release(g: u32) -> Weight {
		Weight::from_parts(120_000_000, 10_000)
			.saturating_add(Weight::from_parts(2_000_000, 0).saturating_mul(g.into()))
			.saturating_add(T::DbWeight::get().reads(8_u64))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	fn revoke_grant() -> Weight {
		Weight::from_parts(35_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn revoke_release() -> Weight {
		Weight::from_parts(45_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(3_u64))
	}
	fn submit_verdict() -> Weight {
		Weight::from_parts(80_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(4_u64))
			.saturating_add(T::DbWeight::get().writes(3_u64))
	}
	fn authorize_submit_verdict() -> Weight {
		Weight::from_parts(70_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(0_u64))
	}
	fn register_provider(o: u32) -> Weight {
		Weight::from_parts(30_000_000, 10_000)
			.saturating_add(Weight::from_parts(2_000_000, 0).saturating_mul(o.into()))
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn retire_provider() -> Weight {
		Weight::from_parts(25_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn set_grant_limits() -> Weight {
		Weight::from_parts(10_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(0_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn set_required_approvals() -> Weight {
		Weight::from_parts(10_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(0_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn remove_release() -> Weight {
		Weight::from_parts(60_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(4_u64))
			.saturating_add(T::DbWeight::get().writes(5_u64))
	}
	fn report_refusals(r: u32) -> Weight {
		Weight::from_parts(30_000_000, 10_000)
			.saturating_add(Weight::from_parts(15_000_000, 3_000).saturating_mul(r as u64))
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().reads((2_u64).saturating_mul(r as u64)))
			.saturating_add(T::DbWeight::get().writes(1_u64))
			.saturating_add(T::DbWeight::get().writes((1_u64).saturating_mul(r as u64)))
	}
	fn clear_refusals() -> Weight {
		Weight::from_parts(10_000_000, 3_000)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	fn register_actor() -> Weight {
		Weight::from_parts(40_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn publish_release(g: u32) -> Weight {
		Weight::from_parts(120_000_000, 10_000)
			.saturating_add(Weight::from_parts(2_000_000, 0).saturating_mul(g.into()))
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().writes(6_u64))
	}
	fn revoke_grant() -> Weight {
		Weight::from_parts(35_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn revoke_release() -> Weight {
		Weight::from_parts(45_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(3_u64))
	}
	fn submit_verdict() -> Weight {
		Weight::from_parts(80_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(4_u64))
			.saturating_add(RocksDbWeight::get().writes(3_u64))
	}
	fn authorize_submit_verdict() -> Weight {
		Weight::from_parts(70_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(0_u64))
	}
	fn register_provider(o: u32) -> Weight {
		Weight::from_parts(30_000_000, 10_000)
			.saturating_add(Weight::from_parts(2_000_000, 0).saturating_mul(o.into()))
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn retire_provider() -> Weight {
		Weight::from_parts(25_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn set_grant_limits() -> Weight {
		Weight::from_parts(10_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(0_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn set_required_approvals() -> Weight {
		Weight::from_parts(10_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(0_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn remove_release() -> Weight {
		Weight::from_parts(60_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(4_u64))
			.saturating_add(RocksDbWeight::get().writes(5_u64))
	}
	fn report_refusals(r: u32) -> Weight {
		Weight::from_parts(30_000_000, 10_000)
			.saturating_add(Weight::from_parts(15_000_000, 3_000).saturating_mul(r as u64))
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().reads((2_u64).saturating_mul(r as u64)))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
			.saturating_add(RocksDbWeight::get().writes((1_u64).saturating_mul(r as u64)))
	}
	fn clear_refusals() -> Weight {
		Weight::from_parts(10_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
}
