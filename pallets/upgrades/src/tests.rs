//! Unit tests: tier assignment, the health gate at its boundary, freeze/resume/rollback,
//! completion, the measurement allowlist, CA keys, runtime-upgrade authorization, the committee
//! origin through real council motions, and every bad input.

use crate::{mock::*, *};
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	pallet_prelude::{Authorize, TransactionSource},
	traits::Hooks,
	BoundedVec,
};
use pallet_tea_actors::{ReleaseStatus, Verdict, VerdictOutcome};
use sp_core::H256;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	testing::UintAuthorityId, traits::Dispatchable, DispatchError, Perbill, Percent,
	RuntimeAppPublic,
};
use tea_primitives::{
	cid::ContentId,
	manifest::{Grant, Limits, Manifest},
	testing::XorShift,
};

type UpgradesError = Error<Test>;

/// Two thirds of the council, as a closed motion dispatches it.
fn committee() -> RuntimeOrigin {
	pallet_collective::RawOrigin::<AccountId, pallet_collective::Instance1>::Members(2, 3).into()
}

/// The bytes of release `version` of `actor`.
fn code(actor: &str, version: u32) -> Vec<u8> {
	format!("{actor}/{version}").into_bytes()
}

/// Alice publishes release `version` of `actor`; the validator approves its bytes.
fn validated(actor: &str, version: u32) {
	let alice = Sr25519Keyring::Alice;
	if !pallet_tea_actors::Actors::<Test>::contains_key(name(actor)) {
		assert_ok!(TeaActors::register_actor(
			RuntimeOrigin::signed(alice.to_account_id()),
			name(actor)
		));
	}
	let bytes = code(actor, version);
	let manifest = Manifest {
		developer: alice.to_account_id(),
		actor: name(actor),
		version,
		cid: ContentId::of(&bytes),
		grants: vec![Grant {
			provider: name("tea:log"),
			operations: vec![name("write")].try_into().unwrap(),
			limits: Limits { max_memory_pages: 16, max_fuel_per_call: 1_000_000 },
			expires_at: None,
		}]
		.try_into()
		.unwrap(),
	};
	let signature = manifest.sign(&alice.pair());
	assert_ok!(TeaActors::publish_release(
		RuntimeOrigin::signed(alice.to_account_id()),
		manifest,
		signature,
		bytes.len() as u32
	));
	let verdict = Verdict {
		actor: name(actor),
		version,
		cid: ContentId::of(&bytes),
		validator: UintAuthorityId(1),
		outcome: VerdictOutcome::Approve,
	};
	let signature = verdict.validator.sign(&verdict.signing_payload()).unwrap();
	let call = pallet_tea_actors::Call::<Test>::submit_verdict { verdict, signature };
	assert!(call.authorize(TransactionSource::External).unwrap().is_ok());
	let call: RuntimeCall = call.into();
	assert_ok!(call.dispatch(frame_system::RawOrigin::Authorized.into()));
	assert_eq!(status(actor, version), Some(ReleaseStatus::Validated));
}

fn status(actor: &str, version: u32) -> Option<ReleaseStatus> {
	pallet_tea_actors::Releases::<Test>::get(name(actor), version).map(|r| r.status)
}

fn plan(tiers: &[(u8, u64)], max_failure: u8) -> RolloutPlanOf<Test> {
	RolloutPlan {
		tiers: BoundedVec::truncate_from(
			tiers
				.iter()
				.map(|(share, wait)| Tier { share: Percent::from_percent(*share), wait: *wait })
				.collect(),
		),
		max_failure: Percent::from_percent(max_failure),
	}
}

fn release(actor: &str, version: u32) -> RolloutTarget {
	RolloutTarget::Release { actor: name(actor), version }
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Upgrades(e) => Some(e),
			_ => None,
		})
		.collect()
}

fn rollout(id: RolloutId) -> RolloutOf<Test> {
	Rollouts::<Test>::get(id).expect("rollout exists")
}

/// Runs the pallet's hooks up to and including block `n`.
fn run_to(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Upgrades::on_initialize(next);
	}
}

/// The nodes of `tier` in rollout `id`.
fn tier_nodes(id: RolloutId, tier: u32) -> Vec<NodeId> {
	let mut nodes: Vec<_> = Assignments::<Test>::iter_prefix(id)
		.filter(|(_, a)| a.tier == tier)
		.map(|(n, _)| n)
		.collect();
	nodes.sort();
	nodes
}

fn measurement(i: u8) -> H256 {
	H256::repeat_byte(i)
}

/// A P-256 `SubjectPublicKeyInfo` (91 bytes) with point bytes `fill`.
fn p256_spki(fill: u8) -> Vec<u8> {
	let mut key = hex_prefix();
	key.push(0x04);
	key.extend([fill; 64]);
	key
}

fn hex_prefix() -> Vec<u8> {
	// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes) }
	vec![
		0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
		0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
	]
}

mod tiers {
	use super::*;

