//! # Attestation pallet
//!
//! The evidence behind the node life cycle of `pallet-tea-nodes`: TPM quotes verified **in the
//! runtime**, heartbeats, and admission committees.
//!
//! - **Challenge.** A quote must carry `tpm::challenge(hash of block anchor, node, operator,
//!   purpose)` in its `extraData`. The anchor is a block at most `ChallengeWindow` blocks old and
//!   newer than the anchor of the node's previous quote, so an old quote can never be replayed;
//!   a quote made for one purpose (admission, heartbeat, appeal, claim) never serves another,
//!   and one made for one operator never serves another account.
//! - **Verification.** [`Pallet::submit_attestation`], signed by the node's operator, runs
//!   `tea_primitives::tpm::verify_quote` (the same code the worker runs): `TPMS_ATTEST` structure,
//!   nonce, PCR digest of the submitted values, ECDSA P-256 signature by the node's registered
//!   attestation key. The TPM's reset and restart counts and its clock must not go back from
//!   the node's last accepted quote ([`Clocks`]: a TPM state restored or copied). The
//!   measurement (the PCR digest) must be allowed by governance
//!   ([`pallet_tea_upgrades::Allowlists`]) — unless governance set an attestation [`Policy`]:
//!   then the quote must cover the policy's PCRs (0–15 only), its event log must replay the
//!   log PCRs from the node's last accepted values ([`Evidence`]) or from the TPM's reset to
//!   exactly the quoted ones, every runtime it launched must be allowlisted and every release
//!   and provider it loaded known, and the measurement is the runtime running (see
//!   `tea_primitives::evidence`). A quote signed by the node's key that fails any check is
//!   **evidence**: the call succeeds, records it and quarantines the node. What is not the TPM's
//!   (a signature that is not the node's key's, wrong signer, stale anchor, wrong purpose) is
//!   refused without a trace: anyone could have made it.
//! - **Claims.** The proof of possession of `pallet_tea_nodes::Pallet::claim` is checked here
//!   ([`pallet_tea_nodes::VerifyPossession`]): a quote by the key over the claimant's `Claim`
//!   challenge.
//! - **Heartbeats.** Every active or probationary node owes a valid heartbeat quote at least
//!   every `period` blocks; `max_missed` periods in a row without one is evidence.
//! - **Committees.** A candidate's valid admission quote opens a review by `CommitteeSize`
//!   active nodes, drawn by ranking `blake2_256(parent hash ‖ candidate ‖ node)`. The members
//!   check off chain what the chain cannot: the EK certificate chains to an allowed TPM vendor CA
//!   key and the attestation key is bound to the EK by credential activation. Each member's
//!   operator submits a signed verdict ([`Pallet::vote`]). When the last member voted, or else
//!   after `ReviewPeriod` blocks, a strict majority of the committee decides: approval admits the candidate (or clears an appeal),
//!   rejection quarantines it with the majority's operators as reporters. Members who did not
//!   vote or voted against the majority are counted in [`CommitteeMisses`].
//!
//! **Why the parent block hash as randomness.** The chain uses Aura, which has no VRF. A block
//! author can only choose whether to include the admission quote in its block, so it can re-draw
//! a committee a few times at the cost of delaying the candidate; every member is an active,
//! already-attested node, and a committee decides by strict majority, so biasing the draw
//! needs a majority of corrupted trusted nodes, which birth control keeps below one third.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

