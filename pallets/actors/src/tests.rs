//! Unit tests of every call and error, off-chain validation with mocked HTTP, and fuzzing.

use crate::{mock::*, *};
use codec::{Decode, Encode};
use frame_support::{
	assert_noop, assert_ok,
	pallet_prelude::{Authorize, TransactionSource},
	traits::fungible::InspectHold,
};
use sp_core::offchain::{testing, OffchainDbExt, OffchainWorkerExt, TransactionPoolExt};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	offchain::StorageKind, testing::UintAuthorityId, traits::Dispatchable, DispatchError,
	MultiSignature, RuntimeAppPublic,
};
use tea_primitives::manifest::Limits;

type ActorsError = Error<Test>;

/// An actor module importing `imports` (WAT import clauses).
fn wasm(imports: &str) -> Vec<u8> {
	wat::parse_str(tea_primitives::testing::actor_wat(imports)).unwrap()
}

const KV_GET: &str = r#"(import "tea:keyvalue" "get" (func (param i32 i32) (result i64)))"#;
const KV_PUT: &str = r#"(import "tea:keyvalue" "put" (func (param i32 i32) (result i64)))"#;

fn grant(provider: &str, ops: &[&str]) -> Grant<u64> {
	Grant {
		provider: name(provider),
		operations: ops.iter().map(|o| name(o)).collect::<Vec<_>>().try_into().unwrap(),
		limits: Limits { max_memory_pages: 16, max_fuel_per_call: 1_000_000 },
		expires_at: None,
	}
}

fn manifest_for(
	developer: &AccountId,
	actor: &str,
	version: u32,
	code: &[u8],
	grants: Vec<Grant<u64>>,
) -> ManifestOf<Test> {
	Manifest {
		developer: developer.clone(),
		actor: name(actor),
		version,
		cid: ContentId::of(code),
		grants: grants.try_into().unwrap(),
	}
}

fn sign(who: Sr25519Keyring, manifest: &ManifestOf<Test>) -> MultiSignature {
	manifest.sign(&who.pair())
}

/// Alice registers `counter` and publishes version `version` of `code` granted `kv/get`.
fn publish_counter(version: u32, code: &[u8]) -> ManifestOf<Test> {
	if !crate::Actors::<Test>::contains_key(name("counter")) {
		assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
	}
	let m = manifest_for(&alice(), "counter", version, code, vec![grant("tea:keyvalue", &["get"])]);
	assert_ok!(TeaActors::publish_release(
		RuntimeOrigin::signed(alice()),
		m.clone(),
		sign(Sr25519Keyring::Alice, &m),
		code.len() as u32
	));
	m
}

fn verdict(
	version: u32,
	code: &[u8],
	validator: u64,
	outcome: VerdictOutcome,
) -> Verdict<UintAuthorityId> {
	Verdict {
		actor: name("counter"),
		version,
		cid: ContentId::of(code),
		validator: UintAuthorityId(validator),
		outcome,
	}
}

fn signed_call(v: Verdict<UintAuthorityId>) -> Call<Test> {
	let signature = v.validator.sign(&v.signing_payload()).unwrap();
	Call::submit_verdict { verdict: v, signature }
}

/// Validates `call` as the transaction pool would, then dispatches it as an authorized call.
fn submit(call: Call<Test>) -> Result<(), DispatchError> {
	let validity = call.authorize(TransactionSource::External).expect("authorize is implemented");
	if validity.is_err() {
		return Err(DispatchError::Other("refused by the pool"));
	}
	let call: RuntimeCall = call.into();
	call.dispatch(frame_system::RawOrigin::Authorized.into()).map(|_| ()).map_err(|e| e.error)
}

/// Publishes `m` signed by `signer` from `origin`, expecting `error` and no storage change.
fn refused(
	origin: AccountId,
	m: ManifestOf<Test>,
	signer: Sr25519Keyring,
	size: u32,
	error: ActorsError,
) {
	let sig = sign(signer, &m);
	assert_noop!(TeaActors::publish_release(RuntimeOrigin::signed(origin), m, sig, size), error);
}

fn last_event() -> crate::Event<Test> {
	System::events()
		.into_iter()
		.rev()
		.find_map(|r| match r.event {
			RuntimeEvent::TeaActors(e) => Some(e),
			_ => None,
		})
		.expect("an actors event")
}

fn held(who: &AccountId, reason: HoldReason) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::TeaActors(reason), who)
}

mod register_actor {
	use super::*;

	#[test]
	fn holds_the_deposit_and_records_the_owner() {
		build_and_execute(|| {
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			let info = crate::Actors::<Test>::get(name("counter")).unwrap();
			assert_eq!(info.owner, alice());
			assert_eq!((info.latest_version, info.active_version, info.releases), (None, None, 0));
			assert_eq!(held(&alice(), HoldReason::ActorDeposit), ACTOR_DEPOSIT);
			System::assert_last_event(
				crate::Event::ActorRegistered { actor: name("counter"), owner: alice() }.into(),
			);
		});
	}

	#[test]
	fn refuses_taken_and_malformed_names_and_paupers() {
		build_and_execute(|| {
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			assert_noop!(
				TeaActors::register_actor(RuntimeOrigin::signed(bob()), name("counter")),
				ActorsError::ActorExists
			);
			for bad in ["", "Counter", "has space", "tea:x", "ü"] {
				assert_noop!(
					TeaActors::register_actor(RuntimeOrigin::signed(bob()), name(bad)),
					ActorsError::InvalidName
				);
			}
			assert_noop!(
				TeaActors::register_actor(RuntimeOrigin::signed(pauper()), name("poor")),
				ActorsError::InsufficientDeposit
			);
			assert_noop!(
				TeaActors::register_actor(RuntimeOrigin::root(), name("rooted")),
				DispatchError::BadOrigin
			);
		});
	}