	#[test]
	fn approval_assigns_every_node_by_share_and_opens_the_first_tier() {
		build_and_execute(|| {
			validated("counter", 1);
			assert_ok!(Upgrades::approve_release(
				committee(),
				name("counter"),
				1,
				plan(&[(10, 3), (30, 3), (60, 3)], 20)
			));
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Rolling));
			let r = rollout(0);
			assert_eq!(r.tiers.iter().map(|t| t.nodes).collect::<Vec<_>>(), vec![1, 3, 6]);
			assert_eq!(r.state, RolloutState::Running { tier: 0, deadline: 4 });
			let all: Vec<NodeId> = (0..3)
				.flat_map(|t| tier_nodes(0, t))
				.collect::<std::collections::BTreeSet<_>>()
				.into_iter()
				.collect();
			assert_eq!(all, (1..=10).collect::<Vec<_>>(), "every node in exactly one tier");
			assert_eq!(
				events(),
				vec![
					Event::RolloutStarted { rollout: 0, target: release("counter", 1), nodes: 10 },
					Event::TierOpened { rollout: 0, tier: 0, nodes: 1, deadline: 4 },
				]
			);
			assert_eq!(LiveByKey::<Test>::get(RolloutKey::Actor(name("counter"))), Some(0));
		});
	}

	#[test]
	fn assignment_is_a_function_of_seed_rollout_and_node() {
		let tiers = plan(&[(25, 2), (25, 2), (50, 2)], 0).tiers.into_inner();
		let assigned = |id: RolloutId, seed: H256, nodes: Vec<NodeId>| {
			new_test_ext().execute_with(|| {
				Upgrades::assign(id, seed, &tiers, nodes);
				let mut all: Vec<(NodeId, u32)> =
					Assignments::<Test>::iter_prefix(id).map(|(n, a)| (n, a.tier)).collect();
				all.sort();
				all
			})
		};
		let nodes: Vec<NodeId> = (100..140).collect();
		let mut reversed = nodes.clone();
		reversed.reverse();
		let a = assigned(7, H256::repeat_byte(1), nodes.clone());
		assert_eq!(a, assigned(7, H256::repeat_byte(1), reversed), "input order is irrelevant");
		assert_ne!(a, assigned(8, H256::repeat_byte(1), nodes.clone()), "rollout id matters");
		assert_ne!(a, assigned(7, H256::repeat_byte(2), nodes), "seed matters");
	}

	#[test]
	fn shares_are_filled_exactly_for_any_node_count() {
		let mut rng = XorShift::new(5);
		for _ in 0..300 {
			let n = rng.below(65) as u64;
			let count = 1 + rng.below(4) as usize;
			// Random positive shares summing to 100.
			let mut cuts: Vec<u64> = (0..count - 1).map(|_| 1 + rng.below(99) as u64).collect();
			cuts.sort();
			cuts.dedup();
			let mut bounds = vec![0];
			bounds.extend(cuts);
			bounds.push(100);
			let shares: Vec<(u8, u64)> =
				bounds.windows(2).map(|w| ((w[1] - w[0]) as u8, 2)).collect();
			let p = plan(&shares, 0);
			let counts = new_test_ext().execute_with(|| {
				Upgrades::assign(0, H256::repeat_byte(9), &p.tiers, (0..n).collect())
			});
			let mut cumulative = 0u64;
			for (i, (share, _)) in shares.iter().enumerate() {
				let before = (n * cumulative).div_ceil(100);
				cumulative += *share as u64;
				let after = (n * cumulative).div_ceil(100);
				assert_eq!(counts[i] as u64, after - before, "n={n} shares={shares:?}");
				// Rounding up: the first tier is never empty while there are nodes.
				assert!(n == 0 || counts[0] > 0);
			}
			assert_eq!(counts.iter().sum::<u32>() as u64, n);
		}
	}
}

mod gate {
	use super::*;

	/// Rollout 0 of `counter` v1 over nodes 1..=10: two tiers of 50%, 2 blocks each, at most
	/// 20% failures.
	fn two_tiers() {
		validated("counter", 1);
		assert_ok!(Upgrades::approve_release(
			committee(),
			name("counter"),
			1,
			plan(&[(50, 2), (50, 2)], 20)
		));
	}

	fn upgrade(nodes: &[NodeId]) {
		for n in nodes {
			Upgrades::note_upgraded(n, &release("counter", 1));
		}
	}

	#[test]
	fn passes_at_the_threshold_and_reports_missed_deadlines() {
		build_and_execute(|| {
			two_tiers();
			let first = tier_nodes(0, 0);
			// 4 of 5 upgrade: 20% failed, exactly the threshold.
			upgrade(&first[..4]);
			// Proofs count up to and including the deadline block (3); the gate runs after it.
			run_to(3);
			assert!(matches!(rollout(0).state, RolloutState::Running { tier: 0, deadline: 3 }));
			run_to(4);
			assert_eq!(rollout(0).state, RolloutState::Running { tier: 1, deadline: 6 });
			assert_eq!(Missed::get(), vec![(first[4], 0)]);
			assert!(events().contains(&Event::DeadlineMissed { rollout: 0, node: first[4] }));
			assert_eq!(
				Assignments::<Test>::get(0, first[4]).unwrap().status,
				NodeUpgrade::MissedDeadline
			);
			// Second tier: 4 of 5 again -> 2 of 10 failed, still exactly 20%.
			upgrade(&tier_nodes(0, 1)[..4]);
			run_to(7);
			assert_eq!(rollout(0).state, RolloutState::Grace { until: 7 + GRACE });
			assert_eq!(rollout(0).failure_rate(1), Perbill::from_percent(20));
		});
	}

