//! # TEA rewards
//!
//! Compute rewards, era by era. Each era (`RewardParams::era_length` blocks) every serving node
//! (on probation or active) earns points for
//! - **attested uptime**: each accepted quote counts `heartbeat_points`, at most once per
//!   `beat_interval` blocks (a node that quotes every block earns no more);
//! - **committee duty**: each vote with the final majority of a closed review counts
//!   `duty_points`;
//! - **acknowledged work**: the worker batches receipts its clients signed back
//!   ([`submit_receipts`](Pallet::submit_receipts), `tea_primitives::receipt::Acknowledged`).
//!   The chain checks the node's receipt signature with a receipt key the node's accepted
//!   evidence bound, the client's acknowledgement, that the release under the receipt's CID is
//!   the one it names and was not revoked by the receipt's block, that the receipt was made in
//!   the current era (so an era's forfeit covers every receipt made in it), and that each
//!   `(node, client, nonce)` counts once. A receipt counts `fuel_used / fuel_per_point` points,
//!   at most `client_cap` per client and node in an era; one that earns nothing is not stored.
//!   The node's operator earns nothing for its own tasks, and a client must be an account that
//!   exists: the chain cannot tell a real client from an operator's second account, so what
//!   sybil clients earn is bounded by `client_cap` per account, `node_receipts` per node and
//!   era, and audits (next). A receipt the node signed wrong (its signature, its client's
//!   acknowledgement, the operator as client, a release that never ran, a future block) fails
//!   the whole batch; one the chain's state refuses (stale, counted, key no longer bound, no
//!   client account, release revoked, no room left) only counts nothing, since that state may
//!   change between a worker's read and the inclusion, and a client could time it to fail
//!   the batch.
//!
//! Points earned on probation count `probation` of their value, and so do the receipts an
//! active node made before it became active. A node quarantined (evidence reported against it)
//! forfeits all its points of the era, and of the era before it, whose claims open only when
//! the current era ends: evidence found soon after an era still costs the reward. A node
//! removed for cause was reported first; one that exited keeps what it earned (its operator
//! still claims it).
//!
//! A receipt's block is the finalized block its run read, a few blocks behind the best one:
//! the receipts of an era's first few blocks are from before the era began and count nothing
//! (a worker batches them before the era ends).
//!
//! When an era ends its reward is fixed ([`RewardSource`]): minted by inflation, or a share of
//! the pot's funds not owed to earlier eras; it is kept in the pot account and split pro rata
//! to points. The node's operator [`claim`](Pallet::claim)s its share once the next era ended
//! too, for `HistoryDepth` eras; then what is unclaimed expires and stays in the pot.
//!
//! Limits: the batch size (`MaxBatch`), receipts per era (`max_receipts`, at most
//! `MaxReceiptsPerEra`) and per node (`node_receipts`); an ended era's storage is swept in the
//! blocks after it (`SWEEP_PER_BLOCK` keys a block, cursors that never lose an era), and an era
//! must be long enough to sweep its receipts.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use pallet_tea_nodes::NodeId;
use scale_info::TypeInfo;
use sp_runtime::Perbill;

/// An era's number.
pub type EraIndex = u32;

/// The key under which a receipt of `node` for `client` with `nonce` is counted in `Seen`:
/// `blake2_256` of the SCALE `(node, client, nonce)` (workers read it before they batch).
pub fn seen_key<AccountId: Encode>(node: &NodeId, client: &AccountId, nonce: u64) -> [u8; 32] {
	sp_io::hashing::blake2_256(&(node, client, nonce).encode())
}

/// What a receipt of `fuel_used` fuel earns under `params`: `(added, worth)`, the work points
/// it adds to its client's count with the node (`so_far` counted already in the era, at most
/// `client_cap`) and what they are worth to the node (`probation`: made before the node was
/// active). A receipt worth nothing is not counted (workers compute this before they batch).
pub fn receipt_points<BlockNumber, Balance>(
	params: &RewardParams<BlockNumber, Balance>,
	fuel_used: u64,
	so_far: u32,
	probation: bool,
) -> (u32, u32) {
	let fuel_points = u32::try_from(fuel_used / params.fuel_per_point.max(1)).unwrap_or(u32::MAX);
	let added = fuel_points.min(params.client_cap.saturating_sub(so_far));
	(added, worth(params, added, probation))
}

