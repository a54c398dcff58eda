//! # Nodes pallet
//!
//! The TEA worker nodes and their life cycle:
//! `Candidate -> Probation -> Active -> Quarantined -> (Probation | removed and slashed)`, and a
//! voluntary exit with an unbonding delay.
//!
//! - **Registration.** An operator holds a deposit and registers a node: its TPM endorsement key
//!   (the node id is `blake2_256` of it), EK certificate, attestation key (a P-256 point, checked
//!   on the curve) and libp2p peer id. The node waits in the admission queue. The registration
//!   is **provisional** until a quote signed by that attestation key for that operator verifies
//!   ([`VerifyPossession::proven`]; the challenge binds the operator, see
//!   `tea_primitives::tpm::challenge`): whoever registers someone else's public AK (with its EK
//!   or any other) can never complete it, the holder of the AK **claims** the registrations that
//!   hold it with a proof of possession ([`Pallet::claim`]), a provisional registration that
//!   exits is removed at once, and a candidate that is not admitted **expires**
//!   `CandidateExpiry` blocks after its registration or its last verified quote (at an epoch
//!   boundary, never while a committee reviews it); their deposits are returned.
//! - **Birth control.** At each epoch boundary at most `k` candidates that passed their
//!   admission attestation ([`NodeEvidence::admission_passed`]) enter probation, where `k` is the
//!   governance maximum per epoch and never more than keeps `probation <= active / 2`: even if
//!   every newcomer were malicious, trusted nodes stay above two thirds. When trusted nodes
//!   leave or are quarantined, the youngest probationary nodes go back to the front of the queue
//!   so that the bound holds after every block. After `probation_epochs` clean epochs a node
//!   becomes active.
//! - **Addresses.** A node's operator publishes where its libp2p endpoint listens
//!   ([`Pallet::set_addresses`], at most 4 multiaddrs of 64 bytes); committee members reach
//!   candidates there, so no worker needs another's address configured.
//! - **Quarantine.** Evidence ([`NodeEvidence::report`]) quarantines an active or probationary
//!   node. Within the appeal window a fresh valid attestation ([`NodeEvidence::cleared`]) sends
//!   it back to probation; otherwise it is removed at the next epoch boundary and its deposit is
//!   slashed: `reporter_share` split among the reporters, the rest to `SlashDestination` (or
//!   burnt).
//!
//! Storage is bounded by `MaxNodes` (every record) and `MaxReporters` (per quarantine).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

sp_api::decl_runtime_apis! {
	/// The node registry for workers and explorers.
	pub trait NodesApi<AccountId: codec::Codec, Balance: codec::Codec, BlockNumber: codec::Codec> {
		/// The node `id`, if registered.
		fn node(id: NodeId) -> Option<NodeInfo<AccountId, Balance, BlockNumber>>;
		/// Every registered node and where it stands.
		fn nodes() -> alloc::vec::Vec<(NodeId, NodeState<BlockNumber>)>;
	}
}

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::ConstU32, BoundedVec};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::Perbill;

/// A node's identity: `blake2_256` of its TPM endorsement key.
pub type NodeId = H256;
/// Longest EK public key (DER `SubjectPublicKeyInfo`; RSA-2048 is 294 bytes).
pub type EkPublic = BoundedVec<u8, ConstU32<600>>;
/// Longest EK certificate (DER).
pub type EkCertificate = BoundedVec<u8, ConstU32<4096>>;
/// A libp2p peer id (multihash bytes).
pub type PeerId = BoundedVec<u8, ConstU32<64>>;
/// An attestation key: an uncompressed SEC1 P-256 point.
pub type AttestationKey = [u8; 65];
/// A libp2p multiaddr in binary form, without the `/p2p/<peer id>` the registration holds.
pub type NodeAddress = BoundedVec<u8, ConstU32<64>>;
/// Where a node's libp2p endpoint listens: a few multiaddrs.
pub type NodeAddresses = BoundedVec<NodeAddress, ConstU32<4>>;
/// A `TPMS_ATTEST` (a quote is about 145 bytes).
pub type AttestBytes = BoundedVec<u8, ConstU32<512>>;
/// A `TPMT_SIGNATURE` (ECDSA P-256: 72 bytes).
pub type SignatureBytes = BoundedVec<u8, ConstU32<128>>;
/// The quoted PCRs: `(index, SHA-256 bank value)`, ascending.
pub type PcrValues = BoundedVec<(u8, [u8; 32]), ConstU32<24>>;

/// Proof that the signing account holds a node's attestation key: a TPM quote (over any PCRs)
/// whose `extraData` is the challenge for purpose `Claim`, that node and that account,
/// anchored at a recent block (`tea_primitives::tpm::challenge`).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct PossessionProof<BlockNumber> {
	/// The block whose hash the challenge uses.
	pub anchor: BlockNumber,
	/// The TPM's `TPMS_ATTEST`.
	pub attest: AttestBytes,
	/// The TPM's `TPMT_SIGNATURE` by the attestation key.
	pub signature: SignatureBytes,
	/// The quoted PCR values.
	pub pcrs: PcrValues,
}