	#[test]
	fn freezes_just_above_the_threshold() {
		build_and_execute(|| {
			two_tiers();
			upgrade(&tier_nodes(0, 0)[..4]);
			run_to(4);
			// 3 of 5 in the second tier: 3 of 10 failed in all, above 20%.
			upgrade(&tier_nodes(0, 1)[..3]);
			run_to(7);
			assert_eq!(
				rollout(0).state,
				RolloutState::Frozen {
					tier: 1,
					failure_rate: Perbill::from_percent(30),
					deadline: None
				}
			);
			assert!(events().contains(&Event::RolloutFrozen {
				rollout: 0,
				tier: 1,
				failure_rate: Perbill::from_percent(30),
				by_committee: false
			}));
			// Frozen rollouts do not move.
			run_to(30);
			assert!(matches!(rollout(0).state, RolloutState::Frozen { .. }));
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Rolling));
		});
	}

	#[test]
	fn a_failing_upgraded_node_counts_and_unopened_tiers_are_ignored() {
		build_and_execute(|| {
			two_tiers();
			let first = tier_nodes(0, 0);
			let second = tier_nodes(0, 1);
			upgrade(&first);
			// Nodes of the closed tier can neither upgrade nor fail yet.
			upgrade(&second[..1]);
			Upgrades::note_failure(&second[0]);
			assert_eq!(
				Assignments::<Test>::get(0, second[0]).unwrap().status,
				NodeUpgrade::Pending
			);
			// Two upgraded nodes fail their attestation: 40% of the tier.
			Upgrades::note_failure(&first[0]);
			Upgrades::note_failure(&first[1]);
			Upgrades::note_failure(&first[1]);
			let t = rollout(0).tiers[0];
			assert_eq!((t.upgraded, t.failed), (3, 2));
			run_to(4);
			assert_eq!(
				rollout(0).state,
				RolloutState::Frozen {
					tier: 0,
					failure_rate: Perbill::from_percent(40),
					deadline: None
				}
			);
			assert!(Missed::get().is_empty());
		});
	}

	#[test]
	fn signals_for_other_targets_or_nodes_change_nothing() {
		build_and_execute(|| {
			two_tiers();
			let node = tier_nodes(0, 0)[0];
			Upgrades::note_upgraded(&node, &release("counter", 2));
			Upgrades::note_upgraded(&node, &release("other", 1));
			Upgrades::note_upgraded(&99, &release("counter", 1));
			Upgrades::note_failure(&99);
			assert_eq!(rollout(0).tiers[0].upgraded, 0);
			Upgrades::note_upgraded(&node, &release("counter", 1));
			Upgrades::note_upgraded(&node, &release("counter", 1));
			assert_eq!(rollout(0).tiers[0].upgraded, 1, "counted once");
		});
	}

	#[test]
	fn a_rollout_with_no_nodes_passes_each_tier_at_its_deadline() {
		build_and_execute(|| {
			MockNodes::set(vec![]);
			validated("counter", 1);
			assert_ok!(Upgrades::approve_release(
				committee(),
				name("counter"),
				1,
				plan(&[(50, 2), (50, 3)], 0)
			));
			run_to(4);
			assert_eq!(rollout(0).state, RolloutState::Running { tier: 1, deadline: 7 });
			run_to(8);
			assert_eq!(rollout(0).state, RolloutState::Grace { until: 8 + GRACE });
			run_to(8 + GRACE);
			assert!(matches!(rollout(0).state, RolloutState::Grace { .. }));
			run_to(9 + GRACE);
			assert_eq!(rollout(0).state, RolloutState::Completed);
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Active));
		});
	}
}

mod lifecycle {
	use super::*;

	/// `counter` v1 active (rollout 0, completed), v2 rolling out (rollout 1) over one tier.
	fn v1_active_v2_rolling() {
		MockNodes::set(vec![]);
		validated("counter", 1);
		assert_ok!(Upgrades::approve_release(
			committee(),
			name("counter"),
			1,
			plan(&[(100, 2)], 0)
		));
		run_to(5 + GRACE);
		assert_eq!(status("counter", 1), Some(ReleaseStatus::Active));
		MockNodes::set((1..=10).collect());
		validated("counter", 2);
		assert_ok!(Upgrades::approve_release(
			committee(),
			name("counter"),
			2,
			plan(&[(50, 2), (50, 2)], 0)
		));
	}

	/// Every node of rollout 1 proves `counter` v2, tier by tier, each tier's gate runs.
	fn upgrade_all_tiers() {
		for t in 0..2 {
			for n in tier_nodes(1, t) {
				Upgrades::note_upgraded(&n, &release("counter", 2));
			}
			let RolloutState::Running { deadline, .. } = rollout(1).state else {
				panic!("running")
			};
			run_to(deadline + 1);
		}
	}

