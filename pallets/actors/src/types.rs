//! Types stored by the actors pallet and the trait it offers to governance pallets.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::ConstU32, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use sp_runtime::DispatchError;
pub use tea_primitives::{
	cid::ContentId,
	code::CodeRejection,
	manifest::{Grant, Limits, Name, MAX_GRANTS},
	refusals::{RefusalCounts, MAX_REFUSALS_PER_REPORT},
};

/// Distinct reporting nodes a tally remembers (more are counted in `reports` only).
pub const MAX_REFUSAL_REPORTERS: u32 = 16;

/// A node's id (as the node registry keys it).
pub type NodeId = sp_core::H256;

/// Which nodes may report refusals against releases (the runtime implements it over the node
/// registry).
pub trait RefusalReporters<AccountId> {
	/// Whether `who` operates `node` and the node stands to report: registered and trusted
	/// (active or on probation), not quarantined, not exiting.
	fn may_report(who: &AccountId, node: &NodeId) -> bool;
	/// A reporter that `may_report`, for benchmarks.
	#[cfg(feature = "runtime-benchmarks")]
	fn reporter_for_benchmark() -> (AccountId, NodeId);
}

/// No reporters (runtimes and tests that take no refusal reports).
impl<AccountId> RefusalReporters<AccountId> for () {
	fn may_report(_: &AccountId, _: &NodeId) -> bool {
		false
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn reporter_for_benchmark() -> (AccountId, NodeId) {
		unimplemented!("`()` has no reporters: benchmark `report_refusals` with a real set")
	}
}

/// What workers reported of one release's refusals, summed over every report.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct RefusalTally<BlockNumber> {
	/// The counts, summed.
	pub counts: RefusalCounts,
	/// Reports summed into them.
	pub reports: u32,
	/// The distinct nodes that reported (the first [`MAX_REFUSAL_REPORTERS`]).
	pub reporters: BoundedVec<NodeId, ConstU32<MAX_REFUSAL_REPORTERS>>,
	/// Block of the latest report.
	pub last_reported_at: BlockNumber,
	/// Node of the latest report.
	pub last_reporter: NodeId,
}

/// Most operations one provider may offer.
pub const MAX_PROVIDER_OPERATIONS: u32 = 32;

/// Domain separator of a validator's verdict signature.
pub const VERDICT_SIGNING_DOMAIN: &[u8] = b"tea/verdict/v1";

/// An actor: a name owned by a developer account, with numbered releases.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct ActorInfo<AccountId, Balance> {
	/// The developer account that owns the actor and signs its manifests.
	pub owner: AccountId,
	/// Deposit held from the owner for the actor record.
	pub deposit: Balance,
	/// Highest version published so far; a new release must be higher.
	pub latest_version: Option<u32>,
	/// The version currently `Active` on the workers, if any.
	pub active_version: Option<u32>,
	/// Number of releases stored for this actor.
	pub releases: u32,
}

/// Where a release stands.
///
/// `Proposed -> Validated -> Approved -> Rolling -> Active -> Deprecated`; `Proposed -> Rejected`
/// when a validator proves the bytes wrong; any state except `Rejected` may become `Revoked`.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum ReleaseStatus {
	/// Published with a valid manifest; waiting for validators' off-chain checks.
	Proposed,
	/// Enough validators fetched the bytes and found them matching the CID and the grants; the
	/// committee may now approve it.
	Validated,
	/// A validator found the bytes wrong; the reason is kept.
	Rejected(CodeRejection),
	/// Approved by governance; waiting for its rollout to start.
	Approved,
	/// Being rolled out to workers tier by tier.
	Rolling,
	/// Running on the workers.
	Active,
	/// Replaced by a newer active release.
	Deprecated,
	/// Withdrawn by its developer or by governance; workers must unload it.
	Revoked,
}

/// One grant of a release and whether it was revoked.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct GrantRecord<BlockNumber> {
	/// The grant as the developer signed it.
	pub grant: Grant<BlockNumber>,
	/// Block at which it was revoked, if it was.
	pub revoked_at: Option<BlockNumber>,
}

