//! # Actors pallet
//!
//! The registry of TEA actors and capability providers, and the first gate of an actor release.
//!
//! - A developer registers an actor name (a deposit is held) and publishes releases. A release
//!   carries a **manifest signed by the developer's account key** ([`Manifest`]): actor, version,
//!   CID of the Wasm bytes and capability grants per provider *operation* with budgets and
//!   optional expiry. The pallet checks the signature, the CID, the version, that every granted
//!   provider and operation is registered, and that budgets are within the governance limits.
//! - Validators' **off-chain workers** fetch the bytes of `Proposed` releases by CID from an HTTP
//!   gateway (the URL the node operator put in off-chain local storage under [`GATEWAY_KEY`]),
//!   check them with [`tea_primitives::code::check_release`] (hash, size, valid Wasm, imports
//!   only of granted operations) and submit a [`Verdict`] signed by their validator key as an
//!   authorized (unsigned, fee-less) transaction. [`RequiredApprovals`] approving verdicts make
//!   the release `Validated`; one rejection makes it `Rejected` with the reason.
//! - Governance (`GovernanceOrigin`) registers providers and sets limits; it drives the rest of
//!   the life cycle (approve, roll out, activate) through the [`ActorReleases`] trait.
//! - The developer or governance may revoke a single grant or a whole release; workers act on
//!   the events.
//! - Workers **report refusals** against releases ([`Pallet::report_refusals`]): host calls the
//!   mini-runtime refused, bytes that did not hash to the CID, code it would not load. Only the
//!   operator of a trusted node may report ([`RefusalReporters`]), once per
//!   `RefusalReportInterval` per node, each count capped per report; [`Refusals`] sums them per
//!   release with the distinct reporters so that DAO members see misbehaving actors and who
//!   says so. A report is a claim, not a proof: nothing is slashed on one, and governance may
//!   clear a tally.
//!
//! Storage is bounded: releases per actor by `MaxReleasesPerActor`, the validation queue by
//! `MaxPendingValidations`, everything else by deposits.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
mod offchain;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use offchain::GATEWAY_KEY;

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::tea-actors";

/// The manifest type of this runtime.
pub type ManifestOf<T> = Manifest<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
/// The release type of this runtime.
pub type ReleaseOf<T> = Release<
	BlockNumberFor<T>,
	BalanceOf<T>,
	<T as Config>::ValidatorId,
	<T as Config>::MaxValidators,
>;
/// The balance type of the deposit currency.
pub type BalanceOf<T> =
	<<T as Config>::Currency as fungible::Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// A validator's signature.
pub type ValidatorSignatureOf<T> =
	<<T as Config>::ValidatorId as sp_runtime::RuntimeAppPublic>::Signature;