	#[test]
	fn a_rolling_release_may_have_been_loaded_only_in_opened_tiers() {
		build_and_execute(|| {
			v1_active_v2_rolling();
			let allows = |n: &NodeId, v: u32| {
				<Upgrades as Allowlists<NodeId>>::release_tier_open(n, &name("counter"), v)
			};
			let (first, second) = (tier_nodes(1, 0), tier_nodes(1, 1));
			assert!(allows(&first[0], 2), "its tier is open");
			assert!(!allows(&second[0], 2), "its tier has not opened");
			assert!(!allows(&99, 2), "not in the rollout");
			assert!(allows(&second[0], 1), "the active release is not rolling");
			assert!(allows(&99, 1));
			assert!(
				<Upgrades as Allowlists<NodeId>>::release_tier_open(&99, &name("other"), 1),
				"no rollout of that actor"
			);
			upgrade_all_tiers();
			assert!(allows(&second[0], 2), "every tier opened");
			let RolloutState::Grace { until } = rollout(1).state else { panic!("in grace") };
			run_to(until + 1);
			assert!(allows(&99, 2), "completed: no longer rolling");
		});
	}

	#[test]
	fn completion_waits_for_the_grace_period_then_deprecates_the_previous_release() {
		build_and_execute(|| {
			v1_active_v2_rolling();
			upgrade_all_tiers();
			let RolloutState::Grace { until } = rollout(1).state else { panic!("in grace") };
			run_to(until);
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Active));
			assert_eq!(status("counter", 2), Some(ReleaseStatus::Rolling));
			run_to(until + 1);
			assert_eq!(rollout(1).state, RolloutState::Completed);
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Deprecated));
			assert_eq!(status("counter", 2), Some(ReleaseStatus::Active));
			assert_eq!(Assignments::<Test>::iter_prefix(1).count(), 0);
			assert!(LiveRollouts::<Test>::get().is_empty());
			assert!(events().contains(&Event::RolloutCompleted { rollout: 1 }));
		});
	}

	#[test]
	fn freeze_resume_and_roll_back_restore_exactly_the_previous_state() {
		build_and_execute(|| {
			v1_active_v2_rolling();
			let before_v1 = pallet_tea_actors::Releases::<Test>::get(name("counter"), 1);
			let before_actor = pallet_tea_actors::Actors::<Test>::get(name("counter"));
			let running = rollout(1).state;
			let RolloutState::Running { deadline, .. } = running else { panic!("running") };
			assert_ok!(Upgrades::freeze_rollout(committee(), 1));
			assert_noop!(Upgrades::freeze_rollout(committee(), 1), UpgradesError::NotRunning);
			// Frozen by the committee before its gate: frozen rollouts do not move.
			run_to(deadline + 3);
			assert!(matches!(rollout(1).state, RolloutState::Frozen { deadline: Some(_), .. }));
			assert!(Missed::get().is_empty());
			// Resuming continues the same tier, and its gate still runs: nobody upgraded.
			assert_ok!(Upgrades::resume_rollout(committee(), 1));
			let now = System::block_number();
			assert_eq!(rollout(1).state, RolloutState::Running { tier: 0, deadline: now });
			assert_noop!(Upgrades::resume_rollout(committee(), 1), UpgradesError::NotFrozen);
			run_to(now + 1);
			assert!(matches!(
				rollout(1).state,
				RolloutState::Frozen { tier: 0, deadline: None, .. }
			));
			assert_eq!(Missed::get().len(), tier_nodes(1, 0).len());
			// Resuming after a failed gate opens the next tier.
			assert_ok!(Upgrades::resume_rollout(committee(), 1));
			assert!(matches!(rollout(1).state, RolloutState::Running { tier: 1, .. }));
			assert_ok!(Upgrades::roll_back(committee(), 1));
			assert_eq!(rollout(1).state, RolloutState::RolledBack);
			assert_eq!(status("counter", 2), Some(ReleaseStatus::Approved));
			assert_eq!(pallet_tea_actors::Releases::<Test>::get(name("counter"), 1), before_v1);
			assert_eq!(pallet_tea_actors::Actors::<Test>::get(name("counter")), before_actor);
			assert_eq!(Assignments::<Test>::iter_prefix(1).count(), 0);
			assert_eq!(LiveByKey::<Test>::get(RolloutKey::Actor(name("counter"))), None);
			assert_noop!(Upgrades::roll_back(committee(), 1), UpgradesError::RolloutFinished);
			assert_noop!(Upgrades::resume_rollout(committee(), 1), UpgradesError::NotFrozen);
			// The approved release may be rolled out again with a new plan.
			assert_ok!(Upgrades::approve_release(
				committee(),
				name("counter"),
				2,
				plan(&[(100, 2)], 0)
			));
			assert_eq!(status("counter", 2), Some(ReleaseStatus::Rolling));
		});
	}

	#[test]
	fn roll_back_during_the_grace_period_keeps_the_previous_release_active() {
		build_and_execute(|| {
			v1_active_v2_rolling();
			upgrade_all_tiers();
			assert!(matches!(rollout(1).state, RolloutState::Grace { .. }));
			assert_ok!(Upgrades::roll_back(committee(), 1));
			run_to(System::block_number() + GRACE + 1);
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Active));
			assert_eq!(status("counter", 2), Some(ReleaseStatus::Approved));
		});
	}
}

mod measurements {
	use super::*;

	/// Measurement 1 allowed, and measurement 2 rolling out to replace it under `plan`.
	fn old_replaced_by_new(plan: RolloutPlanOf<Test>) -> (H256, H256) {
		let (old, new) = (measurement(1), measurement(2));
		assert_ok!(Upgrades::allow_measurement(committee(), old));
		assert_ok!(Upgrades::roll_out_measurement(committee(), new, Some(old), plan));
		(old, new)
	}