	#[test]
	fn oversized_names_do_not_decode() {
		// A 65-byte name cannot even be decoded as a call argument.
		let call_bytes = {
			let mut bytes = vec![2u8, 0]; // pallet index 2, call index 0
			vec![b'a'; 65].encode_to(&mut bytes);
			bytes
		};
		assert!(RuntimeCall::decode(&mut &call_bytes[..]).is_err());
		let ok_bytes = {
			let mut bytes = vec![2u8, 0];
			vec![b'a'; 64].encode_to(&mut bytes);
			bytes
		};
		assert!(RuntimeCall::decode(&mut &ok_bytes[..]).is_ok());
	}
}

mod publish_release {
	use super::*;

	#[test]
	fn stores_a_proposed_release_and_queues_it() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			let m = publish_counter(1, &code);
			let release = Releases::<Test>::get(name("counter"), 1).unwrap();
			assert_eq!(release.status, ReleaseStatus::Proposed);
			assert_eq!(release.cid, m.cid);
			assert_eq!(release.code_size, code.len() as u32);
			assert_eq!(release.grants[0].grant, grant("tea:keyvalue", &["get"]));
			assert_eq!(release.grants[0].revoked_at, None);
			assert_eq!(PendingValidation::<Test>::get().into_inner(), vec![(name("counter"), 1)]);
			assert_eq!(ReleaseByCid::<Test>::get(&m.cid), Some((name("counter"), 1)));
			assert_eq!(
				crate::Actors::<Test>::get(name("counter")).unwrap().latest_version,
				Some(1)
			);
			assert_eq!(held(&alice(), HoldReason::ReleaseDeposit), RELEASE_DEPOSIT);
			System::assert_last_event(
				crate::Event::ReleasePublished { actor: name("counter"), version: 1, cid: m.cid }
					.into(),
			);
		});
	}

	#[test]
	fn each_bad_manifest_gets_its_own_error() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			let size = code.len() as u32;
			let good = || {
				manifest_for(&alice(), "counter", 1, &code, vec![grant("tea:keyvalue", &["get"])])
			};
			let with_grants = |grants| manifest_for(&alice(), "counter", 1, &code, grants);
			use Sr25519Keyring::{Alice, Bob};

			refused(alice(), good(), Alice, size, ActorsError::UnknownActor);
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(bob()), name("bobs")));

			// Who signs and who submits.
			refused(bob(), good(), Alice, size, ActorsError::NotManifestDeveloper);
			refused(alice(), good(), Bob, size, ActorsError::BadSignature);
			let bobs_claim = manifest_for(&bob(), "counter", 1, &code, vec![]);
			refused(bob(), bobs_claim, Bob, size, ActorsError::NotActorOwner);
			// A signature over one manifest does not cover a changed one.
			let mut m = good();
			let sig = sign(Alice, &m);
			m.version = 2;
			assert_noop!(
				TeaActors::publish_release(RuntimeOrigin::signed(alice()), m, sig, size),
				ActorsError::BadSignature
			);

			// Sizes.
			refused(alice(), good(), Alice, 0, ActorsError::EmptyCode);
			refused(alice(), good(), Alice, MAX_CODE_SIZE + 1, ActorsError::CodeTooLarge);

			// Grants.
			refused(
				alice(),
				with_grants(vec![grant("tea:nope", &["get"])]),
				Alice,
				size,
				ActorsError::UnknownProvider,
			);
			refused(
				alice(),
				with_grants(vec![grant("tea:keyvalue", &["delete"])]),
				Alice,
				size,
				ActorsError::UnknownOperation,
			);
			refused(
				alice(),
				with_grants(vec![grant("tea:keyvalue", &[])]),
				Alice,
				size,
				ActorsError::BadOperationList,
			);
			refused(
				alice(),
				with_grants(vec![grant("tea:keyvalue", &["get", "get"])]),
				Alice,
				size,
				ActorsError::BadOperationList,
			);
			refused(
				alice(),
				with_grants(vec![grant("tea:keyvalue", &["get"]), grant("tea:keyvalue", &["put"])]),
				Alice,
				size,
				ActorsError::DuplicateGrant,
			);
			for limits in [
				Limits { max_memory_pages: 65, max_fuel_per_call: 1 },
				Limits { max_memory_pages: 1, max_fuel_per_call: 10_000_001 },
				Limits { max_memory_pages: 0, max_fuel_per_call: 1 },
				Limits { max_memory_pages: 1, max_fuel_per_call: 0 },
			] {
				let mut g = grant("tea:keyvalue", &["get"]);
				g.limits = limits;
				refused(alice(), with_grants(vec![g]), Alice, size, ActorsError::LimitsExceeded);
			}
			let mut expired = grant("tea:keyvalue", &["get"]);
			expired.expires_at = Some(1);
			refused(
				alice(),
				with_grants(vec![expired]),
				Alice,
				size,
				ActorsError::GrantAlreadyExpired,
			);

			// Versions.
			assert_ok!(TeaActors::publish_release(
				RuntimeOrigin::signed(alice()),
				good(),
				sign(Alice, &good()),
				size
			));
			let other = wasm("");
			let again = manifest_for(&alice(), "counter", 1, &other, vec![]);
			refused(alice(), again, Alice, other.len() as u32, ActorsError::VersionNotIncreasing);
			let lower = manifest_for(&alice(), "counter", 0, &other, vec![]);
			refused(alice(), lower, Alice, other.len() as u32, ActorsError::VersionNotIncreasing);
			// The same bytes cannot be two releases.
			let same_cid = manifest_for(&alice(), "counter", 2, &code, vec![]);
			refused(alice(), same_cid, Alice, size, ActorsError::CidInUse);
		});
	}

	/// A CID as an attacker can encode it: any bytes up to 64.
	fn raw_cid(bytes: &[u8]) -> ContentId {
		ContentId::decode(&mut &bytes.to_vec().encode()[..]).unwrap()
	}

	#[test]
	fn malformed_cids_get_specific_errors() {
		build_and_execute(|| {
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			let good = ContentId::of(b"x").as_bytes().to_vec();
			// Binary CIDv0 is the bare sha2-256 multihash.
			let v0 = [&[0x12u8, 0x20][..], &good[4..]].concat();
			let mut codec = good.clone();
			codec[1] = 0x70; // dag-pb
			let mut hash = good.clone();
			hash[2] = 0x13; // sha2-512
			let mut short = good.clone();
			short[3] = 31;
			for (bytes, error) in [
				(vec![], ActorsError::CidMalformed),
				(vec![0xff; 12], ActorsError::CidMalformed),
				(good[..20].to_vec(), ActorsError::CidMalformed),
				(v0, ActorsError::CidNotVersion1),
				(codec, ActorsError::CidCodecNotRaw),
				(hash, ActorsError::CidHashNotSha256),
				(short, ActorsError::CidBadDigestLength),
			] {
				let mut m = manifest_for(&alice(), "counter", 1, b"x", vec![]);
				m.cid = raw_cid(&bytes);
				refused(alice(), m, Sr25519Keyring::Alice, 10, error);
			}
		});
	}

	#[test]
	fn queue_and_release_bounds_hold() {
		build_and_execute(|| {
			MaxPending::set(1);
			publish_counter(1, &wasm(""));
			let code = wasm(KV_GET);
			let m = manifest_for(&alice(), "counter", 2, &code, vec![]);
			refused(
				alice(),
				m,
				Sr25519Keyring::Alice,
				code.len() as u32,
				ActorsError::ValidationQueueFull,
			);
			MaxPending::set(8);
			publish_counter(2, &code);
			publish_counter(3, &wasm(KV_PUT));
			let code4 = wasm(&format!("{KV_GET}{KV_PUT}"));
			let m = manifest_for(&alice(), "counter", 4, &code4, vec![]);
			refused(
				alice(),
				m,
				Sr25519Keyring::Alice,
				code4.len() as u32,
				ActorsError::TooManyReleases,
			);
		});
	}

	#[test]
	fn random_and_mutated_manifests_never_panic_nor_change_storage() {
		build_and_execute(|| {
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			let code = wasm(KV_GET);
			let good =
				manifest_for(&alice(), "counter", 1, &code, vec![grant("tea:keyvalue", &["get"])]);
			let sig = sign(Sr25519Keyring::Alice, &good);
			let encoded = good.encode();
			let mut rng = tea_primitives::testing::XorShift::new(0x2545_f491_4f6c_dd1d);
			let mut next = || rng.next();
			let mut decoded = 0;
			for round in 0..3000 {
				let mut bytes = encoded.clone();
				for _ in 0..1 + next() % 3 {
					let at = next() as usize % bytes.len();
					bytes[at] = next() as u8;
				}
				if round % 5 == 0 {
					bytes = (0..next() % 300).map(|_| next() as u8).collect();
				}
				let Ok(m) = ManifestOf::<Test>::decode(&mut &bytes[..]) else { continue };
				if m == good {
					continue;
				}
				decoded += 1;
				let before = sp_io::storage::root(sp_runtime::StateVersion::V1);
				let result = TeaActors::publish_release(
					RuntimeOrigin::signed(alice()),
					m,
					sig.clone(),
					code.len() as u32,
				);
				assert!(
					result.is_err(),
					"a mutated manifest must not pass with the original signature"
				);
				assert_eq!(before, sp_io::storage::root(sp_runtime::StateVersion::V1));
			}
			assert!(decoded > 500, "the fuzzer must reach the pallet ({decoded})");
		});
	}
}