/// Checks proofs of possession of an attestation key (implemented by the attestation pallet,
/// which knows anchors and challenges).
pub trait VerifyPossession<AccountId, BlockNumber> {
	/// `Ok` if `proof` is a quote by `key` over the `Claim` challenge of `node` and `operator`,
	/// anchored at a block the chain still accepts.
	fn verify(
		node: &NodeId,
		operator: &AccountId,
		key: &AttestationKey,
		proof: &PossessionProof<BlockNumber>,
	) -> sp_runtime::DispatchResult;
	/// The block at which a quote by `node`'s registered key for its operator last verified,
	/// if one ever did.
	fn last_verified(node: &NodeId) -> Option<BlockNumber>;
	/// Whether a committee reviews `node`, or is about to be drawn for it.
	fn under_review(node: &NodeId) -> bool;
	/// Whether a quote by `node`'s registered key for its operator ever verified: then its
	/// registration is complete (no longer provisional), whatever its committee decides.
	fn proven(node: &NodeId) -> bool {
		Self::last_verified(node).is_some()
	}
	/// A valid proof for `node` and `operator` and the key it proves (benchmarks).
	#[cfg(feature = "runtime-benchmarks")]
	fn valid_proof(
		node: &NodeId,
		operator: &AccountId,
	) -> (AttestationKey, PossessionProof<BlockNumber>);
	/// Records that a quote by `node`'s key verified (benchmarks).
	#[cfg(feature = "runtime-benchmarks")]
	fn set_proven(node: &NodeId);
}

/// No possession proofs: every claim is refused.
impl<AccountId, BlockNumber> VerifyPossession<AccountId, BlockNumber> for () {
	fn verify(
		_: &NodeId,
		_: &AccountId,
		_: &AttestationKey,
		_: &PossessionProof<BlockNumber>,
	) -> sp_runtime::DispatchResult {
		Err(sp_runtime::DispatchError::Other("no possession proofs"))
	}
	fn last_verified(_: &NodeId) -> Option<BlockNumber> {
		None
	}
	fn under_review(_: &NodeId) -> bool {
		false
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn valid_proof(_: &NodeId, _: &AccountId) -> (AttestationKey, PossessionProof<BlockNumber>) {
		unimplemented!("no possession proofs")
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn set_proven(_: &NodeId) {
		unimplemented!("no possession proofs")
	}
}

/// Where a node stands.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum NodeState<BlockNumber> {
	/// Registered, in the admission queue.
	Candidate {
		/// Whether it passed its admission attestation.
		attested: bool,
	},
	/// Admitted, untrusted: `clean_epochs` epochs without evidence so far.
	Probation {
		/// Clean epoch boundaries passed.
		clean_epochs: u32,
	},
	/// Trusted.
	Active,
	/// Evidence against it; it may clear itself until `appeal_until`.
	Quarantined {
		/// Last block of the appeal window.
		appeal_until: BlockNumber,
		/// The evidence that quarantined it.
		offence: Offence,
	},
	/// Leaving; the deposit is returned after `unbond_at`.
	Exiting {
		/// First block at which the deposit may be returned.
		unbond_at: BlockNumber,
	},
}

/// A registered node.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct NodeInfo<AccountId, Balance, BlockNumber> {
	/// The operator: registered it, holds its deposit, may make it exit.
	pub operator: AccountId,
	/// TPM endorsement key (DER).
	pub ek_public: EkPublic,
	/// TPM endorsement key certificate (DER), checked off chain by the admission committee.
	pub ek_certificate: EkCertificate,
	/// Attestation key its quotes are signed with.
	pub attestation_key: AttestationKey,
	/// libp2p peer id.
	pub peer_id: PeerId,
	/// Deposit held from the operator.
	pub deposit: Balance,
	/// Where it stands.
	pub state: NodeState<BlockNumber>,
	/// Block at which it entered its current state.
	pub since: BlockNumber,
}

/// Birth-control and quarantine parameters, set by governance.
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
pub struct BirthControl<BlockNumber> {
	/// Blocks per epoch: admissions, promotions and removals happen at each multiple.
	pub epoch_length: BlockNumber,
	/// Most candidates admitted per epoch.
	pub max_admissions_per_epoch: u32,
	/// Clean epochs on probation before a node becomes active.
	pub probation_epochs: u32,
	/// Blocks a quarantined node has to clear itself.
	pub appeal_window: BlockNumber,
	/// Share of a slashed deposit that goes to the reporters.
	pub reporter_share: Perbill,
}

impl<BlockNumber: sp_runtime::traits::AtLeast32BitUnsigned + Copy> BirthControl<BlockNumber> {
	/// Whether the parameters work with registrations that expire `candidate_expiry` blocks
	/// after they were made: non-zero epochs, probation and appeal window, and two epochs at
	/// most that expiry (a registration needs an epoch boundary to complete before it expires).
	/// `set_params`, the genesis and the pallet's invariants hold the parameters to it.
	pub fn valid(&self, candidate_expiry: BlockNumber) -> bool {
		self.probation_epochs >= 1
			&& !self.appeal_window.is_zero()
			&& !self.epoch_length.is_zero()
			&& self.epoch_length.saturating_mul(2u32.into()) <= candidate_expiry
	}
}

/// Evidence that quarantines a node.
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
pub enum Offence {
	/// A quote that does not verify (the reason says which check failed).
	FailedQuote(tea_primitives::tpm::QuoteError),
	/// A valid quote over a mini-runtime measurement that is not in the allowlist. No longer
	/// raised (it was the rule without an attestation policy, now gone: see `UnknownRuntime`);
	/// kept so that the offences after it keep their encoding.
	MeasurementNotAllowed,
	/// Too many heartbeat periods without a valid attestation.
	MissedHeartbeats,
	/// The majority of its admission committee voted against it.
	CommitteeRejected,
	/// Its quote's PCR values are not what the attestation policy and its event log say (the
	/// reason says which check failed).
	BadEvidence(tea_primitives::evidence::EvidenceError),
	/// Its event log shows a worker runtime the allowlist does not allow, or none since the
	/// TPM's last reset.
	UnknownRuntime,
	/// Its event log shows an actor release loaded that was never approved to run, or a
	/// provider that is not registered.
	UnapprovedActorLoaded,
	/// Its event log shows an actor release loaded after the node knew it was revoked (loaded
	/// since its last accepted quote, revoked before that quote's anchor).
	RevokedActorLoaded,
}