	#[test]
	fn a_rolling_measurement_is_accepted_only_from_opened_tiers_then_replaces_the_old_one() {
		build_and_execute(|| {
			let (old, new) = old_replaced_by_new(plan(&[(50, 2), (50, 2)], 0));
			let (first, second) = (tier_nodes(0, 0), tier_nodes(0, 1));
			assert!(Upgrades::measurement_allowed(&first[0], &new));
			assert!(!Upgrades::measurement_allowed(&second[0], &new));
			assert!(!Upgrades::measurement_allowed(&99, &new), "not in the rollout");
			assert!(Upgrades::measurement_allowed(&second[0], &old));
			// Attestation knows the quoted digest only, not what it replaces.
			let target = RolloutTarget::Measurement { new, replaces: None };
			for n in &first {
				Upgrades::note_upgraded(n, &target);
			}
			assert_eq!(rollout(0).tiers[0].upgraded, first.len() as u32);
			run_to(4);
			assert!(Upgrades::measurement_allowed(&second[0], &new));
			for n in &second {
				Upgrades::note_upgraded(n, &target);
			}
			run_to(8 + GRACE);
			assert_eq!(rollout(0).state, RolloutState::Completed);
			assert_eq!(Measurements::<Test>::get(new), Some(MeasurementStatus::Allowed));
			assert_eq!(Measurements::<Test>::get(old), None);
			assert!(Upgrades::measurement_allowed(&99, &new));
			assert!(!Upgrades::measurement_allowed(&first[0], &old));
		});
	}

	/// Issue 14: `Upgraded` was sticky, so a node that proved the new build once and went back to
	/// the old one still counted for the health gate.
	#[test]
	fn a_node_that_goes_back_to_the_old_measurement_counts_as_failed() {
		build_and_execute(|| {
			let (old, new) = old_replaced_by_new(plan(&[(100, 2)], 50));
			let nodes = tier_nodes(0, 0);
			let running = |m| RolloutTarget::Measurement { new: m, replaces: None };
			Upgrades::note_upgraded(&nodes[0], &running(new));
			Upgrades::note_upgraded(&nodes[1], &running(new));
			assert_eq!((rollout(0).tiers[0].upgraded, rollout(0).tiers[0].failed), (2, 0));
			// Still on the old one without ever proving the new: nothing changes.
			Upgrades::note_upgraded(&nodes[2], &running(old));
			assert_eq!(Assignments::<Test>::get(0, nodes[2]).unwrap().status, NodeUpgrade::Pending);
			// Back to the old one after proving the new: failed, and it stays so.
			Upgrades::note_upgraded(&nodes[0], &running(old));
			assert_eq!(Assignments::<Test>::get(0, nodes[0]).unwrap().status, NodeUpgrade::Failed);
			assert_eq!((rollout(0).tiers[0].upgraded, rollout(0).tiers[0].failed), (1, 1));
			assert!(events().contains(&Event::NodeFailed { rollout: 0, node: nodes[0] }));
			Upgrades::note_upgraded(&nodes[0], &running(new));
			assert_eq!(Assignments::<Test>::get(0, nodes[0]).unwrap().status, NodeUpgrade::Failed);
			assert_eq!((rollout(0).tiers[0].upgraded, rollout(0).tiers[0].failed), (1, 1));
			// Another measurement entirely (neither old nor new) changes nothing here.
			Upgrades::note_upgraded(&nodes[1], &running(measurement(3)));
			assert_eq!(
				Assignments::<Test>::get(0, nodes[1]).unwrap().status,
				NodeUpgrade::Upgraded
			);
		});
	}

	#[test]
	fn rolling_back_a_measurement_keeps_the_old_one_only() {
		build_and_execute(|| {
			let (old, new) = old_replaced_by_new(plan(&[(100, 2)], 0));
			assert_noop!(
				Upgrades::remove_measurement(committee(), new),
				UpgradesError::MeasurementRolling
			);
			assert_ok!(Upgrades::roll_back(committee(), 0));
			assert_eq!(Measurements::<Test>::get(new), None);
			assert_eq!(Measurements::<Test>::get(old), Some(MeasurementStatus::Allowed));
			assert!(!Upgrades::measurement_allowed(&1, &new));
		});
	}

	#[test]
	fn allowlist_errors() {
		build_and_execute(|| {
			let m = measurement(1);
			assert_noop!(
				Upgrades::remove_measurement(committee(), m),
				UpgradesError::UnknownMeasurement
			);
			assert_ok!(Upgrades::allow_measurement(committee(), m));
			assert!(events().contains(&Event::MeasurementAllowed { measurement: m }));
			assert_noop!(
				Upgrades::allow_measurement(committee(), m),
				UpgradesError::MeasurementKnown
			);
			let p = plan(&[(100, 2)], 0);
			assert_noop!(
				Upgrades::roll_out_measurement(committee(), m, None, p.clone()),
				UpgradesError::MeasurementKnown
			);
			assert_noop!(
				Upgrades::roll_out_measurement(
					committee(),
					measurement(2),
					Some(measurement(2)),
					p.clone()
				),
				UpgradesError::ReplacesItself
			);
			assert_noop!(
				Upgrades::roll_out_measurement(
					committee(),
					measurement(2),
					Some(measurement(3)),
					p.clone()
				),
				UpgradesError::UnknownMeasurement
			);
			for i in 2..=MAX_MEASUREMENTS as u8 {
				assert_ok!(Upgrades::allow_measurement(committee(), measurement(i)));
			}
			assert_noop!(
				Upgrades::allow_measurement(committee(), measurement(100)),
				UpgradesError::TooManyMeasurements
			);
			assert_noop!(
				Upgrades::roll_out_measurement(committee(), measurement(100), None, p),
				UpgradesError::TooManyMeasurements
			);
			assert_ok!(Upgrades::remove_measurement(committee(), m));
			assert_eq!(Measurements::<Test>::get(m), None);
			// Removed, it was allowed once: an event log showing it launched earlier is no
			// evidence. One never allowed is not known.
			assert!(<Upgrades as Allowlists<u64>>::measurement_ever_allowed(&m));
			assert!(!<Upgrades as Allowlists<u64>>::measurement_ever_allowed(&measurement(200)));
		});
	}
}