mod revocation {
	use super::*;

	#[test]
	fn owner_and_governance_revoke_grants_strangers_cannot() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			let m = manifest_for(
				&alice(),
				"counter",
				1,
				&code,
				vec![grant("tea:keyvalue", &["get"]), grant("tea:log", &["write"])],
			);
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			assert_ok!(TeaActors::publish_release(
				RuntimeOrigin::signed(alice()),
				m.clone(),
				sign(Sr25519Keyring::Alice, &m),
				code.len() as u32
			));
			let revoke = |origin, provider: &str| {
				TeaActors::revoke_grant(origin, name("counter"), 1, name(provider))
			};
			assert_noop!(
				revoke(RuntimeOrigin::signed(bob()), "tea:log"),
				ActorsError::NotActorOwner
			);
			assert_noop!(revoke(RuntimeOrigin::none(), "tea:log"), DispatchError::BadOrigin);
			System::set_block_number(5);
			assert_ok!(revoke(RuntimeOrigin::signed(alice()), "tea:log"));
			System::assert_last_event(
				crate::Event::GrantRevoked {
					actor: name("counter"),
					version: 1,
					provider: name("tea:log"),
					by_governance: false,
				}
				.into(),
			);
			let grants = Releases::<Test>::get(name("counter"), 1).unwrap().grants;
			assert_eq!(grants[1].revoked_at, Some(5));
			assert_eq!(grants[0].revoked_at, None, "the other grant stays");
			assert_noop!(
				revoke(RuntimeOrigin::signed(alice()), "tea:log"),
				ActorsError::GrantAlreadyRevoked
			);
			assert_noop!(
				revoke(RuntimeOrigin::signed(alice()), "tea:blob"),
				ActorsError::UnknownGrant
			);
			assert_ok!(revoke(RuntimeOrigin::root(), "tea:keyvalue"));
			assert!(matches!(last_event(), crate::Event::GrantRevoked { by_governance: true, .. }));
			assert_noop!(
				TeaActors::revoke_grant(
					RuntimeOrigin::signed(alice()),
					name("counter"),
					9,
					name("tea:log")
				),
				ActorsError::UnknownRelease
			);
			assert_noop!(
				TeaActors::revoke_grant(
					RuntimeOrigin::signed(alice()),
					name("nobody"),
					1,
					name("tea:log")
				),
				ActorsError::UnknownActor
			);
		});
	}

	#[test]
	fn revoking_a_release_dequeues_it_and_frees_nothing_until_removed() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			publish_counter(1, &code);
			assert_noop!(
				TeaActors::revoke_release(RuntimeOrigin::signed(bob()), name("counter"), 1),
				ActorsError::NotActorOwner
			);
			assert_noop!(
				TeaActors::remove_release(RuntimeOrigin::signed(alice()), name("counter"), 1),
				ActorsError::ReleaseNotRemovable
			);
			assert_ok!(TeaActors::revoke_release(
				RuntimeOrigin::signed(alice()),
				name("counter"),
				1
			));
			System::assert_last_event(
				crate::Event::ReleaseRevoked {
					actor: name("counter"),
					version: 1,
					by_governance: false,
				}
				.into(),
			);
			assert!(PendingValidation::<Test>::get().is_empty());
			assert_noop!(
				TeaActors::revoke_release(RuntimeOrigin::root(), name("counter"), 1),
				ActorsError::ReleaseNotRevocable
			);
			assert_noop!(
				TeaActors::remove_release(RuntimeOrigin::signed(bob()), name("counter"), 1),
				ActorsError::NotActorOwner
			);
			assert_eq!(held(&alice(), HoldReason::ReleaseDeposit), RELEASE_DEPOSIT);
			assert_ok!(TeaActors::remove_release(
				RuntimeOrigin::signed(alice()),
				name("counter"),
				1
			));
			assert_eq!(held(&alice(), HoldReason::ReleaseDeposit), 0);
			assert!(Releases::<Test>::get(name("counter"), 1).is_none());
			assert!(ReleaseByCid::<Test>::get(ContentId::of(&code)).is_none());
			assert_eq!(crate::Actors::<Test>::get(name("counter")).unwrap().releases, 0);
			// The version number stays used.
			let m = manifest_for(&alice(), "counter", 1, &wasm(""), vec![]);
			refused(alice(), m, Sr25519Keyring::Alice, 10, ActorsError::VersionNotIncreasing);
		});
	}
}

