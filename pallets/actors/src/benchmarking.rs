//! Benchmarks of every call, each in its worst case: full grant lists, a nearly full validation
//! queue, the largest validator set.

use super::*;
use alloc::{format, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	pallet_prelude::{Authorize, ConstU32, TransactionSource},
	traits::{fungible::Mutate, EnsureOrigin, Get},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_core::{crypto::KeyTypeId, sr25519};
use sp_runtime::{
	traits::{IdentifyAccount, Saturating, Zero},
	RuntimeAppPublic,
};
use tea_primitives::manifest::MAX_OPERATIONS_PER_GRANT;

const DEVELOPER_KEY: KeyTypeId = KeyTypeId(*b"tdev");

fn name(s: &str) -> Name {
	Name::truncate_from(s.as_bytes().to_vec())
}

/// A developer account backed by a real sr25519 key in the benchmark keystore, well funded.
fn developer<T: Config>() -> (sr25519::Public, T::AccountId)
where
	T::Signer: From<sr25519::Public>,
	T::Currency: Mutate<T::AccountId>,
{
	let public = sp_io::crypto::sr25519_generate(DEVELOPER_KEY, None);
	let account = T::Signer::from(public).into_account();
	let funds = T::ActorDeposit::get().saturating_add(T::ReleaseDeposit::get());
	let minimum = <T::Currency as fungible::Inspect<T::AccountId>>::minimum_balance();
	T::Currency::set_balance(&account, funds.saturating_mul(100u32.into()).saturating_add(minimum));
	(public, account)
}

fn sign<T: Config>(public: &sr25519::Public, manifest: &ManifestOf<T>) -> T::Signature
where
	T::Signature: From<sr25519::Signature>,
{
	sp_io::crypto::sr25519_sign(DEVELOPER_KEY, public, &manifest.signing_payload())
		.expect("key is in the keystore")
		.into()
}

fn operations<const N: u32>(count: u32) -> BoundedVec<Name, ConstU32<N>> {
	(0..count).map(|i| name(&format!("op{i}"))).collect::<Vec<_>>().try_into().unwrap()
}

/// `count` providers `tea:p<i>`, each offering the most operations.
fn register_providers<T: Config>(count: u32) {
	for i in 0..count {
		let info = ProviderInfo {
			cid: ContentId::of(&i.to_le_bytes()),
			operations: operations(MAX_PROVIDER_OPERATIONS),
			schema_version: 1,
		};
		Providers::<T>::insert(name(&format!("tea:p{i}")), info);
	}
}

/// A manifest granting `grants` providers, each with the most operations (the last ones of the
/// provider's list: the slowest lookups).
fn manifest<T: Config>(developer: &T::AccountId, version: u32, grants: u32) -> ManifestOf<T> {
	let first = MAX_PROVIDER_OPERATIONS - MAX_OPERATIONS_PER_GRANT;
	let grant_ops: BoundedVec<Name, ConstU32<MAX_OPERATIONS_PER_GRANT>> = (first
		..MAX_PROVIDER_OPERATIONS)
		.map(|i| name(&format!("op{i}")))
		.collect::<Vec<_>>()
		.try_into()
		.unwrap();
	let limits = GrantLimits::<T>::get();
	Manifest {
		developer: developer.clone(),
		actor: name("bench"),
		version,
		cid: ContentId::of(&version.to_le_bytes()),
		grants: (0..grants)
			.map(|i| Grant {
				provider: name(&format!("tea:p{i}")),
				operations: grant_ops.clone(),
				limits,
				expires_at: None,
			})
			.collect::<Vec<_>>()
			.try_into()
			.unwrap(),
	}
}

/// Fills the validation queue with placeholder entries up to `MaxPendingValidations - 1`.
fn fill_queue<T: Config>() {
	let filler = (1..T::MaxPendingValidations::get())
		.map(|i| (name("filler"), i))
		.collect::<Vec<_>>()
		.try_into()
		.unwrap();
	PendingValidation::<T>::put::<BoundedVec<_, _>>(filler);
}

/// Registers actor `bench` and publishes version 1 with `grants` full grants.
fn published_release<T: Config>(grants: u32) -> (T::AccountId, ManifestOf<T>)
where
	T::Signer: From<sr25519::Public>,
	T::Signature: From<sr25519::Signature>,
	T::Currency: Mutate<T::AccountId>,
{
	let (public, account) = developer::<T>();
	register_providers::<T>(grants);
	Pallet::<T>::do_register_actor(account.clone(), name("bench")).unwrap();
	let m = manifest::<T>(&account, 1, grants);
	let signature = sign::<T>(&public, &m);
	Pallet::<T>::do_publish_release(account.clone(), m.clone(), signature, 1024).unwrap();
	(account, m)
}

/// The most validators, all with keys in the keystore; returns the last one.
fn validators<T: Config>() -> T::ValidatorId {
	let keys: Vec<T::ValidatorId> =
		(0..T::MaxValidators::get()).map(|_| T::ValidatorId::generate_pair(None)).collect();
	T::Validators::set_for_benchmark(keys.clone());
	keys.last().cloned().unwrap()
}

fn signed_verdict<T: Config>(m: &ManifestOf<T>, validator: T::ValidatorId) -> Call<T> {
	let verdict = Verdict {
		actor: m.actor.clone(),
		version: m.version,
		cid: m.cid.clone(),
		validator,
		outcome: VerdictOutcome::Approve,
	};
	let signature = verdict.validator.sign(&verdict.signing_payload()).unwrap();
	Call::submit_verdict { verdict, signature }
}

#[benchmarks(
	where
		T::Signer: From<sr25519::Public>,
		T::Signature: From<sr25519::Signature>,
		T::Currency: Mutate<T::AccountId>,
)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_actor() {
		let (_, account) = developer::<T>();
		let actor = name(&"a".repeat(64));

		#[extrinsic_call]
		_(RawOrigin::Signed(account.clone()), actor.clone());

		assert_eq!(crate::Actors::<T>::get(&actor).map(|a| a.owner), Some(account));
	}

	#[benchmark]
	fn publish_release(g: Linear<0, MAX_GRANTS>) {
		let (public, account) = developer::<T>();
		register_providers::<T>(g);
		Pallet::<T>::do_register_actor(account.clone(), name("bench")).unwrap();
		fill_queue::<T>();
		let m = manifest::<T>(&account, 1, g);
		let signature = sign::<T>(&public, &m);

		#[extrinsic_call]
		_(RawOrigin::Signed(account), m.clone(), signature, 1024);

		assert_eq!(Pallet::<T>::status(&m.actor, 1), Some(ReleaseStatus::Proposed));
	}

	#[benchmark]
	fn revoke_grant() {
		let (account, m) = published_release::<T>(MAX_GRANTS);
		let last = m.grants.last().unwrap().provider.clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(account), m.actor.clone(), 1, last);

		let release = Releases::<T>::get(&m.actor, 1).unwrap();
		assert!(release.grants.last().unwrap().revoked_at.is_some());
	}

	#[benchmark]
	fn revoke_release() {
		fill_queue::<T>();
		let (account, m) = published_release::<T>(MAX_GRANTS);

		#[extrinsic_call]
		_(RawOrigin::Signed(account), m.actor.clone(), 1);

		assert_eq!(Pallet::<T>::status(&m.actor, 1), Some(ReleaseStatus::Revoked));
	}

	#[benchmark]
	fn submit_verdict() {
		fill_queue::<T>();
		let (_, m) = published_release::<T>(MAX_GRANTS);
		RequiredApprovals::<T>::put(1);
		let Call::submit_verdict { verdict, signature } =
			signed_verdict::<T>(&m, validators::<T>())
		else {
			unreachable!()
		};

		#[extrinsic_call]
		_(RawOrigin::Authorized, verdict, signature);

		assert_eq!(Pallet::<T>::status(&m.actor, 1), Some(ReleaseStatus::Validated));
	}

	#[benchmark]
	fn authorize_submit_verdict() -> Result<(), BenchmarkError> {
		fill_queue::<T>();
		let (_, m) = published_release::<T>(MAX_GRANTS);
		let call = signed_verdict::<T>(&m, validators::<T>());

		#[block]
		{
			call.authorize(TransactionSource::External)
				.ok_or("the call is authorized")?
				.map_err(|_| "the verdict is valid")?;
		}
		Ok(())
	}

	#[benchmark]
	fn register_provider(o: Linear<1, MAX_PROVIDER_OPERATIONS>) -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let provider = name("tea:bench");

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, provider.clone(), ContentId::of(b"p"), operations(o), 1);

		assert!(Providers::<T>::contains_key(&provider));
		Ok(())
	}

	#[benchmark]
	fn retire_provider() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		register_providers::<T>(1);

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, name("tea:p0"));

		assert!(!Providers::<T>::contains_key(name("tea:p0")));
		Ok(())
	}

	#[benchmark]
	fn set_grant_limits() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let limits = Limits { max_memory_pages: 1, max_fuel_per_call: 1 };

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, limits);

		assert_eq!(GrantLimits::<T>::get(), limits);
		Ok(())
	}

	#[benchmark]
	fn set_required_approvals() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, T::MaxValidators::get());

		assert_eq!(RequiredApprovals::<T>::get(), T::MaxValidators::get());
		Ok(())
	}

	#[benchmark]
	fn remove_release() {
		let (account, m) = published_release::<T>(MAX_GRANTS);
		Pallet::<T>::do_revoke_release(m.actor.clone(), 1, false).unwrap();

		#[extrinsic_call]
		_(RawOrigin::Signed(account), m.actor.clone(), 1);

		assert!(Releases::<T>::get(&m.actor, 1).is_none());
	}

	/// `r` rolling releases named, each with a tally to add to, by a node that reported before.
	#[benchmark]
	fn report_refusals(r: Linear<1, { T::MaxRefusalReports::get() }>) {
		let (_, m) = published_release::<T>(MAX_GRANTS);
		let release = Releases::<T>::get(&m.actor, 1).unwrap();
		let (reporter, node) = T::Reporters::reporter_for_benchmark();
		let counts = RefusalCounts { revoked: 1, not_granted: 1, ..Default::default() };
		let mut reports = Vec::new();
		for version in 1..=r {
			let cid = ContentId::of(&(1_000 + version).to_le_bytes());
			let copy = ReleaseOf::<T> {
				cid: cid.clone(),
				status: ReleaseStatus::Rolling,
				..release.clone()
			};
			Releases::<T>::insert(&m.actor, version, copy);
			ReleaseByCid::<T>::insert(&cid, (m.actor.clone(), version));
			let tally = RefusalTally {
				counts,
				reports: 1,
				reporters: BoundedVec::new(),
				last_reported_at: Zero::zero(),
				last_reporter: node,
			};
			Refusals::<T>::insert(&m.actor, version, tally);
			reports.push((cid, counts));
		}
		LastRefusalReport::<T>::insert(node, BlockNumberFor::<T>::zero());
		frame_system::Pallet::<T>::set_block_number(T::RefusalReportInterval::get());
		let reports = BoundedVec::try_from(reports).unwrap();

		#[extrinsic_call]
		_(RawOrigin::Signed(reporter), node, reports);

		assert_eq!(Refusals::<T>::get(&m.actor, r).unwrap().reports, 2);
	}

	#[benchmark]
	fn clear_refusals() -> Result<(), BenchmarkError> {
		let (_, m) = published_release::<T>(MAX_GRANTS);
		let (_, node) = T::Reporters::reporter_for_benchmark();
		let tally = RefusalTally {
			counts: RefusalCounts { revoked: 1, ..Default::default() },
			reports: 1,
			reporters: BoundedVec::truncate_from(alloc::vec![node]),
			last_reported_at: Zero::zero(),
			last_reporter: node,
		};
		Refusals::<T>::insert(&m.actor, 1, tally);
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, m.actor.clone(), 1);

		assert!(Refusals::<T>::get(&m.actor, 1).is_none());
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