mod ca_keys {
	use super::*;

	fn key(bytes: Vec<u8>) -> CaKey {
		CaKey::try_from(bytes).unwrap()
	}

	#[test]
	fn keys_are_added_checked_and_removed() {
		build_and_execute(|| {
			let k = p256_spki(7);
			assert!(!Upgrades::ca_key_allowed(&k));
			assert_ok!(Upgrades::add_ca_key(committee(), key(k.clone())));
			assert!(Upgrades::ca_key_allowed(&k));
			assert!(!Upgrades::ca_key_allowed(&p256_spki(8)));
			let key_hash = ca_key_hash(&k);
			assert!(events().contains(&Event::CaKeyAdded { key_hash }));
			assert_noop!(
				Upgrades::add_ca_key(committee(), key(k.clone())),
				UpgradesError::CaKeyKnown
			);
			assert_ok!(Upgrades::add_ca_key(committee(), key(p256_spki(8))));
			assert_noop!(
				Upgrades::add_ca_key(committee(), key(p256_spki(9))),
				UpgradesError::TooManyCaKeys
			);
			assert_ok!(Upgrades::remove_ca_key(committee(), key_hash));
			assert!(!Upgrades::ca_key_allowed(&k));
			assert_noop!(
				Upgrades::remove_ca_key(committee(), key_hash),
				UpgradesError::UnknownCaKey
			);
		});
	}

	#[test]
	fn malformed_keys_are_refused() {
		build_and_execute(|| {
			let good = p256_spki(7);
			let mut long_form = vec![0x30, 0x81, 0x59];
			long_form.extend(&good[2..]);
			let mut rsa_like = vec![0x30, 0x82, 0x01, 0x22];
			rsa_like.extend([0x30; 0x122]);
			assert!(well_formed_der_sequence(&rsa_like));
			let bad: Vec<Vec<u8>> = vec![
				vec![],
				vec![0x30],
				good[..good.len() - 1].to_vec(),
				[good.clone(), vec![0]].concat(),
				[vec![0x31], good[1..].to_vec()].concat(),
				long_form,
				vec![0x30, 0x82, 0x00, 0x10],
				vec![0x30, 0x83, 0, 0, 16],
				vec![0x30, 0x80, 0, 0],
				vec![0x30, 0x02, 0x05, 0x00],
			];
			for b in bad {
				assert_noop!(
					Upgrades::add_ca_key(committee(), key(b.clone())),
					UpgradesError::CaKeyMalformed
				);
			}
			let mut rng = XorShift::new(11);
			for _ in 0..2000 {
				let mut k = good.clone();
				let i = rng.below(k.len() as u32) as usize;
				k[i] = rng.next() as u8;
				let len = rng.below(k.len() as u32 + 1) as usize;
				k.truncate(len);
				let result = Upgrades::add_ca_key(committee(), key(k.clone()));
				if result.is_ok() {
					assert!(well_formed_der_sequence(&k));
					assert_ok!(Upgrades::remove_ca_key(committee(), ca_key_hash(&k)));
				}
			}
		});
	}
}

mod governance {
	use super::*;

	fn account(k: Sr25519Keyring) -> AccountId {
		k.to_account_id()
	}

	/// Proposes `call` as a motion needing `threshold` ayes; `ayes` vote for it; it is closed.
	/// Returns the result of executing it, or `None` if it did not pass.
	fn motion(
		call: RuntimeCall,
		threshold: u32,
		ayes: &[Sr25519Keyring],
	) -> Option<DispatchResult> {
		let len = call.encoded_size() as u32;
		let hash = <Test as frame_system::Config>::Hashing::hash_of(&call);
		let index = pallet_collective::ProposalCount::<Test, pallet_collective::Instance1>::get();
		assert_ok!(Council::propose(
			RuntimeOrigin::signed(account(ayes[0])),
			threshold,
			Box::new(call.clone()),
			len
		));
		// A threshold below two executes at once.
		if threshold >= 2 {
			for k in ayes {
				assert_ok!(Council::vote(RuntimeOrigin::signed(account(*k)), hash, index, true));
			}
			System::set_block_number(System::block_number() + 11);
			assert_ok!(Council::close(
				RuntimeOrigin::signed(account(ayes[0])),
				hash,
				index,
				frame_support::weights::Weight::from_parts(1_000_000_000_000, 1_000_000),
				len
			));
		}
		System::events().into_iter().rev().find_map(|r| match r.event {
			RuntimeEvent::Council(pallet_collective::Event::Executed { proposal_hash, result })
				if proposal_hash == hash =>
			{
				Some(result)
			}
			_ => None,
		})
	}