mod verdicts {
	use super::*;

	#[test]
	fn enough_approvals_validate_a_release() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			publish_counter(1, &code);
			assert_ok!(submit(signed_call(verdict(1, &code, 1, VerdictOutcome::Approve))));
			System::assert_last_event(
				crate::Event::VerdictApproved {
					actor: name("counter"),
					version: 1,
					validator: UintAuthorityId(1),
					approvals: 1,
				}
				.into(),
			);
			assert_eq!(TeaActors::status(&name("counter"), 1), Some(ReleaseStatus::Proposed));
			// The same validator cannot count twice, in the pool or at dispatch.
			let again = signed_call(verdict(1, &code, 1, VerdictOutcome::Approve));
			assert!(again.authorize(TransactionSource::External).unwrap().is_err());
			assert_ok!(submit(signed_call(verdict(1, &code, 2, VerdictOutcome::Approve))));
			System::assert_last_event(
				crate::Event::ReleaseValidated { actor: name("counter"), version: 1 }.into(),
			);
			assert_eq!(TeaActors::status(&name("counter"), 1), Some(ReleaseStatus::Validated));
			assert!(PendingValidation::<Test>::get().is_empty());
			// A late verdict is refused.
			assert!(submit(signed_call(verdict(1, &code, 3, VerdictOutcome::Approve))).is_err());
		});
	}

	#[test]
	fn one_rejection_rejects_with_the_reason() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			publish_counter(1, &code);
			assert_ok!(submit(signed_call(verdict(1, &code, 1, VerdictOutcome::Approve))));
			let reason = CodeRejection::HashMismatch;
			assert_ok!(submit(signed_call(verdict(
				1,
				&code,
				2,
				VerdictOutcome::Reject(reason.clone())
			))));
			System::assert_last_event(
				crate::Event::ReleaseRejected {
					actor: name("counter"),
					version: 1,
					validator: UintAuthorityId(2),
					reason: reason.clone(),
				}
				.into(),
			);
			assert_eq!(
				TeaActors::status(&name("counter"), 1),
				Some(ReleaseStatus::Rejected(reason))
			);
			assert!(PendingValidation::<Test>::get().is_empty());
			// Rejected releases can be removed for their deposit.
			assert_ok!(TeaActors::remove_release(
				RuntimeOrigin::signed(alice()),
				name("counter"),
				1
			));
		});
	}

	#[test]
	fn forged_and_misdirected_verdicts_are_refused() {
		build_and_execute(|| {
			let code = wasm(KV_GET);
			publish_counter(1, &code);
			let check = |call: &Call<Test>| match call {
				Call::submit_verdict { verdict, signature } => {
					TeaActors::check_verdict(verdict, signature).map_err(|e| e)
				}
				_ => unreachable!(),
			};
			let outsider = signed_call(verdict(1, &code, 9, VerdictOutcome::Approve));
			assert_eq!(check(&outsider), Err(ActorsError::NotValidator.into()));
			// Validator 1's verdict with validator 2's signature.
			let v = verdict(1, &code, 1, VerdictOutcome::Approve);
			let forged = Call::submit_verdict {
				verdict: v.clone(),
				signature: UintAuthorityId(2).sign(&v.signing_payload()).unwrap(),
			};
			assert_eq!(check(&forged), Err(ActorsError::BadSignature.into()));
			// A signature without the domain separator.
			let undomained = Call::submit_verdict {
				verdict: v.clone(),
				signature: UintAuthorityId(1).sign(&v.encode()).unwrap(),
			};
			assert_eq!(check(&undomained), Err(ActorsError::BadSignature.into()));
			let wrong_cid = signed_call(verdict(1, b"other", 1, VerdictOutcome::Approve));
			assert_eq!(check(&wrong_cid), Err(ActorsError::VerdictCidMismatch.into()));
			let no_release = signed_call(verdict(7, &code, 1, VerdictOutcome::Approve));
			assert_eq!(check(&no_release), Err(ActorsError::UnknownRelease.into()));
			for call in [outsider, forged, undomained, wrong_cid, no_release] {
				assert!(call.authorize(TransactionSource::External).unwrap().is_err());
				assert!(submit(call).is_err());
			}
			// A validator that left the set can no longer vote.
			MockValidators::set(vec![UintAuthorityId(2)]);
			let former = signed_call(verdict(1, &code, 1, VerdictOutcome::Approve));
			assert_eq!(check(&former), Err(ActorsError::NotValidator.into()));
			// Only the authorized origin may dispatch the call.
			let good = signed_call(verdict(1, &code, 2, VerdictOutcome::Approve));
			let call: RuntimeCall = good.into();
			assert_eq!(
				call.dispatch(RuntimeOrigin::signed(alice())).map_err(|e| e.error),
				Err(DispatchError::BadOrigin)
			);
			assert_eq!(Releases::<Test>::get(name("counter"), 1).unwrap().approvals.len(), 0);
		});
	}
}