/// A release of an actor.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxValidators))]
#[codec(mel_bound(ValidatorId: MaxEncodedLen, BlockNumber: MaxEncodedLen, Balance: MaxEncodedLen))]
pub struct Release<
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	ValidatorId: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxValidators: frame_support::traits::Get<u32>,
> {
	/// CID of the Wasm bytes.
	pub cid: ContentId,
	/// Size of the Wasm bytes, as declared by the developer and checked by validators.
	pub code_size: u32,
	/// Where the release stands.
	pub status: ReleaseStatus,
	/// The capabilities granted by the signed manifest.
	pub grants: BoundedVec<GrantRecord<BlockNumber>, ConstU32<MAX_GRANTS>>,
	/// Block at which it was published.
	pub published_at: BlockNumber,
	/// Deposit held from the developer for this release.
	pub deposit: Balance,
	/// Validators that approved the bytes so far.
	pub approvals: BoundedVec<ValidatorId, MaxValidators>,
}

/// A capability provider registered by governance.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct ProviderInfo {
	/// CID of the provider's Wasm or binary.
	pub cid: ContentId,
	/// Operations it offers (each a host import `provider.operation`).
	pub operations: BoundedVec<Name, ConstU32<MAX_PROVIDER_OPERATIONS>>,
	/// Version of the request/response schema of its operations.
	pub schema_version: u32,
}

/// What a validator found when it checked a release's bytes.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum VerdictOutcome {
	/// The bytes match the CID and the size, are a valid actor and import only granted
	/// operations.
	Approve,
	/// The bytes are wrong, and why.
	Reject(CodeRejection),
}

/// A validator's signed statement about one release.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Verdict<ValidatorId> {
	/// Actor name.
	pub actor: Name,
	/// Release version.
	pub version: u32,
	/// CID the validator checked (must be the release's).
	pub cid: ContentId,
	/// The validator's key, one of the current validator set.
	pub validator: ValidatorId,
	/// What it found.
	pub outcome: VerdictOutcome,
}

impl<ValidatorId: Encode> Verdict<ValidatorId> {
	/// The bytes the validator signs: a domain separator, then the SCALE encoding.
	pub fn signing_payload(&self) -> alloc::vec::Vec<u8> {
		let mut payload = VERDICT_SIGNING_DOMAIN.to_vec();
		self.encode_to(&mut payload);
		payload
	}
}

/// The current validators, whose off-chain workers may vote on releases.
pub trait ValidatorSet<ValidatorId> {
	/// The current set.
	fn validators() -> alloc::vec::Vec<ValidatorId>;

	/// Makes `validators` the current set (benchmarks only).
	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(validators: alloc::vec::Vec<ValidatorId>);
}

/// What governance (the upgrades pallet) needs from the actor registry, without touching its
/// storage. Every method checks the transition and fails with the pallet's error otherwise.
pub trait ActorReleases {
	/// The status of a release, if it exists.
	fn status(actor: &Name, version: u32) -> Option<ReleaseStatus>;
	/// The CID of a release, if it exists.
	fn cid(actor: &Name, version: u32) -> Option<ContentId>;
	/// `Validated -> Approved`.
	fn approve(actor: &Name, version: u32) -> Result<(), DispatchError>;
	/// `Approved -> Rolling`.
	fn start_rollout(actor: &Name, version: u32) -> Result<(), DispatchError>;
	/// `Rolling -> Approved`: a frozen rollout rolled back; workers return to the active release.
	fn roll_back(actor: &Name, version: u32) -> Result<(), DispatchError>;
	/// `Rolling | Approved -> Active`; the previously active release becomes `Deprecated`.
	fn activate(actor: &Name, version: u32) -> Result<(), DispatchError>;

	/// Benchmarks only: stores a `Validated` release `version` of `actor` (registering the actor
	/// if needed), without deposits or signatures.
	#[cfg(feature = "runtime-benchmarks")]
	fn validated_for_benchmark(actor: &Name, version: u32);
}