/// What attestation tells the node registry (implemented by this pallet).
pub trait NodeEvidence<AccountId> {
	/// The candidate passed its admission attestation (quote + committee verdict).
	fn admission_passed(node: &NodeId);
	/// Evidence against `node`: quarantine it. `reporters` (possibly none, when the chain itself
	/// saw the failure) share the slash if the node does not clear itself; reports against a
	/// node already quarantined add their reporters.
	fn report(node: &NodeId, offence: Offence, reporters: &[AccountId]);
	/// A quarantined node presented a fresh valid attestation within its appeal window.
	fn cleared(node: &NodeId);
}

/// A node as other pallets read it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeView<AccountId, BlockNumber> {
	/// The account that operates it.
	pub operator: AccountId,
	/// The key its quotes are signed with.
	pub attestation_key: AttestationKey,
	/// Where it stands.
	pub state: NodeState<BlockNumber>,
	/// Block at which it entered that state.
	pub since: BlockNumber,
}

/// Read access to the node registry (implemented by this pallet).
pub trait NodeRegistry<AccountId, BlockNumber> {
	/// The node `id`, if registered.
	fn node(id: &NodeId) -> Option<NodeView<AccountId, BlockNumber>>;
	/// The active (trusted) nodes with their operators, in storage order.
	fn active_nodes() -> alloc::vec::Vec<(NodeId, AccountId)>;
	/// How many nodes are registered (what a scan of them costs).
	fn node_count() -> u32;
	/// The nodes that owe heartbeats (active and probationary), with the block at which they
	/// entered that state.
	fn attesting_nodes() -> alloc::vec::Vec<(NodeId, BlockNumber)>;
	/// Adds node number `seed` in `state`, operated by `operator` and signing with
	/// `attestation_key`, for other pallets' benchmarks; returns its id.
	#[cfg(feature = "runtime-benchmarks")]
	fn insert_for_benchmark(
		seed: u32,
		operator: AccountId,
		attestation_key: AttestationKey,
		state: NodeState<BlockNumber>,
	) -> NodeId;
}

/// Told when a node's record is deleted (slashed or exited), so that other pallets drop
/// theirs.
pub trait OnNodeRemoved {
	/// `node` no longer exists.
	fn on_node_removed(node: &NodeId);
}

impl OnNodeRemoved for () {
	fn on_node_removed(_node: &NodeId) {}
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{Saturating, Zero};