mod governance {
	use super::*;

	fn ops(
		list: &[&str],
	) -> frame_support::BoundedVec<
		Name,
		frame_support::pallet_prelude::ConstU32<MAX_PROVIDER_OPERATIONS>,
	> {
		list.iter().map(|o| name(o)).collect::<Vec<_>>().try_into().unwrap()
	}

	#[test]
	fn providers_are_registered_replaced_and_retired_by_governance_only() {
		build_and_execute(|| {
			let cid = ContentId::of(b"tea:blob v1");
			let register = |origin, provider: &str, list: &[&str]| {
				TeaActors::register_provider(origin, name(provider), cid.clone(), ops(list), 1)
			};
			assert_noop!(
				register(RuntimeOrigin::signed(alice()), "tea:blob", &["read"]),
				DispatchError::BadOrigin
			);
			assert_ok!(register(RuntimeOrigin::root(), "tea:blob", &["read"]));
			assert!(matches!(
				last_event(),
				crate::Event::ProviderRegistered { replaced: false, .. }
			));
			assert_ok!(register(RuntimeOrigin::root(), "tea:blob", &["read", "stat"]));
			assert!(matches!(
				last_event(),
				crate::Event::ProviderRegistered { replaced: true, .. }
			));
			assert_eq!(
				Providers::<Test>::get(name("tea:blob")).unwrap().operations,
				ops(&["read", "stat"])
			);
			for (provider, list) in
				[("blob", &["read"][..]), ("tea:", &["read"]), ("tea:Blob", &["read"])]
			{
				assert_noop!(
					register(RuntimeOrigin::root(), provider, list),
					ActorsError::InvalidName
				);
			}
			assert_noop!(
				register(RuntimeOrigin::root(), "tea:x", &["Read"]),
				ActorsError::InvalidName
			);
			assert_noop!(
				register(RuntimeOrigin::root(), "tea:x", &[]),
				ActorsError::BadProviderOperations
			);
			assert_noop!(
				register(RuntimeOrigin::root(), "tea:x", &["a", "a"]),
				ActorsError::BadProviderOperations
			);
			let mut bad_cid = cid.as_bytes().to_vec();
			bad_cid[1] = 0x70;
			let bad_cid = ContentId::decode(&mut &bad_cid.encode()[..]).unwrap();
			assert_noop!(
				TeaActors::register_provider(
					RuntimeOrigin::root(),
					name("tea:x"),
					bad_cid,
					ops(&["a"]),
					1
				),
				ActorsError::CidCodecNotRaw
			);
			assert_noop!(
				TeaActors::retire_provider(RuntimeOrigin::signed(alice()), name("tea:blob")),
				DispatchError::BadOrigin
			);
			assert_ok!(TeaActors::retire_provider(RuntimeOrigin::root(), name("tea:blob")));
			assert_noop!(
				TeaActors::retire_provider(RuntimeOrigin::root(), name("tea:blob")),
				ActorsError::UnknownProviderName
			);
			// A retired provider can no longer be granted.
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			let m = manifest_for(&alice(), "counter", 1, b"x", vec![grant("tea:blob", &["read"])]);
			refused(alice(), m, Sr25519Keyring::Alice, 1, ActorsError::UnknownProvider);
		});
	}

	#[test]
	fn limits_and_approval_counts_are_governed() {
		build_and_execute(|| {
			let limits = Limits { max_memory_pages: 8, max_fuel_per_call: 100 };
			assert_noop!(
				TeaActors::set_grant_limits(RuntimeOrigin::signed(alice()), limits),
				DispatchError::BadOrigin
			);
			assert_noop!(
				TeaActors::set_grant_limits(
					RuntimeOrigin::root(),
					Limits { max_memory_pages: 0, max_fuel_per_call: 1 }
				),
				ActorsError::LimitsExceeded
			);
			assert_ok!(TeaActors::set_grant_limits(RuntimeOrigin::root(), limits));
			assert_eq!(GrantLimits::<Test>::get(), limits);
			System::assert_last_event(crate::Event::GrantLimitsSet { limits }.into());
			assert_noop!(
				TeaActors::set_required_approvals(RuntimeOrigin::root(), 0),
				ActorsError::BadApprovalCount
			);
			assert_noop!(
				TeaActors::set_required_approvals(RuntimeOrigin::root(), 5),
				ActorsError::BadApprovalCount
			);
			assert_noop!(
				TeaActors::set_required_approvals(RuntimeOrigin::signed(bob()), 1),
				DispatchError::BadOrigin
			);
			assert_ok!(TeaActors::set_required_approvals(RuntimeOrigin::root(), 1));
			// With one approval required, one verdict validates.
			let code = wasm(KV_GET);
			let mut g = grant("tea:keyvalue", &["get"]);
			g.limits = limits;
			assert_ok!(TeaActors::register_actor(RuntimeOrigin::signed(alice()), name("counter")));
			let m = manifest_for(&alice(), "counter", 1, &code, vec![g]);
			assert_ok!(TeaActors::publish_release(
				RuntimeOrigin::signed(alice()),
				m.clone(),
				sign(Sr25519Keyring::Alice, &m),
				code.len() as u32
			));
			assert_ok!(submit(signed_call(verdict(1, &code, 3, VerdictOutcome::Approve))));
			assert_eq!(TeaActors::status(&name("counter"), 1), Some(ReleaseStatus::Validated));
		});
	}

