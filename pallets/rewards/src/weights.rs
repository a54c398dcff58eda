//! The weight functions of `pallet_tea_rewards`, and hand-set upper bounds for tests and for
//! runtimes that have not benchmarked the pallet (`benchmarking.rs` measures them).

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_tea_rewards`.
pub trait WeightInfo {
	/// A batch of `n` acknowledged receipts (two signature checks each).
	fn submit_receipts(n: u32) -> Weight;
	fn claim() -> Weight;
	fn set_params() -> Weight;
	/// A block that neither ends an era nor sweeps.
	fn on_initialize_idle() -> Weight;
	/// The end of an era, with an expired era to release.
	fn end_era() -> Weight;
	/// Sweeping `k` keys of ended eras.
	fn sweep(k: u32) -> Weight;
	/// An accepted quote told by the attestation pallet (a new receipt key, uptime points).
	fn note_attested() -> Weight;
	/// Evidence told by the attestation pallet (a forfeit).
	fn note_reported() -> Weight;
}

/// Hand-set bounds, to be replaced by generated weights when the runtime includes the pallet.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn submit_receipts(n: u32) -> Weight {
		Weight::from_parts(50_000_000, 10_000)
			.saturating_add(Weight::from_parts(200_000_000, 1_000).saturating_mul(n.into()))
			.saturating_add(T::DbWeight::get().reads(8_u64))
			.saturating_add(T::DbWeight::get().reads((5_u64).saturating_mul(n.into())))
			.saturating_add(T::DbWeight::get().writes(3_u64))
			.saturating_add(T::DbWeight::get().writes((2_u64).saturating_mul(n.into())))
	}
	fn claim() -> Weight {
		Weight::from_parts(100_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(5_u64))
	}
	fn set_params() -> Weight {
		Weight::from_parts(20_000_000, 1_000)
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	fn on_initialize_idle() -> Weight {
		Weight::from_parts(10_000_000, 1_000)
			.saturating_add(T::DbWeight::get().reads(4_u64))
	}
	fn end_era() -> Weight {
		Weight::from_parts(100_000_000, 10_000)
			.saturating_add(T::DbWeight::get().reads(8_u64))
			.saturating_add(T::DbWeight::get().writes(10_u64))
	}
	fn sweep(k: u32) -> Weight {
		Weight::from_parts(10_000_000, 1_000)
			.saturating_add(Weight::from_parts(1_000_000, 100).saturating_mul(k.into()))
			.saturating_add(T::DbWeight::get().reads(1_u64 + crate::SWEEP_CALLS as u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
			.saturating_add(T::DbWeight::get().writes((1_u64).saturating_mul(k.into())))
	}
	fn note_attested() -> Weight {
		Weight::from_parts(30_000_000, 2_000)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(3_u64))
	}
	fn note_reported() -> Weight {
		Weight::from_parts(30_000_000, 2_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
}

impl WeightInfo for () {
	fn submit_receipts(n: u32) -> Weight {
		Weight::from_parts(50_000_000, 10_000)
			.saturating_add(Weight::from_parts(200_000_000, 1_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().reads((5_u64).saturating_mul(n.into())))
			.saturating_add(RocksDbWeight::get().writes(3_u64))
			.saturating_add(RocksDbWeight::get().writes((2_u64).saturating_mul(n.into())))
	}
	fn claim() -> Weight {
		Weight::from_parts(100_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(5_u64))
	}
	fn set_params() -> Weight {
		Weight::from_parts(20_000_000, 1_000)
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn on_initialize_idle() -> Weight {
		Weight::from_parts(10_000_000, 1_000)
			.saturating_add(RocksDbWeight::get().reads(4_u64))
	}
	fn end_era() -> Weight {
		Weight::from_parts(100_000_000, 10_000)
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().writes(10_u64))
	}
	fn sweep(k: u32) -> Weight {
		Weight::from_parts(10_000_000, 1_000)
			.saturating_add(Weight::from_parts(1_000_000, 100).saturating_mul(k.into()))
			.saturating_add(RocksDbWeight::get().reads(1_u64 + crate::SWEEP_CALLS as u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
			.saturating_add(RocksDbWeight::get().writes((1_u64).saturating_mul(k.into())))
	}
	fn note_attested() -> Weight {
		Weight::from_parts(30_000_000, 2_000)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(3_u64))
	}
	fn note_reported() -> Weight {
		Weight::from_parts(30_000_000, 2_000)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
}