	/// The balance type of the deposit currency.
	pub type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	/// The node record type of this runtime.
	pub type NodeInfoOf<T> =
		NodeInfo<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency deposits are held in.
		type Currency: MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Governance: sets the birth-control parameters.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// Deposit held for each node.
		#[pallet::constant]
		type NodeDeposit: Get<BalanceOf<Self>>;
		/// Blocks per epoch unless genesis or governance set another (`Params::epoch_length`).
		#[pallet::constant]
		type EpochLength: Get<BlockNumberFor<Self>>;
		/// Blocks between an exit and the deposit's return.
		#[pallet::constant]
		type UnbondingPeriod: Get<BlockNumberFor<Self>>;
		/// Most registered nodes, in any state.
		#[pallet::constant]
		type MaxNodes: Get<u32>;
		/// Most reporters remembered per quarantine.
		#[pallet::constant]
		type MaxReporters: Get<u32>;
		/// Where the slashed deposit goes after the reporters' share (`None`: burnt).
		type SlashDestination: Get<Option<Self::AccountId>>;
		/// Told when a node is removed.
		type OnRemoved: OnNodeRemoved;
		/// Checks the proofs of possession of claims.
		type Possession: VerifyPossession<Self::AccountId, BlockNumberFor<Self>>;
		/// Blocks a candidate may stay unadmitted, counted from its registration or its last
		/// verified quote, before it expires and its deposit is returned (never while a
		/// committee reviews it).
		#[pallet::constant]
		type CandidateExpiry: Get<BlockNumberFor<Self>>;
		/// Weights of the calls and of the epoch boundary.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A node's deposit.
		NodeDeposit,
	}

	/// Every registered node.
	#[pallet::storage]
	pub type Nodes<T: Config> = CountedStorageMap<_, Identity, NodeId, NodeInfoOf<T>>;

	/// The node using each attestation key (a key serves one node).
	#[pallet::storage]
	pub type NodeByKey<T: Config> = StorageMap<_, Blake2_128Concat, AttestationKey, NodeId>;

	/// Where each node's libp2p endpoint listens, as its operator published it.
	#[pallet::storage]
	pub type Addresses<T: Config> = StorageMap<_, Identity, NodeId, NodeAddresses>;

	/// Candidates in admission order; probationary nodes sent back go to the front.
	#[pallet::storage]
	pub type Queue<T: Config> = StorageValue<_, BoundedVec<NodeId, T::MaxNodes>, ValueQuery>;

	/// Probationary nodes, oldest admission first.
	#[pallet::storage]
	pub type ProbationNodes<T: Config> =
		StorageValue<_, BoundedVec<NodeId, T::MaxNodes>, ValueQuery>;

	/// Number of active (trusted) nodes.
	#[pallet::storage]
	pub type ActiveCount<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Who reported each quarantined node.
	#[pallet::storage]
	pub type Reporters<T: Config> =
		StorageMap<_, Identity, NodeId, BoundedVec<T::AccountId, T::MaxReporters>, ValueQuery>;

	/// The birth-control parameters.
	#[pallet::storage]
	pub type Params<T: Config> =
		StorageValue<_, BirthControl<BlockNumberFor<T>>, ValueQuery, DefaultParams<T>>;

	/// Defaults: `EpochLength` blocks per epoch, 2 admissions per epoch, 3 probation epochs,
	/// one epoch to appeal, 10% to reporters.
	#[pallet::type_value]
	pub fn DefaultParams<T: Config>() -> BirthControl<BlockNumberFor<T>> {
		BirthControl {
			epoch_length: T::EpochLength::get(),
			max_admissions_per_epoch: 2,
			probation_epochs: 3,
			appeal_window: T::EpochLength::get(),
			reporter_share: Perbill::from_percent(10),
		}
	}

	/// Nodes trusted at genesis: `(operator, EK public key, attestation key)`, active at once,
	/// without a deposit.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The trusted nodes: operator, EK (DER), attestation key (SEC1), libp2p peer id.
		pub trusted: Vec<(T::AccountId, Vec<u8>, Vec<u8>, Vec<u8>)>,
		/// Parameters other than the defaults.
		pub params: Option<BirthControl<BlockNumberFor<T>>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for (operator, ek, ak, peer) in &self.trusted {
				let ek = EkPublic::try_from(ek.clone()).expect("genesis EK too long");
				let peer_id = PeerId::try_from(peer.clone()).expect("genesis peer id too long");
				let ak: AttestationKey = ak.as_slice().try_into().expect("genesis AK is 65 bytes");
				assert!(tea_primitives::tpm::valid_attestation_key(&ak), "genesis AK invalid");
				let id = node_id(&ek);
				assert!(!Nodes::<T>::contains_key(id), "duplicate genesis node");
				NodeByKey::<T>::insert(ak, id);
				Nodes::<T>::insert(
					id,
					NodeInfo {
						operator: operator.clone(),
						ek_public: ek,
						ek_certificate: Default::default(),
						attestation_key: ak,
						peer_id,
						deposit: Zero::zero(),
						state: NodeState::Active,
						since: Zero::zero(),
					},
				);
				ActiveCount::<T>::mutate(|n| *n += 1);
			}
			if let Some(params) = self.params {
				assert!(
					params.valid(T::CandidateExpiry::get()),
					"genesis birth-control parameters: epoch length, probation epochs and appeal \
					 window must not be zero, and two epochs at most the candidate expiry"
				);
				Params::<T>::put(params);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A node registered and joined the admission queue.
		Registered { node: NodeId, operator: T::AccountId },
		/// A candidate passed its admission attestation.
		AdmissionPassed { node: NodeId },
		/// A candidate entered probation.
		Admitted { node: NodeId },
		/// A probationary node went back to the queue to keep `probation <= active / 2`.
		SentBack { node: NodeId },
		/// A probationary node became active (trusted).
		Activated { node: NodeId },
		/// Evidence quarantined a node; it may appeal until `appeal_until`.
		Quarantined { node: NodeId, offence: Offence, appeal_until: BlockNumberFor<T> },
		/// A quarantined node cleared itself and is on probation again.
		Cleared { node: NodeId },
		/// A node was removed and its deposit slashed.
		Slashed { node: NodeId, to_reporters: BalanceOf<T>, to_destination: BalanceOf<T> },
		/// An operator started the exit of a node.
		Exiting { node: NodeId, unbond_at: BlockNumberFor<T> },
		/// A node left and its deposit was returned.
		Exited { node: NodeId },
		/// Governance changed the birth-control parameters.
		ParamsSet { params: BirthControl<BlockNumberFor<T>> },
		/// A node's operator published where its libp2p endpoint listens (none: removed).
		AddressesSet { node: NodeId, addresses: u32 },
		/// `to` proved it holds the attestation key the provisional registration `node` by
		/// `from` held, and took it over (same EK) or removed it (another EK: `Registered`
		/// names `to`'s node); `from`'s deposit was returned.
		Claimed { node: NodeId, from: T::AccountId, to: T::AccountId },
		/// A candidate expired (no verified quote, or no admission, for `CandidateExpiry`
		/// blocks) and its deposit was returned.
		Expired { node: NodeId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A node with this endorsement key is registered.
		NodeExists,
		/// The endorsement key is empty.
		EmptyEndorsementKey,
		/// The attestation key is not a P-256 point on the curve.
		BadAttestationKey,
		/// Another node uses this attestation key.
		AttestationKeyInUse,
		/// The peer id is empty.
		EmptyPeerId,
		/// `MaxNodes` nodes are registered.
		TooManyNodes,
		/// No node with this id.
		UnknownNode,
		/// Only the node's operator may do this.
		NotOperator,
		/// A quarantined node cannot exit: it appeals or is slashed.
		Quarantined,
		/// The node is already exiting.
		AlreadyExiting,
		/// `epoch_length` and `probation_epochs` must be at least 1, `appeal_window` not
		/// zero, and two epochs at most `CandidateExpiry` (time for a registration to quote
		/// and be reviewed before it expires).
		BadParams,
		/// An address is empty.
		EmptyAddress,
		/// Nothing to claim: neither the EK nor the attestation key is registered by another
		/// account, or such a registration is no longer provisional (a quote by its key for its
		/// operator verified) or not a candidate.
		NotClaimable,
		/// A claim must prove the attestation key the provisional registration holds: which of
		/// two keys is bound to the EK only a committee's credential activation can tell.
		ClaimKeyMismatch,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(
				T::CandidateExpiry::get() >= T::EpochLength::get().saturating_mul(2u32.into()),
				"a registration needs at least two epochs to complete before it expires"
			);
		}

		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let epoch = Params::<T>::get().epoch_length;
			if epoch.is_zero() || !(now % epoch).is_zero() {
				return T::DbWeight::get().reads(1);
			}
			let nodes = Nodes::<T>::count();
			Self::epoch(now);
			T::WeightInfo::epoch(nodes)
				.max(T::WeightInfo::epoch_slashing(nodes))
				.saturating_add(T::DbWeight::get().reads(1))
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register a node (its operator signs): the deposit is held and the node joins the
		/// admission queue.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register())]
		pub fn register(
			origin: OriginFor<T>,
			ek_public: EkPublic,
			ek_certificate: EkCertificate,
			attestation_key: AttestationKey,
			peer_id: PeerId,
		) -> DispatchResult {
			let operator = ensure_signed(origin)?;
			ensure!(!ek_public.is_empty(), Error::<T>::EmptyEndorsementKey);
			ensure!(
				tea_primitives::tpm::valid_attestation_key(&attestation_key),
				Error::<T>::BadAttestationKey
			);
			ensure!(!peer_id.is_empty(), Error::<T>::EmptyPeerId);
			let node = node_id(&ek_public);
			ensure!(!Nodes::<T>::contains_key(node), Error::<T>::NodeExists);
			ensure!(
				!NodeByKey::<T>::contains_key(attestation_key),
				Error::<T>::AttestationKeyInUse
			);
			ensure!(Nodes::<T>::count() < T::MaxNodes::get(), Error::<T>::TooManyNodes);
			let deposit = T::NodeDeposit::get();
			T::Currency::hold(&HoldReason::NodeDeposit.into(), &operator, deposit)?;
			Queue::<T>::try_mutate(|q| q.try_push(node)).map_err(|_| Error::<T>::TooManyNodes)?;
			Self::insert_provisional(
				node,
				operator.clone(),
				ek_public,
				ek_certificate,
				attestation_key,
				peer_id,
				deposit,
			);
			Self::deposit_event(Event::Registered { node, operator });
			Ok(())
		}

		/// Start the exit of a node (its operator): it leaves every duty now and its deposit is
		/// returned after the unbonding period (at once for a provisional registration, none of
		/// whose quotes ever verified: it is removed).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::exit().max(T::WeightInfo::exit_unbonding()))]
		pub fn exit(origin: OriginFor<T>, node: NodeId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Nodes::<T>::get(node).ok_or(Error::<T>::UnknownNode)?;
			ensure!(info.operator == who, Error::<T>::NotOperator);
			if Self::is_provisional(&node, &info) {
				// Nothing to wait for: no quote of its ever verified. Removed now, so that an
				// exit cannot keep a squatted registration out of the owner's claim.
				Self::drop_candidate(node, info);
				Self::deposit_event(Event::Exited { node });
				return Ok(());
			}
			match info.state {
				NodeState::Quarantined { .. } => return Err(Error::<T>::Quarantined.into()),
				NodeState::Exiting { .. } => return Err(Error::<T>::AlreadyExiting.into()),
				NodeState::Candidate { .. } => Queue::<T>::mutate(|q| q.retain(|n| *n != node)),
				NodeState::Probation { .. } => {
					ProbationNodes::<T>::mutate(|p| p.retain(|n| *n != node))
				}
				NodeState::Active => ActiveCount::<T>::mutate(|n| *n = n.saturating_sub(1)),
			}
			let now = frame_system::Pallet::<T>::block_number();
			let unbond_at = now.saturating_add(T::UnbondingPeriod::get());
			info.state = NodeState::Exiting { unbond_at };
			info.since = now;
			Nodes::<T>::insert(node, info);
			Addresses::<T>::remove(node);
			Self::deposit_event(Event::Exiting { node, unbond_at });
			Self::keep_bound();
			Ok(())
		}

		/// Set the birth-control parameters (governance): epoch length (two epochs at most
		/// `CandidateExpiry`), admissions per epoch, probation epochs, appeal window,
		/// reporters' share of a slash.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(
			origin: OriginFor<T>,
			params: BirthControl<BlockNumberFor<T>>,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(params.valid(T::CandidateExpiry::get()), Error::<T>::BadParams);
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}

		/// Publish where a node's libp2p endpoint listens (its operator signs): up to 4
		/// multiaddrs in binary form, without the `/p2p/<peer id>` its registration holds.
		/// Committee members reach the node there. An empty list removes them; an exiting node
		/// has none.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_addresses())]
		pub fn set_addresses(
			origin: OriginFor<T>,
			node: NodeId,
			addresses: NodeAddresses,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Nodes::<T>::get(node).ok_or(Error::<T>::UnknownNode)?;
			ensure!(info.operator == who, Error::<T>::NotOperator);
			ensure!(!matches!(info.state, NodeState::Exiting { .. }), Error::<T>::AlreadyExiting);
			ensure!(addresses.iter().all(|a| !a.is_empty()), Error::<T>::EmptyAddress);
			let count = addresses.len() as u32;
			if addresses.is_empty() {
				Addresses::<T>::remove(node);
			} else {
				Addresses::<T>::insert(node, addresses);
			}
			Self::deposit_event(Event::AddressesSet { node, addresses: count });
			Ok(())
		}

		/// Claim the registrations that hold this attestation key (the claimant signs): `proof`
		/// is a quote by the key over the `Claim` challenge of this node (the id of `ek_public`)
		/// and the claimant's account. Every provisional registration by another account of this
		/// EK or of this key is dropped and its deposit returned; the claimant's registration
		/// replaces it (its deposit held, its EK certificate and peer id, the queue place of a
		/// registration of the same EK), provisional in turn until its admission quote
		/// verifies. A registration of this EK with another key cannot be claimed (which key is
		/// bound to the EK only a committee's credential activation tells), nor one that is
		/// complete (a quote by its key for its operator verified).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::claim().max(T::WeightInfo::claim_other_key()))]
		pub fn claim(
			origin: OriginFor<T>,
			ek_public: EkPublic,
			ek_certificate: EkCertificate,
			attestation_key: AttestationKey,
			peer_id: PeerId,
			proof: PossessionProof<BlockNumberFor<T>>,
		) -> DispatchResult {
			let claimant = ensure_signed(origin)?;
			ensure!(!ek_public.is_empty(), Error::<T>::EmptyEndorsementKey);
			ensure!(!peer_id.is_empty(), Error::<T>::EmptyPeerId);
			let node = node_id(&ek_public);
			let same_ek = Nodes::<T>::get(node);
			let same_key = NodeByKey::<T>::get(attestation_key)
				.filter(|other| *other != node)
				.and_then(|other| Nodes::<T>::get(other).map(|info| (other, info)));
			ensure!(same_ek.is_some() || same_key.is_some(), Error::<T>::NotClaimable);
			let claimable = |id: &NodeId, info: &NodeInfoOf<T>| {
				info.operator != claimant && Self::is_provisional(id, info)
			};
			if let Some(info) = &same_ek {
				ensure!(claimable(&node, info), Error::<T>::NotClaimable);
				ensure!(info.attestation_key == attestation_key, Error::<T>::ClaimKeyMismatch);
			}
			if let Some((other, info)) = &same_key {
				ensure!(claimable(other, info), Error::<T>::NotClaimable);
			}
			T::Possession::verify(&node, &claimant, &attestation_key, &proof)?;
			let deposit = T::NodeDeposit::get();
			T::Currency::hold(&HoldReason::NodeDeposit.into(), &claimant, deposit)?;
			// Every provisional registration of the EK or the key is removed, its deposit
			// returned; the EK's queue place (if any) goes to the claimant's registration.
			let replaces = same_ek.is_some();
			for (id, info) in same_key.into_iter().chain(same_ek.map(|info| (node, info))) {
				let from = info.operator.clone();
				if id == node {
					Self::release(id, info);
				} else {
					Self::drop_candidate(id, info);
				}
				Self::deposit_event(Event::Claimed { node: id, from, to: claimant.clone() });
			}
			if !replaces {
				Queue::<T>::try_mutate(|q| q.try_push(node))
					.map_err(|_| Error::<T>::TooManyNodes)?;
				Self::deposit_event(Event::Registered { node, operator: claimant.clone() });
			}
			Self::insert_provisional(
				node,
				claimant,
				ek_public,
				ek_certificate,
				attestation_key,
				peer_id,
				deposit,
			);
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The epoch boundary: removals, returns, promotions, admissions.
		pub(crate) fn epoch(now: BlockNumberFor<T>) {
			let params = Params::<T>::get();
			// Quarantines past their appeal window, exits past unbonding, provisional
			// registrations past their expiry.
			let expiry = T::CandidateExpiry::get();
			let due: Vec<(NodeId, NodeInfoOf<T>)> = Nodes::<T>::iter()
				.filter(|(node, info)| match info.state {
					NodeState::Quarantined { appeal_until, .. } => now > appeal_until,
					NodeState::Exiting { unbond_at } => now >= unbond_at,
					NodeState::Candidate { attested: false } => {
						// From its last verified quote, if any (a candidate whose review could
						// not decide quotes again); never while a committee reviews it.
						let from = T::Possession::last_verified(node)
							.map_or(info.since, |at| at.max(info.since));
						now >= from.saturating_add(expiry) && !T::Possession::under_review(node)
					}
					_ => false,
				})
				.collect();
			let mut expired = alloc::collections::BTreeSet::new();
			for (node, info) in due {
				match info.state {
					NodeState::Quarantined { .. } => Self::slash(node, info, &params),
					NodeState::Candidate { .. } => {
						expired.insert(node);
						Self::release(node, info);
						Self::deposit_event(Event::Expired { node });
					}
					_ => {
						Self::release(node, info);
						Self::deposit_event(Event::Exited { node });
					}
				}
			}
			if !expired.is_empty() {
				Queue::<T>::mutate(|q| q.retain(|n| !expired.contains(n)));
			}
			// Promotions.
			let probation = ProbationNodes::<T>::get();
			let mut still = BoundedVec::<NodeId, T::MaxNodes>::new();
			for node in probation {
				let Some(mut info) = Nodes::<T>::get(node) else { continue };
				let NodeState::Probation { clean_epochs } = info.state else { continue };
				let clean_epochs = clean_epochs.saturating_add(1);
				if clean_epochs >= params.probation_epochs {
					info.state = NodeState::Active;
					info.since = now;
					ActiveCount::<T>::mutate(|n| *n = n.saturating_add(1));
					Self::deposit_event(Event::Activated { node });
				} else {
					info.state = NodeState::Probation { clean_epochs };
					// Fits: it came from a list of the same bound.
					let _ = still.try_push(node);
				}
				Nodes::<T>::insert(node, info);
			}
			ProbationNodes::<T>::put(still);
			// Admissions, within the bound and the rate.
			let mut admitted = 0u32;
			let mut queue = Queue::<T>::get();
			let mut index = 0;
			while index < queue.len() && admitted < params.max_admissions_per_epoch {
				if !Self::room_for_one_more() {
					break;
				}
				let node = queue[index];
				let attested = matches!(
					Nodes::<T>::get(node).map(|i| i.state),
					Some(NodeState::Candidate { attested: true })
				);
				if !attested {
					index += 1;
					continue;
				}
				queue.remove(index);
				Nodes::<T>::mutate(node, |info| {
					if let Some(info) = info {
						info.state = NodeState::Probation { clean_epochs: 0 };
						info.since = now;
					}
				});
				ProbationNodes::<T>::mutate(|p| {
					let _ = p.try_push(node);
				});
				admitted += 1;
				Self::deposit_event(Event::Admitted { node });
			}
			Queue::<T>::put(queue);
		}

		/// Whether `node`'s registration is provisional: a candidate none of whose quotes
		/// verified.
		pub fn is_provisional(node: &NodeId, info: &NodeInfoOf<T>) -> bool {
			matches!(info.state, NodeState::Candidate { attested: false })
				&& !T::Possession::proven(node)
		}

		/// Stores a new registration of `node` (a candidate that has not attested, since now)
		/// under its attestation key.
		fn insert_provisional(
			node: NodeId,
			operator: T::AccountId,
			ek_public: EkPublic,
			ek_certificate: EkCertificate,
			attestation_key: AttestationKey,
			peer_id: PeerId,
			deposit: BalanceOf<T>,
		) {
			NodeByKey::<T>::insert(attestation_key, node);
			Nodes::<T>::insert(
				node,
				NodeInfo {
					operator,
					ek_public,
					ek_certificate,
					attestation_key,
					peer_id,
					deposit,
					state: NodeState::Candidate { attested: false },
					since: frame_system::Pallet::<T>::block_number(),
				},
			);
		}

		/// Whether one more probationary node keeps `probation <= active / 2`.
		fn room_for_one_more() -> bool {
			let probation = ProbationNodes::<T>::decode_len().unwrap_or(0) as u32;
			probation.saturating_add(1).saturating_mul(2) <= ActiveCount::<T>::get()
		}

		/// After trusted nodes left: sends the youngest probationary nodes back to the front of
		/// the queue (still attested) until `probation <= active / 2` holds again.
		fn keep_bound() {
			let active = ActiveCount::<T>::get();
			let mut probation = ProbationNodes::<T>::get();
			let mut queue = Queue::<T>::get();
			let mut changed = false;
			while (probation.len() as u32).saturating_mul(2) > active {
				let Some(node) = probation.pop() else { break };
				changed = true;
				Nodes::<T>::mutate(node, |info| {
					if let Some(info) = info {
						info.state = NodeState::Candidate { attested: true };
						info.since = frame_system::Pallet::<T>::block_number();
					}
				});
				// Room: every node is in at most one of the lists, all of the same bound.
				let _ = queue.try_insert(0, node);
				Self::deposit_event(Event::SentBack { node });
			}
			if changed {
				ProbationNodes::<T>::put(probation);
				Queue::<T>::put(queue);
			}
		}

		/// Removes a node whose appeal window passed and slashes its deposit.
		fn slash(node: NodeId, info: NodeInfoOf<T>, params: &BirthControl<BlockNumberFor<T>>) {
			let reason = HoldReason::NodeDeposit.into();
			let reporters = Reporters::<T>::take(node);
			let to_reporters = params.reporter_share * info.deposit;
			let mut paid = BalanceOf::<T>::zero();
			if !reporters.is_empty() {
				let each = to_reporters / (reporters.len() as u32).into();
				for reporter in &reporters {
					paid = paid.saturating_add(
						T::Currency::transfer_on_hold(
							&reason,
							&info.operator,
							reporter,
							each,
							Precision::BestEffort,
							Restriction::Free,
							Fortitude::Force,
						)
						.unwrap_or_default(),
					);
				}
			}
			let rest = info.deposit.saturating_sub(paid);
			let moved = match T::SlashDestination::get() {
				Some(dest) => T::Currency::transfer_on_hold(
					&reason,
					&info.operator,
					&dest,
					rest,
					Precision::BestEffort,
					Restriction::Free,
					Fortitude::Force,
				),
				None => T::Currency::burn_held(
					&reason,
					&info.operator,
					rest,
					Precision::BestEffort,
					Fortitude::Force,
				),
			}
			.unwrap_or_default();
			NodeByKey::<T>::remove(info.attestation_key);
			Nodes::<T>::remove(node);
			Addresses::<T>::remove(node);
			T::OnRemoved::on_node_removed(&node);
			Self::deposit_event(Event::Slashed { node, to_reporters: paid, to_destination: moved });
		}

		/// Removes a candidate and its queue place, and returns its deposit.
		fn drop_candidate(node: NodeId, info: NodeInfoOf<T>) {
			Queue::<T>::mutate(|q| q.retain(|n| *n != node));
			Self::release(node, info);
		}

		/// Removes a node that exited or expired and returns its deposit.
		fn release(node: NodeId, info: NodeInfoOf<T>) {
			let _ = T::Currency::release(
				&HoldReason::NodeDeposit.into(),
				&info.operator,
				info.deposit,
				Precision::BestEffort,
			);
			NodeByKey::<T>::remove(info.attestation_key);
			Nodes::<T>::remove(node);
			Addresses::<T>::remove(node);
			T::OnRemoved::on_node_removed(&node);
		}

		/// Invariants: `probation <= active / 2`; the lists and the count match the records;
		/// only registered nodes that are not exiting have addresses.
		#[cfg(any(feature = "try-runtime", feature = "std"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			ensure!(
				Params::<T>::get().valid(T::CandidateExpiry::get()),
				"birth-control parameters out of bounds"
			);
			let (mut active, mut probation, mut candidates) = (0u32, 0u32, 0u32);
			for (node, info) in Nodes::<T>::iter() {
				ensure!(node == node_id(&info.ek_public), "node id is not the EK hash");
				ensure!(
					NodeByKey::<T>::get(info.attestation_key) == Some(node),
					"attestation key index"
				);
				match info.state {
					NodeState::Active => active += 1,
					NodeState::Probation { .. } => {
						probation += 1;
						ensure!(ProbationNodes::<T>::get().contains(&node), "probation list");
					}
					NodeState::Candidate { .. } => {
						candidates += 1;
						ensure!(Queue::<T>::get().contains(&node), "queue");
					}
					_ => {}
				}
			}
			ensure!(ActiveCount::<T>::get() == active, "active count");
			ensure!(ProbationNodes::<T>::get().len() as u32 == probation, "probation list length");
			ensure!(Queue::<T>::get().len() as u32 == candidates, "queue length");
			ensure!(probation.saturating_mul(2) <= active, "probation above half the active");
			for node in Addresses::<T>::iter_keys() {
				let info = Nodes::<T>::get(node).ok_or("addresses of a node that is gone")?;
				ensure!(
					!matches!(info.state, NodeState::Exiting { .. }),
					"an exiting node's addresses"
				);
			}
			Ok(())
		}
	}

	impl<T: Config> NodeEvidence<T::AccountId> for Pallet<T> {
		fn admission_passed(node: &NodeId) {
			Nodes::<T>::mutate(node, |info| {
				if let Some(info) = info {
					if info.state == (NodeState::Candidate { attested: false }) {
						info.state = NodeState::Candidate { attested: true };
						Self::deposit_event(Event::AdmissionPassed { node: *node });
					}
				}
			});
		}

		fn report(node: &NodeId, offence: Offence, reporters: &[T::AccountId]) {
			let Some(mut info) = Nodes::<T>::get(node) else { return };
			let note = |node: &NodeId| {
				Reporters::<T>::mutate(node, |known| {
					for reporter in reporters {
						if !known.contains(reporter) {
							let _ = known.try_push(reporter.clone());
						}
					}
				})
			};
			match info.state {
				NodeState::Active => ActiveCount::<T>::mutate(|n| *n = n.saturating_sub(1)),
				NodeState::Probation { .. } => {
					ProbationNodes::<T>::mutate(|p| p.retain(|n| n != node))
				}
				NodeState::Candidate { .. } => Queue::<T>::mutate(|q| q.retain(|n| n != node)),
				NodeState::Quarantined { .. } => return note(node),
				// Leaving does not escape evidence: the exit is cancelled.
				NodeState::Exiting { .. } => {}
			}
			let now = frame_system::Pallet::<T>::block_number();
			let appeal_until = now.saturating_add(Params::<T>::get().appeal_window);
			info.state = NodeState::Quarantined { appeal_until, offence };
			info.since = now;
			Nodes::<T>::insert(node, info);
			note(node);
			Self::deposit_event(Event::Quarantined { node: *node, offence, appeal_until });
			Self::keep_bound();
		}

		fn cleared(node: &NodeId) {
			let Some(mut info) = Nodes::<T>::get(node) else { return };
			let NodeState::Quarantined { appeal_until, .. } = info.state else { return };
			if frame_system::Pallet::<T>::block_number() > appeal_until {
				return;
			}
			Reporters::<T>::remove(node);
			// Back to the front of the queue, attested: admission keeps the bound.
			info.state = NodeState::Candidate { attested: true };
			info.since = frame_system::Pallet::<T>::block_number();
			Nodes::<T>::insert(node, info);
			Queue::<T>::mutate(|q| {
				let _ = q.try_insert(0, *node);
			});
			Self::deposit_event(Event::Cleared { node: *node });
		}
	}

	impl<T: Config> NodeRegistry<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
		fn node(id: &NodeId) -> Option<NodeView<T::AccountId, BlockNumberFor<T>>> {
			Nodes::<T>::get(id).map(|info| NodeView {
				operator: info.operator,
				attestation_key: info.attestation_key,
				state: info.state,
				since: info.since,
			})
		}

		fn active_nodes() -> Vec<(NodeId, T::AccountId)> {
			Nodes::<T>::iter()
				.filter(|(_, i)| i.state == NodeState::Active)
				.map(|(n, i)| (n, i.operator))
				.collect()
		}

		fn node_count() -> u32 {
			Nodes::<T>::count()
		}

		fn attesting_nodes() -> Vec<(NodeId, BlockNumberFor<T>)> {
			Nodes::<T>::iter()
				.filter(|(_, i)| matches!(i.state, NodeState::Active | NodeState::Probation { .. }))
				.map(|(n, i)| (n, i.since))
				.collect()
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn insert_for_benchmark(
			seed: u32,
			operator: T::AccountId,
			attestation_key: AttestationKey,
			state: NodeState<BlockNumberFor<T>>,
		) -> NodeId {
			let ek = EkPublic::truncate_from([&b"bench EK "[..], &seed.to_le_bytes()].concat());
			let id = node_id(&ek);
			match state {
				NodeState::Active => ActiveCount::<T>::mutate(|n| *n += 1),
				NodeState::Candidate { .. } => Queue::<T>::mutate(|q| {
					let _ = q.try_push(id);
				}),
				NodeState::Probation { .. } => ProbationNodes::<T>::mutate(|p| {
					let _ = p.try_push(id);
				}),
				_ => {}
			}
			NodeByKey::<T>::insert(attestation_key, id);
			Nodes::<T>::insert(
				id,
				NodeInfo {
					operator,
					ek_public: ek,
					ek_certificate: Default::default(),
					attestation_key,
					peer_id: Default::default(),
					deposit: Zero::zero(),
					state,
					since: Zero::zero(),
				},
			);
			id
		}
	}

	impl<T: Config> pallet_tea_upgrades::NodeSet<NodeId> for Pallet<T> {
		fn rollout_nodes() -> Vec<NodeId> {
			Nodes::<T>::iter()
				.filter(|(_, i)| matches!(i.state, NodeState::Active | NodeState::Probation { .. }))
				.map(|(n, _)| n)
				.collect()
		}

		fn missed_upgrade_deadline(_node: &NodeId, _rollout: pallet_tea_upgrades::RolloutId) {
			// Counted by attestation's evidence rules (a limit of misses), not here.
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn set_for_benchmark(_nodes: Vec<NodeId>) {}
	}
}

/// A node's id: `blake2_256` of its endorsement key.
pub fn node_id(ek_public: &[u8]) -> NodeId {
	H256(sp_io::hashing::blake2_256(ek_public))
}