	#[test]
	fn the_release_life_cycle_follows_the_trait() {
		build_and_execute(|| {
			let (v1, v2) = (wasm(""), wasm(KV_GET));
			let actor = name("counter");
			publish_counter(1, &v1);
			let err = |e: ActorsError| Err(DispatchError::from(e));
			assert_eq!(
				<TeaActors as ActorReleases>::approve(&actor, 1),
				err(ActorsError::InvalidTransition)
			);
			for v in [1, 2] {
				assert_ok!(submit(signed_call(verdict(1, &v1, v, VerdictOutcome::Approve))));
			}
			assert_eq!(
				<TeaActors as ActorReleases>::start_rollout(&actor, 1),
				err(ActorsError::InvalidTransition)
			);
			assert_ok!(<TeaActors as ActorReleases>::approve(&actor, 1));
			assert_eq!(TeaActors::ever_ran(&ContentId::of(&v1)), None, "approved is not run");
			assert_ok!(<TeaActors as ActorReleases>::start_rollout(&actor, 1));
			assert_ok!(<TeaActors as ActorReleases>::roll_back(&actor, 1));
			assert_eq!(TeaActors::status(&actor, 1), Some(ReleaseStatus::Approved));
			// Rolled back, it is no release workers may run now, but it was one: an event log
			// that shows it loaded accuses no node.
			assert_eq!(TeaActors::may_have_run(&ContentId::of(&v1)), None);
			assert_eq!(TeaActors::ever_ran(&ContentId::of(&v1)), Some((actor.clone(), 1)));
			assert_ok!(<TeaActors as ActorReleases>::start_rollout(&actor, 1));
			assert_ok!(<TeaActors as ActorReleases>::activate(&actor, 1));
			assert_eq!(crate::Actors::<Test>::get(&actor).unwrap().active_version, Some(1));
			assert_eq!(<TeaActors as ActorReleases>::cid(&actor, 1), Some(ContentId::of(&v1)));

			publish_counter(2, &v2);
			for v in [1, 3] {
				assert_ok!(submit(signed_call(verdict(2, &v2, v, VerdictOutcome::Approve))));
			}
			assert_ok!(<TeaActors as ActorReleases>::approve(&actor, 2));
			assert_ok!(<TeaActors as ActorReleases>::activate(&actor, 2));
			assert_eq!(TeaActors::status(&actor, 1), Some(ReleaseStatus::Deprecated));
			assert_eq!(TeaActors::status(&actor, 2), Some(ReleaseStatus::Active));
			assert_eq!(crate::Actors::<Test>::get(&actor).unwrap().active_version, Some(2));
			assert_eq!(
				<TeaActors as ActorReleases>::approve(&name("nobody"), 1),
				err(ActorsError::UnknownRelease)
			);
			// Revoking the active release clears it and records when (event logs are judged
			// by it); the deprecated one can be removed.
			assert_eq!(crate::RevokedAt::<Test>::get(ContentId::of(&v2)), None);
			assert_ok!(TeaActors::revoke_release(RuntimeOrigin::root(), actor.clone(), 2));
			assert_eq!(crate::Actors::<Test>::get(&actor).unwrap().active_version, None);
			assert_eq!(
				crate::RevokedAt::<Test>::get(ContentId::of(&v2)),
				Some(System::block_number())
			);
			assert_eq!(crate::RevokedAt::<Test>::get(ContentId::of(&v1)), None, "not revoked");
			assert_ok!(TeaActors::remove_release(RuntimeOrigin::signed(alice()), actor.clone(), 1));
			// Removed, it is still known to have run.
			assert_eq!(TeaActors::may_have_run(&ContentId::of(&v1)), None);
			assert_eq!(TeaActors::ever_ran(&ContentId::of(&v1)), Some((actor.clone(), 1)));
			assert_eq!(TeaActors::ever_ran(&ContentId::of(&v2)), Some((actor.clone(), 2)));
		});
	}
}

mod offchain_worker {
	use super::*;
	use frame_support::traits::Hooks;

	const GATEWAY: &str = "http://gateway.test";

	struct Harness {
		ext: sp_io::TestExternalities,
		offchain: std::sync::Arc<parking_lot::RwLock<testing::OffchainState>>,
		pool: std::sync::Arc<parking_lot::RwLock<testing::PoolState>>,
	}

	fn harness() -> Harness {
		let mut ext = new_test_ext();
		let (offchain, offchain_state) = testing::TestOffchainExt::new();
		let (pool, pool_state) = testing::TestTransactionPoolExt::new();
		ext.register_extension(OffchainDbExt::new(offchain.clone()));
		ext.register_extension(OffchainWorkerExt::new(offchain));
		ext.register_extension(TransactionPoolExt::new(pool));
		UintAuthorityId::set_all_keys(vec![2u64]);
		Harness { ext, offchain: offchain_state, pool: pool_state }
	}

	fn expect_fetch(h: &Harness, cid: &ContentId, body: Vec<u8>) {
		h.offchain.write().expect_request(testing::PendingRequest {
			method: "GET".into(),
			uri: format!("{GATEWAY}/ipfs/{}", cid.to_text()),
			response: Some(body),
			sent: true,
			..Default::default()
		});
	}

	/// The verdicts the off-chain worker put in the pool.
	fn pooled(h: &Harness) -> Vec<Verdict<UintAuthorityId>> {
		h.pool
			.read()
			.transactions
			.iter()
			.map(|tx| {
				let xt = Extrinsic::decode(&mut &tx[..]).unwrap();
				match xt.function {
					RuntimeCall::TeaActors(Call::submit_verdict { verdict, signature }) => {
						assert!(verdict.validator.verify(&verdict.signing_payload(), &signature));
						verdict
					}
					other => panic!("unexpected call {other:?}"),
				}
			})
			.collect()
	}

	fn run_ocw(block: u64) {
		System::set_block_number(block);
		TeaActors::offchain_worker(block);
	}

	fn set_gateway() {
		sp_io::offchain::local_storage_set(
			StorageKind::PERSISTENT,
			GATEWAY_KEY,
			GATEWAY.as_bytes(),
		);
	}