/// What `points` earned on probation (or not) are worth under `params`.
pub fn worth<BlockNumber, Balance>(
	params: &RewardParams<BlockNumber, Balance>,
	points: u32,
	probation: bool,
) -> u32 {
	if probation {
		sp_runtime::PerThing::mul_floor(params.probation, points)
	} else {
		points
	}
}

/// The errors of [`submit_receipts`](Pallet::submit_receipts) that one receipt of a batch
/// causes, what the node signed wrong (a worker that sends it alone and sees one drops it);
/// the others are the node's (`NotOperator`, `UnknownNode`, `NotServing`, `Forfeited`).
/// What the chain's state says of a well-formed receipt fails nothing: it counts nothing.
pub const RECEIPT_ERRORS: [&str; 6] = [
	"WrongNode",
	"BadReceiptSignature",
	"BadAcknowledgement",
	"SelfDealing",
	"UnknownRelease",
	"FutureReceipt",
];

/// Where an era's reward comes from.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum RewardSource<Balance> {
	/// This much is minted into the pot at the end of each era that has points.
	Inflation(Balance),
	/// This share of the pot's funds that no earlier era is owed.
	Pot(Perbill),
}

/// The reward rules governance sets.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct RewardParams<BlockNumber, Balance> {
	/// Blocks per era (at least [`MIN_ERA_LENGTH`]).
	pub era_length: BlockNumber,
	/// Where each era's reward comes from.
	pub source: RewardSource<Balance>,
	/// Points per counted accepted quote.
	pub heartbeat_points: u32,
	/// Fewest blocks between two counted quotes of a node.
	pub beat_interval: BlockNumber,
	/// Points per vote with a review's final majority.
	pub duty_points: u32,
	/// Fuel per work point (at least 1).
	pub fuel_per_point: u64,
	/// Most work points one client's receipts earn one node in an era.
	pub client_cap: u32,
	/// What a point earned on probation is worth.
	pub probation: Perbill,
	/// Most receipts counted in an era, over all nodes (at most `MaxReceiptsPerEra`, and
	/// `era_length × SWEEP_PER_BLOCK` sweeps twice as many keys).
	pub max_receipts: u32,
	/// Most receipts counted per node in an era.
	pub node_receipts: u32,
}

/// Fewest blocks per era.
pub const MIN_ERA_LENGTH: u32 = 10;
/// Most storage keys swept per block.
pub const SWEEP_PER_BLOCK: u32 = 256;
/// Most storage prefixes a block's sweep visits (each costs a seek even when empty).
pub const SWEEP_CALLS: u32 = 4;
/// Receipt keys remembered per node (the latest last): receipts of a process relaunched since
/// still count.
pub const RECEIPT_KEYS: u32 = 4;

/// A node's points in one era.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct NodePoints<AccountId, BlockNumber> {
	/// Its operator when it first earned points in the era: who claims them.
	pub operator: AccountId,
	/// Uptime points.
	pub uptime: u32,
	/// Committee duty points.
	pub duty: u32,
	/// Acknowledged work points.
	pub work: u32,
	/// Distinct clients whose receipts counted.
	pub clients: u32,
	/// Receipts counted.
	pub receipts: u32,
	/// The block of its last counted quote.
	pub last_beat: Option<BlockNumber>,
	/// Reported (quarantined) during the era or the one after: it earns nothing.
	pub forfeited: bool,
	/// Its reward was claimed.
	pub claimed: bool,
}

impl<AccountId, BlockNumber> NodePoints<AccountId, BlockNumber> {
	/// All its points.
	pub fn total(&self) -> u64 {
		u64::from(self.uptime) + u64::from(self.duty) + u64::from(self.work)
	}

	fn new(operator: AccountId) -> Self {
		NodePoints {
			operator,
			uptime: 0,
			duty: 0,
			work: 0,
			clients: 0,
			receipts: 0,
			last_beat: None,
			forfeited: false,
			claimed: false,
		}
	}
}

/// An ended era.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct EraReward<Balance> {
	/// What it pays in all.
	pub reward: Balance,
	/// The points it pays for (forfeited ones not counted).
	pub points: u64,
	/// What was claimed of it so far.
	pub paid: Balance,
}

