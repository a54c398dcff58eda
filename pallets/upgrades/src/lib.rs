//! # Upgrades pallet
//!
//! What the DAO's committee decides about the code TEA nodes run, and how it reaches them.
//!
//! - **Grayscale rollouts.** The committee (`GovernanceOrigin`, two thirds of the elected
//!   council in the TEA runtime) approves a validated actor release, or a new mini-runtime
//!   measurement, together with a [`RolloutPlan`]: tiers (share of the nodes, blocks to wait)
//!   and the highest acceptable failure rate. At approval the nodes of the registry
//!   ([`NodeSet`]) are ranked by `blake2_256(seed ‖ rollout id ‖ node id)`, where the seed is
//!   `blake2_256` of the parent block hash, and cut into tiers of the planned shares (rounded
//!   up, so a small first tier still gets a node): deterministic, and unknown before the motion
//!   executes. Each tier opens with [`Event::TierOpened`]; its
//!   nodes load the target and prove it with an attestation ([`RolloutSignals`]) before the
//!   tier's deadline.
//! - **Health gate.** After a tier's deadline, nodes that did not prove the upgrade are
//!   `MissedDeadline` (reported to the registry as evidence). If the failure rate among the
//!   nodes of the opened tiers (failed attestations or heartbeats, missed deadlines) is above
//!   the plan's `max_failure`, the rollout **freezes**; the committee resumes it or rolls it
//!   back, which returns every node to the previous release/measurement. After the last tier
//!   a grace period keeps the previous one usable (and rollback possible); then the release
//!   becomes `Active` and the previous one `Deprecated`, or the new measurement is allowed
//!   everywhere and the replaced one removed.
//! - **Allowlists** attestation checks ([`Allowlists`]): mini-runtime measurements and TPM
//!   vendor CA keys.
//! - **Runtime upgrades**: the committee authorizes a code hash
//!   (`frame_system`'s authorized upgrade with the version check); anyone then submits the code
//!   with `system.apply_authorized_upgrade`, free of charge.
//!
//! Storage is bounded: live rollouts by `MaxLiveRollouts`, nodes per rollout by `MaxNodes`,
//! tiers by `MaxTiers`, the allowlists by `MaxMeasurements` and `MaxCaKeys`. A rollout's
//! per-node records are removed when it completes or rolls back; its summary stays.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

use frame_system::pallet_prelude::BlockNumberFor;

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::tea-upgrades";

/// Most health gates (or completions) processed in one block; later ones wait a block.
pub const MAX_GATES_PER_BLOCK: u32 = 2;