	#[test]
	fn good_bytes_are_approved_and_the_verdict_dispatches() {
		let mut h = harness();
		let code = wasm(KV_GET);
		let cid = ContentId::of(&code);
		expect_fetch(&h, &cid, code.clone());
		h.ext.execute_with(|| {
			publish_counter(1, &code);
			set_gateway();
			run_ocw(2);
		});
		let verdicts = pooled(&h);
		assert_eq!(verdicts, vec![verdict(1, &code, 2, VerdictOutcome::Approve)]);
		h.ext.execute_with(|| {
			let tx = h.pool.read().transactions[0].clone();
			let xt = Extrinsic::decode(&mut &tx[..]).unwrap();
			let RuntimeCall::TeaActors(call) = xt.function else { unreachable!() };
			assert_ok!(submit(call));
			assert_eq!(Releases::<Test>::get(name("counter"), 1).unwrap().approvals.len(), 1);
			// Once it approved, this validator does not fetch again (no request is expected).
			run_ocw(20);
			TeaActors::do_try_state().unwrap();
		});
		assert_eq!(h.pool.read().transactions.len(), 1);
	}

	#[test]
	fn bytes_that_do_not_hash_to_the_cid_are_rejected() {
		let mut h = harness();
		let code = wasm(KV_GET);
		let mut evil = code.clone();
		*evil.last_mut().unwrap() ^= 0xff;
		expect_fetch(&h, &ContentId::of(&code), evil);
		h.ext.execute_with(|| {
			publish_counter(1, &code);
			set_gateway();
			run_ocw(2);
		});
		assert_eq!(
			pooled(&h),
			vec![verdict(1, &code, 2, VerdictOutcome::Reject(CodeRejection::HashMismatch))]
		);
		h.ext.execute_with(|| {
			let tx = h.pool.read().transactions[0].clone();
			let RuntimeCall::TeaActors(call) = Extrinsic::decode(&mut &tx[..]).unwrap().function
			else {
				unreachable!()
			};
			assert_ok!(submit(call));
			assert_eq!(
				TeaActors::status(&name("counter"), 1),
				Some(ReleaseStatus::Rejected(CodeRejection::HashMismatch))
			);
		});
	}

	#[test]
	fn an_ungranted_import_is_rejected() {
		let mut h = harness();
		// Granted `tea:keyvalue/get` only, imports `put`.
		let code = wasm(&format!("{KV_GET}{KV_PUT}"));
		expect_fetch(&h, &ContentId::of(&code), code.clone());
		h.ext.execute_with(|| {
			publish_counter(1, &code);
			set_gateway();
			run_ocw(2);
		});
		assert_eq!(
			pooled(&h),
			vec![verdict(
				1,
				&code,
				2,
				VerdictOutcome::Reject(CodeRejection::UngrantedImport {
					provider: name("tea:keyvalue"),
					operation: name("put"),
				})
			)]
		);
	}

	#[test]
	fn a_body_longer_than_declared_is_a_size_mismatch() {
		let mut h = harness();
		let code = wasm(KV_GET);
		let mut longer = code.clone();
		longer.extend_from_slice(&[0; 100]);
		expect_fetch(&h, &ContentId::of(&code), longer);
		h.ext.execute_with(|| {
			publish_counter(1, &code);
			set_gateway();
			run_ocw(2);
		});
		let size = code.len() as u32;
		assert_eq!(
			pooled(&h),
			vec![verdict(
				1,
				&code,
				2,
				VerdictOutcome::Reject(CodeRejection::SizeMismatch {
					declared: size,
					actual: size + 1
				})
			)]
		);
	}

	#[test]
	fn no_key_no_gateway_or_a_recent_attempt_means_no_fetch() {
		let mut h = harness();
		let code = wasm(KV_GET);
		h.ext.execute_with(|| {
			publish_counter(1, &code);
			// No gateway configured: nothing is fetched (an unexpected request would panic).
			run_ocw(2);
			set_gateway();
			// A node whose keys are not in the validator set stays quiet.
			UintAuthorityId::set_all_keys(vec![9u64]);
			run_ocw(3);
			UintAuthorityId::set_all_keys(vec![2u64]);
		});
		assert!(h.pool.read().transactions.is_empty());
		// First attempt at block 4 fetches; within FetchRetryBlocks nothing is fetched again.
		expect_fetch(&h, &ContentId::of(&code), code.clone());
		h.ext.execute_with(|| {
			run_ocw(4);
			h.pool.write().transactions.clear();
			run_ocw(4 + RETRY_BLOCKS - 1);
		});
		assert!(h.pool.read().transactions.is_empty());
		expect_fetch(&h, &ContentId::of(&code), code.clone());
		h.ext.execute_with(|| run_ocw(4 + RETRY_BLOCKS));
		assert_eq!(pooled(&h).len(), 1);
	}
}

mod refusals {
	use super::*;
	use frame_support::{dispatch::DispatchResult, BoundedVec};

	fn ferdie() -> AccountId {
		Sr25519Keyring::Ferdie.to_account_id()
	}
	const NODE: NodeId = NodeId::repeat_byte(0xfe);
	const OTHER: NodeId = NodeId::repeat_byte(0xee);

	fn report(
		who: AccountId,
		node: NodeId,
		entries: Vec<(ContentId, RefusalCounts)>,
	) -> DispatchResult {
		TeaActors::report_refusals(
			RuntimeOrigin::signed(who),
			node,
			BoundedVec::try_from(entries).expect("within MaxRefusalReports"),
		)
	}

	fn revoked(n: u32) -> RefusalCounts {
		RefusalCounts { revoked: n, ..Default::default() }
	}

	/// Alice's `counter` `version` of `code`, moved to `status` (as the upgrades pallet would).
	fn release_in(version: u32, code: &[u8], status: ReleaseStatus) -> ContentId {
		publish_counter(version, code);
		Releases::<Test>::mutate(name("counter"), version, |r| r.as_mut().unwrap().status = status);
		PendingValidation::<Test>::mutate(|q| q.retain(|(_, v)| *v != version));
		ContentId::of(code)
	}

