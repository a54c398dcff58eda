//! The chain's block time, chosen in its genesis and fixed for its life.
//!
//! Aura's slot duration must never change on a running chain: the slot is `timestamp /
//! slot duration`, and a longer duration would make the slot number go backwards, which
//! `pallet_aura` refuses, halting block production. So it is not a call, only a genesis field:
//! production presets leave it unset ([`SLOT_DURATION`], 6 s); the dev preset sets 2 s so
//! that everything measured in blocks (epochs, reviews, rollout tiers, heartbeats) passes three
//! times faster on a developer's machine and in the end-to-end tests.
//!
//! [`MinimumPeriod`] is `pallet_timestamp`'s minimum period (half a slot), from which Aura's
//! slot duration (`MinimumPeriodTimesTwo`) and the node's slot worker follow. The node reads
//! the slot duration once at start: root writing this storage item (`system.setStorage`) or a
//! runtime upgrade renaming the pallet would stop block production, like any change of Aura's
//! slot on a running chain.

pub use pallet::*;

use crate::SLOT_DURATION;

/// The shortest block time a genesis may choose (milliseconds): the runtime's maximum block
/// weight is 2 s of compute, so a shorter slot could not import a full block before the next
/// is due.
pub const MIN_SLOT_DURATION: u64 = 2_000;
/// The longest block time a genesis may choose (milliseconds).
pub const MAX_SLOT_DURATION: u64 = 60_000;

#[frame_support::pallet]
pub mod pallet {
	use frame_support::pallet_prelude::*;
	use frame_system::pallet_prelude::BlockNumberFor;

	#[pallet::config]
	pub trait Config: frame_system::Config {}

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	/// Milliseconds per Aura slot, the target block time, as the genesis chose it. Unset on
	/// chains that keep the default of 6 000 ms. Never changes after genesis.
	#[pallet::storage]
	pub type SlotDuration<T> = StorageValue<_, u64, OptionQuery>;

	/// The block time of this chain: `slot_duration` milliseconds per block (even, 2 000 to
	/// 60 000), or the default of 6 000 when unset.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Milliseconds per block; `None` keeps the default.
		pub slot_duration: Option<u64>,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Some(ms) = self.slot_duration {
				// A genesis that breaks these would produce no block at all: refuse to build it.
				assert!(
					(super::MIN_SLOT_DURATION..=super::MAX_SLOT_DURATION).contains(&ms)
						&& ms % 2 == 0,
					"blockTime.slotDuration must be even, {} to {} ms",
					super::MIN_SLOT_DURATION,
					super::MAX_SLOT_DURATION
				);
				SlotDuration::<T>::put(ms);
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// The timestamp inherent reads the slot duration once per block.
		fn on_initialize(_: BlockNumberFor<T>) -> Weight {
			T::DbWeight::get().reads(1)
		}
	}

	impl<T: Config> Pallet<T> {
		/// Milliseconds per block on this chain.
		pub fn slot_duration() -> u64 {
			SlotDuration::<T>::get().unwrap_or(super::SLOT_DURATION)
		}
	}
}

/// `pallet_timestamp::Config::MinimumPeriod`: half of this chain's slot duration.
pub struct MinimumPeriod;

impl frame_support::traits::Get<u64> for MinimumPeriod {
	fn get() -> u64 {
		Pallet::<crate::Runtime>::slot_duration() / 2
	}
}

// The default must satisfy what a genesis is held to.
const _: () = assert!(
	SLOT_DURATION >= MIN_SLOT_DURATION
		&& SLOT_DURATION <= MAX_SLOT_DURATION
		&& SLOT_DURATION % 2 == 0
);