sp_api::decl_runtime_apis! {
	/// Attestation for workers.
	pub trait AttestationApi<AccountId: codec::Codec, BlockNumber: codec::Codec> {
		/// The anchor block (the parent of the block this is called at) and the challenge
		/// `node` must quote for `purpose` anchored there when `operator` submits the quote.
		fn challenge(node: NodeId, operator: AccountId, purpose: Purpose) -> (BlockNumber, [u8; 32]);
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
use frame_support::{pallet_prelude::ConstU32, weights::Weight, BoundedVec};
use pallet_tea_nodes::NodeId;
use scale_info::TypeInfo;
use sp_core::H256;
pub use tea_primitives::tpm::Purpose;
use tea_primitives::{
	evidence::{self, EventKind, LogEvent, PcrPolicy, PcrRule},
	ContentId, Name,
};

pub use pallet_tea_nodes::{AttestBytes, PcrValues, SignatureBytes};

/// A quote's event log (`tea_primitives::evidence`), at most `MaxLogEntries` entries.
pub type EventLog<T> = BoundedVec<LogEvent, <T as pallet::Config>::MaxLogEntries>;

/// What a node's last accepted quote under the policy left: the TPM reset cycle, the log PCRs'
/// values (the next log continues from them in the same cycle), the worker runtime its log
/// showed and the block it was anchored at.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct EvidenceState<BlockNumber> {
	/// The TPM reset count of that quote.
	pub reset_count: u32,
	/// The log PCRs' values in it.
	pub pcrs: BoundedVec<(u8, [u8; 32]), ConstU32<{ evidence::MAX_POLICY_PCRS }>>,
	/// The worker runtime (the SHA-256 of its binary) the log showed launched in that cycle.
	pub runtime: H256,
	/// Its anchor: the TPM made it after this block was final for the node, so every entry of a
	/// log that continues from it was extended later still.
	pub anchor: BlockNumber,
	/// The receipt key (ed25519 public key) the log showed last since that runtime launched:
	/// the key the node's proof-of-trust receipts are signed with
	/// (`tea_primitives::receipt`). None: that runtime extended none yet.
	pub receipt_key: Option<[u8; 32]>,
}

/// How a quote fails its judgement: evidence against the node, or a refusal that proves
/// nothing (the node attests again).
pub enum Judged<T: pallet::Config> {
	/// Evidence: the node is quarantined.
	Offence(pallet_tea_nodes::Offence),
	/// An error: nothing changes.
	Refused(pallet::Error<T>),
}

/// What the chain knows about the actor releases and providers an event log names
/// (implemented by the runtime with `pallet-tea-actors`).
pub trait LoggedReleases<BlockNumber> {
	/// The release (actor, version) with this CID, if workers may have run it.
	fn release(cid: &ContentId) -> Option<(Name, u32)>;
	/// The block at which the release with this CID was revoked, if it was.
	fn revoked_at(cid: &ContentId) -> Option<BlockNumber>;
	/// Whether `name` is a registered provider.
	fn provider(name: &[u8]) -> bool;
	/// Makes the release with this CID one workers may have run, for benchmarks.
	#[cfg(feature = "runtime-benchmarks")]
	fn ran_for_benchmark(cid: &ContentId, actor: Name, version: u32);
}

impl<BlockNumber> LoggedReleases<BlockNumber> for () {
	fn release(_: &ContentId) -> Option<(Name, u32)> {
		None
	}
	fn revoked_at(_: &ContentId) -> Option<BlockNumber> {
		None
	}
	fn provider(_: &[u8]) -> bool {
		false
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn ran_for_benchmark(_: &ContentId, _: Name, _: u32) {}
}

/// What the attestation pallet tells the rewards (implemented by `pallet-tea-rewards`; `()`
/// ignores it): the duties a node did and the evidence against it.
pub trait OnAttestation {
	/// A quote of `node` was accepted (before its purpose's effect: an appeal's node is still
	/// quarantined); `receipt_key` is the receipt key its evidence binds now.
	fn attested(node: &NodeId, receipt_key: Option<[u8; 32]>);
	/// `member` voted with the final majority of a closed committee review.
	fn voted_with_majority(member: &NodeId);
	/// Evidence against `node` was reported (it is quarantined, or stays so).
	fn reported(node: &NodeId);
	/// The most weight one of these calls costs.
	fn weight() -> Weight;
}

impl OnAttestation for () {
	fn attested(_: &NodeId, _: Option<[u8; 32]>) {}
	fn voted_with_majority(_: &NodeId) {}
	fn reported(_: &NodeId) {}
	fn weight() -> Weight {
		Weight::zero()
	}
}

/// A node's attestation record.
#[derive(
	Clone,
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
pub struct Record<BlockNumber> {
	/// Anchor block of its latest quote: the next must be anchored later.
	pub last_anchor: BlockNumber,
	/// Block of its latest valid attestation, if any.
	pub last_valid: Option<BlockNumber>,
	/// The measurement (PCR digest) of its latest valid quote.
	pub measurement: Option<H256>,
	/// Heartbeat periods missed in a row.
	pub missed: u32,
	/// Whether it ever passed admission (or was trusted at genesis): a quarantined node that
	/// never did needs a committee to clear itself, not just a valid quote.
	pub vetted: bool,
}

/// An open committee review of a candidate's admission or of a quarantined node's appeal.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxMembers))]
pub struct Review<BlockNumber, MaxMembers: frame_support::traits::Get<u32>> {
	/// `Admission` or `Appeal`.
	pub purpose: Purpose,
	/// The committee, drawn from the active nodes.
	pub members: BoundedVec<NodeId, MaxMembers>,
	/// The verdicts so far: `(member, approve)`.
	pub votes: BoundedVec<(NodeId, bool), MaxMembers>,
	/// Last block at which members may vote.
	pub deadline: BlockNumber,
}

/// Heartbeat rules, set by governance.
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
pub struct HeartbeatRules<BlockNumber> {
	/// Blocks between heartbeat checks; each node owes a valid heartbeat per period.
	pub period: BlockNumber,
	/// Periods missed in a row that count as evidence.
	pub max_missed: u32,
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::pallet_prelude::*;
	use frame_system::pallet_prelude::*;
	use pallet_tea_nodes::{NodeEvidence, NodeRegistry, NodeState, Offence, OnNodeRemoved};
	use pallet_tea_upgrades::{Allowlists, RolloutSignals, RolloutTarget};
	use sp_runtime::traits::{Saturating, Zero};
	use tea_primitives::tpm;

	/// The review type of this runtime.
	pub type ReviewOf<T> = Review<BlockNumberFor<T>, <T as Config>::CommitteeSize>;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The node registry: reads nodes, receives the evidence.
		type Nodes: NodeRegistry<Self::AccountId, BlockNumberFor<Self>>
			+ NodeEvidence<Self::AccountId>;
		/// Governance: sets the heartbeat rules.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// The governance allowlists (measurements) and the rollout health signals.
		type Upgrades: Allowlists<NodeId> + RolloutSignals<NodeId>;
		/// How old a quote's anchor block may be. At most `frame_system`'s `BlockHashCount`.
		#[pallet::constant]
		type ChallengeWindow: Get<BlockNumberFor<Self>>;
		/// Members per committee (fewer when fewer nodes are active).
		#[pallet::constant]
		type CommitteeSize: Get<u32>;
		/// Blocks a committee has to vote; keep it well inside `pallet-tea-nodes`' appeal window
		/// so that an appeal's review closes before the window does.
		#[pallet::constant]
		type ReviewPeriod: Get<BlockNumberFor<Self>>;
		/// Most reviews closing in one block.
		#[pallet::constant]
		type MaxReviewsPerBlock: Get<u32>;
		/// Most registered nodes (`pallet-tea-nodes`' `MaxNodes`): bounds the committee draw
		/// and the heartbeat check.
		#[pallet::constant]
		type MaxNodes: Get<u32>;
		/// The actor releases and providers event logs name.
		type Releases: LoggedReleases<BlockNumberFor<Self>>;
		/// Most entries in one quote's event log: a longer log is refused (an error, not
		/// evidence); a worker that loaded more since its last accepted quote quotes again.
		#[pallet::constant]
		type MaxLogEntries: Get<u32>;
		/// Most weight one rollout signal (`note_upgraded` or `note_failure`) of `Upgrades`
		/// costs.
		type SignalsWeight: Get<Weight>;
		/// Told of accepted quotes, committee duties done and evidence (the rewards).
		type Duties: OnAttestation;
		/// Weights of the calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// Every node that has attested at least once.
	#[pallet::storage]
	pub type Records<T: Config> = StorageMap<_, Identity, NodeId, Record<BlockNumberFor<T>>>;

	/// Open committee reviews, by the reviewed node.
	#[pallet::storage]
	pub type Reviews<T: Config> = StorageMap<_, Identity, NodeId, ReviewOf<T>>;

	/// Reviews requested in this block: their committees are drawn at the start of the next
	/// block, from a block hash the submitter could not know when it signed.
	#[pallet::storage]
	pub type PendingReviews<T: Config> =
		StorageValue<_, BoundedVec<(NodeId, Purpose), T::MaxReviewsPerBlock>, ValueQuery>;

	/// The reviews closed at the start of each block.
	#[pallet::storage]
	pub type ReviewsDue<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<NodeId, T::MaxReviewsPerBlock>,
		ValueQuery,
	>;

	/// The attestation policy: which PCRs a quote covers and what each holds (fixed boot
	/// values, unchecked, or the event log). Unset (a chain whose genesis set none): every
	/// quote is refused until governance sets one. There is no rule without a policy: the
	/// digest of whatever PCRs a quote selects proves nothing about what runs (PCRs 16 and 23
	/// can be reset by software).
	#[pallet::storage]
	pub type Policy<T: Config> = StorageValue<_, PcrPolicy, OptionQuery>;

	/// The policy before the last change (none: unset) and the block of the change:
	/// quotes anchored before that block are judged under it, so no quote in flight when
	/// governance changes the policy becomes evidence.
	#[pallet::storage]
	pub type PolicyChange<T: Config> =
		StorageValue<_, (Option<PcrPolicy>, BlockNumberFor<T>), OptionQuery>;

	/// Per node, what its last quote accepted under the policy left (the base of its next log).
	#[pallet::storage]
	pub type Evidence<T: Config> =
		StorageMap<_, Identity, NodeId, EvidenceState<BlockNumberFor<T>>>;

	/// The TPM clock and counters of each node's last accepted quote: its next quote must not
	/// go back from them (`tea_primitives::tpm::check_freshness`).
	#[pallet::storage]
	pub type Clocks<T: Config> = StorageMap<_, Identity, NodeId, tpm::TpmClock>;

	/// Committee duties missed per member: no vote, or a vote against the final majority.
	#[pallet::storage]
	pub type CommitteeMisses<T: Config> = StorageMap<_, Identity, NodeId, u32, ValueQuery>;

	/// The heartbeat rules.
	#[pallet::storage]
	pub type Heartbeats<T: Config> =
		StorageValue<_, HeartbeatRules<BlockNumberFor<T>>, ValueQuery, DefaultHeartbeats<T>>;

	/// Defaults: a heartbeat every 100 blocks, evidence after 3 missed periods.
	#[pallet::type_value]
	pub fn DefaultHeartbeats<T: Config>() -> HeartbeatRules<BlockNumberFor<T>> {
		HeartbeatRules { period: 100u32.into(), max_missed: 3 }
	}

	/// Heartbeat rules other than the defaults.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The rules; `None` keeps the defaults.
		pub heartbeats: Option<HeartbeatRules<BlockNumberFor<T>>>,
		/// The attestation policy's `(PCR, rule)`s (see [`PcrPolicy`]); `None`: unset.
		pub policy: Option<Vec<(u8, PcrRule)>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Some(rules) = self.heartbeats {
				assert!(!rules.period.is_zero() && rules.max_missed > 0, "bad heartbeat rules");
				Heartbeats::<T>::put(rules);
			}
			if let Some(pcrs) = &self.policy {
				let policy = PcrPolicy { pcrs: pcrs.clone().try_into().expect("at most 16 PCRs") };
				assert_eq!(policy.validate(), Ok(()), "bad attestation policy");
				Policy::<T>::put(policy);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A quote verified and its measurement is allowed.
		Attested { node: NodeId, purpose: Purpose, measurement: H256 },
		/// A quote failed: the offence is evidence against the node.
		QuoteRejected { node: NodeId, purpose: Purpose, offence: Offence },
		/// A committee was drawn to review `node`; members vote until `deadline`.
		ReviewOpened {
			node: NodeId,
			purpose: Purpose,
			members: Vec<NodeId>,
			deadline: BlockNumberFor<T>,
		},
		/// A valid quote asks for a committee; it is drawn at the start of the next block.
		ReviewRequested { node: NodeId, purpose: Purpose },
		/// No committee could be drawn (`NoCommittee` or `ReviewsBusy`): the node may attest
		/// again.
		ReviewNotOpened { node: NodeId, error: DispatchError },
		/// A committee member voted.
		Voted { node: NodeId, member: NodeId, approve: bool },
		/// A review closed: `verdict` is the strict majority's (none: no majority, the node
		/// may attest again); `noted` are the members who did not vote or voted against it.
		ReviewClosed { node: NodeId, verdict: Option<bool>, noted: Vec<NodeId> },
		/// A node missed its heartbeat period (`missed` in a row).
		HeartbeatMissed { node: NodeId, missed: u32 },
		/// Governance changed the heartbeat rules.
		HeartbeatRulesSet { rules: HeartbeatRules<BlockNumberFor<T>> },
		/// Governance set the attestation policy.
		PolicySet { policy: PcrPolicy },
		/// Governance forgot what a node's last accepted quote left (its TPM clock and event
		/// log state): its next quote is judged as its first.
		TpmStateForgotten { node: NodeId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No node with this id.
		UnknownNode,
		/// Only the node's operator may submit its attestations and votes.
		NotOperator,
		/// The purpose does not fit the node's state: admission is for candidates that have
		/// not passed, heartbeats for active and probationary nodes, appeals for quarantined
		/// nodes within their window.
		WrongPurpose,
		/// The anchor block is not before the current block.
		AnchorInFuture,
		/// The anchor block is older than the challenge window.
		AnchorTooOld,
		/// The anchor is not newer than the node's previous quote's (a replay).
		Replayed,
		/// The node is under review; wait for the verdict.
		UnderReview,
		/// No active node can sit on a committee.
		NoCommittee,
		/// Every block that could close the review has `MaxReviewsPerBlock` reviews; try later.
		ReviewsBusy,
		/// No open review of this node.
		NoReview,
		/// The node is not on this committee.
		NotAMember,
		/// This member has voted.
		AlreadyVoted,
		/// The review's voting deadline has passed.
		ReviewClosed,
		/// The heartbeat period and `max_missed` must not be zero.
		BadRules,
		/// The quote's challenge is not the chain's for this anchor and purpose (its anchor
		/// block may have been reorganised away): not evidence, attest again.
		StaleChallenge,
		/// The appeal window closes before a committee could decide: too late to appeal.
		AppealTooLate,
		/// Only active nodes vote on committees.
		MemberNotActive,
		/// The anchor block's hash is unknown to the chain.
		UnknownAnchor,
		/// The policy breaks a rule: PCRs 0-15 only, ascending, at least one holding the log.
		BadPolicy,
		/// The chain has no attestation policy yet: no quote can prove anything (governance
		/// sets one with `set_policy`).
		NoPolicy,
		/// The quote does not cover exactly the policy's PCRs: quote them.
		NotPolicySelection,
		/// The policy changed less than a challenge window ago: quotes judged under the one
		/// before may still arrive.
		PolicyChangedRecently,
		/// The runtime the node's log shows running was allowed once but is not allowed for
		/// this node now (withdrawn, or its rollout tier does not include the node): launch
		/// an allowed one.
		RuntimeNotAllowedNow,
		/// The quote's signature is not the node's attestation key's (or not a signature): it
		/// proves nothing about the node's TPM, so it is refused, never held against the node.
		UnsignedQuote,
		/// The possession proof is not a quote by the attestation key over the claimant's
		/// `Claim` challenge.
		BadPossessionProof,
	}

	/// Blocks after a review's deadline in which it may be scheduled to close.
	pub const MAX_CLOSE_SLOTS: u32 = 16;

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let due = ReviewsDue::<T>::take(now);
			let mut weight = Self::close_weight().saturating_mul(due.len() as u64);
			for node in due {
				Self::close(node);
			}
			let nodes = T::Nodes::node_count();
			for (node, purpose) in PendingReviews::<T>::take() {
				// The draw reads every node.
				weight.saturating_accrue(T::WeightInfo::draw_committee(nodes));
				let opened = frame_support::storage::with_storage_layer(|| {
					Self::open_review(node, purpose, now)
				});
				if let Err(error) = opened {
					Self::deposit_event(Event::ReviewNotOpened { node, error });
				}
			}
			let rules = Heartbeats::<T>::get();
			if !rules.period.is_zero() && (now % rules.period).is_zero() {
				Self::check_heartbeats(now, rules);
				weight.saturating_accrue(T::WeightInfo::check_heartbeats(nodes));
				weight.saturating_accrue(T::Duties::weight().saturating_mul(nodes.into()));
			}
			weight.saturating_add(T::DbWeight::get().reads_writes(2, 1))
		}

		fn integrity_test() {
			assert!(T::CommitteeSize::get() > 0, "committees need members");
			assert!(
				T::ChallengeWindow::get() < <T as frame_system::Config>::BlockHashCount::get(),
				"anchors must be blocks whose hash the chain remembers"
			);
			assert!(T::MaxReviewsPerBlock::get() > 0, "reviews need room");
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Submit a TPM quote for `node` (its operator signs). `anchor` is the block whose hash
		/// the challenge uses; `attest` and `signature` are the TPM's `TPMS_ATTEST` and
		/// `TPMT_SIGNATURE`; `pcrs` the quoted PCR values; `log` the event log entries the TPM
		/// owner extended into the policy's log PCRs since the node's last accepted quote in
		/// this TPM reset cycle, or since the reset. A quote that fails verification is recorded
		/// as evidence and the call succeeds.
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::submit_weight(log.len() as u32))]
		pub fn submit_attestation(
			origin: OriginFor<T>,
			node: NodeId,
			purpose: Purpose,
			anchor: BlockNumberFor<T>,
			attest: AttestBytes,
			signature: SignatureBytes,
			pcrs: PcrValues,
			log: EventLog<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let view = T::Nodes::node(&node).ok_or(Error::<T>::UnknownNode)?;
			ensure!(view.operator == who, Error::<T>::NotOperator);
			let now = frame_system::Pallet::<T>::block_number();
			let fits = match view.state {
				NodeState::Candidate { attested } => purpose == Purpose::Admission && !attested,
				NodeState::Active | NodeState::Probation { .. } => purpose == Purpose::Heartbeat,
				NodeState::Quarantined { appeal_until, .. } => {
					purpose == Purpose::Appeal && now <= appeal_until
				}
				NodeState::Exiting { .. } => false,
			};
			ensure!(fits, Error::<T>::WrongPurpose);
			ensure!(
				!Reviews::<T>::contains_key(node)
					&& !PendingReviews::<T>::get().iter().any(|(n, _)| *n == node),
				Error::<T>::UnderReview
			);
			let anchor_hash = Self::anchor_hash(anchor, now)?;
			let previous = Records::<T>::get(node);
			ensure!(previous.as_ref().is_none_or(|r| anchor > r.last_anchor), Error::<T>::Replayed);
			let mut record = previous.unwrap_or_default();
			record.last_anchor = anchor;
			let admitted = matches!(view.state, NodeState::Active | NodeState::Probation { .. });
			record.vetted |= admitted;
			let review = match view.state {
				NodeState::Candidate { .. } => true,
				NodeState::Quarantined { .. } => !record.vetted,
				_ => false,
			};
			if let (true, NodeState::Quarantined { appeal_until, .. }) = (review, &view.state) {
				// The draw (next block), the vote and the close must fit in the window.
				let decided =
					now.saturating_add(T::ReviewPeriod::get()).saturating_add(18u32.into());
				ensure!(decided <= *appeal_until, Error::<T>::AppealTooLate);
			}
			let nonce = Self::challenge_at(&anchor_hash, &node, &who, purpose);
			let policy = match PolicyChange::<T>::get() {
				Some((previous, changed_at)) if anchor < changed_at => previous,
				_ => Policy::<T>::get(),
			}
			.ok_or(Error::<T>::NoPolicy)?;
			// Which PCRs to quote is the node's choice, not the TPM's: a wrong selection proves
			// nothing, the node quotes again (and misses its heartbeat if it never does).
			ensure!(
				policy.selection().eq(pcrs.iter().map(|(i, _)| *i)),
				Error::<T>::NotPolicySelection
			);

			let verdict =
				tpm::verify_quote(&view.attestation_key, &attest, &signature, &nonce, &pcrs)
					.and_then(|info| match Clocks::<T>::get(node) {
						Some(last) => tpm::check_freshness(&last, &info.clock).map(|()| info),
						None => Ok(info),
					})
					.map_err(|e| Judged::Offence(Offence::FailedQuote(e)))
					.and_then(|info| Self::judge(&node, anchor, &policy, &info, &pcrs, &log));
			let (measurement, clock, state, releases) = match verdict {
				Err(Judged::Refused(error)) => return Err(error.into()),
				// Bytes the node's key did not sign prove nothing about its TPM: anyone can make
				// them, so they are never held against the node.
				Err(Judged::Offence(Offence::FailedQuote(e))) if !e.is_signed() => {
					return Err(Error::<T>::UnsignedQuote.into())
				}
				// Not proof of anything: a reorganised anchor, or an old quote replayed.
				Err(Judged::Offence(Offence::FailedQuote(tpm::QuoteError::NonceMismatch))) => {
					return Err(Error::<T>::StaleChallenge.into())
				}
				Err(Judged::Offence(offence)) => {
					Records::<T>::insert(node, record);
					if admitted {
						T::Upgrades::note_failure(&node);
					}
					T::Nodes::report(&node, offence, &[]);
					T::Duties::reported(&node);
					Self::deposit_event(Event::QuoteRejected { node, purpose, offence });
					return Ok(().into());
				}
				Ok(measurement) => measurement,
			};
			record.last_valid = Some(now);
			record.measurement = Some(measurement);
			record.missed = 0;
			Records::<T>::insert(node, record);
			Clocks::<T>::insert(node, clock);
			let receipt_key = state.receipt_key;
			Evidence::<T>::insert(node, state);
			T::Duties::attested(&node, receipt_key);
			Self::deposit_event(Event::Attested { node, purpose, measurement });
			match (purpose, review) {
				(_, true) => {
					PendingReviews::<T>::try_mutate(|p| p.try_push((node, purpose)))
						.map_err(|_| Error::<T>::ReviewsBusy)?;
					Self::deposit_event(Event::ReviewRequested { node, purpose });
				}
				(Purpose::Appeal, false) => T::Nodes::cleared(&node),
				_ => {
					T::Upgrades::note_upgraded(
						&node,
						&RolloutTarget::Measurement { new: measurement, replaces: None },
					);
					Self::note_releases(&node, releases);
				}
			}
			Ok(().into())
		}

		/// A committee member's verdict on the node it reviews (the member's operator signs).
		///
		/// The last member's vote closes the review at once (nothing can change its verdict
		/// any more); otherwise it closes after its deadline.
		#[pallet::call_index(1)]
		#[pallet::weight(
			T::WeightInfo::vote()
				.saturating_add(Pallet::<T>::close_weight())
				.saturating_add(T::DbWeight::get().reads_writes(MAX_CLOSE_SLOTS.into(), 1))
		)]
		pub fn vote(
			origin: OriginFor<T>,
			member: NodeId,
			node: NodeId,
			approve: bool,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let view = T::Nodes::node(&member).ok_or(Error::<T>::UnknownNode)?;
			ensure!(view.operator == who, Error::<T>::NotOperator);
			ensure!(view.state == NodeState::Active, Error::<T>::MemberNotActive);
			Reviews::<T>::try_mutate(node, |review| {
				let review = review.as_mut().ok_or(Error::<T>::NoReview)?;
				ensure!(review.members.contains(&member), Error::<T>::NotAMember);
				ensure!(review.votes.iter().all(|(m, _)| *m != member), Error::<T>::AlreadyVoted);
				ensure!(
					frame_system::Pallet::<T>::block_number() <= review.deadline,
					Error::<T>::ReviewClosed
				);
				// Fits: at most one vote per member.
				review.votes.try_push((member, approve)).map_err(|_| Error::<T>::AlreadyVoted)?;
				Ok::<_, Error<T>>(())
			})?;
			Self::deposit_event(Event::Voted { node, member, approve });
			if let Some(review) = Reviews::<T>::get(node) {
				if review.votes.len() == review.members.len() {
					Self::unschedule(node, review.deadline);
					Self::close(node);
				}
			}
			Ok(())
		}

		/// Set the heartbeat rules (governance).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_heartbeat_rules())]
		pub fn set_heartbeat_rules(
			origin: OriginFor<T>,
			rules: HeartbeatRules<BlockNumberFor<T>>,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(!rules.period.is_zero() && rules.max_missed > 0, Error::<T>::BadRules);
			Heartbeats::<T>::put(rules);
			Self::deposit_event(Event::HeartbeatRulesSet { rules });
			Ok(())
		}

		/// Set the attestation policy (governance): the PCRs every quote must cover, each with
		/// its rule (a fixed value, unchecked, or the event log), PCRs 0-15 only (16-23 can be
		/// reset by software or a dynamic launch), exactly one holding the event log. There is
		/// no going back to no policy. Quotes anchored before the change are judged under the
		/// policy before it (so at most one change per challenge window); nodes' logs continue
		/// from their last accepted values, and a log from the TPM's last reset is always
		/// accepted too.
		#[pallet::call_index(3)]
		#[pallet::weight(
			T::WeightInfo::set_heartbeat_rules()
				.saturating_add(T::DbWeight::get().reads_writes(2, 1))
		)]
		pub fn set_policy(origin: OriginFor<T>, policy: PcrPolicy) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			policy.validate().map_err(|_| Error::<T>::BadPolicy)?;
			let now = frame_system::Pallet::<T>::block_number();
			if let Some((_, changed_at)) = PolicyChange::<T>::get() {
				ensure!(
					now > changed_at.saturating_add(T::ChallengeWindow::get()),
					Error::<T>::PolicyChangedRecently
				);
			}
			PolicyChange::<T>::put((Policy::<T>::get(), now));
			Policy::<T>::put(&policy);
			Self::deposit_event(Event::PolicySet { policy });
			Ok(())
		}

		/// Forget what `node`'s last accepted quote left: its TPM clock and counters and its
		/// event log state (governance). For an operator who restored the node's TPM state
		/// from a backup or snapshot on purpose: otherwise its quotes stay evidence
		/// (`ResetCountWentBack`, …) until its reset count passes the one the chain kept. The
		/// node still needs a valid quote (an appeal, if quarantined) to be trusted again.
		#[pallet::call_index(4)]
		#[pallet::weight(
			T::WeightInfo::set_heartbeat_rules()
				.saturating_add(T::DbWeight::get().writes(1))
		)]
		pub fn forget_tpm_state(origin: OriginFor<T>, node: NodeId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(
				Clocks::<T>::contains_key(node) || Evidence::<T>::contains_key(node),
				Error::<T>::UnknownNode
			);
			Clocks::<T>::remove(node);
			Evidence::<T>::remove(node);
			Self::deposit_event(Event::TpmStateForgotten { node });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The weight of `submit_attestation`: the heaviest of a heartbeat, an admission and a
		/// rejected quote (which quarantines), plus one rollout signal (the measurement's, or
		/// the failure's). An admission or appeal only queues its committee draw, which the
		/// next block's `on_initialize` pays for.
		///
		/// Each of the `entries` of its log adds its replay, its judgement and, for a release,
		/// the signal to its rollout (`WeightInfo::log_entries`, measured with every entry a
		/// release rolling out in the node's tier).
		pub fn submit_weight(entries: u32) -> Weight {
			T::WeightInfo::submit_heartbeat()
				.max(T::WeightInfo::submit_rejected())
				.max(T::WeightInfo::submit_admission())
				.saturating_add(T::SignalsWeight::get())
				.saturating_add(T::Duties::weight())
				.saturating_add(T::WeightInfo::log_entries(entries))
		}

		/// Closing one review: the tally, and telling the rewards of each member's duty and of
		/// a rejection.
		pub fn close_weight() -> Weight {
			T::WeightInfo::close_review().saturating_add(
				T::Duties::weight().saturating_mul(u64::from(T::CommitteeSize::get()) + 1),
			)
		}

		/// Tells the rollouts that `node` proved it loaded `releases` (from its judged log).
		pub(crate) fn note_releases(node: &NodeId, releases: Vec<(Name, u32)>) {
			for (actor, version) in releases {
				T::Upgrades::note_upgraded(node, &RolloutTarget::Release { actor, version });
			}
		}

		/// Judges a verified quote under `policy`: its PCR values replayed from its log (from
		/// the node's last accepted values in this TPM reset cycle, or from the reset), each
		/// entry allowed (every runtime launched allowlisted for this node, every release one
		/// workers may run and, if loaded after the last accepted quote, not revoked more than
		/// a challenge window before that quote's anchor, every provider registered), and the
		/// runtime running allowed now. Returns the measurement (the runtime), the clock, what the next
		/// log continues from, and the releases proven loaded.
		#[allow(clippy::type_complexity)]
		pub(crate) fn judge(
			node: &NodeId,
			anchor: BlockNumberFor<T>,
			policy: &PcrPolicy,
			info: &tpm::QuoteInfo,
			pcrs: &[(u8, [u8; 32])],
			log: &[LogEvent],
		) -> Result<
			(H256, tpm::TpmClock, EvidenceState<BlockNumberFor<T>>, Vec<(Name, u32)>),
			Judged<T>,
		> {
			let last = Evidence::<T>::get(node)
				.filter(|state| state.reset_count == info.clock.reset_count);
			// From the last accepted values, else from the reset (a log since boot is always
			// proof, whatever the chain kept).
			let continued =
				evidence::replay_since(policy, last.as_ref().map(|s| &s.pcrs[..]), log, pcrs)
					.map_err(|e| Judged::Offence(Offence::BadEvidence(e)))?;
			// Which entries were extended after the last accepted quote in this reset cycle was
			// made (after its anchor was final for the node): all of a log that continues
			// from it; of a log from the reset, all if the TPM restarted since (its PCRs
			// started over), else those after the point where it passes the accepted value.
			let fresh_from = last.as_ref().and_then(|state| {
				let restarted = Clocks::<T>::get(node)
					.is_some_and(|c| info.clock.restart_count > c.restart_count);
				if continued || restarted {
					Some(0)
				} else {
					evidence::reaches(policy, &state.pcrs, log)
				}
			});
			// A release revoked more than a challenge window before that anchor was loaded
			// after the node knew (the window covers a worker whose view of the releases lags
			// its view of the chain). What came before, or in another reset cycle, no one can
			// date: it is accepted.
			let known_revoked_before =
				last.as_ref().map(|state| state.anchor.saturating_sub(T::ChallengeWindow::get()));
			let last = last.filter(|_| continued);
			let mut runtime = last.as_ref().map(|state| state.runtime);
			let mut receipt_key = last.as_ref().and_then(|state| state.receipt_key);
			let mut releases = Vec::new();
			for (i, entry) in log.iter().enumerate() {
				match entry.kind {
					EventKind::Runtime => {
						let digest: [u8; 32] = entry.data[..]
							.try_into()
							.map_err(|_| Judged::Offence(Offence::UnknownRuntime))?;
						// Launched earlier in the cycle: allowed then is enough (it may have
						// been withdrawn since); never allowed is evidence.
						if !T::Upgrades::measurement_ever_allowed(&H256(digest)) {
							return Err(Judged::Offence(Offence::UnknownRuntime));
						}
						runtime = Some(H256(digest));
						// A new runtime: its own key comes after it.
						receipt_key = None;
					}
					EventKind::ReceiptKey => {
						let bad = |e| Judged::Offence(Offence::BadEvidence(e));
						if runtime.is_none() {
							return Err(bad(evidence::EvidenceError::ReceiptKeyWithoutRuntime));
						}
						let key: [u8; 32] = entry.data[..]
							.try_into()
							.map_err(|_| bad(evidence::EvidenceError::MalformedReceiptKey))?;
						receipt_key = Some(key);
					}
					// Bound into the PCR; governance does not list configurations (yet).
					EventKind::Config => {}
					EventKind::Actor => {
						let cid = ContentId::from_bytes(&entry.data)
							.map_err(|_| Judged::Offence(Offence::UnapprovedActorLoaded))?;
						let release = T::Releases::release(&cid)
							.ok_or(Judged::Offence(Offence::UnapprovedActorLoaded))?;
						// A release rolling out runs only where its tier opened: loaded
						// anywhere else, it ran before governance let it (tiers only open
						// further while it rolls, so an honest load never fails this). An
						// entry an accepted quote already proved was judged then: a later
						// rollout of the same release (new tiers) does not make it evidence.
						let proven = fresh_from.is_some_and(|from| i < from);
						if !proven && !T::Upgrades::release_tier_open(node, &release.0, release.1) {
							return Err(Judged::Offence(Offence::UnapprovedActorLoaded));
						}
						let fresh = fresh_from.is_some_and(|from| i >= from);
						let revoked = T::Releases::revoked_at(&cid).filter(|_| fresh);
						if revoked.zip(known_revoked_before).is_some_and(|(at, by)| at < by) {
							return Err(Judged::Offence(Offence::RevokedActorLoaded));
						}
						releases.push(release);
					}
					EventKind::Provider => {
						if !T::Releases::provider(&entry.data) {
							return Err(Judged::Offence(Offence::UnapprovedActorLoaded));
						}
					}
				}
			}
			let runtime = runtime.ok_or(Judged::Offence(Offence::UnknownRuntime))?;
			// The runtime running must be allowed for this node now. One governance withdrew
			// (or whose rollout tier does not include the node) proves nothing bad about the
			// node: it must launch an allowed one, or miss its heartbeats.
			if !T::Upgrades::measurement_allowed(node, &runtime) {
				return Err(Judged::Refused(Error::<T>::RuntimeNotAllowedNow));
			}
			let state = EvidenceState {
				reset_count: info.clock.reset_count,
				pcrs: evidence::log_values(policy, pcrs).try_into().map_err(|_| {
					Judged::Offence(Offence::BadEvidence(
						evidence::EvidenceError::NotPolicySelection,
					))
				})?,
				runtime,
				anchor,
				receipt_key,
			};
			Ok((runtime, info.clock, state, releases))
		}

		/// The challenge `node` must quote for `purpose` anchored at block `anchor` when
		/// `operator` submits it (calls refuse anchors whose hash the chain does not remember).
		pub fn challenge(
			node: &NodeId,
			operator: &T::AccountId,
			purpose: Purpose,
			anchor: BlockNumberFor<T>,
		) -> [u8; 32] {
			let anchor_hash = frame_system::Pallet::<T>::block_hash(anchor);
			Self::challenge_at(&anchor_hash, node, operator, purpose)
		}

		/// The challenge for the anchor block whose hash is `anchor_hash`.
		fn challenge_at(
			anchor_hash: &T::Hash,
			node: &NodeId,
			operator: &T::AccountId,
			purpose: Purpose,
		) -> [u8; 32] {
			let anchor_hash = anchor_hash.as_ref().try_into().unwrap_or(&[0; 32]);
			tpm::challenge(anchor_hash, &node.0, &operator.encode(), purpose)
		}

		/// The hash of `anchor` if a quote may be anchored there at block `now`: before it, at
		/// most `ChallengeWindow` blocks old, remembered.
		fn anchor_hash(
			anchor: BlockNumberFor<T>,
			now: BlockNumberFor<T>,
		) -> Result<T::Hash, Error<T>> {
			ensure!(anchor < now, Error::<T>::AnchorInFuture);
			ensure!(
				now.saturating_sub(anchor) <= T::ChallengeWindow::get(),
				Error::<T>::AnchorTooOld
			);
			let anchor_hash = frame_system::Pallet::<T>::block_hash(anchor);
			ensure!(anchor_hash != Default::default(), Error::<T>::UnknownAnchor);
			Ok(anchor_hash)
		}

		/// Draws the committee for `node` (active nodes of other operators, ranked by the parent
		/// block hash) and schedules the review's close.
		pub(crate) fn open_review(
			node: NodeId,
			purpose: Purpose,
			now: BlockNumberFor<T>,
		) -> DispatchResult {
			let seed = frame_system::Pallet::<T>::parent_hash();
			let operator = T::Nodes::node(&node).ok_or(Error::<T>::UnknownNode)?.operator;
			let mut ranked: Vec<([u8; 32], NodeId)> = T::Nodes::active_nodes()
				.into_iter()
				.filter(|(member, by)| *member != node && *by != operator)
				.map(|(member, _)| {
					(sp_io::hashing::blake2_256(&(seed, node, member).encode()), member)
				})
				.collect();
			ranked.sort_unstable();
			let members: BoundedVec<NodeId, T::CommitteeSize> = ranked
				.into_iter()
				.take(T::CommitteeSize::get() as usize)
				.map(|(_, member)| member)
				.collect::<Vec<_>>()
				.try_into()
				.map_err(|_| Error::<T>::NoCommittee)?;
			ensure!(!members.is_empty(), Error::<T>::NoCommittee);
			let deadline = now.saturating_add(T::ReviewPeriod::get());
			// The review closes in the first block after the deadline that has room.
			let mut close_at = deadline.saturating_add(1u32.into());
			let mut scheduled = false;
			for _ in 0..MAX_CLOSE_SLOTS {
				if ReviewsDue::<T>::mutate(close_at, |due| due.try_push(node)).is_ok() {
					scheduled = true;
					break;
				}
				close_at.saturating_inc();
			}
			ensure!(scheduled, Error::<T>::ReviewsBusy);
			Self::deposit_event(Event::ReviewOpened {
				node,
				purpose,
				members: members.to_vec(),
				deadline,
			});
			Reviews::<T>::insert(
				node,
				Review { purpose, members, votes: Default::default(), deadline },
			);
			Ok(())
		}

		/// Takes `node` off the closing schedule of a review with `deadline` (one of the
		/// [`MAX_CLOSE_SLOTS`] blocks after it), so that no later review of the node is closed
		/// in its place.
		fn unschedule(node: NodeId, deadline: BlockNumberFor<T>) {
			let mut close_at = deadline.saturating_add(1u32.into());
			for _ in 0..MAX_CLOSE_SLOTS {
				let mut found = false;
				ReviewsDue::<T>::mutate_exists(close_at, |due| {
					if let Some(list) = due {
						let before = list.len();
						list.retain(|n| *n != node);
						found = list.len() != before;
						if list.is_empty() {
							*due = None;
						}
					}
				});
				if found {
					return;
				}
				close_at.saturating_inc();
			}
		}

		/// Tallies a review: its deadline passed, or every member voted.
		pub(crate) fn close(node: NodeId) {
			let Some(review) = Reviews::<T>::take(node) else { return };
			let size = review.members.len();
			let approvals = review.votes.iter().filter(|(_, approve)| *approve).count();
			let rejections = review.votes.len().saturating_sub(approvals);
			let verdict = if approvals * 2 > size {
				Some(true)
			} else if rejections * 2 > size {
				Some(false)
			} else {
				None
			};
			let noted: Vec<NodeId> = review
				.members
				.iter()
				.filter(|member| match review.votes.iter().find(|(m, _)| m == *member) {
					None => true,
					Some((_, approve)) => verdict.is_some_and(|v| v != *approve),
				})
				.copied()
				.collect();
			for member in noted.iter().filter(|m| T::Nodes::node(m).is_some()) {
				CommitteeMisses::<T>::mutate(member, |n| n.saturating_inc());
			}
			if let Some(verdict) = verdict {
				for (member, _) in review.votes.iter().filter(|(_, approve)| *approve == verdict) {
					T::Duties::voted_with_majority(member);
				}
			}
			match verdict {
				Some(true) => {
					Records::<T>::mutate(node, |r| {
						if let Some(r) = r {
							r.vetted = true;
						}
					});
					match review.purpose {
						Purpose::Admission => T::Nodes::admission_passed(&node),
						_ => T::Nodes::cleared(&node),
					}
				}
				Some(false) => {
					let reporters: Vec<T::AccountId> = review
						.votes
						.iter()
						.filter(|(_, approve)| !*approve)
						.filter_map(|(member, _)| T::Nodes::node(member).map(|v| v.operator))
						.collect();
					T::Nodes::report(&node, Offence::CommitteeRejected, &reporters);
					T::Duties::reported(&node);
				}
				None => {}
			}
			Self::deposit_event(Event::ReviewClosed { node, verdict, noted });
		}

		/// Counts a missed period for every node that owes heartbeats and sent none in the last
		/// period; reports those at `max_missed`.
		pub(crate) fn check_heartbeats(
			now: BlockNumberFor<T>,
			rules: HeartbeatRules<BlockNumberFor<T>>,
		) {
			for (node, since) in T::Nodes::attesting_nodes() {
				let mut record = Records::<T>::get(node).unwrap_or_default();
				record.vetted = true;
				let last = record.last_valid.map_or(since, |valid| valid.max(since));
				if now.saturating_sub(last) <= rules.period {
					continue;
				}
				record.missed = record.missed.saturating_add(1);
				Self::deposit_event(Event::HeartbeatMissed { node, missed: record.missed });
				if record.missed >= rules.max_missed {
					record.missed = 0;
					T::Upgrades::note_failure(&node);
					T::Nodes::report(&node, Offence::MissedHeartbeats, &[]);
					T::Duties::reported(&node);
				}
				Records::<T>::insert(node, record);
			}
		}

		/// Invariants: every open review is scheduled to close after its deadline, no member
		/// votes twice, members are distinct.
		#[cfg(any(feature = "try-runtime", feature = "std"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			for (node, review) in Reviews::<T>::iter() {
				ensure!(!review.members.contains(&node), "a node reviews itself");
				for (i, (member, _)) in review.votes.iter().enumerate() {
					ensure!(review.members.contains(member), "vote by a non-member");
					ensure!(
						review.votes.iter().skip(i + 1).all(|(m, _)| m != member),
						"double vote"
					);
				}
				let scheduled = ReviewsDue::<T>::iter()
					.any(|(at, due)| at > review.deadline && due.contains(&node));
				ensure!(scheduled, "review never closes");
			}
			Ok(())
		}
	}

	/// Claims' proofs of possession: a quote by the key over the `Claim` challenge of the node
	/// and the claimant, anchored as any quote (recent, remembered). Nothing is recorded: a
	/// claim is no attestation of what the node runs.
	impl<T: Config> pallet_tea_nodes::VerifyPossession<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
		fn verify(
			node: &NodeId,
			operator: &T::AccountId,
			key: &pallet_tea_nodes::AttestationKey,
			proof: &pallet_tea_nodes::PossessionProof<BlockNumberFor<T>>,
		) -> DispatchResult {
			let now = frame_system::Pallet::<T>::block_number();
			let anchor_hash = Self::anchor_hash(proof.anchor, now)?;
			let nonce = Self::challenge_at(&anchor_hash, node, operator, Purpose::Claim);
			tpm::verify_quote(key, &proof.attest, &proof.signature, &nonce, &proof.pcrs)
				.map_err(|_| Error::<T>::BadPossessionProof)?;
			Ok(())
		}

		fn last_verified(node: &NodeId) -> Option<BlockNumberFor<T>> {
			Records::<T>::get(node).and_then(|record| record.last_valid)
		}

		fn under_review(node: &NodeId) -> bool {
			Reviews::<T>::contains_key(node)
				|| PendingReviews::<T>::get().iter().any(|(n, _)| n == node)
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn valid_proof(
			node: &NodeId,
			operator: &T::AccountId,
		) -> (pallet_tea_nodes::AttestationKey, pallet_tea_nodes::PossessionProof<BlockNumberFor<T>>)
		{
			let signer = tea_primitives::soft_tpm::SoftTpm::new(0x7ea);
			let now = frame_system::Pallet::<T>::block_number().max(2u32.into());
			frame_system::Pallet::<T>::set_block_number(now);
			let anchor = now - 1u32.into();
			let hash: T::Hash = Decode::decode(&mut &[7u8; 32][..]).expect("32 bytes decode");
			frame_system::BlockHash::<T>::insert(anchor, hash);
			let nonce = Self::challenge_at(&hash, node, operator, Purpose::Claim);
			let pcrs = alloc::vec![(0u8, [0u8; 32])];
			let (attest, signature) = signer.quote(&nonce, &pcrs);
			let proof = pallet_tea_nodes::PossessionProof {
				anchor,
				attest: attest.try_into().expect("a quote fits"),
				signature: signature.try_into().expect("a signature fits"),
				pcrs: pcrs.try_into().expect("one PCR fits"),
			};
			(signer.ak(), proof)
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn set_proven(node: &NodeId) {
			let now = frame_system::Pallet::<T>::block_number();
			Records::<T>::mutate(node, |record| {
				record.get_or_insert_with(Default::default).last_valid = Some(now)
			});
		}
	}

	impl<T: Config> OnNodeRemoved for Pallet<T> {
		fn on_node_removed(node: &NodeId) {
			Records::<T>::remove(node);
			Clocks::<T>::remove(node);
			Evidence::<T>::remove(node);
			CommitteeMisses::<T>::remove(node);
			// A review of it, open or waiting for its draw, goes with it: none may later be
			// drawn, closed early or decided for a new registration of the same node id.
			if let Some(review) = Reviews::<T>::take(node) {
				Self::unschedule(*node, review.deadline);
			}
			if PendingReviews::<T>::get().iter().any(|(n, _)| n == node) {
				PendingReviews::<T>::mutate(|pending| pending.retain(|(n, _)| n != node));
			}
		}
	}
}