	#[test]
	fn a_trusted_node_reports_refusals_that_sum_per_release_at_most_once_per_interval() {
		build_and_execute(|| {
			MockReporters::set(vec![(ferdie(), NODE), (ferdie(), OTHER)]);
			System::set_block_number(10);
			let code = wasm(KV_GET);
			let cid = release_in(1, &code, ReleaseStatus::Active);
			assert_ok!(report(ferdie(), NODE, vec![(cid.clone(), revoked(3))]));
			System::assert_last_event(
				crate::Event::RefusalsReported {
					node: NODE,
					actor: name("counter"),
					version: 1,
					counts: revoked(3),
				}
				.into(),
			);
			let tally = Refusals::<Test>::get(name("counter"), 1).unwrap();
			assert_eq!((tally.counts, tally.reports, tally.last_reported_at), (revoked(3), 1, 10));
			assert_eq!(tally.reporters.into_inner(), vec![NODE]);
			assert_eq!(LastRefusalReport::<Test>::get(NODE), Some(10));

			// Once per interval per node.
			System::set_block_number(10 + REPORT_INTERVAL - 1);
			assert_noop!(
				report(ferdie(), NODE, vec![(cid.clone(), revoked(1))]),
				ActorsError::ReportTooSoon
			);
			// Another node may; a count adds at most MAX_REFUSALS_PER_REPORT per report.
			let huge = RefusalCounts { not_granted: 2, tampered: 1, ..revoked(u32::MAX) };
			assert_ok!(report(ferdie(), OTHER, vec![(cid.clone(), huge)]));
			System::set_block_number(10 + REPORT_INTERVAL);
			assert_ok!(report(ferdie(), NODE, vec![(cid.clone(), revoked(1))]));
			let tally = Refusals::<Test>::get(name("counter"), 1).unwrap();
			assert_eq!(
				tally.counts,
				RefusalCounts {
					revoked: 3 + MAX_REFUSALS_PER_REPORT + 1,
					not_granted: 2,
					tampered: 1,
					..Default::default()
				}
			);
			assert_eq!((tally.reports, tally.last_reported_at), (3, 10 + REPORT_INTERVAL));
			assert_eq!(tally.reporters.into_inner(), vec![NODE, OTHER], "distinct reporters");

			// Governance may clear a tally (nobody else).
			assert_noop!(
				TeaActors::clear_refusals(RuntimeOrigin::signed(alice()), name("counter"), 1),
				DispatchError::BadOrigin
			);
			assert_ok!(TeaActors::clear_refusals(RuntimeOrigin::root(), name("counter"), 1));
			System::assert_last_event(
				crate::Event::RefusalsCleared { actor: name("counter"), version: 1 }.into(),
			);
			assert_noop!(
				TeaActors::clear_refusals(RuntimeOrigin::root(), name("counter"), 1),
				ActorsError::NoRefusals
			);

			// The node leaves the registry: its record goes; the release is removed: its tally.
			System::set_block_number(10 + 2 * REPORT_INTERVAL);
			assert_ok!(report(ferdie(), NODE, vec![(cid.clone(), revoked(1))]));
			TeaActors::on_node_removed(&NODE);
			assert_eq!(LastRefusalReport::<Test>::get(NODE), None);
			Releases::<Test>::mutate(name("counter"), 1, |r| {
				r.as_mut().unwrap().status = ReleaseStatus::Deprecated
			});
			assert_ok!(TeaActors::remove_release(
				RuntimeOrigin::signed(alice()),
				name("counter"),
				1
			));
			assert!(Refusals::<Test>::get(name("counter"), 1).is_none());
		});
	}

	#[test]
	fn a_release_removed_meanwhile_or_never_run_is_skipped_and_blocks_nothing() {
		build_and_execute(|| {
			System::set_block_number(3);
			let running = release_in(1, &wasm(KV_GET), ReleaseStatus::Rolling);
			// Validated: under a DAO vote, no worker can have run it.
			let voted = release_in(2, &wasm(""), ReleaseStatus::Validated);
			let gone = ContentId::of(b"a release removed since");
			assert_ok!(report(
				ferdie(),
				NODE,
				vec![(gone, revoked(5)), (running.clone(), revoked(1))]
			));
			assert_eq!(Refusals::<Test>::get(name("counter"), 1).unwrap().counts, revoked(1));
			System::set_block_number(3 + REPORT_INTERVAL);
			assert_ok!(report(ferdie(), NODE, vec![(voted, revoked(5))]));
			assert!(Refusals::<Test>::get(name("counter"), 2).is_none(), "nothing to smear");
			assert_eq!(LastRefusalReport::<Test>::get(NODE), Some(3 + REPORT_INTERVAL));
		});
	}

	#[test]
	fn outsiders_duplicates_and_empty_reports_are_refused_and_nothing_is_written() {
		build_and_execute(|| {
			System::set_block_number(3);
			let cid = release_in(1, &wasm(KV_GET), ReleaseStatus::Rolling);
			// Anyone but the node's operator, or its operator for another node.
			assert_noop!(
				report(bob(), NODE, vec![(cid.clone(), revoked(1))]),
				ActorsError::NotAReporter
			);
			assert_noop!(
				report(ferdie(), NodeId::repeat_byte(1), vec![(cid.clone(), revoked(1))]),
				ActorsError::NotAReporter
			);
			// The same release twice would count twice.
			assert_noop!(
				report(ferdie(), NODE, vec![(cid.clone(), revoked(1)), (cid.clone(), revoked(1))]),
				ActorsError::DuplicateRefusalReport
			);
			assert_noop!(report(ferdie(), NODE, vec![]), ActorsError::EmptyRefusalReport);
			assert_noop!(
				report(ferdie(), NODE, vec![(cid.clone(), RefusalCounts::default())]),
				ActorsError::EmptyRefusalReport
			);
			// A call naming more releases than MaxRefusalReports does not decode.
			let call_of = |n: u32| {
				let mut encoded = vec![10u8]; // call_index of report_refusals
				encoded.extend(NODE.encode());
				encoded.extend(codec::Compact(n).encode());
				for _ in 0..n {
					encoded.extend((cid.clone(), revoked(1)).encode());
				}
				encoded
			};
			assert!(
				crate::Call::<Test>::decode(&mut &call_of(2)[..]).is_ok(),
				"the encoding is right"
			);
			let encoded = call_of(3);
			assert!(crate::Call::<Test>::decode(&mut &encoded[..]).is_err());
			assert!(Refusals::<Test>::iter().next().is_none());
			assert_eq!(LastRefusalReport::<Test>::get(NODE), None);
		});
	}
}