	use sp_runtime::{traits::Hash, DispatchResult};

	#[test]
	fn only_two_thirds_of_the_council_govern() {
		build_and_execute(|| {
			use Sr25519Keyring::*;
			validated("counter", 1);
			let approve = RuntimeCall::Upgrades(Call::approve_release {
				actor: name("counter"),
				version: 1,
				plan: plan(&[(100, 2)], 0),
			});
			// A non-member cannot propose.
			assert_noop!(
				Council::propose(
					RuntimeOrigin::signed(account(Dave)),
					2,
					Box::new(approve.clone()),
					approve.encoded_size() as u32
				),
				pallet_collective::Error::<Test, pallet_collective::Instance1>::NotMember
			);
			// Signed accounts and a one-member motion are not the committee.
			assert_noop!(
				Upgrades::allow_measurement(RuntimeOrigin::signed(account(Alice)), measurement(1)),
				DispatchError::BadOrigin
			);
			assert_eq!(motion(approve.clone(), 1, &[Alice]), Some(Err(DispatchError::BadOrigin)));
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Validated));
			// Two of three execute it.
			assert_eq!(motion(approve, 2, &[Alice, Bob]), Some(Ok(())));
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Rolling));
			assert!(events().contains(&Event::TierOpened {
				rollout: 0,
				tier: 0,
				nodes: 10,
				deadline: System::block_number() + 2
			}));
		});
	}

	#[test]
	fn the_committee_tunes_rollout_timings() {
		build_and_execute(|| {
			let defaults = RolloutTimings { min_tier_blocks: MIN_TIER_BLOCKS, grace_period: GRACE };
			assert_eq!(Timings::<Test>::get(), defaults);
			let fast = RolloutTimings { min_tier_blocks: 1, grace_period: 0 };
			assert_noop!(
				Upgrades::set_rollout_timings(
					RuntimeOrigin::signed(account(Sr25519Keyring::Bob)),
					fast
				),
				DispatchError::BadOrigin
			);
			assert_noop!(
				Upgrades::set_rollout_timings(
					committee(),
					RolloutTimings { min_tier_blocks: 0, grace_period: 9 }
				),
				UpgradesError::ZeroTierBlocks
			);
			assert_ok!(Upgrades::set_rollout_timings(committee(), fast));
			assert!(events().contains(&Event::RolloutTimingsSet { timings: fast }));
			// One-block tiers are allowed now, and a zero grace period completes at the next block.
			MockNodes::set(vec![]);
			validated("counter", 1);
			assert_ok!(Upgrades::approve_release(
				committee(),
				name("counter"),
				1,
				plan(&[(100, 1)], 0)
			));
			run_to(3);
			assert_eq!(rollout(0).state, RolloutState::Grace { until: 3 });
			run_to(4);
			assert_eq!(rollout(0).state, RolloutState::Completed);
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Active));
		});
	}

	#[test]
	fn the_committee_authorizes_a_runtime_upgrade_with_the_version_check() {
		build_and_execute(|| {
			let code_hash = H256::repeat_byte(0xc0);
			assert_noop!(
				Upgrades::authorize_runtime_upgrade(
					RuntimeOrigin::signed(account(Sr25519Keyring::Bob)),
					code_hash
				),
				DispatchError::BadOrigin
			);
			assert_ok!(Upgrades::authorize_runtime_upgrade(committee(), code_hash));
			assert!(System::events().iter().any(|r| r.event
				== RuntimeEvent::System(frame_system::Event::UpgradeAuthorized {
					code_hash,
					check_version: true
				})));
			assert!(events().contains(&Event::RuntimeUpgradeAuthorized { code_hash }));
		});
	}
}

mod bad_input {
	use super::*;

	#[test]
	fn bad_plans_are_refused_without_a_trace() {
		build_and_execute(|| {
			validated("counter", 1);
			let cases: Vec<(RolloutPlanOf<Test>, UpgradesError)> = vec![
				(plan(&[], 0), UpgradesError::NoTiers),
				(plan(&[(50, 2), (0, 2), (50, 2)], 0), UpgradesError::EmptyTier),
				(plan(&[(50, 2), (40, 2)], 0), UpgradesError::SharesNot100),
				(plan(&[(60, 2), (50, 2)], 0), UpgradesError::SharesNot100),
				(plan(&[(100, MIN_TIER_BLOCKS - 1)], 0), UpgradesError::TierTooShort),
			];
			for (p, e) in cases {
				let e: DispatchError = e.into();
				assert_noop!(
					Upgrades::approve_release(committee(), name("counter"), 1, p.clone()),
					e
				);
				assert_noop!(
					Upgrades::roll_out_measurement(committee(), measurement(1), None, p),
					e
				);
			}
		});
	}