use frame_support::traits::fungible;
use frame_system::pallet_prelude::BlockNumberFor;
pub use tea_primitives::manifest::Manifest;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::{string::String, vec::Vec};
	use frame_support::{
		pallet_prelude::*,
		traits::{fungible::MutateHold, tokens::Precision},
	};
	use frame_system::{offchain::CreateAuthorizedTransaction, pallet_prelude::*};
	use sp_runtime::{
		traits::{CheckedAdd, IdentifyAccount, Verify},
		RuntimeAppPublic,
	};
	use tea_primitives::{abi, cid::CidError};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config + CreateAuthorizedTransaction<Call<Self>> {
		/// The currency deposits are held in.
		type Currency: fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;

		/// The signature developers sign manifests with (the runtime's `MultiSignature`).
		type Signature: Verify<Signer = Self::Signer> + Parameter + MaxEncodedLen;

		/// The public key behind an account (the runtime's `MultiSigner`).
		type Signer: IdentifyAccount<AccountId = Self::AccountId>;

		/// Governance: registers providers, sets limits, revokes any grant or release.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The key validators sign verdicts with (their Aura key in the TEA runtime).
		type ValidatorId: Member + Parameter + RuntimeAppPublic + Ord + MaxEncodedLen;

		/// The current validators.
		type Validators: ValidatorSet<Self::ValidatorId>;

		/// Most validators; bounds the approvals stored per release.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// Deposit held from the owner for each actor.
		#[pallet::constant]
		type ActorDeposit: Get<BalanceOf<Self>>;

		/// Deposit held from the developer for each release, returned by `remove_release`.
		#[pallet::constant]
		type ReleaseDeposit: Get<BalanceOf<Self>>;

		/// Most releases stored per actor (remove old ones with `remove_release`).
		#[pallet::constant]
		type MaxReleasesPerActor: Get<u32>;

		/// Most releases waiting for validation at once.
		#[pallet::constant]
		type MaxPendingValidations: Get<u32>;

		/// Largest actor Wasm, in bytes.
		#[pallet::constant]
		type MaxCodeSize: Get<u32>;

		/// Off-chain workers retry a release they could not fetch after this many blocks.
		#[pallet::constant]
		type FetchRetryBlocks: Get<BlockNumberFor<Self>>;

		/// Which nodes may report refusals.
		type Reporters: RefusalReporters<Self::AccountId>;

		/// A node reports refusals at most once per this many blocks.
		#[pallet::constant]
		type RefusalReportInterval: Get<BlockNumberFor<Self>>;

		/// Most releases one refusal report may name.
		#[pallet::constant]
		type MaxRefusalReports: Get<u32>;

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// Deposit for an actor record.
		ActorDeposit,
		/// Deposit for a release record.
		ReleaseDeposit,
	}

	/// A provider in the genesis configuration (strings, to read well in chain specs).
	#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
	#[serde(rename_all = "camelCase")]
	pub struct GenesisProvider {
		/// Provider name, e.g. `tea:keyvalue`.
		pub name: String,
		/// CID in text form (`bafkrei...`).
		pub cid: String,
		/// Operations it offers.
		pub operations: Vec<String>,
		/// Schema version of its operations.
		pub schema_version: u32,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Providers registered at genesis.
		pub providers: Vec<GenesisProvider>,
		/// Governance limits on grant budgets.
		pub grant_limits: Option<Limits>,
		/// Approving verdicts needed to validate a release.
		pub required_approvals: u32,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for p in &self.providers {
				let name = Name::try_from(p.name.as_bytes().to_vec())
					.expect("genesis provider name too long");
				let cid = ContentId::parse(&p.cid).expect("genesis provider CID is invalid");
				let operations = p
					.operations
					.iter()
					.map(|op| Name::try_from(op.as_bytes().to_vec()).expect("operation too long"))
					.collect::<Vec<_>>()
					.try_into()
					.expect("too many operations");
				let info = ProviderInfo { cid, operations, schema_version: p.schema_version };
				Pallet::<T>::check_provider(&name, &info).expect("invalid genesis provider");
				Providers::<T>::insert(name, info);
			}
			if let Some(limits) = self.grant_limits {
				GrantLimits::<T>::put(limits);
			}
			if self.required_approvals > 0 {
				assert!(self.required_approvals <= T::MaxValidators::get());
				RequiredApprovals::<T>::put(self.required_approvals);
			}
		}
	}

	/// Actors by name.
	#[pallet::storage]
	pub type Actors<T: Config> =
		StorageMap<_, Blake2_128Concat, Name, ActorInfo<T::AccountId, BalanceOf<T>>>;

	/// Releases by actor name and version.
	#[pallet::storage]
	pub type Releases<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, Name, Twox64Concat, u32, ReleaseOf<T>>;

	/// The release of each CID: the worker's question "which release are these bytes?".
	#[pallet::storage]
	pub type ReleaseByCid<T: Config> = StorageMap<_, Blake2_128Concat, ContentId, (Name, u32)>;

	/// Every release that was ever rolling or active (approved to run), by CID, kept after it
	/// is rolled back or removed: a node's event log that shows one loaded is no evidence
	/// against the node. Grows only by governance decisions.
	#[pallet::storage]
	pub type EverRan<T: Config> = StorageMap<_, Blake2_128Concat, ContentId, (Name, u32)>;

	/// When each release that ever ran was revoked, by CID: a node that loads one after it knew
	/// of the revocation is an offender; one that loaded it before is not. Grows only by
	/// revocations of releases in [`EverRan`].
	#[pallet::storage]
	pub type RevokedAt<T: Config> = StorageMap<_, Blake2_128Concat, ContentId, BlockNumberFor<T>>;

	/// Releases waiting for validators' verdicts, oldest first.
	#[pallet::storage]
	pub type PendingValidation<T: Config> =
		StorageValue<_, BoundedVec<(Name, u32), T::MaxPendingValidations>, ValueQuery>;

	/// Registered capability providers by name.
	#[pallet::storage]
	pub type Providers<T: Config> = StorageMap<_, Blake2_128Concat, Name, ProviderInfo>;

	/// Largest budgets a grant may ask for.
	#[pallet::storage]
	pub type GrantLimits<T: Config> = StorageValue<_, Limits, ValueQuery, DefaultGrantLimits>;

	/// Default grant limits: 16 MiB of memory, 10^9 fuel per call.
	#[pallet::type_value]
	pub fn DefaultGrantLimits() -> Limits {
		Limits { max_memory_pages: 256, max_fuel_per_call: 1_000_000_000 }
	}

	/// Approving verdicts needed to validate a release.
	#[pallet::storage]
	pub type RequiredApprovals<T: Config> = StorageValue<_, u32, ValueQuery, ConstU32<1>>;

	/// Refusals workers reported against each release (actor, version).
	#[pallet::storage]
	pub type Refusals<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		Name,
		Twox64Concat,
		u32,
		RefusalTally<BlockNumberFor<T>>,
	>;

	/// The block of each node's latest refusal report (bounded by the registered nodes; removed
	/// with the node, [`Pallet::on_node_removed`]).
	#[pallet::storage]
	pub type LastRefusalReport<T: Config> = StorageMap<_, Identity, NodeId, BlockNumberFor<T>>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An actor name was registered.
		ActorRegistered { actor: Name, owner: T::AccountId },
		/// A release with a valid signed manifest was published and awaits validation.
		ReleasePublished { actor: Name, version: u32, cid: ContentId },
		/// A validator approved the bytes of a release.
		VerdictApproved { actor: Name, version: u32, validator: T::ValidatorId, approvals: u32 },
		/// Enough validators approved: the release may now be voted.
		ReleaseValidated { actor: Name, version: u32 },
		/// A validator found the bytes of a release wrong.
		ReleaseRejected {
			actor: Name,
			version: u32,
			validator: T::ValidatorId,
			reason: CodeRejection,
		},
		/// A grant was revoked; workers must refuse its operations from now on.
		GrantRevoked { actor: Name, version: u32, provider: Name, by_governance: bool },
		/// A release was revoked; workers must unload it.
		ReleaseRevoked { actor: Name, version: u32, by_governance: bool },
		/// A finished release was removed and its deposit returned.
		ReleaseRemoved { actor: Name, version: u32 },
		/// A release changed status through governance (approve, rollout, activation).
		ReleaseStatusChanged { actor: Name, version: u32, status: ReleaseStatus },
		/// A provider was registered or its registration replaced.
		ProviderRegistered { provider: Name, cid: ContentId, schema_version: u32, replaced: bool },
		/// A provider was retired; new manifests may not grant it.
		ProviderRetired { provider: Name },
		/// Governance changed the grant limits.
		GrantLimitsSet { limits: Limits },
		/// Governance changed the number of approvals a release needs.
		RequiredApprovalsSet { approvals: u32 },
		/// A node's worker reported refusals while running a release (a claim of its operator,
		/// summed into `Refusals`).
		RefusalsReported { node: NodeId, actor: Name, version: u32, counts: RefusalCounts },
		/// Governance cleared a release's refusal tally.
		RefusalsCleared { actor: Name, version: u32 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// Names must be 1-64 bytes of `a-z 0-9 - _ .` (providers: `tea:` then those).
		InvalidName,
		/// An actor with this name exists.
		ActorExists,
		/// No actor with this name.
		UnknownActor,
		/// Only the owner (or governance) may do this.
		NotActorOwner,
		/// The transaction signer is not the manifest's developer.
		NotManifestDeveloper,
		/// The manifest signature does not verify with the developer's key.
		BadSignature,
		/// The version is not higher than the latest published one.
		VersionNotIncreasing,
		/// The actor has `MaxReleasesPerActor` releases; remove old ones first.
		TooManyReleases,
		/// The CID is not valid binary CID (varints, lengths).
		CidMalformed,
		/// Only CIDv1 is accepted.
		CidNotVersion1,
		/// Only the raw codec (0x55) is accepted.
		CidCodecNotRaw,
		/// Only sha2-256 is accepted.
		CidHashNotSha256,
		/// The digest length does not match the hash function.
		CidBadDigestLength,
		/// Another release already has this CID.
		CidInUse,
		/// Declared code size is zero.
		EmptyCode,
		/// Declared code size is above `MaxCodeSize`.
		CodeTooLarge,
		/// A grant names a provider that is not registered.
		UnknownProvider,
		/// A grant names an operation the provider does not offer.
		UnknownOperation,
		/// A grant lists no operation, or the same operation twice.
		BadOperationList,
		/// Two grants name the same provider.
		DuplicateGrant,
		/// A grant's budgets exceed the governance limits, or are zero.
		LimitsExceeded,
		/// A grant expires at or before the current block.
		GrantAlreadyExpired,
		/// The validation queue is full; try later.
		ValidationQueueFull,
		/// No release with this version.
		UnknownRelease,
		/// The release has no grant for this provider.
		UnknownGrant,
		/// The grant is already revoked.
		GrantAlreadyRevoked,
		/// The release is already revoked or was rejected.
		ReleaseNotRevocable,
		/// Only rejected, revoked or deprecated releases can be removed.
		ReleaseNotRemovable,
		/// The release is not in the status this transition needs.
		InvalidTransition,
		/// The verdict's CID is not the release's.
		VerdictCidMismatch,
		/// The verdict signer is not a current validator.
		NotValidator,
		/// This validator already approved this release.
		DuplicateVerdict,
		/// The release is no longer waiting for verdicts.
		NotProposed,
		/// A provider offers no operation, or the same one twice.
		BadProviderOperations,
		/// No provider with this name.
		UnknownProviderName,
		/// Required approvals must be between 1 and `MaxValidators`.
		BadApprovalCount,
		/// The deposit cannot be held (balance too low).
		InsufficientDeposit,
		/// Only the operator of a trusted node (active or on probation) may report refusals.
		NotAReporter,
		/// This node reported refusals less than `RefusalReportInterval` blocks ago.
		ReportTooSoon,
		/// A refusal report names no release, or a release with nothing counted.
		EmptyRefusalReport,
		/// A refusal report names the same release twice.
		DuplicateRefusalReport,
		/// The release has no refusal tally.
		NoRefusals,
		/// An arithmetic overflow (never expected).
		Overflow,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn offchain_worker(now: BlockNumberFor<T>) {
			Self::validate_pending_releases(now);
		}

		fn integrity_test() {
			assert!(T::MaxValidators::get() > 0, "MaxValidators must be positive");
			assert!(T::MaxPendingValidations::get() > 0, "MaxPendingValidations must be positive");
			assert!(T::MaxReleasesPerActor::get() > 0, "MaxReleasesPerActor must be positive");
			assert!(T::MaxCodeSize::get() > 8, "MaxCodeSize below the smallest Wasm module");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call(weight = <T as Config>::WeightInfo)]
	impl<T: Config> Pallet<T> {
		/// Register the actor name `actor`, owned by the signer. Holds `ActorDeposit`.
		///
		/// Emits `ActorRegistered`. O(1).
		#[pallet::call_index(0)]
		pub fn register_actor(origin: OriginFor<T>, actor: Name) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_actor(who, actor)
		}

		/// Publish a release of an actor the signer owns. `manifest` is what the developer signed
		/// (`tea/manifest/v1` ++ SCALE(manifest)) with their account key, `signature` that
		/// signature, `code_size` the length of the Wasm bytes. Holds `ReleaseDeposit` and queues
		/// the release for validators' off-chain checks.
		///
		/// Emits `ReleasePublished`. O(grants × operations).
		#[pallet::call_index(1)]
		#[pallet::weight(<T as Config>::WeightInfo::publish_release(manifest.grants.len() as u32))]
		pub fn publish_release(
			origin: OriginFor<T>,
			manifest: ManifestOf<T>,
			signature: T::Signature,
			code_size: u32,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_publish_release(who, manifest, signature, code_size)
		}

		/// Revoke the grant for `provider` of release `actor`/`version`. Origin: the actor's
		/// owner or governance. Workers refuse the provider's operations from then on.
		///
		/// Emits `GrantRevoked`. O(grants).
		#[pallet::call_index(2)]
		pub fn revoke_grant(
			origin: OriginFor<T>,
			actor: Name,
			version: u32,
			provider: Name,
		) -> DispatchResult {
			let owner = Actors::<T>::get(&actor).ok_or(Error::<T>::UnknownActor)?.owner;
			let by_governance = Self::ensure_owner_or_governance(origin, &owner)?;
			Self::do_revoke_grant(actor, version, provider, by_governance)
		}

		/// Revoke release `actor`/`version`. Origin: the actor's owner or governance. Workers
		/// unload it; it can no longer be approved or rolled out.
		///
		/// Emits `ReleaseRevoked`. O(pending validations).
		#[pallet::call_index(3)]
		pub fn revoke_release(origin: OriginFor<T>, actor: Name, version: u32) -> DispatchResult {
			let owner = Actors::<T>::get(&actor).ok_or(Error::<T>::UnknownActor)?.owner;
			let by_governance = Self::ensure_owner_or_governance(origin, &owner)?;
			Self::do_revoke_release(actor, version, by_governance)
		}

		/// A validator's verdict on a proposed release, submitted by its off-chain worker as an
		/// authorized transaction (no fee, no account): valid only when `signature` is the
		/// validator's signature of the verdict and the validator is in the current set.
		///
		/// Emits `VerdictApproved` and possibly `ReleaseValidated`, or `ReleaseRejected`.
		#[pallet::call_index(4)]
		#[pallet::authorize(Pallet::<T>::authorize_verdict)]
		pub fn submit_verdict(
			origin: OriginFor<T>,
			verdict: Verdict<T::ValidatorId>,
			signature: ValidatorSignatureOf<T>,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			// Checked again at dispatch: the state may have changed since the pool validated it.
			Self::check_verdict(&verdict, &signature)?;
			Self::do_submit_verdict(verdict)
		}

		/// Register (or replace) the capability provider `provider` offering `operations`.
		/// Origin: governance. Provider names start with `tea:`.
		///
		/// Emits `ProviderRegistered`. O(operations²), operations ≤ 32.
		#[pallet::call_index(5)]
		#[pallet::weight(<T as Config>::WeightInfo::register_provider(operations.len() as u32))]
		pub fn register_provider(
			origin: OriginFor<T>,
			provider: Name,
			cid: ContentId,
			operations: BoundedVec<Name, ConstU32<MAX_PROVIDER_OPERATIONS>>,
			schema_version: u32,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::checked_cid(&cid)?;
			let info = ProviderInfo { cid: cid.clone(), operations, schema_version };
			Self::check_provider(&provider, &info)?;
			let replaced = Providers::<T>::contains_key(&provider);
			Providers::<T>::insert(&provider, info);
			Self::deposit_event(Event::ProviderRegistered {
				provider,
				cid,
				schema_version,
				replaced,
			});
			Ok(())
		}

		/// Retire provider `provider`: new manifests may no longer grant it. Origin: governance.
		///
		/// Emits `ProviderRetired`.
		#[pallet::call_index(6)]
		pub fn retire_provider(origin: OriginFor<T>, provider: Name) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Providers::<T>::take(&provider).ok_or(Error::<T>::UnknownProviderName)?;
			Self::deposit_event(Event::ProviderRetired { provider });
			Ok(())
		}

		/// Set the largest budgets a new grant may ask for. Origin: governance.
		///
		/// Emits `GrantLimitsSet`.
		#[pallet::call_index(7)]
		pub fn set_grant_limits(origin: OriginFor<T>, limits: Limits) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(
				limits.max_memory_pages > 0 && limits.max_fuel_per_call > 0,
				Error::<T>::LimitsExceeded
			);
			GrantLimits::<T>::put(limits);
			Self::deposit_event(Event::GrantLimitsSet { limits });
			Ok(())
		}

		/// Set how many approving verdicts validate a release (1..=`MaxValidators`).
		/// Origin: governance.
		///
		/// Emits `RequiredApprovalsSet`.
		#[pallet::call_index(8)]
		pub fn set_required_approvals(origin: OriginFor<T>, approvals: u32) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			ensure!(
				(1..=T::MaxValidators::get()).contains(&approvals),
				Error::<T>::BadApprovalCount
			);
			RequiredApprovals::<T>::put(approvals);
			Self::deposit_event(Event::RequiredApprovalsSet { approvals });
			Ok(())
		}

		/// Remove a rejected, revoked or deprecated release and return its deposit. Origin: the
		/// actor's owner.
		///
		/// Emits `ReleaseRemoved`.
		#[pallet::call_index(9)]
		pub fn remove_release(origin: OriginFor<T>, actor: Name, version: u32) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_remove_release(who, actor, version)
		}

		/// Report what the worker of `node` refused while running releases: per release (by
		/// CID), the host calls refused by reason, bytes that did not hash to the CID, and code
		/// it would not load. Origin: the operator of `node`, which must be trusted (active or
		/// on probation); at most once per `RefusalReportInterval` blocks per node. Each count
		/// adds at most `MAX_REFUSALS_PER_REPORT`. A CID that is not (or no longer) a release
		/// that workers may have run (rolling, active, deprecated or revoked) is skipped, so a
		/// release removed meanwhile never blocks the node's later reports.
		///
		/// Emits `RefusalsReported` per release counted. O(releases named).
		#[pallet::call_index(10)]
		#[pallet::weight(<T as Config>::WeightInfo::report_refusals(reports.len() as u32))]
		pub fn report_refusals(
			origin: OriginFor<T>,
			node: NodeId,
			reports: BoundedVec<(ContentId, RefusalCounts), T::MaxRefusalReports>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(T::Reporters::may_report(&who, &node), Error::<T>::NotAReporter);
			let now = frame_system::Pallet::<T>::block_number();
			if let Some(last) = LastRefusalReport::<T>::get(node) {
				let due = last
					.checked_add(&T::RefusalReportInterval::get())
					.ok_or(Error::<T>::Overflow)?;
				ensure!(now >= due, Error::<T>::ReportTooSoon);
			}
			ensure!(
				!reports.is_empty() && reports.iter().all(|(_, counts)| !counts.is_empty()),
				Error::<T>::EmptyRefusalReport
			);
			for (i, (cid, _)) in reports.iter().enumerate() {
				ensure!(
					!reports[..i].iter().any(|(other, _)| other == cid),
					Error::<T>::DuplicateRefusalReport
				);
			}
			for (cid, counts) in &reports {
				let Some((actor, version)) = Self::may_have_run(cid) else { continue };
				let counts = counts.capped(MAX_REFUSALS_PER_REPORT);
				Refusals::<T>::mutate(&actor, version, |tally| {
					let tally = tally.get_or_insert_with(|| RefusalTally {
						counts: RefusalCounts::default(),
						reports: 0,
						reporters: BoundedVec::new(),
						last_reported_at: now,
						last_reporter: node,
					});
					tally.counts.add(&counts);
					tally.reports = tally.reports.saturating_add(1);
					if !tally.reporters.contains(&node) {
						// Full: the first MAX_REFUSAL_REPORTERS stay named.
						let _ = tally.reporters.try_push(node);
					}
					tally.last_reported_at = now;
					tally.last_reporter = node;
				});
				Self::deposit_event(Event::RefusalsReported { node, actor, version, counts });
			}
			LastRefusalReport::<T>::insert(node, now);
			Ok(())
		}

		/// Clear the refusal tally of release `actor` `version` (e.g. after an investigation
		/// found the reports unfounded). Origin: governance.
		///
		/// Emits `RefusalsCleared`.
		#[pallet::call_index(11)]
		pub fn clear_refusals(origin: OriginFor<T>, actor: Name, version: u32) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Refusals::<T>::take(&actor, version).ok_or(Error::<T>::NoRefusals)?;
			Self::deposit_event(Event::RefusalsCleared { actor, version });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The release with this CID if it was ever approved to run (rolling or active at some
		/// point), even if it was rolled back or removed since.
		pub fn ever_ran(cid: &ContentId) -> Option<(Name, u32)> {
			EverRan::<T>::get(cid)
		}

		/// The release with this CID if workers may have run it: one that was approved to run
		/// (rolling, active, deprecated or revoked since). Refusal reports and event logs that
		/// name any other CID name nothing a worker was allowed to run.
		pub fn may_have_run(cid: &ContentId) -> Option<(Name, u32)> {
			let (actor, version) = ReleaseByCid::<T>::get(cid)?;
			let status = Releases::<T>::get(&actor, version)?.status;
			matches!(
				status,
				ReleaseStatus::Rolling
					| ReleaseStatus::Active
					| ReleaseStatus::Deprecated
					| ReleaseStatus::Revoked
			)
			.then_some((actor, version))
		}

		/// Forgets `node`'s report record once the node is removed from the registry.
		pub fn on_node_removed(node: &NodeId) {
			LastRefusalReport::<T>::remove(node);
		}

		/// Whether `origin` is governance (`true`) or the signed `owner` (`false`).
		fn ensure_owner_or_governance(
			origin: OriginFor<T>,
			owner: &T::AccountId,
		) -> Result<bool, DispatchError> {
			if T::GovernanceOrigin::try_origin(origin.clone()).is_ok() {
				return Ok(true);
			}
			let who = ensure_signed(origin)?;
			ensure!(who == *owner, Error::<T>::NotActorOwner);
			Ok(false)
		}

		/// Re-parses a CID from its bytes: the SCALE decoding alone does not validate it.
		pub(crate) fn checked_cid(cid: &ContentId) -> Result<(), Error<T>> {
			ContentId::from_bytes(cid.as_bytes()).map(|_| ()).map_err(|e| match e {
				CidError::NotVersion1 => Error::<T>::CidNotVersion1,
				CidError::UnsupportedCodec => Error::<T>::CidCodecNotRaw,
				CidError::UnsupportedHash => Error::<T>::CidHashNotSha256,
				CidError::BadDigestLength => Error::<T>::CidBadDigestLength,
				CidError::TooLong | CidError::Malformed => Error::<T>::CidMalformed,
			})
		}

		fn valid_actor_name(name: &[u8]) -> bool {
			!name.is_empty()
				&& name
					.iter()
					.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(b))
		}

		pub(crate) fn check_provider(name: &Name, info: &ProviderInfo) -> DispatchResult {
			ensure!(abi::is_provider_name(name), Error::<T>::InvalidName);
			ensure!(!info.operations.is_empty(), Error::<T>::BadProviderOperations);
			for (i, op) in info.operations.iter().enumerate() {
				ensure!(abi::is_operation_name(op), Error::<T>::InvalidName);
				ensure!(!info.operations[..i].contains(op), Error::<T>::BadProviderOperations);
			}
			Ok(())
		}

		pub(crate) fn do_register_actor(who: T::AccountId, actor: Name) -> DispatchResult {
			ensure!(Self::valid_actor_name(&actor), Error::<T>::InvalidName);
			ensure!(!Actors::<T>::contains_key(&actor), Error::<T>::ActorExists);
			let deposit = T::ActorDeposit::get();
			T::Currency::hold(&HoldReason::ActorDeposit.into(), &who, deposit)
				.map_err(|_| Error::<T>::InsufficientDeposit)?;
			Actors::<T>::insert(
				&actor,
				ActorInfo {
					owner: who.clone(),
					deposit,
					latest_version: None,
					active_version: None,
					releases: 0,
				},
			);
			Self::deposit_event(Event::ActorRegistered { actor, owner: who });
			Ok(())
		}

		/// Checks the grants of a manifest against the registry and the limits.
		fn check_grants(manifest: &ManifestOf<T>, now: BlockNumberFor<T>) -> DispatchResult {
			let limits = GrantLimits::<T>::get();
			for (i, grant) in manifest.grants.iter().enumerate() {
				ensure!(
					!manifest.grants[..i].iter().any(|g| g.provider == grant.provider),
					Error::<T>::DuplicateGrant
				);
				let provider =
					Providers::<T>::get(&grant.provider).ok_or(Error::<T>::UnknownProvider)?;
				ensure!(!grant.operations.is_empty(), Error::<T>::BadOperationList);
				for (j, op) in grant.operations.iter().enumerate() {
					ensure!(!grant.operations[..j].contains(op), Error::<T>::BadOperationList);
					ensure!(provider.operations.contains(op), Error::<T>::UnknownOperation);
				}
				let l = grant.limits;
				ensure!(
					l.max_memory_pages > 0
						&& l.max_fuel_per_call > 0
						&& l.max_memory_pages <= limits.max_memory_pages
						&& l.max_fuel_per_call <= limits.max_fuel_per_call,
					Error::<T>::LimitsExceeded
				);
				if let Some(expiry) = grant.expires_at {
					ensure!(expiry > now, Error::<T>::GrantAlreadyExpired);
				}
			}
			Ok(())
		}

		pub(crate) fn do_publish_release(
			who: T::AccountId,
			manifest: ManifestOf<T>,
			signature: T::Signature,
			code_size: u32,
		) -> DispatchResult {
			ensure!(who == manifest.developer, Error::<T>::NotManifestDeveloper);
			let mut actor = Actors::<T>::get(&manifest.actor).ok_or(Error::<T>::UnknownActor)?;
			ensure!(actor.owner == who, Error::<T>::NotActorOwner);
			ensure!(
				actor.latest_version.map_or(true, |latest| manifest.version > latest),
				Error::<T>::VersionNotIncreasing
			);
			ensure!(actor.releases < T::MaxReleasesPerActor::get(), Error::<T>::TooManyReleases);
			Self::checked_cid(&manifest.cid)?;
			ensure!(!ReleaseByCid::<T>::contains_key(&manifest.cid), Error::<T>::CidInUse);
			ensure!(code_size > 0, Error::<T>::EmptyCode);
			ensure!(code_size <= T::MaxCodeSize::get(), Error::<T>::CodeTooLarge);
			let now = frame_system::Pallet::<T>::block_number();
			Self::check_grants(&manifest, now)?;
			ensure!(manifest.verify(&signature), Error::<T>::BadSignature);

			let key = (manifest.actor.clone(), manifest.version);
			let mut pending = PendingValidation::<T>::get();
			pending.try_push(key.clone()).map_err(|_| Error::<T>::ValidationQueueFull)?;

			let deposit = T::ReleaseDeposit::get();
			T::Currency::hold(&HoldReason::ReleaseDeposit.into(), &who, deposit)
				.map_err(|_| Error::<T>::InsufficientDeposit)?;

			actor.latest_version = Some(manifest.version);
			actor.releases = actor.releases.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let grants = manifest
				.grants
				.iter()
				.map(|grant| GrantRecord { grant: grant.clone(), revoked_at: None })
				.collect::<Vec<_>>()
				.try_into()
				.map_err(|_| Error::<T>::Overflow)?;
			let release = Release {
				cid: manifest.cid.clone(),
				code_size,
				status: ReleaseStatus::Proposed,
				grants,
				published_at: now,
				deposit,
				approvals: BoundedVec::new(),
			};
			Actors::<T>::insert(&manifest.actor, actor);
			Releases::<T>::insert(&manifest.actor, manifest.version, release);
			ReleaseByCid::<T>::insert(&manifest.cid, key);
			PendingValidation::<T>::put(pending);
			Self::deposit_event(Event::ReleasePublished {
				actor: manifest.actor,
				version: manifest.version,
				cid: manifest.cid,
			});
			Ok(())
		}

		pub(crate) fn do_revoke_grant(
			actor: Name,
			version: u32,
			provider: Name,
			by_governance: bool,
		) -> DispatchResult {
			let now = frame_system::Pallet::<T>::block_number();
			Releases::<T>::try_mutate(&actor, version, |release| {
				let release = release.as_mut().ok_or(Error::<T>::UnknownRelease)?;
				let record = release
					.grants
					.iter_mut()
					.find(|r| r.grant.provider == provider)
					.ok_or(Error::<T>::UnknownGrant)?;
				ensure!(record.revoked_at.is_none(), Error::<T>::GrantAlreadyRevoked);
				record.revoked_at = Some(now);
				Ok::<_, DispatchError>(())
			})?;
			Self::deposit_event(Event::GrantRevoked { actor, version, provider, by_governance });
			Ok(())
		}

		pub(crate) fn do_revoke_release(
			actor: Name,
			version: u32,
			by_governance: bool,
		) -> DispatchResult {
			let (was_active, cid) = Releases::<T>::try_mutate(&actor, version, |release| {
				let release = release.as_mut().ok_or(Error::<T>::UnknownRelease)?;
				ensure!(
					!matches!(release.status, ReleaseStatus::Revoked | ReleaseStatus::Rejected(_)),
					Error::<T>::ReleaseNotRevocable
				);
				let was_active = release.status == ReleaseStatus::Active;
				release.status = ReleaseStatus::Revoked;
				Ok::<_, DispatchError>((was_active, release.cid.clone()))
			})?;
			if EverRan::<T>::contains_key(&cid) {
				RevokedAt::<T>::insert(&cid, frame_system::Pallet::<T>::block_number());
			}
			if was_active {
				Actors::<T>::mutate(&actor, |info| {
					if let Some(info) = info {
						info.active_version = None;
					}
				});
			}
			Self::remove_pending(&actor, version);
			Self::deposit_event(Event::ReleaseRevoked { actor, version, by_governance });
			Ok(())
		}

		pub(crate) fn do_remove_release(
			who: T::AccountId,
			actor: Name,
			version: u32,
		) -> DispatchResult {
			let mut info = Actors::<T>::get(&actor).ok_or(Error::<T>::UnknownActor)?;
			ensure!(info.owner == who, Error::<T>::NotActorOwner);
			let release = Releases::<T>::get(&actor, version).ok_or(Error::<T>::UnknownRelease)?;
			ensure!(
				matches!(
					release.status,
					ReleaseStatus::Rejected(_) | ReleaseStatus::Revoked | ReleaseStatus::Deprecated
				),
				Error::<T>::ReleaseNotRemovable
			);
			T::Currency::release(
				&HoldReason::ReleaseDeposit.into(),
				&who,
				release.deposit,
				Precision::BestEffort,
			)?;
			info.releases = info.releases.saturating_sub(1);
			Actors::<T>::insert(&actor, info);
			Releases::<T>::remove(&actor, version);
			ReleaseByCid::<T>::remove(&release.cid);
			Refusals::<T>::remove(&actor, version);
			Self::deposit_event(Event::ReleaseRemoved { actor, version });
			Ok(())
		}

		fn remove_pending(actor: &Name, version: u32) {
			PendingValidation::<T>::mutate(|pending| {
				pending.retain(|(a, v)| !(a == actor && *v == version))
			});
		}

		/// Checks a verdict against the chain state: signer in the validator set, signature,
		/// release proposed with this CID, no earlier approval by the same validator.
		pub(crate) fn check_verdict(
			verdict: &Verdict<T::ValidatorId>,
			signature: &ValidatorSignatureOf<T>,
		) -> DispatchResult {
			ensure!(
				T::Validators::validators().contains(&verdict.validator),
				Error::<T>::NotValidator
			);
			ensure!(
				verdict.validator.verify(&verdict.signing_payload(), signature),
				Error::<T>::BadSignature
			);
			let release = Releases::<T>::get(&verdict.actor, verdict.version)
				.ok_or(Error::<T>::UnknownRelease)?;
			ensure!(release.status == ReleaseStatus::Proposed, Error::<T>::NotProposed);
			ensure!(release.cid == verdict.cid, Error::<T>::VerdictCidMismatch);
			ensure!(!release.approvals.contains(&verdict.validator), Error::<T>::DuplicateVerdict);
			Ok(())
		}

		/// Transaction-pool validity of a verdict: only a current validator's correctly signed
		/// verdict on a proposed release enters the pool, once per validator and release.
		fn authorize_verdict(
			_source: TransactionSource,
			verdict: &Verdict<T::ValidatorId>,
			signature: &ValidatorSignatureOf<T>,
		) -> TransactionValidityWithRefund {
			Self::check_verdict(verdict, signature).map_err(|e| {
				log::debug!(target: LOG_TARGET, "verdict refused by the pool: {e:?}");
				TransactionValidityError::Invalid(InvalidTransaction::Call)
			})?;
			let validity = ValidTransaction::with_tag_prefix("TeaActorsVerdict")
				.priority(TransactionPriority::MAX / 2)
				.and_provides((&verdict.actor, verdict.version, &verdict.validator))
				.longevity(64)
				.propagate(true)
				.build()?;
			Ok((validity, Weight::zero()))
		}

		pub(crate) fn do_submit_verdict(verdict: Verdict<T::ValidatorId>) -> DispatchResult {
			let Verdict { actor, version, validator, outcome, .. } = verdict;
			let mut release =
				Releases::<T>::get(&actor, version).ok_or(Error::<T>::UnknownRelease)?;
			match outcome {
				VerdictOutcome::Approve => {
					release
						.approvals
						.try_push(validator.clone())
						.map_err(|_| Error::<T>::Overflow)?;
					let approvals = release.approvals.len() as u32;
					let validated = approvals >= RequiredApprovals::<T>::get();
					if validated {
						release.status = ReleaseStatus::Validated;
					}
					Releases::<T>::insert(&actor, version, release);
					Self::deposit_event(Event::VerdictApproved {
						actor: actor.clone(),
						version,
						validator,
						approvals,
					});
					if validated {
						Self::remove_pending(&actor, version);
						Self::deposit_event(Event::ReleaseValidated { actor, version });
					}
				}
				VerdictOutcome::Reject(reason) => {
					release.status = ReleaseStatus::Rejected(reason.clone());
					Releases::<T>::insert(&actor, version, release);
					Self::remove_pending(&actor, version);
					Self::deposit_event(Event::ReleaseRejected {
						actor,
						version,
						validator,
						reason,
					});
				}
			}
			Ok(())
		}

		/// Moves a release from one of `from` to `to`, emitting `ReleaseStatusChanged`.
		pub(crate) fn transition(
			actor: &Name,
			version: u32,
			from: &[ReleaseStatus],
			to: ReleaseStatus,
		) -> DispatchResult {
			let cid = Releases::<T>::try_mutate(actor, version, |release| {
				let release = release.as_mut().ok_or(Error::<T>::UnknownRelease)?;
				ensure!(from.contains(&release.status), Error::<T>::InvalidTransition);
				release.status = to.clone();
				Ok::<_, DispatchError>(release.cid.clone())
			})?;
			if matches!(to, ReleaseStatus::Rolling | ReleaseStatus::Active) {
				EverRan::<T>::insert(cid, (actor.clone(), version));
			}
			Self::deposit_event(Event::ReleaseStatusChanged {
				actor: actor.clone(),
				version,
				status: to,
			});
			Ok(())
		}

		/// Invariants, checked after every test and by `try-runtime`:
		/// - every release belongs to a registered actor, whose `releases` count matches and is at
		///   most `MaxReleasesPerActor`, and whose `latest_version` is the highest version;
		/// - `ReleaseByCid` and `Releases` are inverse maps;
		/// - the pending queue holds exactly the `Proposed` releases, without duplicates;
		/// - an actor's `active_version` is the only `Active` release of that actor;
		/// - approvals are below the required count for proposed releases and have no duplicates.
		#[cfg(any(feature = "try-runtime", feature = "std"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			use alloc::collections::btree_map::BTreeMap;
			let mut counts: BTreeMap<Name, (u32, u32, Option<u32>)> = BTreeMap::new();
			for (actor, version, tally) in Refusals::<T>::iter() {
				ensure!(Releases::<T>::contains_key(&actor, version), "refusals of no release");
				ensure!(tally.reports > 0 && !tally.counts.is_empty(), "an empty refusal tally");
				ensure!(!tally.reporters.is_empty(), "a tally without reporters");
			}
			let pending = PendingValidation::<T>::get();
			let mut proposed = 0usize;
			for (actor, version, release) in Releases::<T>::iter() {
				ensure!(Actors::<T>::contains_key(&actor), "release of an unknown actor");
				let entry = counts.entry(actor.clone()).or_default();
				entry.0 += 1;
				entry.1 = entry.1.max(version);
				if release.status == ReleaseStatus::Active {
					ensure!(entry.2.is_none(), "two active releases");
					entry.2 = Some(version);
				}
				ensure!(
					ReleaseByCid::<T>::get(&release.cid) == Some((actor.clone(), version)),
					"release missing from the CID index"
				);
				let approvals = &release.approvals;
				for (i, v) in approvals.iter().enumerate() {
					ensure!(!approvals[..i].contains(v), "duplicate approval");
				}
				if release.status == ReleaseStatus::Proposed {
					proposed += 1;
					ensure!(pending.contains(&(actor.clone(), version)), "proposed but not queued");
					ensure!(
						(approvals.len() as u32) < RequiredApprovals::<T>::get(),
						"proposed with enough approvals"
					);
				}
			}
			ensure!(pending.len() == proposed, "queued but not proposed");
			ensure!(
				ReleaseByCid::<T>::iter().count() == Releases::<T>::iter().count(),
				"stale CID index entry"
			);
			for (actor, info) in Actors::<T>::iter() {
				let (n, highest, active) = counts.get(&actor).copied().unwrap_or_default();
				ensure!(info.releases == n, "release count mismatch");
				ensure!(n <= T::MaxReleasesPerActor::get(), "too many releases");
				if n > 0 {
					ensure!(info.latest_version >= Some(highest), "latest version too low");
				}
				ensure!(info.active_version == active, "active version mismatch");
			}
			Ok(())
		}
	}

	impl<T: Config> ActorReleases for Pallet<T> {
		fn status(actor: &Name, version: u32) -> Option<ReleaseStatus> {
			Releases::<T>::get(actor, version).map(|r| r.status)
		}

		fn cid(actor: &Name, version: u32) -> Option<ContentId> {
			Releases::<T>::get(actor, version).map(|r| r.cid)
		}

		fn approve(actor: &Name, version: u32) -> Result<(), DispatchError> {
			Self::transition(actor, version, &[ReleaseStatus::Validated], ReleaseStatus::Approved)
		}

		fn start_rollout(actor: &Name, version: u32) -> Result<(), DispatchError> {
			Self::transition(actor, version, &[ReleaseStatus::Approved], ReleaseStatus::Rolling)
		}

		fn roll_back(actor: &Name, version: u32) -> Result<(), DispatchError> {
			Self::transition(actor, version, &[ReleaseStatus::Rolling], ReleaseStatus::Approved)
		}

		fn activate(actor: &Name, version: u32) -> Result<(), DispatchError> {
			Self::transition(
				actor,
				version,
				&[ReleaseStatus::Rolling, ReleaseStatus::Approved],
				ReleaseStatus::Active,
			)?;
			let previous = Actors::<T>::try_mutate(actor, |info| {
				let info = info.as_mut().ok_or(Error::<T>::UnknownActor)?;
				Ok::<_, DispatchError>(info.active_version.replace(version))
			})?;
			if let Some(previous) = previous.filter(|p| *p != version) {
				Self::transition(
					actor,
					previous,
					&[ReleaseStatus::Active],
					ReleaseStatus::Deprecated,
				)?;
			}
			Ok(())
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn validated_for_benchmark(actor: &Name, version: u32) {
			use codec::Encode;
			let owner: T::AccountId = frame_benchmarking::account("owner", 0, 0);
			Actors::<T>::mutate(actor, |info| {
				let info = info.get_or_insert_with(|| ActorInfo {
					owner,
					deposit: sp_runtime::traits::Zero::zero(),
					latest_version: None,
					active_version: None,
					releases: 0,
				});
				info.releases += 1;
				info.latest_version = info.latest_version.max(Some(version));
			});
			let cid = ContentId::of(&(actor, version).encode());
			let release = Release {
				cid: cid.clone(),
				code_size: 1,
				status: ReleaseStatus::Validated,
				grants: Default::default(),
				published_at: frame_system::Pallet::<T>::block_number(),
				deposit: sp_runtime::traits::Zero::zero(),
				approvals: Default::default(),
			};
			Releases::<T>::insert(actor, version, release);
			ReleaseByCid::<T>::insert(cid, (actor.clone(), version));
		}
	}
}