/// The rollout type of this runtime.
pub type RolloutOf<T> = Rollout<BlockNumberFor<T>, <T as Config>::MaxTiers>;
/// The rollout plan type of this runtime.
pub type RolloutPlanOf<T> = RolloutPlan<BlockNumberFor<T>, <T as Config>::MaxTiers>;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use codec::Encode;
	use frame_support::pallet_prelude::*;
	use frame_system::pallet_prelude::*;
	use pallet_tea_actors::{ActorReleases, ReleaseStatus};
	use sp_core::H256;
	use sp_runtime::{
		traits::{Saturating, Zero},
		Perbill,
	};
	use tea_primitives::manifest::Name;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The committee: approves rollouts, manages the allowlists, authorizes runtime upgrades.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The actor registry whose releases are rolled out.
		type Releases: ActorReleases;

		/// A node's identity (the hash of its TPM endorsement key).
		type NodeId: Member + Parameter + MaxEncodedLen + Ord;

		/// The nodes that take part in rollouts, and where missed deadlines are reported.
		type Nodes: NodeSet<Self::NodeId>;

		/// Most nodes in one rollout.
		#[pallet::constant]
		type MaxNodes: Get<u32>;

		/// Most tiers in a rollout plan.
		#[pallet::constant]
		type MaxTiers: Get<u32>;

		/// Most rollouts running, frozen or in their grace period at once.
		#[pallet::constant]
		type MaxLiveRollouts: Get<u32>;

		/// Most allowed (or rolling) mini-runtime measurements.
		#[pallet::constant]
		type MaxMeasurements: Get<u32>;

		/// Most TPM vendor CA keys.
		#[pallet::constant]
		type MaxCaKeys: Get<u32>;

		/// Default shortest wait of a tier, in blocks, until governance sets [`Timings`].
		#[pallet::constant]
		type MinTierBlocks: Get<BlockNumberFor<Self>>;

		/// Default grace period, in blocks, until governance sets [`Timings`].
		#[pallet::constant]
		type GracePeriod: Get<BlockNumberFor<Self>>;

		/// Weights of this pallet's calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// The allowlists at genesis.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Allowed mini-runtime measurements.
		pub measurements: Vec<Measurement>,
		/// Allowed TPM vendor CA keys (DER `SubjectPublicKeyInfo`).
		pub ca_keys: Vec<Vec<u8>>,
		/// Rollout timings other than the runtime's defaults (the dev chain goes fast).
		pub timings: Option<RolloutTimings<BlockNumberFor<T>>>,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(self.measurements.len() as u32 <= T::MaxMeasurements::get());
			for m in &self.measurements {
				Pallet::<T>::allow(*m, MeasurementStatus::Allowed);
			}
			assert!(self.ca_keys.len() as u32 <= T::MaxCaKeys::get());
			for key in &self.ca_keys {
				assert!(well_formed_der_sequence(key), "genesis CA key is not DER");
				let key = CaKey::try_from(key.clone()).expect("genesis CA key too long");
				CaKeys::<T>::insert(ca_key_hash(&key), key);
			}
			if let Some(timings) = self.timings {
				assert!(!timings.min_tier_blocks.is_zero(), "genesis min_tier_blocks is zero");
				Timings::<T>::put(timings);
			}
		}
	}

	/// How fast rollouts may go.
	#[pallet::storage]
	pub type Timings<T: Config> =
		StorageValue<_, RolloutTimings<BlockNumberFor<T>>, ValueQuery, DefaultTimings<T>>;

	/// The runtime's default timings.
	#[pallet::type_value]
	pub fn DefaultTimings<T: Config>() -> RolloutTimings<BlockNumberFor<T>> {
		RolloutTimings {
			min_tier_blocks: T::MinTierBlocks::get(),
			grace_period: T::GracePeriod::get(),
		}
	}

	/// The id the next rollout gets.
	#[pallet::storage]
	pub type NextRolloutId<T: Config> = StorageValue<_, RolloutId, ValueQuery>;

	/// Every rollout, live or finished.
	#[pallet::storage]
	pub type Rollouts<T: Config> = StorageMap<_, Twox64Concat, RolloutId, RolloutOf<T>>;

	/// The live rollouts (running, frozen or in grace), oldest first.
	#[pallet::storage]
	pub type LiveRollouts<T: Config> =
		StorageValue<_, BoundedVec<RolloutId, T::MaxLiveRollouts>, ValueQuery>;

	/// The live rollout of an actor or a new measurement.
	#[pallet::storage]
	pub type LiveByKey<T: Config> = StorageMap<_, Blake2_128Concat, RolloutKey, RolloutId>;

	/// The tier and progress of each node of a live rollout. A worker loads a rollout's target
	/// once its tier is at most the rollout's open tier.
	#[pallet::storage]
	pub type Assignments<T: Config> =
		StorageDoubleMap<_, Twox64Concat, RolloutId, Blake2_128Concat, T::NodeId, Assignment>;

	/// The mini-runtime measurements attestation accepts.
	#[pallet::storage]
	pub type Measurements<T: Config> =
		CountedStorageMap<_, Blake2_128Concat, Measurement, MeasurementStatus>;

	/// Every measurement governance ever allowed or rolled out, kept after it is removed: a
	/// node's event log that shows one launched earlier is no evidence against the node (it
	/// was allowed then). Grows only by governance decisions.
	#[pallet::storage]
	pub type EverAllowed<T: Config> = StorageMap<_, Blake2_128Concat, Measurement, ()>;

	/// The TPM vendor CA keys endorsement-key certificates must chain to, by `blake2_256` of
	/// the key.
	#[pallet::storage]
	pub type CaKeys<T: Config> = CountedStorageMap<_, Identity, H256, CaKey>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// The committee approved a rollout; `nodes` nodes were assigned to its tiers.
		RolloutStarted { rollout: RolloutId, target: RolloutTarget, nodes: u32 },
		/// A tier opened: its `nodes` nodes must load the target and attest by block `deadline`.
		TierOpened { rollout: RolloutId, tier: u32, nodes: u32, deadline: BlockNumberFor<T> },
		/// A node proved it runs the target.
		NodeUpgraded { rollout: RolloutId, node: T::NodeId },
		/// A node of an opened tier failed an attestation or a heartbeat.
		NodeFailed { rollout: RolloutId, node: T::NodeId },
		/// A node did not prove the upgrade before its tier's deadline (reported as evidence).
		DeadlineMissed { rollout: RolloutId, node: T::NodeId },
		/// The health gate failed, or the committee froze the rollout.
		RolloutFrozen { rollout: RolloutId, tier: u32, failure_rate: Perbill, by_committee: bool },
		/// The committee resumed a frozen rollout.
		RolloutResumed { rollout: RolloutId },
		/// The release was revoked during its rollout; the rollout ended without reporting
		/// anyone.
		RolloutCancelled { rollout: RolloutId },
		/// Every tier passed; the previous release/measurement retires at `grace_until`.
		RolloutPassed { rollout: RolloutId, grace_until: BlockNumberFor<T> },
		/// The target is active everywhere.
		RolloutCompleted { rollout: RolloutId },
		/// The committee rolled back; every node returns to the previous release/measurement.
		RolledBack { rollout: RolloutId },
		/// A measurement was allowed for every node.
		MeasurementAllowed { measurement: Measurement },
		/// A measurement was removed from the allowlist.
		MeasurementRemoved { measurement: Measurement },
		/// A TPM vendor CA key was allowed.
		CaKeyAdded { key_hash: H256 },
		/// A TPM vendor CA key was removed.
		CaKeyRemoved { key_hash: H256 },
		/// Governance changed the rollout timings (running tiers keep their deadlines).
		RolloutTimingsSet { timings: RolloutTimings<BlockNumberFor<T>> },
		/// The committee authorized a runtime upgrade to the code with this hash; anyone may
		/// now submit it with `system.apply_authorized_upgrade`.
		RuntimeUpgradeAuthorized { code_hash: T::Hash },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No release with this version.
		UnknownRelease,
		/// Only a `Validated` (or already `Approved`) release can be rolled out.
		ReleaseNotValidated,
		/// A rollout of this actor or measurement is in progress.
		RolloutInProgress,
		/// A plan needs at least one tier.
		NoTiers,
		/// A tier has a zero share.
		EmptyTier,
		/// The tiers' shares do not sum to 100%.
		SharesNot100,
		/// A tier's wait is below `MinTierBlocks`.
		TierTooShort,
		/// The registry has more than `MaxNodes` rollout nodes.
		TooManyNodes,
		/// `MaxLiveRollouts` rollouts are live; finish or roll back one first.
		TooManyLiveRollouts,
		/// No rollout with this id.
		UnknownRollout,
		/// The rollout is not running.
		NotRunning,
		/// The rollout is not frozen.
		NotFrozen,
		/// The rollout has completed or rolled back.
		RolloutFinished,
		/// The measurement is already allowed or rolling out.
		MeasurementKnown,
		/// The measurement is not in the allowlist.
		UnknownMeasurement,
		/// The measurement is being rolled out; roll the rollout back instead.
		MeasurementRolling,
		/// A measurement cannot replace itself.
		ReplacesItself,
		/// The allowlist holds `MaxMeasurements` measurements.
		TooManyMeasurements,
		/// The key is not one DER `SubjectPublicKeyInfo` sequence.
		CaKeyMalformed,
		/// The key is already allowed.
		CaKeyKnown,
		/// No CA key with this hash.
		UnknownCaKey,
		/// The allowlist holds `MaxCaKeys` keys.
		TooManyCaKeys,
		/// A tier must last at least one block.
		ZeroTierBlocks,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let live = LiveRollouts::<T>::get();
			let mut weight = T::DbWeight::get().reads(1);
			let mut gates = 0;
			for id in live {
				if gates >= MAX_GATES_PER_BLOCK {
					break;
				}
				weight.saturating_accrue(T::DbWeight::get().reads(1));
				let Some(rollout) = Rollouts::<T>::get(id) else { continue };
				let due = match rollout.state {
					RolloutState::Running { deadline, .. } => now > deadline,
					RolloutState::Grace { until } => now > until,
					_ => false,
				};
				if !due {
					continue;
				}
				gates += 1;
				// A release revoked meanwhile: its nodes rightly refuse it; report nobody.
				if let RolloutTarget::Release { actor, version } = &rollout.target {
					if T::Releases::status(actor, *version) != Some(ReleaseStatus::Rolling) {
						let nodes = Self::cancel(id, rollout);
						weight.saturating_accrue(T::WeightInfo::roll_back(nodes));
						continue;
					}
				}
				match rollout.state {
					RolloutState::Running { tier, .. } => {
						let nodes = Self::gate(id, rollout, tier);
						weight.saturating_accrue(T::WeightInfo::gate(nodes));
					}
					_ => {
						let nodes = Self::finish(id, rollout);
						weight.saturating_accrue(T::WeightInfo::finish(nodes));
					}
				}
			}
			weight
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Approve a validated release of `actor` and start rolling it out with `plan`
		/// (committee).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::approve_release(T::MaxNodes::get()))]
		pub fn approve_release(
			origin: OriginFor<T>,
			actor: Name,
			version: u32,
			plan: RolloutPlanOf<T>,
		) -> DispatchResultWithPostInfo {
			T::GovernanceOrigin::ensure_origin(origin)?;
			let status = T::Releases::status(&actor, version).ok_or(Error::<T>::UnknownRelease)?;
			ensure!(
				matches!(status, ReleaseStatus::Validated | ReleaseStatus::Approved),
				Error::<T>::ReleaseNotValidated
			);
			let target = RolloutTarget::Release { actor: actor.clone(), version };
			let (id, nodes) = Self::prepare(&target, &plan)?;
			if status == ReleaseStatus::Validated {
				T::Releases::approve(&actor, version)?;
			}
			T::Releases::start_rollout(&actor, version)?;
			let count = nodes.len() as u32;
			Self::start(id, target, plan, nodes);
			Ok(Some(T::WeightInfo::approve_release(count)).into())
		}

		/// Roll out the mini-runtime measurement `new`, which replaces `replaces` (an allowed
		/// measurement) on completion (committee).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::roll_out_measurement(T::MaxNodes::get()))]
		pub fn roll_out_measurement(
			origin: OriginFor<T>,
			new: Measurement,
			replaces: Option<Measurement>,
			plan: RolloutPlanOf<T>,
		) -> DispatchResultWithPostInfo {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(!Measurements::<T>::contains_key(new), Error::<T>::MeasurementKnown);
			if let Some(old) = replaces {
				ensure!(old != new, Error::<T>::ReplacesItself);
				ensure!(
					Measurements::<T>::get(old) == Some(MeasurementStatus::Allowed),
					Error::<T>::UnknownMeasurement
				);
			}
			ensure!(
				Measurements::<T>::count() < T::MaxMeasurements::get(),
				Error::<T>::TooManyMeasurements
			);
			let target = RolloutTarget::Measurement { new, replaces };
			let (id, nodes) = Self::prepare(&target, &plan)?;
			Self::allow(new, MeasurementStatus::Rolling(id));
			let count = nodes.len() as u32;
			Self::start(id, target, plan, nodes);
			Ok(Some(T::WeightInfo::roll_out_measurement(count)).into())
		}

		/// Freeze a running rollout: no further tier opens until it is resumed (committee).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::freeze_rollout())]
		pub fn freeze_rollout(origin: OriginFor<T>, rollout: RolloutId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Rollouts::<T>::try_mutate(rollout, |r| {
				let r = r.as_mut().ok_or(Error::<T>::UnknownRollout)?;
				let RolloutState::Running { tier, deadline } = r.state else {
					return Err(Error::<T>::NotRunning.into());
				};
				let failure_rate = r.failure_rate(tier);
				r.state = RolloutState::Frozen { tier, failure_rate, deadline: Some(deadline) };
				Self::deposit_event(Event::RolloutFrozen {
					rollout,
					tier,
					failure_rate,
					by_committee: true,
				});
				Ok(())
			})
		}

		/// Resume a frozen rollout (committee): after a failed gate the next tier opens now;
		/// after the committee's own freeze the tier continues (through at least this block)
		/// and its gate runs as planned.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::resume_rollout())]
		pub fn resume_rollout(origin: OriginFor<T>, rollout: RolloutId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			let mut r = Rollouts::<T>::get(rollout).ok_or(Error::<T>::UnknownRollout)?;
			let RolloutState::Frozen { tier, deadline, .. } = r.state else {
				return Err(Error::<T>::NotFrozen.into());
			};
			Self::deposit_event(Event::RolloutResumed { rollout });
			match deadline {
				Some(deadline) => {
					let now = frame_system::Pallet::<T>::block_number();
					r.state = RolloutState::Running { tier, deadline: deadline.max(now) };
				}
				None => Self::advance(rollout, &mut r, tier.saturating_add(1)),
			}
			Rollouts::<T>::insert(rollout, r);
			Ok(())
		}

		/// Roll back a live rollout: the release returns to `Approved` (workers keep the
		/// active one), or the new measurement leaves the allowlist (committee).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::roll_back(T::MaxNodes::get()))]
		pub fn roll_back(origin: OriginFor<T>, rollout: RolloutId) -> DispatchResultWithPostInfo {
			T::GovernanceOrigin::ensure_origin(origin)?;
			let mut r = Rollouts::<T>::get(rollout).ok_or(Error::<T>::UnknownRollout)?;
			ensure!(r.state.is_live(), Error::<T>::RolloutFinished);
			match &r.target {
				// A release revoked meanwhile stays revoked.
				RolloutTarget::Release { actor, version } => {
					if T::Releases::status(actor, *version) == Some(ReleaseStatus::Rolling) {
						T::Releases::roll_back(actor, *version)?
					}
				}
				RolloutTarget::Measurement { new, .. } => Measurements::<T>::remove(new),
			}
			r.state = RolloutState::RolledBack;
			let nodes = Self::retire(rollout, &r);
			Rollouts::<T>::insert(rollout, r);
			Self::deposit_event(Event::RolledBack { rollout });
			Ok(Some(T::WeightInfo::roll_back(nodes)).into())
		}

		/// Allow a mini-runtime measurement for every node at once, without a rollout: for
		/// the first mini-runtime, or to re-allow a known good one (committee).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::allow_measurement())]
		pub fn allow_measurement(origin: OriginFor<T>, measurement: Measurement) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(!Measurements::<T>::contains_key(measurement), Error::<T>::MeasurementKnown);
			ensure!(
				Measurements::<T>::count() < T::MaxMeasurements::get(),
				Error::<T>::TooManyMeasurements
			);
			Self::allow(measurement, MeasurementStatus::Allowed);
			Self::deposit_event(Event::MeasurementAllowed { measurement });
			Ok(())
		}

		/// Remove an allowed measurement: quotes over it fail from now on (committee).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::remove_measurement())]
		pub fn remove_measurement(
			origin: OriginFor<T>,
			measurement: Measurement,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			match Measurements::<T>::get(measurement) {
				None => return Err(Error::<T>::UnknownMeasurement.into()),
				Some(MeasurementStatus::Rolling(_)) => {
					return Err(Error::<T>::MeasurementRolling.into())
				}
				Some(MeasurementStatus::Allowed) => Measurements::<T>::remove(measurement),
			}
			Self::deposit_event(Event::MeasurementRemoved { measurement });
			Ok(())
		}

		/// Allow a TPM vendor CA key, DER `SubjectPublicKeyInfo` (committee).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::add_ca_key())]
		pub fn add_ca_key(origin: OriginFor<T>, key: CaKey) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(well_formed_der_sequence(&key), Error::<T>::CaKeyMalformed);
			let key_hash = ca_key_hash(&key);
			ensure!(!CaKeys::<T>::contains_key(key_hash), Error::<T>::CaKeyKnown);
			ensure!(CaKeys::<T>::count() < T::MaxCaKeys::get(), Error::<T>::TooManyCaKeys);
			CaKeys::<T>::insert(key_hash, key);
			Self::deposit_event(Event::CaKeyAdded { key_hash });
			Ok(())
		}

		/// Remove a TPM vendor CA key by its hash (committee).
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::remove_ca_key())]
		pub fn remove_ca_key(origin: OriginFor<T>, key_hash: H256) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(CaKeys::<T>::contains_key(key_hash), Error::<T>::UnknownCaKey);
			CaKeys::<T>::remove(key_hash);
			Self::deposit_event(Event::CaKeyRemoved { key_hash });
			Ok(())
		}

		/// Authorize a runtime upgrade to the code hashing to `code_hash` (committee). Anyone
		/// may then submit the code with `system.apply_authorized_upgrade`, which checks that
		/// the spec name is the same and the spec version higher.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::authorize_runtime_upgrade())]
		pub fn authorize_runtime_upgrade(
			origin: OriginFor<T>,
			code_hash: T::Hash,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			frame_system::Pallet::<T>::do_authorize_upgrade(code_hash, true);
			Self::deposit_event(Event::RuntimeUpgradeAuthorized { code_hash });
			Ok(())
		}

		/// Set how fast rollouts may go: the shortest tier wait (at least one block) and the
		/// grace period (committee). Running tiers and grace periods keep their deadlines.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::set_rollout_timings())]
		pub fn set_rollout_timings(
			origin: OriginFor<T>,
			timings: RolloutTimings<BlockNumberFor<T>>,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(!timings.min_tier_blocks.is_zero(), Error::<T>::ZeroTierBlocks);
			Timings::<T>::put(timings);
			Self::deposit_event(Event::RolloutTimingsSet { timings });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// Checks a new rollout of `target` with `plan`; returns its id and the ranked nodes.
		fn prepare(
			target: &RolloutTarget,
			plan: &RolloutPlanOf<T>,
		) -> Result<(RolloutId, Vec<T::NodeId>), DispatchError> {
			ensure!(!plan.tiers.is_empty(), Error::<T>::NoTiers);
			let timings = Timings::<T>::get();
			let mut total: u32 = 0;
			for tier in &plan.tiers {
				ensure!(!tier.share.is_zero(), Error::<T>::EmptyTier);
				ensure!(tier.wait >= timings.min_tier_blocks, Error::<T>::TierTooShort);
				total = total.saturating_add(tier.share.deconstruct() as u32);
			}
			ensure!(total == 100, Error::<T>::SharesNot100);
			ensure!(!LiveByKey::<T>::contains_key(target.key()), Error::<T>::RolloutInProgress);
			ensure!(
				(LiveRollouts::<T>::decode_len().unwrap_or(0) as u32) < T::MaxLiveRollouts::get(),
				Error::<T>::TooManyLiveRollouts
			);
			let mut nodes = T::Nodes::rollout_nodes();
			nodes.sort();
			nodes.dedup();
			ensure!(nodes.len() as u32 <= T::MaxNodes::get(), Error::<T>::TooManyNodes);
			Ok((NextRolloutId::<T>::get(), nodes))
		}

		/// Records rollout `id` (checked by [`Self::prepare`]), assigns `nodes` to its tiers
		/// and opens the first tier.
		fn start(
			id: RolloutId,
			target: RolloutTarget,
			plan: RolloutPlanOf<T>,
			nodes: Vec<T::NodeId>,
		) {
			let now = frame_system::Pallet::<T>::block_number();
			let seed = H256(sp_io::hashing::blake2_256(
				&frame_system::Pallet::<T>::parent_hash().encode(),
			));
			let tiers = Self::assign(id, seed, &plan.tiers, nodes);
			let mut rollout = Rollout {
				target: target.clone(),
				tiers: plan
					.tiers
					.iter()
					.zip(tiers)
					.map(|(tier, nodes)| TierProgress {
						tier: *tier,
						nodes,
						upgraded: 0,
						failed: 0,
					})
					.collect::<Vec<_>>()
					.try_into()
					.expect("one progress per planned tier; qed"),
				max_failure: plan.max_failure,
				state: RolloutState::RolledBack,
				started_at: now,
				seed,
			};
			NextRolloutId::<T>::put(id.saturating_add(1));
			LiveByKey::<T>::insert(target.key(), id);
			LiveRollouts::<T>::mutate(|live| {
				// `prepare` checked the bound.
				let _ = live.try_push(id);
			});
			let nodes = rollout.tiers.iter().map(|t| t.nodes).sum();
			Self::deposit_event(Event::RolloutStarted { rollout: id, target, nodes });
			Self::advance(id, &mut rollout, 0);
			Rollouts::<T>::insert(id, rollout);
		}

		/// Ranks `nodes` by `blake2_256(seed ‖ id ‖ node)` and stores each one's tier: tier `i`
		/// gets the ranks from `⌈n·S(i-1)/100⌉` up to `⌈n·S(i)/100⌉`, where `S(i)` is the sum of
		/// the shares of tiers `0..=i` (rounding up: a 10% canary tier over 5 nodes gets one).
		/// Returns the number of nodes of each tier.
		pub(crate) fn assign(
			id: RolloutId,
			seed: H256,
			tiers: &[Tier<BlockNumberFor<T>>],
			nodes: Vec<T::NodeId>,
		) -> Vec<u32> {
			let mut ranked: Vec<([u8; 32], T::NodeId)> = nodes
				.into_iter()
				.map(|node| (sp_io::hashing::blake2_256(&(seed, id, &node).encode()), node))
				.collect();
			ranked.sort_by(|a, b| a.0.cmp(&b.0));
			let n = ranked.len() as u64;
			let mut counts = Vec::with_capacity(tiers.len());
			let (mut share_sum, mut from) = (0u64, 0usize);
			for (i, tier) in tiers.iter().enumerate() {
				share_sum += tier.share.deconstruct() as u64;
				let to = if i + 1 == tiers.len() {
					ranked.len()
				} else {
					n.saturating_mul(share_sum).div_ceil(100).min(n) as usize
				};
				for (_, node) in &ranked[from..to] {
					let assignment = Assignment { tier: i as u32, status: NodeUpgrade::Pending };
					Assignments::<T>::insert(id, node, assignment);
				}
				counts.push((to - from) as u32);
				from = to;
			}
			counts
		}

		/// Opens tier `next`, or starts the grace period when every tier has passed.
		fn advance(id: RolloutId, rollout: &mut RolloutOf<T>, next: u32) {
			let now = frame_system::Pallet::<T>::block_number();
			match rollout.tiers.get(next as usize) {
				Some(progress) => {
					let deadline = now.saturating_add(progress.tier.wait);
					rollout.state = RolloutState::Running { tier: next, deadline };
					Self::deposit_event(Event::TierOpened {
						rollout: id,
						tier: next,
						nodes: progress.nodes,
						deadline,
					});
				}
				None => {
					let grace_until = now.saturating_add(Timings::<T>::get().grace_period);
					rollout.state = RolloutState::Grace { until: grace_until };
					Self::deposit_event(Event::RolloutPassed { rollout: id, grace_until });
				}
			}
		}

		/// The health gate of `tier`: marks its nodes that did not upgrade as `MissedDeadline`
		/// (evidence), then opens the next tier or freezes. Returns the rollout's node count.
		pub(crate) fn gate(id: RolloutId, mut rollout: RolloutOf<T>, tier: u32) -> u32 {
			let mut seen = 0u32;
			let mut missed = 0u32;
			for (node, mut assignment) in Assignments::<T>::iter_prefix(id) {
				seen += 1;
				if assignment.tier == tier && assignment.status == NodeUpgrade::Pending {
					assignment.status = NodeUpgrade::MissedDeadline;
					Assignments::<T>::insert(id, &node, assignment);
					T::Nodes::missed_upgrade_deadline(&node, id);
					Self::deposit_event(Event::DeadlineMissed { rollout: id, node });
					missed += 1;
				}
			}
			if let Some(progress) = rollout.tiers.get_mut(tier as usize) {
				progress.failed = progress.failed.saturating_add(missed);
			}
			let failure_rate = rollout.failure_rate(tier);
			if failure_rate > Perbill::from_percent(rollout.max_failure.deconstruct() as u32) {
				rollout.state = RolloutState::Frozen { tier, failure_rate, deadline: None };
				Self::deposit_event(Event::RolloutFrozen {
					rollout: id,
					tier,
					failure_rate,
					by_committee: false,
				});
			} else {
				Self::advance(id, &mut rollout, tier.saturating_add(1));
			}
			Rollouts::<T>::insert(id, rollout);
			seen
		}

		/// The grace period is over: the target becomes the active release or an allowed
		/// measurement. Returns the rollout's node count.
		pub(crate) fn finish(id: RolloutId, mut rollout: RolloutOf<T>) -> u32 {
			match &rollout.target {
				RolloutTarget::Release { actor, version } => {
					let activated = frame_support::storage::with_storage_layer(|| {
						T::Releases::activate(actor, *version)
					});
					if let Err(e) = activated {
						// Revoked during the grace period: nothing to activate.
						log::warn!(
							target: LOG_TARGET,
							"rollout {id}: release could not be activated: {e:?}"
						);
					}
				}
				RolloutTarget::Measurement { new, replaces } => {
					Self::allow(*new, MeasurementStatus::Allowed);
					// Only if still allowed: the committee may have removed it, and another
					// rollout may be rolling it out again.
					if let Some(old) = replaces {
						if Measurements::<T>::get(old) == Some(MeasurementStatus::Allowed) {
							Measurements::<T>::remove(old);
							Self::deposit_event(Event::MeasurementRemoved { measurement: *old });
						}
					}
					Self::deposit_event(Event::MeasurementAllowed { measurement: *new });
				}
			}
			rollout.state = RolloutState::Completed;
			let nodes = Self::retire(id, &rollout);
			Rollouts::<T>::insert(id, rollout);
			Self::deposit_event(Event::RolloutCompleted { rollout: id });
			nodes
		}

		/// The release was revoked during its rollout: end it without reporting anyone.
		pub(crate) fn cancel(id: RolloutId, mut rollout: RolloutOf<T>) -> u32 {
			rollout.state = RolloutState::Cancelled;
			let nodes = Self::retire(id, &rollout);
			Rollouts::<T>::insert(id, rollout);
			Self::deposit_event(Event::RolloutCancelled { rollout: id });
			nodes
		}

		/// Removes a finished rollout from the live set and drops its node records; returns
		/// how many there were.
		fn retire(id: RolloutId, rollout: &RolloutOf<T>) -> u32 {
			LiveRollouts::<T>::mutate(|live| live.retain(|r| *r != id));
			LiveByKey::<T>::remove(rollout.target.key());
			let nodes: u32 = rollout.tiers.iter().map(|t| t.nodes).sum();
			let _ = Assignments::<T>::clear_prefix(id, nodes.saturating_add(1), None);
			nodes
		}

		/// Invariants, checked after every test and by `try-runtime`:
		/// - live rollouts are exactly those in a live state, each indexed under its key;
		/// - a live rollout's node records match its tier tallies (count per tier, upgraded,
		///   failed) and finished rollouts keep none;
		/// - a rolling measurement belongs to a live rollout of that measurement;
		/// - the counted maps stay within their bounds.
		#[cfg(any(feature = "try-runtime", feature = "std"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let live = LiveRollouts::<T>::get();
			for (id, rollout) in Rollouts::<T>::iter() {
				ensure!(id < NextRolloutId::<T>::get(), "rollout id not yet assigned");
				ensure!(live.contains(&id) == rollout.state.is_live(), "live set mismatch");
				let mut tallies = alloc::vec![(0u32, 0u32, 0u32); rollout.tiers.len()];
				for (_, a) in Assignments::<T>::iter_prefix(id) {
					let t = tallies.get_mut(a.tier as usize).ok_or("assignment to no tier")?;
					t.0 += 1;
					match a.status {
						NodeUpgrade::Upgraded => t.1 += 1,
						NodeUpgrade::Failed | NodeUpgrade::MissedDeadline => t.2 += 1,
						NodeUpgrade::Pending => {}
					}
				}
				if rollout.state.is_live() {
					ensure!(
						LiveByKey::<T>::get(rollout.target.key()) == Some(id),
						"live rollout not indexed"
					);
					if let RolloutTarget::Measurement { new, .. } = rollout.target {
						ensure!(
							Measurements::<T>::get(new) == Some(MeasurementStatus::Rolling(id)),
							"live measurement rollout without its rolling entry"
						);
					}
					for (t, p) in tallies.iter().zip(&rollout.tiers) {
						ensure!(*t == (p.nodes, p.upgraded, p.failed), "tier tallies mismatch");
					}
				} else {
					ensure!(tallies.iter().all(|t| t.0 == 0), "finished rollout keeps nodes");
				}
			}
			ensure!(LiveByKey::<T>::iter().count() == live.len(), "stale rollout key");
			for (m, status) in Measurements::<T>::iter() {
				if let MeasurementStatus::Rolling(id) = status {
					let r = Rollouts::<T>::get(id).ok_or("rolling measurement without rollout")?;
					ensure!(r.state.is_live(), "rolling measurement of a finished rollout");
					ensure!(
						matches!(r.target, RolloutTarget::Measurement { new, .. } if new == m),
						"rolling measurement of another target"
					);
				}
			}
			ensure!(
				Measurements::<T>::count() <= T::MaxMeasurements::get(),
				"too many measurements"
			);
			ensure!(CaKeys::<T>::count() <= T::MaxCaKeys::get(), "too many CA keys");
			Ok(())
		}
	}

	impl<T: Config> RolloutSignals<T::NodeId> for Pallet<T> {
		fn note_upgraded(node: &T::NodeId, target: &RolloutTarget) {
			// A node that proved a rolling measurement and now runs the one it replaces went
			// back: it counts as failed in that rollout (an upgrade is not sticky).
			if let RolloutTarget::Measurement { new: running, .. } = target {
				Self::note_went_back(node, running);
			}
			let Some(id) = LiveByKey::<T>::get(target.key()) else { return };
			let Some(mut rollout) = Rollouts::<T>::get(id) else { return };
			// A measurement is proved by the quoted digest alone; a release by its version.
			let same = match (&rollout.target, target) {
				(
					RolloutTarget::Release { actor, version },
					RolloutTarget::Release { actor: a, version: v },
				) => actor == a && version == v,
				(
					RolloutTarget::Measurement { new, .. },
					RolloutTarget::Measurement { new: n, .. },
				) => new == n,
				_ => false,
			};
			if !same {
				return;
			}
			let open = rollout.state.open_tier();
			let Some(mut a) = Assignments::<T>::get(id, node) else { return };
			if a.status != NodeUpgrade::Pending || open.is_none_or(|open| a.tier > open) {
				return;
			}
			a.status = NodeUpgrade::Upgraded;
			Assignments::<T>::insert(id, node, a);
			if let Some(p) = rollout.tiers.get_mut(a.tier as usize) {
				p.upgraded = p.upgraded.saturating_add(1);
			}
			Rollouts::<T>::insert(id, rollout);
			Self::deposit_event(Event::NodeUpgraded { rollout: id, node: node.clone() });
		}

		fn note_failure(node: &T::NodeId) {
			for id in LiveRollouts::<T>::get() {
				let Some(mut a) = Assignments::<T>::get(id, node) else { continue };
				let Some(mut rollout) = Rollouts::<T>::get(id) else { continue };
				let open = rollout.state.open_tier();
				if open.is_none_or(|open| a.tier > open) {
					continue;
				}
				let Some(p) = rollout.tiers.get_mut(a.tier as usize) else { continue };
				match a.status {
					NodeUpgrade::Upgraded => p.upgraded = p.upgraded.saturating_sub(1),
					NodeUpgrade::Pending => {}
					NodeUpgrade::Failed | NodeUpgrade::MissedDeadline => continue,
				}
				p.failed = p.failed.saturating_add(1);
				a.status = NodeUpgrade::Failed;
				Assignments::<T>::insert(id, node, a);
				Rollouts::<T>::insert(id, rollout);
				Self::deposit_event(Event::NodeFailed { rollout: id, node: node.clone() });
			}
		}
	}

	impl<T: Config> Pallet<T> {
		/// Marks `node` failed in each live measurement rollout it proved upgraded to, if the
		/// measurement it now runs (`running`) is the one that rollout replaces. O(live
		/// rollouts).
		fn note_went_back(node: &T::NodeId, running: &Measurement) {
			for id in LiveRollouts::<T>::get() {
				let Some(mut rollout) = Rollouts::<T>::get(id) else { continue };
				let RolloutTarget::Measurement { replaces: Some(old), .. } = &rollout.target else {
					continue;
				};
				if old != running {
					continue;
				}
				let Some(mut a) = Assignments::<T>::get(id, node) else { continue };
				if a.status != NodeUpgrade::Upgraded {
					continue;
				}
				let Some(p) = rollout.tiers.get_mut(a.tier as usize) else { continue };
				p.upgraded = p.upgraded.saturating_sub(1);
				p.failed = p.failed.saturating_add(1);
				a.status = NodeUpgrade::Failed;
				Assignments::<T>::insert(id, node, a);
				Rollouts::<T>::insert(id, rollout);
				Self::deposit_event(Event::NodeFailed { rollout: id, node: node.clone() });
			}
		}

		/// Puts `measurement` on the allowlist with `status`, and on [`EverAllowed`].
		fn allow(measurement: Measurement, status: MeasurementStatus) {
			Measurements::<T>::insert(measurement, status);
			EverAllowed::<T>::insert(measurement, ());
		}
	}

	impl<T: Config> Pallet<T> {
		/// Whether `node` is assigned to an opened tier of rollout `id`: where workers may run
		/// its target.
		fn tier_open(id: RolloutId, rollout: &RolloutOf<T>, node: &T::NodeId) -> bool {
			let open = rollout.state.open_tier();
			let tier = Assignments::<T>::get(id, node).map(|a| a.tier);
			matches!((open, tier), (Some(open), Some(tier)) if tier <= open)
		}
	}

	impl<T: Config> Allowlists<T::NodeId> for Pallet<T> {
		fn measurement_ever_allowed(measurement: &Measurement) -> bool {
			EverAllowed::<T>::contains_key(measurement)
		}

		fn measurement_allowed(node: &T::NodeId, measurement: &Measurement) -> bool {
			match Measurements::<T>::get(measurement) {
				Some(MeasurementStatus::Allowed) => true,
				Some(MeasurementStatus::Rolling(id)) => Rollouts::<T>::get(id)
					.is_some_and(|rollout| Self::tier_open(id, &rollout, node)),
				None => false,
			}
		}

		fn release_tier_open(node: &T::NodeId, actor: &Name, version: u32) -> bool {
			let Some(id) = LiveByKey::<T>::get(RolloutKey::Actor(actor.clone())) else {
				return true;
			};
			let Some(rollout) = Rollouts::<T>::get(id) else { return true };
			if !matches!(&rollout.target, RolloutTarget::Release { version: v, .. } if *v == version)
			{
				return true;
			}
			Self::tier_open(id, &rollout, node)
		}

		fn ca_key_allowed(key: &[u8]) -> bool {
			CaKeys::<T>::contains_key(ca_key_hash(key))
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn allow_for_benchmark(measurement: Measurement) {
			Self::allow(measurement, MeasurementStatus::Allowed);
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn roll_release_for_benchmark(node: &T::NodeId, actor: &Name, version: u32) {
			let id = NextRolloutId::<T>::mutate(|next| {
				let id = *next;
				*next = next.saturating_add(1);
				id
			});
			let target = RolloutTarget::Release { actor: actor.clone(), version };
			LiveByKey::<T>::insert(target.key(), id);
			Rollouts::<T>::insert(
				id,
				Rollout {
					target,
					tiers: Default::default(),
					max_failure: sp_runtime::Percent::zero(),
					state: RolloutState::Running {
						tier: 0,
						deadline: sp_runtime::traits::Bounded::max_value(),
					},
					started_at: Zero::zero(),
					seed: Default::default(),
				},
			);
			Assignments::<T>::insert(
				id,
				node,
				Assignment { tier: 0, status: NodeUpgrade::Pending },
			);
		}
	}
}

/// The storage key of a CA key: its `blake2_256`.
pub fn ca_key_hash(key: &[u8]) -> sp_core::H256 {
	sp_core::H256(sp_io::hashing::blake2_256(key))
}