/// How far the sweeping of ended eras' storage got: the next era of each map to delete.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct SweepCursor {
	/// `Seen` of eras before it is deleted (an era's receipts are dead when it ends).
	pub seen: EraIndex,
	/// `ClientWork` of eras before it is deleted.
	pub work: EraIndex,
	/// `Points` of eras before it is deleted (dead when they expire).
	pub points: EraIndex,
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate},
			tokens::{Fortitude, Preservation},
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use pallet_tea_attestation::LoggedReleases;
	use pallet_tea_nodes::{NodeRegistry, NodeState};
	use sp_runtime::traits::{
		AccountIdConversion, Bounded, IdentifyAccount, Saturating, UniqueSaturatedInto, Verify,
		Zero,
	};
	use tea_primitives::receipt::Acknowledged;

	/// The balance type of the reward currency.
	pub type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	/// The reward rules of this runtime.
	pub type ParamsOf<T> = RewardParams<BlockNumberFor<T>, BalanceOf<T>>;
	/// A node's points of this runtime.
	pub type NodePointsOf<T> =
		NodePoints<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	/// An acknowledged receipt of this runtime.
	pub type AcknowledgedOf<T> = Acknowledged<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as frame_system::Config>::Hash,
		<T as Config>::Signature,
	>;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency rewards are paid in.
		type Currency: Mutate<Self::AccountId>;
		/// The node registry: operators and states.
		type Nodes: NodeRegistry<Self::AccountId, BlockNumberFor<Self>>;
		/// The actor releases receipts name.
		type Releases: LoggedReleases<BlockNumberFor<Self>>;
		/// Governance: sets the reward rules.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// A client's signature (acknowledgements).
		type Signature: Verify<Signer: IdentifyAccount<AccountId = Self::AccountId>>
			+ Parameter
			+ MaxEncodedLen;
		/// The pot's account is derived from it.
		#[pallet::constant]
		type PalletId: Get<PalletId>;
		/// Blocks per era unless genesis or governance set another.
		#[pallet::constant]
		type EraLength: Get<BlockNumberFor<Self>>;
		/// Eras a reward stays claimable once its claims open (when the era after it ends).
		#[pallet::constant]
		type HistoryDepth: Get<u32>;
		/// Most receipts in one batch.
		#[pallet::constant]
		type MaxBatch: Get<u32>;
		/// Most receipts counted in one era, over all nodes.
		#[pallet::constant]
		type MaxReceiptsPerEra: Get<u32>;
		/// Weights of the calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// The reward rules.
	#[pallet::storage]
	pub type Params<T: Config> = StorageValue<_, ParamsOf<T>, ValueQuery, DefaultParams<T>>;

	/// Defaults: `EraLength` blocks per era, nothing minted, 100 points a quote at most every
	/// 100 blocks, 100 a duty, a point per million fuel, 1 000 points per client, probation
	/// half, `MaxReceiptsPerEra` receipts per era and an eighth of them per node.
	#[pallet::type_value]
	pub fn DefaultParams<T: Config>() -> ParamsOf<T> {
		RewardParams {
			era_length: T::EraLength::get(),
			source: RewardSource::Inflation(Zero::zero()),
			heartbeat_points: 100,
			beat_interval: 100u32.into(),
			duty_points: 100,
			fuel_per_point: 1_000_000,
			client_cap: 1_000,
			probation: Perbill::from_percent(50),
			max_receipts: T::MaxReceiptsPerEra::get(),
			node_receipts: (T::MaxReceiptsPerEra::get() / 8).max(1),
		}
	}

	/// The era that runs now.
	#[pallet::storage]
	pub type CurrentEra<T: Config> = StorageValue<_, EraIndex, ValueQuery>;

	/// The block at which the current era began.
	#[pallet::storage]
	pub type EraStart<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// Points per era and node.
	#[pallet::storage]
	pub type Points<T: Config> =
		StorageDoubleMap<_, Twox64Concat, EraIndex, Identity, NodeId, NodePointsOf<T>>;

	/// The points the current era pays for so far (forfeited ones taken out).
	#[pallet::storage]
	pub type EraPoints<T: Config> = StorageValue<_, u64, ValueQuery>;

	/// Receipts counted in the current era.
	#[pallet::storage]
	pub type EraReceipts<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// The ended eras still claimable.
	#[pallet::storage]
	pub type Eras<T: Config> = StorageMap<_, Twox64Concat, EraIndex, EraReward<BalanceOf<T>>>;

	/// What the pot owes the ended eras' unclaimed rewards.
	#[pallet::storage]
	pub type Owed<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Work points per era, node and client (for `client_cap`).
	#[pallet::storage]
	pub type ClientWork<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EraIndex>,
			NMapKey<Identity, NodeId>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		u32,
		ValueQuery,
	>;

	/// The receipts counted, by the era that counted them: `blake2_256` of `(node, client,
	/// nonce)`.
	#[pallet::storage]
	pub type Seen<T: Config> = StorageDoubleMap<_, Twox64Concat, EraIndex, Identity, [u8; 32], ()>;

	/// Each node's recent receipt keys, as its accepted evidence bound them (the latest last).
	#[pallet::storage]
	pub type ReceiptKeys<T: Config> =
		StorageMap<_, Identity, NodeId, BoundedVec<[u8; 32], ConstU32<RECEIPT_KEYS>>, ValueQuery>;

	/// How far the sweeping of ended eras' storage got.
	#[pallet::storage]
	pub type Swept<T: Config> = StorageValue<_, SweepCursor, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The reward rules (`None`: the defaults).
		pub params: Option<ParamsOf<T>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Some(params) = &self.params {
				Pallet::<T>::check_params(params).expect("genesis reward rules are valid");
				Params::<T>::put(params);
			}
			Pallet::<T>::keep_pot_alive();
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An era ended: it pays `reward` for `points`.
		EraEnded { era: EraIndex, reward: BalanceOf<T>, points: u64 },
		/// The inflation of an era could not be minted: it pays nothing.
		MintFailed { era: EraIndex, error: DispatchError },
		/// What an era's operators left unclaimed expired.
		Expired { era: EraIndex, unclaimed: BalanceOf<T> },
		/// A node's acknowledged receipts counted: `receipts` of the batch were stored,
		/// `skipped` counted nothing (of an ended era, counted already, key no longer bound,
		/// no client account, release revoked, worth no point, or past the era's or the
		/// node's room), together worth `points`.
		ReceiptsCounted { node: NodeId, era: EraIndex, receipts: u32, skipped: u32, points: u32 },
		/// A node forfeited its points of the era (evidence was reported against it).
		Forfeited { node: NodeId, era: EraIndex, points: u64 },
		/// A node's reward of an era was paid to its operator.
		Rewarded { era: EraIndex, node: NodeId, operator: T::AccountId, amount: BalanceOf<T> },
		/// Governance set the reward rules.
		ParamsSet { params: ParamsOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The signer is not the node's operator.
		NotOperator,
		/// The node is not registered.
		UnknownNode,
		/// The node is not serving (candidate, quarantined or exiting): it earns nothing.
		NotServing,
		/// An empty batch.
		EmptyBatch,
		/// A receipt is another node's.
		WrongNode,
		/// A receipt's signature is not its key's over it.
		BadReceiptSignature,
		/// An acknowledgement is not the receipt's client's signature over the signed receipt.
		BadAcknowledgement,
		/// A receipt's client is the node's operator: its own tasks earn nothing.
		SelfDealing,
		/// A receipt names a release the chain does not have under its CID.
		UnknownRelease,
		/// A receipt's block is after the current block.
		FutureReceipt,
		/// The era has not ended, or the era after it has not: claims open when evidence in
		/// that era can no longer forfeit it.
		EraNotEnded,
		/// The era's rewards expired (or it never was).
		EraExpired,
		/// The node earned no points in the era.
		NoPoints,
		/// The node forfeited the era (its receipts of it count nothing).
		Forfeited,
		/// The node's reward of the era was claimed already.
		AlreadyClaimed,
		/// The pot cannot pay (it holds less than it owes: a bug, see `try_state`).
		PotShort,
		/// Invalid reward rules: an era shorter than `MIN_ERA_LENGTH` or than its receipts take
		/// to sweep, no fuel per point, a zero beat interval, more receipts than
		/// `MaxReceiptsPerEra` or per node than per era.
		InvalidParams,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let mut weight = T::WeightInfo::on_initialize_idle();
			let params = Params::<T>::get();
			if now >= EraStart::<T>::get().saturating_add(params.era_length) {
				Self::end_era(now, &params);
				weight.saturating_accrue(T::WeightInfo::end_era());
			}
			if Self::sweep_pending() {
				let swept = Self::sweep(SWEEP_PER_BLOCK);
				weight.saturating_accrue(T::WeightInfo::sweep(swept));
			}
			weight
		}

		fn integrity_test() {
			assert!(T::HistoryDepth::get() > 0, "rewards must be claimable for an era");
			assert!(T::MaxBatch::get() > 0, "batches need room");
			assert!(
				Self::check_params(&DefaultParams::<T>::get()).is_ok(),
				"the default reward rules are valid (an era of at least MIN_ERA_LENGTH blocks that \
				 sweeps its receipts)"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Count `receipts`, acknowledged by their clients, as work of `node` (its operator
		/// signs) in the current era. What the node signed wrong fails the whole batch with its
		/// own error (`RECEIPT_ERRORS`: its operator sends only what it checked); what the
		/// chain's state says of a well-formed receipt (of an ended era, counted already, its
		/// key no longer bound, its client no account, its release revoked by its block) makes
		/// that receipt count nothing, as does the era's or the node's room running out: that
		/// state may change between a worker's read and the inclusion.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::submit_receipts(receipts.len() as u32))]
		pub fn submit_receipts(
			origin: OriginFor<T>,
			node: NodeId,
			receipts: BoundedVec<AcknowledgedOf<T>, T::MaxBatch>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let view = T::Nodes::node(&node).ok_or(Error::<T>::UnknownNode)?;
			ensure!(view.operator == who, Error::<T>::NotOperator);
			let active_since = Self::active_since(&view).ok_or(Error::<T>::NotServing)?;
			ensure!(!receipts.is_empty(), Error::<T>::EmptyBatch);
			let params = Params::<T>::get();
			let now = frame_system::Pallet::<T>::block_number();
			let era = CurrentEra::<T>::get();
			let oldest = EraStart::<T>::get();
			let keys = ReceiptKeys::<T>::get(node);
			let mut points =
				Points::<T>::get(era, node).unwrap_or_else(|| NodePoints::new(who.clone()));
			ensure!(!points.forfeited, Error::<T>::Forfeited);
			let mut counted = EraReceipts::<T>::get();
			let mut earned = 0u32;
			let mut stored = 0u32;
			for acked in &receipts {
				let r = &acked.signed.receipt;
				ensure!(r.node == node.0, Error::<T>::WrongNode);
				ensure!(acked.signed.signature_valid(), Error::<T>::BadReceiptSignature);
				ensure!(acked.acknowledgement_valid(), Error::<T>::BadAcknowledgement);
				ensure!(r.client != who, Error::<T>::SelfDealing);
				ensure!(
					T::Releases::release(&r.cid)
						.is_some_and(|(actor, version)| actor == r.actor && version == r.version),
					Error::<T>::UnknownRelease
				);
				ensure!(r.block <= now, Error::<T>::FutureReceipt);
				let seen = seen_key(&node, &r.client, r.nonce);
				let counts = r.block >= oldest
					&& keys.contains(&r.key)
					&& frame_system::Pallet::<T>::account_exists(&r.client)
					&& T::Releases::revoked_at(&r.cid).is_none_or(|revoked| revoked > r.block)
					&& !Seen::<T>::contains_key(era, seen);
				if !counts {
					continue;
				}
				let so_far = ClientWork::<T>::get((era, node, &r.client));
				let (add, worth) =
					receipt_points(&params, r.fuel_used, so_far, r.block < active_since);
				// What earns nothing is neither stored nor counted against the limits (it
				// may come again: it earns nothing again).
				if worth == 0 {
					continue;
				}
				// No room left: it counts nothing (the receipts after it are still checked).
				if counted >= params.max_receipts || points.receipts >= params.node_receipts {
					continue;
				}
				counted.saturating_inc();
				points.receipts.saturating_inc();
				stored.saturating_inc();
				Seen::<T>::insert(era, seen, ());
				if so_far == 0 {
					points.clients.saturating_inc();
				}
				ClientWork::<T>::insert((era, node, &r.client), so_far.saturating_add(add));
				earned = earned.saturating_add(worth);
			}
			EraReceipts::<T>::put(counted);
			// Only what the node's counter really gained goes into the era's total.
			let before = points.work;
			points.work = points.work.saturating_add(earned);
			let gained = points.work - before;
			EraPoints::<T>::mutate(|p| p.saturating_accrue(gained.into()));
			Points::<T>::insert(era, node, points);
			Self::deposit_event(Event::ReceiptsCounted {
				node,
				era,
				receipts: stored,
				skipped: (receipts.len() as u32).saturating_sub(stored),
				points: gained,
			});
			Ok(())
		}

		/// Pay `node`'s reward of `era` to its operator (who signs), once the era after it
		/// ended too.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>, era: EraIndex, node: NodeId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(era.saturating_add(1) < CurrentEra::<T>::get(), Error::<T>::EraNotEnded);
			let mut ended = Eras::<T>::get(era).ok_or(Error::<T>::EraExpired)?;
			let mut points = Points::<T>::get(era, node).ok_or(Error::<T>::NoPoints)?;
			ensure!(points.operator == who, Error::<T>::NotOperator);
			ensure!(!points.forfeited, Error::<T>::Forfeited);
			ensure!(!points.claimed, Error::<T>::AlreadyClaimed);
			ensure!(points.total() > 0, Error::<T>::NoPoints);
			let amount = Self::share(&ended, points.total());
			if !amount.is_zero() {
				T::Currency::transfer(&Self::pot(), &who, amount, Preservation::Preserve)
					.map_err(|_| Error::<T>::PotShort)?;
			}
			ended.paid = ended.paid.saturating_add(amount);
			Owed::<T>::mutate(|owed| *owed = owed.saturating_sub(amount));
			Eras::<T>::insert(era, ended);
			points.claimed = true;
			Points::<T>::insert(era, node, points);
			Self::deposit_event(Event::Rewarded { era, node, operator: who, amount });
			Ok(())
		}

		/// Governance: set the reward rules. They apply at once: the current era ends
		/// `era_length` blocks after its start, and what it counts from now on counts by them.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: ParamsOf<T>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::check_params(&params)?;
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The pot: era rewards wait here for their claims.
		pub fn pot() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}

		/// What `points` of the ended era `ended` are paid (rounded down: the payouts of an era
		/// never add up to more than its reward).
		pub fn share(ended: &EraReward<BalanceOf<T>>, points: u64) -> BalanceOf<T> {
			if ended.points == 0 {
				return Zero::zero();
			}
			let amount = sp_runtime::helpers_128bit::multiply_by_rational_with_rounding(
				sp_runtime::SaturatedConversion::saturated_into::<u128>(ended.reward),
				u128::from(points.min(ended.points)),
				u128::from(ended.points),
				sp_runtime::Rounding::Down,
			)
			.unwrap_or(0);
			sp_runtime::SaturatedConversion::saturated_into(amount)
		}

		pub(crate) fn check_params(params: &ParamsOf<T>) -> DispatchResult {
			let blocks: u64 = params.era_length.unique_saturated_into();
			ensure!(
				blocks >= MIN_ERA_LENGTH.into()
					&& params.fuel_per_point > 0
					&& !params.beat_interval.is_zero()
					&& params.max_receipts <= T::MaxReceiptsPerEra::get()
					&& params.node_receipts <= params.max_receipts
					&& blocks.saturating_mul(SWEEP_PER_BLOCK.into())
						>= 2 * u64::from(params.max_receipts),
				Error::<T>::InvalidParams
			);
			Ok(())
		}

		/// Mints the pot's existential deposit if it lacks it (genesis, or a pallet added by
		/// an upgrade): the pot keeps it, so payouts never reap it.
		pub(crate) fn keep_pot_alive() {
			let pot = Self::pot();
			let minimum = T::Currency::minimum_balance();
			let balance = T::Currency::balance(&pot);
			if balance < minimum {
				let _ = T::Currency::mint_into(&pot, minimum.saturating_sub(balance));
			}
		}

		/// The block from which what `view`'s node does counts in full (earlier: the probation
		/// rate), none while it does not serve: an active node's promotion, never for a node on
		/// probation.
		fn active_since(
			view: &pallet_tea_nodes::NodeView<T::AccountId, BlockNumberFor<T>>,
		) -> Option<BlockNumberFor<T>> {
			match view.state {
				NodeState::Active => Some(view.since),
				NodeState::Probation { .. } => Some(BlockNumberFor::<T>::max_value()),
				_ => None,
			}
		}

		/// Credits `node` with a duty (`duty`) or an accepted quote in the current era, if it
		/// serves and did not forfeit the era; a quote counts only `beat_interval` blocks after
		/// the last counted one.
		fn credit(node: &NodeId, duty: bool) {
			let Some(view) = T::Nodes::node(node) else { return };
			let Some(active_since) = Self::active_since(&view) else { return };
			let now = frame_system::Pallet::<T>::block_number();
			let probation = now < active_since;
			let era = CurrentEra::<T>::get();
			let params = Params::<T>::get();
			let mut points =
				Points::<T>::get(era, node).unwrap_or_else(|| NodePoints::new(view.operator));
			if points.forfeited {
				return;
			}
			let raw = if duty {
				params.duty_points
			} else {
				if points
					.last_beat
					.is_some_and(|last| now < last.saturating_add(params.beat_interval))
				{
					return;
				}
				points.last_beat = Some(now);
				params.heartbeat_points
			};
			let earned = worth(&params, raw, probation);
			let counter = if duty { &mut points.duty } else { &mut points.uptime };
			let before = *counter;
			*counter = counter.saturating_add(earned);
			let gained = *counter - before;
			EraPoints::<T>::mutate(|p| p.saturating_accrue(gained.into()));
			Points::<T>::insert(era, node, points);
		}

		/// `node` forfeits its points of the current era, and of the ended era before it (whose
		/// claims are not open yet).
		pub(crate) fn forfeit(node: &NodeId) {
			let era = CurrentEra::<T>::get();
			let mut points = match Points::<T>::get(era, node) {
				Some(points) if points.forfeited => None,
				Some(points) => Some(points),
				None => T::Nodes::node(node).map(|view| NodePoints::new(view.operator)),
			};
			if let Some(mut points) = points.take() {
				let lost = points.total();
				EraPoints::<T>::mutate(|p| *p = p.saturating_sub(lost));
				points.forfeited = true;
				Points::<T>::insert(era, node, points);
				Self::deposit_event(Event::Forfeited { node: *node, era, points: lost });
			}
			let Some(previous) = era.checked_sub(1) else { return };
			let Some(mut points) = Points::<T>::get(previous, node) else { return };
			if points.forfeited {
				return;
			}
			let lost = points.total();
			Eras::<T>::mutate(previous, |ended| {
				if let Some(ended) = ended {
					ended.points = ended.points.saturating_sub(lost);
				}
			});
			points.forfeited = true;
			Points::<T>::insert(previous, node, points);
			Self::deposit_event(Event::Forfeited { node: *node, era: previous, points: lost });
		}

		/// Ends the current era at block `now`: fixes its reward, expires the oldest, queues
		/// their storage for sweeping.
		pub(crate) fn end_era(now: BlockNumberFor<T>, params: &ParamsOf<T>) {
			let era = CurrentEra::<T>::get();
			let points = EraPoints::<T>::take();
			EraReceipts::<T>::kill();
			Self::keep_pot_alive();
			let pot = Self::pot();
			let owed = Owed::<T>::get();
			let reward = match (points, params.source) {
				(0, _) => Zero::zero(),
				(_, RewardSource::Inflation(amount)) => {
					match T::Currency::mint_into(&pot, amount) {
						Ok(minted) => minted,
						Err(error) => {
							Self::deposit_event(Event::MintFailed { era, error });
							Zero::zero()
						}
					}
				}
				(_, RewardSource::Pot(share)) => {
					let free = T::Currency::reducible_balance(
						&pot,
						Preservation::Preserve,
						Fortitude::Polite,
					);
					share * free.saturating_sub(owed)
				}
			};
			Owed::<T>::put(owed.saturating_add(reward));
			Eras::<T>::insert(era, EraReward { reward, points, paid: Zero::zero() });
			Self::deposit_event(Event::EraEnded { era, reward, points });
			// Its receipts and per-client work are dead now (no later receipt is of this era);
			// the sweep cursors reach them in the next blocks.
			if let Some(expired) = era.checked_sub(T::HistoryDepth::get().saturating_add(1)) {
				if let Some(ended) = Eras::<T>::take(expired) {
					let unclaimed = ended.reward.saturating_sub(ended.paid);
					Owed::<T>::mutate(|owed| *owed = owed.saturating_sub(unclaimed));
					Self::deposit_event(Event::Expired { era: expired, unclaimed });
				}
			}
			CurrentEra::<T>::put(era.saturating_add(1));
			EraStart::<T>::put(now);
		}

		/// The oldest era not expired while `era` runs: era `e` is claimable while `e + 2 <=
		/// era <= e + 1 + HistoryDepth`.
		fn first_unexpired(era: EraIndex) -> EraIndex {
			era.saturating_sub(T::HistoryDepth::get().saturating_add(1))
		}

		/// Whether ended eras' storage waits to be deleted.
		pub(crate) fn sweep_pending() -> bool {
			let cursor = Swept::<T>::get();
			let era = CurrentEra::<T>::get();
			cursor.seen < era || cursor.work < era || cursor.points < Self::first_unexpired(era)
		}

		/// Deletes at most `limit` keys of ended eras (visiting at most `SWEEP_CALLS`
		/// prefixes); returns how many it deleted. Each map's cursor moves past an era only
		/// once all of it is gone, so nothing is ever left behind.
		pub(crate) fn sweep(limit: u32) -> u32 {
			let mut cursor = Swept::<T>::get();
			let era = CurrentEra::<T>::get();
			let expired = Self::first_unexpired(era);
			let mut left = limit;
			for _ in 0..SWEEP_CALLS {
				if left == 0 {
					break;
				}
				let (result, next) = if cursor.seen < era {
					(Seen::<T>::clear_prefix(cursor.seen, left, None), &mut cursor.seen)
				} else if cursor.work < era {
					(ClientWork::<T>::clear_prefix((cursor.work,), left, None), &mut cursor.work)
				} else if cursor.points < expired {
					(Points::<T>::clear_prefix(cursor.points, left, None), &mut cursor.points)
				} else {
					break;
				};
				left = left.saturating_sub(result.unique);
				if result.maybe_cursor.is_none() {
					next.saturating_inc();
				}
			}
			Swept::<T>::put(cursor);
			limit.saturating_sub(left)
		}

		/// The invariants: the pot holds what it owes; no ended era paid more than its reward;
		/// the current era's points are the sum of its unforfeited nodes'; the owed sum is the
		/// ended eras' unclaimed rewards.
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let pot = T::Currency::reducible_balance(
				&Self::pot(),
				Preservation::Preserve,
				Fortitude::Polite,
			);
			let owed = Owed::<T>::get();
			ensure!(pot >= owed, "the pot holds less than it owes");
			let mut unclaimed: BalanceOf<T> = Zero::zero();
			for (era, ended) in Eras::<T>::iter() {
				ensure!(ended.paid <= ended.reward, "an era paid more than its reward");
				let mut points = 0u64;
				let mut paid: BalanceOf<T> = Zero::zero();
				// (An expired era leaves `Eras` before its points are swept.)
				for (_, p) in Points::<T>::iter_prefix(era) {
					if !p.forfeited {
						points = points.saturating_add(p.total());
						if p.claimed {
							paid = paid.saturating_add(Self::share(&ended, p.total()));
						}
					}
				}
				ensure!(points == ended.points, "an ended era's points are not its nodes'");
				ensure!(paid == ended.paid, "an ended era paid other than its claims");
				unclaimed = unclaimed.saturating_add(ended.reward.saturating_sub(ended.paid));
			}
			ensure!(unclaimed == owed, "the owed sum is not the eras' unclaimed rewards");
			let era = CurrentEra::<T>::get();
			let current: u64 = Points::<T>::iter_prefix(era)
				.filter(|(_, p)| !p.forfeited)
				.map(|(_, p)| p.total())
				.sum();
			ensure!(current == EraPoints::<T>::get(), "the era's points are not its nodes'");
			ensure!(
				EraReceipts::<T>::get() <= T::MaxReceiptsPerEra::get(),
				"more receipts than an era counts"
			);
			let counted: u64 =
				Points::<T>::iter_prefix(era).map(|(_, p)| u64::from(p.receipts)).sum();
			ensure!(
				counted == u64::from(EraReceipts::<T>::get()),
				"the era's receipts are not its nodes'"
			);
			Ok(())
		}
	}

	impl<T: Config> pallet_tea_attestation::OnAttestation for Pallet<T> {
		fn attested(node: &NodeId, receipt_key: Option<[u8; 32]>) {
			if let Some(key) = receipt_key {
				ReceiptKeys::<T>::mutate(node, |keys| {
					if keys.last() != Some(&key) {
						if keys.is_full() {
							keys.remove(0);
						}
						let _ = keys.try_push(key);
					}
				});
			}
			Self::credit(node, false);
		}

		fn voted_with_majority(member: &NodeId) {
			Self::credit(member, true);
		}

		fn reported(node: &NodeId) {
			Self::forfeit(node);
			// Its keys count again only once a new accepted quote binds one.
			ReceiptKeys::<T>::remove(node);
		}

		fn weight() -> Weight {
			T::WeightInfo::note_attested().max(T::WeightInfo::note_reported())
		}
	}

	impl<T: Config> pallet_tea_nodes::OnNodeRemoved for Pallet<T> {
		/// Its receipt keys are forgotten. Its points stay: a node removed for cause was
		/// reported (and forfeited) first; one that exited keeps what it earned.
		fn on_node_removed(node: &NodeId) {
			ReceiptKeys::<T>::remove(node);
		}
	}
}