	#[test]
	fn unknown_unvalidated_and_duplicate_targets_are_refused() {
		build_and_execute(|| {
			let p = plan(&[(100, 2)], 0);
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 1, p.clone()),
				UpgradesError::UnknownRelease
			);
			validated("counter", 1);
			// v2 is published but not validated yet.
			let alice = Sr25519Keyring::Alice;
			let bytes = code("counter", 2);
			let manifest = Manifest {
				developer: alice.to_account_id(),
				actor: name("counter"),
				version: 2,
				cid: ContentId::of(&bytes),
				grants: Default::default(),
			};
			assert_ok!(TeaActors::publish_release(
				RuntimeOrigin::signed(alice.to_account_id()),
				manifest.clone(),
				manifest.sign(&alice.pair()),
				bytes.len() as u32
			));
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 2, p.clone()),
				UpgradesError::ReleaseNotValidated
			);
			assert_ok!(Upgrades::approve_release(committee(), name("counter"), 1, p.clone()));
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 1, p.clone()),
				UpgradesError::ReleaseNotValidated
			);
			// Another validated release of the same actor waits for this rollout.
			validated("counter", 3);
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 3, p.clone()),
				UpgradesError::RolloutInProgress
			);
			assert_noop!(Upgrades::freeze_rollout(committee(), 9), UpgradesError::UnknownRollout);
			assert_noop!(Upgrades::roll_back(committee(), 9), UpgradesError::UnknownRollout);
			assert_noop!(Upgrades::resume_rollout(committee(), 9), UpgradesError::UnknownRollout);
		});
	}

	#[test]
	fn live_rollouts_and_nodes_are_bounded() {
		build_and_execute(|| {
			let p = plan(&[(100, 2)], 0);
			for i in 1..=MAX_LIVE as u8 {
				assert_ok!(Upgrades::roll_out_measurement(
					committee(),
					measurement(i),
					None,
					p.clone()
				));
			}
			validated("counter", 1);
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 1, p.clone()),
				UpgradesError::TooManyLiveRollouts
			);
			assert_ok!(Upgrades::roll_back(committee(), 0));
			MockNodes::set((0..MAX_NODES as u64 + 1).collect());
			assert_noop!(
				Upgrades::approve_release(committee(), name("counter"), 1, p.clone()),
				UpgradesError::TooManyNodes
			);
			// Duplicates from the registry count once.
			MockNodes::set((0..MAX_NODES as u64).chain(0..5).collect());
			assert_ok!(Upgrades::approve_release(committee(), name("counter"), 1, p));
			assert_eq!(Assignments::<Test>::iter_prefix(3).count(), MAX_NODES as usize);
		});
	}

	#[test]
	fn a_release_revoked_during_its_rollout_is_cancelled_and_still_rolls_back() {
		build_and_execute(|| {
			MockNodes::set(vec![]);
			validated("counter", 1);
			validated("other", 1);
			let p = plan(&[(100, 2)], 0);
			assert_ok!(Upgrades::approve_release(committee(), name("counter"), 1, p.clone()));
			assert_ok!(Upgrades::approve_release(committee(), name("other"), 1, p));
			assert_ok!(TeaActors::revoke_release(committee(), name("counter"), 1));
			assert_ok!(TeaActors::revoke_release(committee(), name("other"), 1));
			assert_ok!(Upgrades::roll_back(committee(), 1));
			assert_eq!(status("other", 1), Some(ReleaseStatus::Revoked));
			// At its gate the revoked release's rollout ends; its nodes are not reported.
			MockNodes::set((1..=10).collect());
			run_to(4);
			assert_eq!(rollout(0).state, RolloutState::Cancelled);
			assert!(events().contains(&Event::RolloutCancelled { rollout: 0 }));
			assert!(Missed::get().is_empty());
			assert!(LiveRollouts::<Test>::get().is_empty());
			assert_eq!(status("counter", 1), Some(ReleaseStatus::Revoked));
		});
	}

	#[test]
	fn at_most_two_gates_run_per_block_and_the_rest_wait() {
		build_and_execute(|| {
			MockNodes::set(vec![]);
			for i in 1..=MAX_LIVE as u8 {
				assert_ok!(Upgrades::roll_out_measurement(
					committee(),
					measurement(i),
					None,
					plan(&[(50, 2), (50, 2)], 0)
				));
			}
			run_to(4);
			let tiers: Vec<_> = (0..MAX_LIVE).map(|i| rollout(i).state.open_tier()).collect();
			assert_eq!(tiers, vec![Some(1), Some(1), Some(0)]);
			run_to(5);
			assert_eq!(rollout(2).state, RolloutState::Running { tier: 1, deadline: 7 });
		});
	}

	#[test]
	fn finishing_never_removes_a_replaced_measurement_that_rolls_out_again() {
		build_and_execute(|| {
			MockNodes::set(vec![]);
			let (m1, m2) = (measurement(1), measurement(2));
			assert_ok!(Upgrades::allow_measurement(committee(), m1));
			assert_ok!(Upgrades::roll_out_measurement(
				committee(),
				m2,
				Some(m1),
				plan(&[(100, 2)], 0)
			));
			assert_ok!(Upgrades::remove_measurement(committee(), m1));
			assert_ok!(Upgrades::roll_out_measurement(committee(), m1, None, plan(&[(100, 9)], 0)));
			run_to(5 + GRACE);
			assert_eq!(rollout(0).state, RolloutState::Completed);
			assert_eq!(Measurements::<Test>::get(m2), Some(MeasurementStatus::Allowed));
			assert_eq!(Measurements::<Test>::get(m1), Some(MeasurementStatus::Rolling(1)));
		});
	}
}
