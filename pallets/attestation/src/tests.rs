//! Unit tests: the challenge and its replay protection, every way a quote fails (each is
//! evidence with its own reason), heartbeats, committees, appeals that clear and appeals that
//! expire and slash exactly the configured shares.

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok, traits::fungible::InspectHold};
use pallet_tea_nodes::{NodeEvidence, NodeState, Offence, PossessionProof};
use sp_runtime::{DispatchError, DispatchResult};
use tea_primitives::{
	evidence::{EventKind, EvidenceError, LogEvent, PcrPolicy, PcrRule},
	testing::SoftTpm,
	tpm::QuoteError,
};

type AttestationError = Error<Test>;

/// A quote by `tpm` for `node`'s challenge (`purpose`, anchored at the previous block).
#[derive(Clone)]
struct Quote {
	anchor: u64,
	attest: Vec<u8>,
	signature: Vec<u8>,
	pcrs: Vec<(u8, [u8; 32])>,
	log: Vec<LogEvent>,
}

/// The challenge of `node` for `purpose` at `anchor` when its registered operator submits.
fn challenge(node: NodeId, purpose: Purpose, anchor: u64) -> [u8; 32] {
	let operator = pallet_tea_nodes::Nodes::<Test>::get(node).map_or(0, |info| info.operator);
	TeaAttestation::challenge(&node, &operator, purpose, anchor)
}

fn quote(tpm: &SoftTpm, node: NodeId, purpose: Purpose) -> Quote {
	let anchor = System::block_number() - 1;
	let nonce = challenge(node, purpose, anchor);
	let (attest, signature) = tpm.quote(&nonce, &good_pcrs());
	Quote { anchor, attest, signature, pcrs: good_pcrs(), log: launch() }
}

fn submit(operator: AccountId, node: NodeId, purpose: Purpose, q: &Quote) -> DispatchResult {
	TeaAttestation::submit_attestation(
		RuntimeOrigin::signed(operator),
		node,
		purpose,
		q.anchor,
		q.attest.clone().try_into().unwrap(),
		q.signature.clone().try_into().unwrap(),
		q.pcrs.clone().try_into().unwrap(),
		q.log.clone().try_into().unwrap(),
	)
	.map(|_| ())
	.map_err(|e| e.error)
}

fn register(operator: AccountId, i: u32) -> NodeId {
	assert_ok!(TeaNodes::register(
		RuntimeOrigin::signed(operator),
		ek(i).try_into().unwrap(),
		vec![0x30, 0x00].try_into().unwrap(),
		tpm(i).ak(),
		b"peer".to_vec().try_into().unwrap()
	));
	pallet_tea_nodes::node_id(&ek(i))
}

fn trusted(i: u32) -> NodeId {
	pallet_tea_nodes::node_id(&ek(1000 + i))
}

fn state(node: NodeId) -> Option<NodeState<u64>> {
	pallet_tea_nodes::Nodes::<Test>::get(node).map(|i| i.state)
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::TeaAttestation(e) => Some(e),
			_ => None,
		})
		.collect()
}

/// The committee drawn for `node` (drawn at the start of the block after its quote).
fn opened_review(node: NodeId) -> Vec<NodeId> {
	if !Reviews::<Test>::contains_key(node) {
		assert!(PendingReviews::<Test>::get().iter().any(|(n, _)| *n == node), "requested");
		run_to(System::block_number() + 1);
	}
	events()
		.into_iter()
		.rev()
		.find_map(|e| match e {
			Event::ReviewOpened { node: n, members, .. } if n == node => Some(members),
			_ => None,
		})
		.expect("a review was opened")
}

/// Operator of a trusted node id.
fn operator(node: NodeId) -> AccountId {
	pallet_tea_nodes::Nodes::<Test>::get(node).unwrap().operator
}

/// The committee votes `votes` (in member order; `None` abstains) and the review closes.
fn review(node: NodeId, votes: &[Option<bool>]) -> Vec<NodeId> {
	let members = opened_review(node);
	let deadline = Reviews::<Test>::get(node).unwrap().deadline;
	for (member, vote) in members.iter().zip(votes) {
		if let Some(approve) = vote {
			assert_ok!(TeaAttestation::vote(
				RuntimeOrigin::signed(operator(*member)),
				*member,
				node,
				*approve
			));
		}
	}
	if votes.iter().filter(|v| v.is_some()).count() == members.len() {
		assert!(!Reviews::<Test>::contains_key(node), "the last vote closed it");
	}
	run_to(deadline + 1);
	assert!(!Reviews::<Test>::contains_key(node), "closed");
	members
}

/// A registered candidate that passed admission (3 approvals) and entered probation.
fn on_probation(operator: AccountId, i: u32) -> NodeId {
	let node = register(operator, i);
	run_to(System::block_number() + 1);
	assert_ok!(submit(
		operator,
		node,
		Purpose::Admission,
		&quote(&tpm(i), node, Purpose::Admission)
	));
	review(node, &[Some(true); 3]);
	run_to((System::block_number() / EPOCH + 1) * EPOCH);
	assert_eq!(state(node), Some(NodeState::Probation { clean_epochs: 0 }));
	node
}

#[test]
fn an_admission_quote_opens_a_committee_whose_majority_admits() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(3);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let record = Records::<Test>::get(node).unwrap();
		assert_eq!(record.last_valid, Some(3));
		assert_eq!(record.measurement, Some(good_measurement()));
		let members = opened_review(node);
		assert_eq!(members.len(), 3);
		assert!(members.iter().all(|m| (0..5).map(trusted).any(|t| t == *m)));
		// Two approve, one abstains: admitted, the absentee noted.
		review(node, &[Some(true), Some(true), None]);
		assert_eq!(state(node), Some(NodeState::Candidate { attested: true }));
		assert_eq!(CommitteeMisses::<Test>::get(members[2]), 1);
		assert_eq!(CommitteeMisses::<Test>::get(members[0]), 0);
		assert!(events().contains(&Event::ReviewClosed {
			node,
			verdict: Some(true),
			noted: vec![members[2]]
		}));
		run_to(EPOCH);
		assert_eq!(state(node), Some(NodeState::Probation { clean_epochs: 0 }));
	});
}

#[test]
fn committees_differ_between_candidates_and_never_include_the_candidate() {
	build_and_execute(8, || {
		run_to(2);
		let mut committees = Vec::new();
		for i in 1..=4 {
			let node = register(i as u64, i);
			assert_ok!(submit(
				i as u64,
				node,
				Purpose::Admission,
				&quote(&tpm(i), node, Purpose::Admission)
			));
			let mut members = opened_review(node);
			assert!(!members.contains(&node));
			members.sort();
			committees.push(members);
		}
		committees.dedup();
		assert!(committees.len() > 1, "the draw depends on the candidate");
	});
}

#[test]
fn a_split_committee_decides_nothing_and_a_rejecting_majority_quarantines_with_reporters() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let members = review(node, &[Some(true), Some(false), None]);
		assert_eq!(state(node), Some(NodeState::Candidate { attested: false }));
		assert!(events().contains(&Event::ReviewClosed {
			node,
			verdict: None,
			noted: vec![members[2]]
		}));
		// It may try again with a fresh quote; this time two reject.
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let members = review(node, &[Some(false), Some(true), Some(false)]);
		let Some(NodeState::Quarantined { offence, .. }) = state(node) else { panic!() };
		assert_eq!(offence, Offence::CommitteeRejected);
		let mut reporters = pallet_tea_nodes::Reporters::<Test>::get(node).into_inner();
		reporters.sort();
		let mut expected = vec![operator(members[0]), operator(members[2])];
		expected.sort();
		assert_eq!(reporters, expected);
		assert_eq!(CommitteeMisses::<Test>::get(members[1]), 1, "voted against the majority");
	});
}

#[test]
fn a_rejected_candidate_that_does_not_appeal_is_slashed_exactly() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let members = review(node, &[Some(false), Some(false), Some(true)]);
		let (a, b) = (operator(members[0]), operator(members[1]));
		let before = (Balances::free_balance(a), Balances::free_balance(b));
		let treasury = Balances::free_balance(TREASURY);
		let Some(NodeState::Quarantined { appeal_until, .. }) = state(node) else { panic!() };
		run_to(appeal_until + EPOCH);
		assert_eq!(state(node), None);
		// 10% of the deposit to the two reporters, 90% to the treasury.
		assert_eq!(Balances::free_balance(a), before.0 + DEPOSIT / 20);
		assert_eq!(Balances::free_balance(b), before.1 + DEPOSIT / 20);
		assert_eq!(Balances::free_balance(TREASURY), treasury + DEPOSIT * 9 / 10);
		assert_eq!(
			Balances::balance_on_hold(&pallet_tea_nodes::HoldReason::NodeDeposit.into(), &1),
			0
		);
		assert_eq!(Records::<Test>::get(node), None, "its record went with it");
	});
}

#[test]
fn a_rejected_candidate_appeals_through_a_new_committee() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		review(node, &[Some(false); 3]);
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		// A valid appeal quote does not clear it by itself: a committee must.
		assert_ok!(submit(1, node, Purpose::Appeal, &quote(&tpm(1), node, Purpose::Appeal)));
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		review(node, &[Some(true); 3]);
		// Cleared the moment the last member voted: back in the queue, attested (and admitted
		// to probation if an epoch boundary came before the deadline).
		assert!(
			matches!(
				state(node),
				Some(NodeState::Candidate { attested: true } | NodeState::Probation { .. })
			),
			"{:?}",
			state(node)
		);
	});
}

#[test]
fn the_last_vote_closes_a_review_at_once_and_only_that_review() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let members = opened_review(node);
		let deadline = Reviews::<Test>::get(node).unwrap().deadline;
		for (i, member) in members.iter().enumerate() {
			assert!(Reviews::<Test>::contains_key(node), "open until the last vote");
			assert_ok!(TeaAttestation::vote(
				RuntimeOrigin::signed(operator(*member)),
				*member,
				node,
				false
			));
			assert_eq!(Reviews::<Test>::contains_key(node), i + 1 < members.len());
		}
		assert!(System::events().iter().any(|e| matches!(
			e.event,
			RuntimeEvent::TeaAttestation(Event::ReviewClosed { verdict: Some(false), .. })
		)));
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		// Off the schedule: the appeal's new review is not closed at the old one's slot.
		assert!(ReviewsDue::<Test>::iter().all(|(_, due)| !due.contains(&node)));
		run_to(System::block_number() + 1);
		assert_ok!(submit(1, node, Purpose::Appeal, &quote(&tpm(1), node, Purpose::Appeal)));
		opened_review(node);
		let second = Reviews::<Test>::get(node).unwrap().deadline;
		assert!(second > deadline);
		run_to(deadline + 1);
		assert!(Reviews::<Test>::contains_key(node), "the appeal's review is still open");
		run_to(second + 1);
		assert!(!Reviews::<Test>::contains_key(node));
		TeaAttestation::do_try_state().unwrap();
	});
}

#[test]
fn a_candidate_cannot_skip_its_committee_by_failing_and_appealing() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		let mut bad = quote(&tpm(1), node, Purpose::Admission);
		bad.pcrs[0].1[0] ^= 1;
		assert_ok!(submit(1, node, Purpose::Admission, &bad));
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		run_to(3);
		assert_ok!(submit(1, node, Purpose::Appeal, &quote(&tpm(1), node, Purpose::Appeal)));
		assert!(!opened_review(node).is_empty(), "the appeal goes to a committee");
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
	});
}

#[test]
fn a_heartbeat_is_recorded_and_signals_the_rollouts() {
	build_and_execute(3, || {
		let node = trusted(0);
		run_to(4);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&quote(&tpm(1000), node, Purpose::Heartbeat)
		));
		assert_eq!(Records::<Test>::get(node).unwrap().last_valid, Some(4));
		assert_eq!(Upgraded::get(), vec![(node, good_measurement())]);
		assert!(events().contains(&Event::Attested {
			node,
			purpose: Purpose::Heartbeat,
			measurement: good_measurement()
		}));
	});
}

#[test]
fn replayed_stale_and_future_anchors_are_refused_without_a_trace() {
	build_and_execute(3, || {
		let node = trusted(0);
		run_to(10);
		let older = quote(&tpm(1000), node, Purpose::Heartbeat);
		run_to(11);
		let q = quote(&tpm(1000), node, Purpose::Heartbeat);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &q));
		// The same quote again, and an older valid one.
		assert_noop!(submit(1000, node, Purpose::Heartbeat, &q), AttestationError::Replayed);
		assert_noop!(submit(1000, node, Purpose::Heartbeat, &older), AttestationError::Replayed);
		// Anchored outside the window, or at the current block.
		run_to(11 + WINDOW + 1);
		let mut stale = quote(&tpm(1000), node, Purpose::Heartbeat);
		stale.anchor = System::block_number() - WINDOW - 1;
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &stale),
			AttestationError::AnchorTooOld
		);
		let mut future = quote(&tpm(1000), node, Purpose::Heartbeat);
		future.anchor = System::block_number();
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &future),
			AttestationError::AnchorInFuture
		);
		// The window's oldest block is fine.
		let nonce = challenge(node, Purpose::Heartbeat, 12);
		let (attest, signature) = tpm(1000).quote(&nonce, &good_pcrs());
		let edge = Quote { anchor: 12, attest, signature, pcrs: good_pcrs(), log: launch() };
		assert_eq!(System::block_number() - 12, WINDOW);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &edge));
	});
}

/// A quote over another challenge proves nothing against the node (its anchor may have been
/// reorganised away, or it is an old quote): refused, not evidence.
#[test]
fn a_quote_for_another_challenge_is_refused_not_evidence() {
	build_and_execute(3, || {
		let node = trusted(0);
		run_to(6);
		let mut other_purpose = quote(&tpm(1000), node, Purpose::Heartbeat);
		let nonce = challenge(node, Purpose::Appeal, other_purpose.anchor);
		(other_purpose.attest, other_purpose.signature) = tpm(1000).quote(&nonce, &good_pcrs());
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &other_purpose),
			AttestationError::StaleChallenge
		);
		let mut older = quote(&tpm(1000), node, Purpose::Heartbeat);
		let nonce = challenge(node, Purpose::Heartbeat, older.anchor - 1);
		(older.attest, older.signature) = tpm(1000).quote(&nonce, &good_pcrs());
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &older),
			AttestationError::StaleChallenge
		);
		assert_eq!(state(node), Some(NodeState::Active));
	});
}

#[test]
fn envelope_errors_change_nothing() {
	build_and_execute(3, || {
		let node = trusted(0);
		let candidate = register(1, 1);
		run_to(5);
		let q = quote(&tpm(1000), node, Purpose::Heartbeat);
		assert_noop!(submit(1001, node, Purpose::Heartbeat, &q), AttestationError::NotOperator);
		assert_noop!(
			submit(1000, H256::repeat_byte(9), Purpose::Heartbeat, &q),
			AttestationError::UnknownNode
		);
		assert_noop!(submit(1000, node, Purpose::Admission, &q), AttestationError::WrongPurpose);
		assert_noop!(submit(1000, node, Purpose::Appeal, &q), AttestationError::WrongPurpose);
		let c = quote(&tpm(1), candidate, Purpose::Heartbeat);
		assert_noop!(submit(1, candidate, Purpose::Heartbeat, &c), AttestationError::WrongPurpose);
		assert_noop!(
			TeaAttestation::submit_attestation(
				RuntimeOrigin::none(),
				node,
				Purpose::Heartbeat,
				4,
				Default::default(),
				Default::default(),
				Default::default(),
				Default::default()
			),
			DispatchError::BadOrigin
		);
	});
}

/// Each failed check of a quote the node's key signed is evidence with its reason: the call
/// succeeds, the node is quarantined, the rollouts hear of the failure, and nothing else
/// changes.
#[test]
fn every_failed_check_is_evidence_with_its_reason() {
	type Tamper = Box<dyn Fn(&mut Quote, NodeId)>;
	// Signed by the node's key after the change (the test signer can; a TPM signs only what it
	// made): what fails is then about bytes the key vouched for.
	let resigned = |f: fn(&mut Vec<u8>)| -> Tamper {
		Box::new(move |q, _| {
			f(&mut q.attest);
			q.signature = tpm(1000).sign(&q.attest);
		})
	};
	let cases: Vec<(Tamper, Offence)> = vec![
		(Box::new(|q, _| q.pcrs[0].1[3] ^= 1), Offence::FailedQuote(QuoteError::PcrDigestMismatch)),
		(
			// The TPM quoted one PCR more than the values sent (the policy's selection).
			Box::new(|q, node| {
				let nonce = challenge(node, Purpose::Heartbeat, q.anchor);
				let mut more = good_pcrs();
				more.push((15, [0; 32]));
				(q.attest, q.signature) = tpm(1000).quote(&nonce, &more);
			}),
			Offence::FailedQuote(QuoteError::PcrSelectionMismatch),
		),
		(
			// A valid quote whose log shows a runtime governance never allowed.
			Box::new(|q, node| {
				let nonce = challenge(node, Purpose::Heartbeat, q.anchor);
				q.log = vec![entry(EventKind::Runtime, &[0x66; 32])];
				q.pcrs = pcrs_after([0; 32], &q.log);
				(q.attest, q.signature) = tpm(1000).quote(&nonce, &q.pcrs);
			}),
			Offence::UnknownRuntime,
		),
		(resigned(|a| a.truncate(30)), Offence::FailedQuote(QuoteError::Malformed)),
		(resigned(|a| a.push(0)), Offence::FailedQuote(QuoteError::Malformed)),
		(resigned(|a| a[0] ^= 0xff), Offence::FailedQuote(QuoteError::NotTpmGenerated)),
		(resigned(|a| a[5] = 0x17), Offence::FailedQuote(QuoteError::NotAQuote)),
	];
	for (i, (tamper, offence)) in cases.into_iter().enumerate() {
		build_and_execute(3, || {
			let node = trusted(0);
			run_to(6);
			let mut q = quote(&tpm(1000), node, Purpose::Heartbeat);
			tamper(&mut q, node);
			let balances = Balances::free_balance(1000);
			assert_ok!(submit(1000, node, Purpose::Heartbeat, &q));
			let Some(NodeState::Quarantined { offence: got, .. }) = state(node) else {
				panic!("case {i}: not quarantined")
			};
			assert_eq!(got, offence, "case {i}");
			assert!(events().contains(&Event::QuoteRejected {
				node,
				purpose: Purpose::Heartbeat,
				offence
			}));
			assert_eq!(Failures::get(), vec![node], "case {i}");
			assert!(Upgraded::get().is_empty());
			let record = Records::<Test>::get(node).unwrap();
			assert_eq!((record.last_valid, record.last_anchor), (None, 5), "case {i}");
			assert_eq!(Balances::free_balance(1000), balances);
		});
	}
}

/// Review finding (issue 14, reproduced here before the fix): the verifier checked the
/// signature last, so bytes nobody's TPM signed were evidence — a `BadSignature`, or a
/// `PcrDigestMismatch` for made-up bytes — and whoever registered someone else's EK and AK
/// could quarantine that node id with garbage, blocking its owner's claim. A quote the node's
/// key did not sign proves nothing about its TPM: refused, never held against the node.
#[test]
fn bytes_the_node_key_did_not_sign_are_refused_never_evidence() {
	type Tamper = Box<dyn Fn(&mut Quote, NodeId)>;
	let cases: Vec<Tamper> = vec![
		// Another key's quote over the right challenge.
		Box::new(|q, node| {
			let nonce = challenge(node, Purpose::Heartbeat, q.anchor);
			(q.attest, q.signature) = SoftTpm::new(77).quote(&nonce, &good_pcrs());
		}),
		// Made-up bytes, the signature of another quote kept.
		Box::new(|q, _| q.attest.truncate(30)),
		Box::new(|q, _| q.attest.push(0)),
		Box::new(|q, _| q.attest[0] ^= 0xff),
		Box::new(|q, _| {
			let at = q.attest.len() - 1;
			q.attest[at] ^= 1;
		}),
		// No signature at all, or a broken one.
		Box::new(|q, _| q.signature[1] = 0x14),
		Box::new(|q, _| q.signature.clear()),
		Box::new(|q, _| q.signature[10] ^= 1),
	];
	for tamper in cases {
		build_and_execute(3, || {
			let node = trusted(0);
			let candidate = register(1, 1);
			run_to(6);
			for (who, node, purpose) in
				[(1000, node, Purpose::Heartbeat), (1, candidate, Purpose::Admission)]
			{
				let mut q = quote(&tpm(who as u32), node, purpose);
				tamper(&mut q, node);
				assert_noop!(submit(who, node, purpose, &q), AttestationError::UnsignedQuote);
			}
		});
	}
}

/// Review finding: the TPM's reset and restart counts and its clock were parsed and ignored, so a
/// TPM whose state was rolled back (restored from a backup, or a software TPM's state copied to
/// a second machine) kept attesting for the same key. Each rollback is now evidence.
#[test]
fn a_tpm_whose_counters_or_clock_go_back_is_evidence() {
	use tea_primitives::tpm::TpmClock;
	let at = |clock, reset_count, restart_count| TpmClock { clock, reset_count, restart_count };
	let cases = [
		(at(9_000, 4, 0), true, QuoteError::ResetCountWentBack),
		(at(9_000, 5, 1), true, QuoteError::RestartCountWentBack),
		(at(4_999, 5, 2), true, QuoteError::ClockWentBack),
		(at(4_000, 5, 3), true, QuoteError::ClockWentBack),
	];
	for (i, (clock, safe, reason)) in cases.into_iter().enumerate() {
		build_and_execute(3, || {
			let node = trusted(0);
			let signer = tpm(1000);
			run_to(4);
			signer.set_clock(at(5_000, 5, 2), true);
			assert_ok!(submit(
				1000,
				node,
				Purpose::Heartbeat,
				&quote(&signer, node, Purpose::Heartbeat)
			));
			assert_eq!(Clocks::<Test>::get(node), Some(at(5_001, 5, 2)), "case {i}");
			run_to(5);
			signer.set_clock(clock, safe);
			assert_ok!(submit(
				1000,
				node,
				Purpose::Heartbeat,
				&quote(&signer, node, Purpose::Heartbeat)
			));
			let offence = Offence::FailedQuote(reason);
			assert!(
				matches!(state(node), Some(NodeState::Quarantined { offence: got, .. }) if got == offence),
				"case {i}: {:?}",
				state(node)
			);
			assert!(events().contains(&Event::QuoteRejected {
				node,
				purpose: Purpose::Heartbeat,
				offence
			}));
			// The rejected quote's clock is not kept.
			assert_eq!(Clocks::<Test>::get(node), Some(at(5_001, 5, 2)), "case {i}");
		});
	}
}

#[test]
fn a_tpm_that_moves_forward_keeps_attesting_also_after_a_power_loss() {
	use tea_primitives::tpm::TpmClock;
	let at = |clock, reset_count, restart_count| TpmClock { clock, reset_count, restart_count };
	build_and_execute(3, || {
		let node = trusted(0);
		let signer = tpm(1000);
		// Later in the cycle, after a restart, after a reset; after a power loss the clock
		// restarts earlier, whether or not the TPM says so (a killed swtpm says it is safe).
		let steps = [
			(at(5_000, 5, 2), true),
			(at(6_000, 5, 2), true),
			(at(7_000, 5, 3), true),
			(at(8_000, 6, 0), true),
			(at(1_000, 7, 0), false),
			(at(500, 8, 0), true),
		];
		for (i, (clock, safe)) in steps.into_iter().enumerate() {
			run_to(4 + i as u64);
			signer.set_clock(clock, safe);
			assert_ok!(submit(
				1000,
				node,
				Purpose::Heartbeat,
				&quote(&signer, node, Purpose::Heartbeat)
			));
			assert_eq!(state(node), Some(NodeState::Active), "step {i}");
			assert_eq!(Clocks::<Test>::get(node).unwrap().clock, clock.clock + 1);
		}
	});
}

#[test]
fn a_quarantined_node_clears_itself_with_a_fresh_valid_quote() {
	build_and_execute(3, || {
		let node = trusted(0);
		run_to(6);
		let mut bad = quote(&tpm(1000), node, Purpose::Heartbeat);
		bad.pcrs[0].1[0] ^= 1;
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &bad));
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		// The same anchor again is a replay, even for an appeal.
		let mut replay = quote(&tpm(1000), node, Purpose::Appeal);
		replay.anchor = 5;
		assert_noop!(submit(1000, node, Purpose::Appeal, &replay), AttestationError::Replayed);
		run_to(7);
		assert_ok!(submit(1000, node, Purpose::Appeal, &quote(&tpm(1000), node, Purpose::Appeal)));
		assert_eq!(state(node), Some(NodeState::Candidate { attested: true }));
		assert!(PendingReviews::<Test>::get().is_empty(), "a vetted node needs no committee");
	});
}

#[test]
fn an_appeal_after_the_window_is_refused_and_the_node_slashed() {
	build_and_execute(5, || {
		let node = on_probation(1, 1);
		let mut bad = quote(&tpm(1), node, Purpose::Heartbeat);
		bad.pcrs[1].1[0] = 1;
		assert_ok!(submit(1, node, Purpose::Heartbeat, &bad));
		let Some(NodeState::Quarantined { appeal_until, .. }) = state(node) else { panic!() };
		run_to(appeal_until + 1);
		let late = quote(&tpm(1), node, Purpose::Appeal);
		if state(node).is_some() {
			assert_noop!(submit(1, node, Purpose::Appeal, &late), AttestationError::WrongPurpose);
		}
		let treasury = Balances::free_balance(TREASURY);
		run_to((appeal_until / EPOCH + 1) * EPOCH);
		assert_eq!(state(node), None);
		// No reporters: the chain saw the failure itself; all of it to the treasury.
		assert_eq!(Balances::free_balance(TREASURY), treasury + DEPOSIT);
		assert_eq!(Balances::free_balance(1), 100_000 - DEPOSIT);
	});
}

#[test]
fn missed_heartbeats_quarantine_and_a_heartbeat_resets_the_count() {
	build_and_execute(3, || {
		let (silent, beating, late) = (trusted(0), trusted(1), trusted(2));
		let beat = |i: u32, node: NodeId| {
			let q = quote(&tpm(1000 + i), node, Purpose::Heartbeat);
			assert_ok!(submit(1000 + i as u64, node, Purpose::Heartbeat, &q));
		};
		for period in 1..=3u64 {
			run_to(period * PERIOD - 2);
			beat(1, beating);
			if period == 3 {
				assert_eq!(Records::<Test>::get(late).unwrap().missed, 1);
				beat(2, late);
			}
			run_to(period * PERIOD);
		}
		// Block 20: everyone is within the first period since genesis. 40: `silent` and `late`
		// missed one. 58: `late` beats. 60: `silent` missed two = MAX_MISSED.
		let Some(NodeState::Quarantined { offence, .. }) = state(silent) else { panic!() };
		assert_eq!(offence, Offence::MissedHeartbeats);
		assert_eq!(state(beating), Some(NodeState::Active));
		assert_eq!(state(late), Some(NodeState::Active));
		assert_eq!(Records::<Test>::get(late).unwrap().missed, 0);
		assert_eq!(Failures::get(), vec![silent]);
		assert!(events().contains(&Event::HeartbeatMissed { node: silent, missed: 2 }));
	});
}

#[test]
fn votes_are_checked() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(1000), trusted(0), node, true),
			AttestationError::NoReview
		);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		let members = opened_review(node);
		let outsider = (0..5).map(trusted).find(|t| !members.contains(t)).unwrap();
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(operator(outsider)), outsider, node, true),
			AttestationError::NotAMember
		);
		let m = members[0];
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(operator(m) + 1), m, node, true),
			AttestationError::NotOperator
		);
		assert_ok!(TeaAttestation::vote(RuntimeOrigin::signed(operator(m)), m, node, true));
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(operator(m)), m, node, false),
			AttestationError::AlreadyVoted
		);
		// A second admission quote while under review.
		run_to(3);
		let again = quote(&tpm(1), node, Purpose::Admission);
		assert_noop!(submit(1, node, Purpose::Admission, &again), AttestationError::UnderReview);
		let deadline = Reviews::<Test>::get(node).unwrap().deadline;
		run_to(deadline);
		let late = members[1];
		System::set_block_number(deadline + 1);
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(operator(late)), late, node, true),
			AttestationError::ReviewClosed
		);
	});
}

#[test]
fn without_active_nodes_there_is_no_committee() {
	build_and_execute(0, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		run_to(3);
		assert!(events().contains(&Event::ReviewNotOpened {
			node,
			error: AttestationError::NoCommittee.into()
		}));
		assert!(!Reviews::<Test>::contains_key(node));
		// It may attest again later.
		let q = quote(&tpm(1), node, Purpose::Admission);
		assert_ok!(submit(1, node, Purpose::Admission, &q));
	});
}

#[test]
fn committees_are_drawn_the_next_block_and_at_most_two_per_block() {
	build_and_execute(3, || {
		run_to(2);
		let nodes: Vec<NodeId> = (1..=3).map(|i| register(i as u64, i)).collect();
		for (i, node) in nodes.iter().take(2).enumerate() {
			let i = i as u32 + 1;
			assert_ok!(submit(
				i as u64,
				*node,
				Purpose::Admission,
				&quote(&tpm(i), *node, Purpose::Admission)
			));
			assert!(!Reviews::<Test>::contains_key(node), "not drawn in the submission block");
		}
		let q = quote(&tpm(3), nodes[2], Purpose::Admission);
		assert_noop!(submit(3, nodes[2], Purpose::Admission, &q), AttestationError::ReviewsBusy);
		run_to(3);
		assert!(Reviews::<Test>::contains_key(nodes[0]) && Reviews::<Test>::contains_key(nodes[1]));
		assert_eq!(ReviewsDue::<Test>::get(3 + REVIEW + 1).len(), 2);
		// No vote: no verdict, every member noted.
		run_to(3 + REVIEW + 1);
		assert_eq!(Reviews::<Test>::iter().count(), 0);
		assert_eq!(CommitteeMisses::<Test>::get(trusted(0)), 2);
	});
}

#[test]
fn members_are_active_nodes_of_other_operators() {
	build_and_execute(4, || {
		// The candidate's operator also runs trusted node 0.
		let node = register(1000, 1);
		run_to(2);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Admission,
			&quote(&tpm(1), node, Purpose::Admission)
		));
		let members = opened_review(node);
		assert_eq!(members.len(), 3);
		assert!(!members.contains(&trusted(0)));
		// A member quarantined meanwhile cannot vote.
		let m = members[0];
		pallet_tea_nodes::Pallet::<Test>::report(&m, Offence::MissedHeartbeats, &[]);
		assert_noop!(
			TeaAttestation::vote(RuntimeOrigin::signed(operator(m)), m, node, true),
			AttestationError::MemberNotActive
		);
	});
}

#[test]
fn an_appeal_that_a_committee_could_not_decide_in_time_is_refused() {
	build_and_execute(5, || {
		let node = register(1, 1);
		run_to(2);
		assert_ok!(submit(1, node, Purpose::Admission, &quote(&tpm(1), node, Purpose::Admission)));
		review(node, &[Some(false); 3]);
		let Some(NodeState::Quarantined { appeal_until, .. }) = state(node) else { panic!() };
		run_to(appeal_until - REVIEW - 17);
		let q = quote(&tpm(1), node, Purpose::Appeal);
		assert_noop!(submit(1, node, Purpose::Appeal, &q), AttestationError::AppealTooLate);
	});
}

#[test]
fn heartbeat_rules_are_governance_and_checked() {
	build_and_execute(1, || {
		let rules = HeartbeatRules { period: 50, max_missed: 4 };
		assert_noop!(
			TeaAttestation::set_heartbeat_rules(RuntimeOrigin::signed(1), rules),
			DispatchError::BadOrigin
		);
		for bad in [
			HeartbeatRules { period: 0, max_missed: 4 },
			HeartbeatRules { period: 5, max_missed: 0 },
		] {
			assert_noop!(
				TeaAttestation::set_heartbeat_rules(RuntimeOrigin::root(), bad),
				AttestationError::BadRules
			);
		}
		assert_ok!(TeaAttestation::set_heartbeat_rules(RuntimeOrigin::root(), rules));
		assert_eq!(Heartbeats::<Test>::get(), rules);
	});
}

// The attestation policy and event logs (issue 14).

/// A release CID workers may run (sha2-256 raw CIDv1 bytes).
fn actor_cid() -> Vec<u8> {
	let mut cid = vec![0x01, 0x55, 0x12, 0x20];
	cid.extend([0xac; 32]);
	cid
}

/// A quote by `signer` over `pcrs` with `log`, for node `trusted(0)`'s heartbeat.
fn logged(signer: &SoftTpm, pcrs: Vec<(u8, [u8; 32])>, log: Vec<LogEvent>) -> Quote {
	let node = trusted(0);
	let anchor = System::block_number() - 1;
	let nonce = challenge(node, Purpose::Heartbeat, anchor);
	let (attest, signature) = signer.quote(&nonce, &pcrs);
	Quote { anchor, attest, signature, pcrs, log }
}

fn with_policy(test: impl FnOnce()) {
	build_and_execute(3, || {
		Runnable::mutate(|r| r.push((actor_cid(), b"analytics".to_vec(), 2)));
		run_to(4);
		test()
	})
}

/// `node`'s TPM (returned) quotes its launch log in TPM reset cycle 1 (accepted at block 4),
/// then is reset: block 5, cycle 2.
fn launched_then_reset(node: NodeId) -> SoftTpm {
	use tea_primitives::tpm::TpmClock;
	let signer = tpm(1000);
	signer.set_clock(TpmClock { clock: 10, reset_count: 1, restart_count: 0 }, true);
	let pcrs = pcrs_after([0; 32], &launch());
	assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, pcrs, launch())));
	assert_eq!(state(node), Some(NodeState::Active));
	run_to(5);
	signer.set_clock(TpmClock { clock: 20, reset_count: 2, restart_count: 0 }, true);
	signer
}

#[test]
fn a_policy_is_governance_and_never_selects_a_resettable_pcr() {
	build_and_execute(3, || {
		let other = PcrPolicy {
			pcrs: vec![(0, PcrRule::Unchecked), (LOG_PCR, PcrRule::Log)].try_into().unwrap(),
		};
		assert_noop!(
			TeaAttestation::set_policy(RuntimeOrigin::signed(1000), other.clone()),
			DispatchError::BadOrigin
		);
		for pcr in [16u8, 23] {
			let mut bad = policy();
			bad.pcrs.try_push((pcr, PcrRule::Log)).unwrap();
			assert_noop!(
				TeaAttestation::set_policy(RuntimeOrigin::root(), bad),
				AttestationError::BadPolicy
			);
		}
		let no_log = PcrPolicy { pcrs: vec![(0, PcrRule::Unchecked)].try_into().unwrap() };
		assert_noop!(
			TeaAttestation::set_policy(RuntimeOrigin::root(), no_log),
			AttestationError::BadPolicy
		);
		assert_eq!(Policy::<Test>::get(), Some(policy()), "set at genesis");
		assert_ok!(TeaAttestation::set_policy(RuntimeOrigin::root(), other.clone()));
		assert_eq!(Policy::<Test>::get(), Some(other.clone()));
		assert!(events().contains(&Event::PolicySet { policy: other.clone() }));
		assert_eq!(PolicyChange::<Test>::get(), Some((Some(policy()), 1)));
		run_to(2 + WINDOW);
		assert_ok!(TeaAttestation::set_policy(RuntimeOrigin::root(), policy()));
		assert_eq!(PolicyChange::<Test>::get(), Some((Some(other), 2 + WINDOW)));
	});
}

/// Review finding (issue 14): without a policy the chain fell back to a legacy rule, under
/// which the digest of whatever PCRs a quote selected was the measurement, so a quote over the
/// resettable PCR 16, reset and extended with the genuine binary's hash, passed for any
/// binary; a chain whose genesis set no policy ran under it. There is no rule without a
/// policy any more: every quote is refused (an error, never evidence) until governance sets
/// one, and no call unsets it.
#[test]
fn without_a_policy_every_quote_is_refused_as_an_error() {
	build_and_execute(3, || {
		let node = trusted(0);
		Policy::<Test>::kill();
		run_to(4);
		// The legacy quote, PCRs 16 and 23 whose digest governance once allowed.
		let legacy = vec![(16, [7; 32]), (23, [0; 32])];
		Allowed::mutate(|a| a.push(H256(tea_primitives::tpm::pcr_digest(&legacy))));
		let anchor = System::block_number() - 1;
		let (attest, signature) =
			tpm(1000).quote(&challenge(node, Purpose::Heartbeat, anchor), &legacy);
		let q = Quote { anchor, attest, signature, pcrs: legacy, log: vec![] };
		assert_noop!(submit(1000, node, Purpose::Heartbeat, &q), AttestationError::NoPolicy);
		// Nor a quote with a log: there is nothing to replay it against.
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &quote(&tpm(1000), node, Purpose::Heartbeat)),
			AttestationError::NoPolicy
		);
		assert_eq!(state(node), Some(NodeState::Active));
		assert!(Records::<Test>::get(node).is_none());
		// Once governance sets one, quotes anchored after it are judged.
		assert_ok!(TeaAttestation::set_policy(RuntimeOrigin::root(), policy()));
		run_to(5);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&quote(&tpm(1000), node, Purpose::Heartbeat)
		));
		assert_eq!(Records::<Test>::get(node).unwrap().measurement, Some(good_measurement()));
	});
}

/// Review finding: the measurement was the digest of whatever PCRs the quote selected, so a
/// quote over the resettable PCR 16, reset and extended with the genuine binary's hash, passed
/// for any binary. Under a policy a quote must cover the policy's PCRs (never 16–23), and what
/// runs is the runtime its event log shows, replayed to the quoted value.
#[test]
fn under_a_policy_the_legacy_quote_over_pcr_16_no_longer_passes() {
	with_policy(|| {
		let node = trusted(0);
		// The legacy quote: PCRs 16 and 23 whose digest is an allowed measurement.
		let legacy = vec![(16, [7; 32]), (23, [0; 32])];
		Allowed::mutate(|a| a.push(H256(tea_primitives::tpm::pcr_digest(&legacy))));
		let q = logged(&tpm(1000), legacy, vec![]);
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &q),
			AttestationError::NotPolicySelection
		);
		// Nor does the genuine runtime's digest extended by hand without its launch order:
		// a log must reproduce the value, and the runtime in it must be allowed.
		let log = vec![entry(EventKind::Runtime, &[0x66; 32])];
		let q = logged(&tpm(1000), pcrs_after([0; 32], &log), log);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &q));
		assert!(matches!(
			state(node),
			Some(NodeState::Quarantined { offence: Offence::UnknownRuntime, .. })
		));
	});
}

#[test]
fn quotes_in_flight_across_a_policy_change_are_judged_under_the_policy_they_were_made_for() {
	build_and_execute(3, || {
		let node = trusted(0);
		run_to(4);
		// A heartbeat anchored at block 3 under the genesis policy, submitted after a new
		// policy (another boot value for PCR 0) was set at 4.
		let in_flight = quote(&tpm(1000), node, Purpose::Heartbeat);
		let new_boot = [0xb1; 32];
		let new = PcrPolicy {
			pcrs: vec![(0, PcrRule::Fixed(new_boot)), (LOG_PCR, PcrRule::Log)].try_into().unwrap(),
		};
		assert_ok!(TeaAttestation::set_policy(RuntimeOrigin::root(), new.clone()));
		run_to(5);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &in_flight));
		assert_eq!(state(node), Some(NodeState::Active));
		// Anchored after the change: the new policy applies (the old boot value is evidence).
		let old_boot = quote(&tpm(1000), node, Purpose::Heartbeat);
		let mut new_boot_pcrs = good_pcrs();
		new_boot_pcrs[0].1 = new_boot;
		let renewed = logged(&tpm(1000), new_boot_pcrs, launch());
		// One change per challenge window.
		assert_noop!(
			TeaAttestation::set_policy(RuntimeOrigin::root(), policy()),
			AttestationError::PolicyChangedRecently
		);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &renewed));
		assert_eq!(state(node), Some(NodeState::Active));
		run_to(6);
		let mut stale = old_boot;
		let nonce = challenge(node, Purpose::Heartbeat, 5);
		(stale.attest, stale.signature) = tpm(1000).quote(&nonce, &stale.pcrs);
		stale.anchor = 5;
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &stale));
		assert!(matches!(
			state(node),
			Some(NodeState::Quarantined { offence: Offence::BadEvidence(_), .. })
		));
		run_to(4 + WINDOW + 1);
		assert_ok!(TeaAttestation::set_policy(RuntimeOrigin::root(), policy()));
	});
}

#[test]
fn a_log_from_launch_proves_the_runtime_and_the_next_continues_from_it() {
	with_policy(|| {
		let node = trusted(0);
		let signer = tpm(1000);
		let log = launch();
		let first = pcrs_after([0; 32], &log);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, first.clone(), log)));
		assert_eq!(state(node), Some(NodeState::Active));
		assert!(events().contains(&Event::Attested {
			node,
			purpose: Purpose::Heartbeat,
			measurement: H256(RUNTIME)
		}));
		assert_eq!(Upgraded::get(), vec![(node, H256(RUNTIME))]);
		let kept = Evidence::<Test>::get(node).unwrap();
		assert_eq!((kept.runtime, kept.pcrs.to_vec()), (H256(RUNTIME), vec![first[1]]));
		// Then the worker loads a release: the next log holds only that entry; the release's
		// rollout counts the node as upgraded.
		run_to(5);
		let more = vec![entry(EventKind::Actor, &actor_cid())];
		let second = pcrs_after(first[1].1, &more);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, second.clone(), more)));
		assert_eq!(state(node), Some(NodeState::Active));
		assert_eq!(ReleasesUpgraded::get(), vec![(node, b"analytics".to_vec(), 2)]);
		// Nothing loaded since: an empty log; and the whole log from the reset also passes.
		run_to(6);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&logged(&signer, second.clone(), vec![])
		));
		run_to(7);
		let all = [launch(), vec![entry(EventKind::Actor, &actor_cid())]].concat();
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, second, all)));
		assert_eq!(state(node), Some(NodeState::Active));
		assert_eq!(Evidence::<Test>::get(node).unwrap().runtime, H256(RUNTIME));
	});
}

/// The receipt key (issue 15): a worker runtime extends its ed25519 public key after its
/// launch; the chain keeps the latest one since the latest runtime, carries it across quotes
/// that continue the log, and forgets it when another runtime launches.
/// The receipt key the attestation pallet keeps for `node`.
fn kept_key(node: NodeId) -> Option<[u8; 32]> {
	Evidence::<Test>::get(node).and_then(|e| e.receipt_key)
}

/// A trusted node's first accepted quote: launched, then receipt key `[1; 32]`. Gives the
/// node, its TPM and the PCRs quoted.
fn keyed_node() -> (NodeId, SoftTpm, Vec<(u8, [u8; 32])>) {
	let node = trusted(0);
	let signer = tpm(1000);
	let log = [launch(), vec![entry(EventKind::ReceiptKey, &[1; 32])]].concat();
	let first = pcrs_after([0; 32], &log);
	assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, first.clone(), log)));
	assert_eq!(state(node), Some(NodeState::Active));
	assert_eq!(kept_key(node), Some([1; 32]));
	(node, signer, first)
}

#[test]
fn a_receipt_key_is_bound_after_its_runtime_and_only_there() {
	with_policy(|| {
		let (node, signer, first) = keyed_node();
		// A heartbeat with nothing new keeps it; a relaunch of the same build (no new runtime
		// entry) makes a new key, which replaces it.
		run_to(5);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, first.clone(), vec![])));
		assert_eq!(kept_key(node), Some([1; 32]));
		run_to(6);
		let more = vec![entry(EventKind::ReceiptKey, &[2; 32])];
		let second = pcrs_after(first[1].1, &more);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, second, more)));
		assert_eq!(kept_key(node), Some([2; 32]));
	});
	with_policy(|| {
		let (node, signer, first) = keyed_node();
		// The same allowed runtime launched again, with its configuration and no key yet: the
		// old key is forgotten until the new process extends its own.
		run_to(5);
		let relaunch = launch();
		let second = pcrs_after(first[1].1, &relaunch);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, second, relaunch)));
		assert_eq!(state(node), Some(NodeState::Active));
		assert_eq!(kept_key(node), None);
	});
}

#[test]
fn a_receipt_key_without_a_runtime_or_of_the_wrong_size_is_evidence() {
	let cases: Vec<(Vec<LogEvent>, EvidenceError)> = vec![
		// Extended before any runtime launched in the cycle: no measured process made it.
		(
			[vec![entry(EventKind::ReceiptKey, &[1; 32])], launch()].concat(),
			EvidenceError::ReceiptKeyWithoutRuntime,
		),
		(
			[launch(), vec![entry(EventKind::ReceiptKey, &[1; 31])]].concat(),
			EvidenceError::MalformedReceiptKey,
		),
		(
			[launch(), vec![entry(EventKind::ReceiptKey, &[1; 33])]].concat(),
			EvidenceError::MalformedReceiptKey,
		),
	];
	for (i, (log, error)) in cases.into_iter().enumerate() {
		with_policy(|| {
			let node = trusted(0);
			let signer = tpm(1000);
			let pcrs = pcrs_after([0; 32], &log);
			assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, pcrs, log)));
			assert!(
				matches!(state(node), Some(NodeState::Quarantined { offence, .. })
					if offence == Offence::BadEvidence(error)),
				"case {i}: {:?}",
				state(node)
			);
			assert_eq!(kept_key(node), None);
		});
	}
}

/// Review finding (session 13): the rollout tier check ran on every release entry of a log,
/// also on those an earlier accepted quote had already proved (a log from the reset repeats
/// them). A release rolled back and rolled out again draws new tiers: a node that loaded it
/// in an open tier of the first rollout and landed in an unopened tier of the second was
/// evidence once it sent its whole log from the reset. Only entries extended after the last
/// accepted quote are held to the tiers of now.
#[test]
fn a_release_proven_earlier_is_not_held_to_a_later_rollouts_tiers() {
	with_policy(|| {
		let node = trusted(0);
		let signer = tpm(1000);
		let all = [launch(), vec![entry(EventKind::Actor, &actor_cid())]].concat();
		let loaded = pcrs_after([0; 32], &all);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&logged(&signer, loaded.clone(), all.clone())
		));
		assert_eq!(ReleasesUpgraded::get(), vec![(node, b"analytics".to_vec(), 2)]);
		// Rolled back and out again: the node's tier of the new rollout has not opened.
		TierClosed::mutate(|t| t.push((b"analytics".to_vec(), 2)));
		run_to(5);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, loaded.clone(), all)));
		assert_eq!(state(node), Some(NodeState::Active));
		// Loaded again after that quote: held to the tiers of now.
		run_to(6);
		let again = vec![entry(EventKind::Actor, &actor_cid())];
		let reloaded = pcrs_after(loaded[1].1, &again);
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, reloaded, again)));
		assert!(matches!(
			state(node),
			Some(NodeState::Quarantined { offence: Offence::UnapprovedActorLoaded, .. })
		));
	});
}

/// Review finding (kept open in session 9): a revoked release stayed acceptable in a log
/// forever. Entries extended after the node's last accepted quote (all of a log continuing
/// from it; of a log from the reset, those after it passes the accepted value, or all after a
/// TPM restart) were extended after that quote's anchor: a release revoked more than a
/// challenge window before the anchor was loaded after the node knew it. Sending the whole
/// log from the reset instead of the continuation does not hide it.
#[test]
fn a_release_loaded_after_the_node_knew_of_its_revocation_is_evidence() {
	use tea_primitives::tpm::TpmClock;
	#[derive(Clone, Copy, Debug)]
	enum Sent {
		/// The entries since the last accepted quote.
		Continued,
		/// The whole log since the reset, the release loaded after the last accepted quote.
		FromReset,
		/// The whole log since the reset, the release loaded before the last accepted quote.
		LoadedBefore,
		/// After a TPM restart (PCRs from zero, same reset count), the release loaded again.
		AfterRestart,
		/// After a TPM reset (another cycle), the release loaded again.
		AfterReset,
	}
	let revoked_early = Some(Offence::RevokedActorLoaded);
	// The last accepted quote is anchored at block 9; the window is 5 blocks: revoked at 3
	// the node knew, at 4 it may not have.
	let cases = [
		(3, Sent::Continued, revoked_early),
		(4, Sent::Continued, None),
		(3, Sent::FromReset, revoked_early),
		(3, Sent::LoadedBefore, None),
		(3, Sent::AfterRestart, revoked_early),
		(3, Sent::AfterReset, None),
	];
	for (i, (revoked_at, sent, verdict)) in cases.into_iter().enumerate() {
		with_policy(|| {
			let node = trusted(0);
			let signer = tpm(1000);
			signer.set_clock(TpmClock { clock: 10, reset_count: 1, restart_count: 0 }, true);
			let actor = vec![entry(EventKind::Actor, &actor_cid())];
			let before = match sent {
				Sent::LoadedBefore => [launch(), actor.clone()].concat(),
				_ => launch(),
			};
			run_to(10);
			let first = pcrs_after([0; 32], &before);
			assert_ok!(submit(
				1000,
				node,
				Purpose::Heartbeat,
				&logged(&signer, first.clone(), before.clone())
			));
			assert_eq!(Evidence::<Test>::get(node).unwrap().anchor, 9, "case {i}");
			ReleasesUpgraded::mutate(|r| r.clear());
			RevokedAt::mutate(|r| r.push((actor_cid(), revoked_at)));
			run_to(11);
			let (pcrs, log) = match sent {
				Sent::Continued => (pcrs_after(first[1].1, &actor), actor.clone()),
				Sent::FromReset => {
					let all = [launch(), actor.clone()].concat();
					(pcrs_after([0; 32], &all), all)
				}
				Sent::LoadedBefore => (first.clone(), before.clone()),
				Sent::AfterRestart | Sent::AfterReset => {
					let (reset_count, restart_count) =
						if matches!(sent, Sent::AfterRestart) { (1, 1) } else { (2, 0) };
					signer.set_clock(TpmClock { clock: 20, reset_count, restart_count }, true);
					let all = [launch(), actor.clone()].concat();
					(pcrs_after([0; 32], &all), all)
				}
			};
			assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, pcrs, log)));
			match verdict {
				Some(offence) => assert!(
					matches!(state(node), Some(NodeState::Quarantined { offence: o, .. }) if o == offence),
					"case {i} {sent:?}: {:?}",
					state(node)
				),
				None => {
					assert_eq!(state(node), Some(NodeState::Active), "case {i} {sent:?}");
					assert_eq!(ReleasesUpgraded::get(), vec![(node, b"analytics".to_vec(), 2)]);
				}
			}
		});
		RevokedAt::mutate(|r| r.clear());
		ReleasesUpgraded::mutate(|r| r.clear());
	}
}

#[test]
fn every_bad_log_is_evidence_with_its_reason() {
	let base = || pcrs_after([0; 32], &launch());
	let cases: Vec<(Box<dyn Fn() -> (Vec<(u8, [u8; 32])>, Vec<LogEvent>)>, Offence)> = vec![
		// An entry changed, removed, added after the fact.
		(
			Box::new(|| {
				(base(), vec![entry(EventKind::Runtime, &[0x5b; 32]), launch()[1].clone()])
			}),
			Offence::BadEvidence(EvidenceError::EventLogMismatch),
		),
		(
			Box::new(|| (base(), vec![launch()[0].clone()])),
			Offence::BadEvidence(EvidenceError::EventLogMismatch),
		),
		(
			Box::new(|| {
				let mut log = launch();
				log.push(entry(EventKind::Actor, &actor_cid()));
				(base(), log)
			}),
			Offence::BadEvidence(EvidenceError::EventLogMismatch),
		),
		// A boot PCR with another value.
		(
			Box::new(|| {
				let mut pcrs = base();
				pcrs[0].1 = [0xb1; 32];
				(pcrs, launch())
			}),
			Offence::BadEvidence(EvidenceError::PcrValueNotAllowed(0)),
		),
		// A runtime the allowlist does not hold, launched and logged honestly.
		(
			Box::new(|| {
				let log = vec![entry(EventKind::Runtime, &[0x66; 32])];
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnknownRuntime,
		),
		// An unallowed runtime launched first, the allowed one after it: it ran.
		(
			Box::new(|| {
				let log = [vec![entry(EventKind::Runtime, &[0x66; 32])], launch()].concat();
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnknownRuntime,
		),
		// A runtime entry that is no SHA-256.
		(
			Box::new(|| {
				let log = vec![entry(EventKind::Runtime, &RUNTIME[..31])];
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnknownRuntime,
		),
		// An entry in a PCR that holds no log.
		(
			Box::new(|| {
				let mut log = launch();
				log[1].pcr = 0;
				(base(), log)
			}),
			Offence::BadEvidence(EvidenceError::EntryOutsidePolicy),
		),
		// No runtime measured since the reset.
		(
			Box::new(|| {
				let log = vec![entry(EventKind::Config, &[0xc0; 32])];
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnknownRuntime,
		),
		// A release nobody approved, and a provider that is not registered.
		(
			Box::new(|| {
				let mut cid = actor_cid();
				cid[10] ^= 1;
				let log = [launch(), vec![entry(EventKind::Actor, &cid)]].concat();
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnapprovedActorLoaded,
		),
		// An approved release rolling out, loaded by a node whose tier has not opened.
		(
			Box::new(|| {
				TierClosed::mutate(|t| t.push((b"analytics".to_vec(), 2)));
				let log = [launch(), vec![entry(EventKind::Actor, &actor_cid())]].concat();
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnapprovedActorLoaded,
		),
		(
			Box::new(|| {
				let log = [launch(), vec![entry(EventKind::Provider, b"tea:evil")]].concat();
				(pcrs_after([0; 32], &log), log)
			}),
			Offence::UnapprovedActorLoaded,
		),
	];
	for (i, (make, offence)) in cases.into_iter().enumerate() {
		with_policy(|| {
			let node = trusted(0);
			// An accepted quote in an earlier TPM reset cycle first: what it left is kept.
			let signer = launched_then_reset(node);
			let (kept, clock) = (Evidence::<Test>::get(node), Clocks::<Test>::get(node));
			assert!(kept.is_some());
			let (pcrs, log) = make();
			assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, pcrs, log)));
			assert!(
				matches!(state(node), Some(NodeState::Quarantined { offence: got, .. }) if got == offence),
				"case {i}: {:?}",
				state(node)
			);
			assert_eq!(
				(Evidence::<Test>::get(node), Clocks::<Test>::get(node)),
				(kept, clock),
				"case {i}"
			);
		});
	}
}

#[test]
fn a_tpm_reset_starts_the_log_again_from_boot() {
	with_policy(|| {
		let node = trusted(0);
		// After a reset the log starts from zero again: a quote that claims the old cycle's
		// value with an empty log is not carried over (a real TPM cannot keep a PCR across a
		// reset), nor is the old runtime for a PCR that was reset.
		let signer = launched_then_reset(node);
		let old = pcrs_after([0; 32], &launch());
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, old, vec![])));
		assert!(
			matches!(
				state(node),
				Some(NodeState::Quarantined {
					offence: Offence::BadEvidence(EvidenceError::EventLogMismatch),
					..
				})
			),
			"{:?}",
			state(node)
		);
	});
	with_policy(|| {
		let node = trusted(0);
		let signer = launched_then_reset(node);
		let reset_pcrs = vec![(0, [0xb0; 32]), (LOG_PCR, [0; 32])];
		assert_ok!(submit(1000, node, Purpose::Heartbeat, &logged(&signer, reset_pcrs, vec![])));
		assert!(
			matches!(
				state(node),
				Some(NodeState::Quarantined { offence: Offence::UnknownRuntime, .. })
			),
			"{:?}",
			state(node)
		);
	});
}

#[test]
fn a_runtime_withdrawn_since_its_launch_is_no_evidence_but_must_not_keep_running() {
	with_policy(|| {
		let node = trusted(0);
		let signer = tpm(1000);
		// v1 was allowed and launched, then withdrawn; v2 (allowed) launched after it in the
		// same TPM reset cycle (a hardware TPM, no reboot in between).
		let v1 = [0x51; 32];
		Withdrawn::mutate(|w| w.push(H256(v1)));
		let log = vec![entry(EventKind::Runtime, &v1), entry(EventKind::Runtime, &RUNTIME)];
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&logged(&signer, pcrs_after([0; 32], &log), log)
		));
		assert_eq!(state(node), Some(NodeState::Active));
		assert_eq!(Evidence::<Test>::get(node).unwrap().runtime, H256(RUNTIME));
		// Still running the withdrawn one: refused, not evidence (it must launch an allowed
		// one, or miss its heartbeats).
		run_to(5);
		let log = vec![entry(EventKind::Runtime, &v1)];
		let q = logged(&signer, pcrs_after([0; 32], &log), log);
		assert_noop!(
			submit(1000, node, Purpose::Heartbeat, &q),
			AttestationError::RuntimeNotAllowedNow
		);
		assert_eq!(state(node), Some(NodeState::Active));
	});
}

#[test]
fn governance_can_forget_a_restored_tpm_state_and_the_node_appeals() {
	use tea_primitives::tpm::TpmClock;
	build_and_execute(3, || {
		let node = trusted(0);
		let signer = tpm(1000);
		run_to(4);
		signer.set_clock(TpmClock { clock: 5_000, reset_count: 9, restart_count: 0 }, true);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&quote(&signer, node, Purpose::Heartbeat)
		));
		// The operator restores an older TPM state: its quote is evidence.
		run_to(5);
		signer.set_clock(TpmClock { clock: 9_000, reset_count: 7, restart_count: 0 }, true);
		assert_ok!(submit(
			1000,
			node,
			Purpose::Heartbeat,
			&quote(&signer, node, Purpose::Heartbeat)
		));
		assert!(matches!(state(node), Some(NodeState::Quarantined { .. })));
		// Only governance may forget the old state, and only a node's that has one...
		assert_noop!(
			TeaAttestation::forget_tpm_state(RuntimeOrigin::signed(1000), node),
			DispatchError::BadOrigin
		);
		assert_noop!(
			TeaAttestation::forget_tpm_state(RuntimeOrigin::root(), H256::repeat_byte(7)),
			AttestationError::UnknownNode
		);
		// ...until governance forgets the old state; then a valid appeal clears the node.
		assert_ok!(TeaAttestation::forget_tpm_state(RuntimeOrigin::root(), node));
		assert_eq!(Clocks::<Test>::get(node), None);
		assert!(events().contains(&Event::TpmStateForgotten { node }));
		run_to(6);
		assert_ok!(submit(1000, node, Purpose::Appeal, &quote(&signer, node, Purpose::Appeal)));
		// Cleared: back in the admission queue, already vetted.
		assert_eq!(state(node), Some(NodeState::Candidate { attested: true }));
		assert_eq!(Clocks::<Test>::get(node).unwrap().reset_count, 7);
	});
}

/// The claim of a node by the holder of its attestation key: `operator`'s quote over the
/// `Claim` challenge anchored at the previous block.
fn possession(signer: &SoftTpm, node: NodeId, operator: AccountId) -> PossessionProof<u64> {
	let anchor = System::block_number() - 1;
	let nonce = TeaAttestation::challenge(&node, &operator, Purpose::Claim, anchor);
	let (attest, signature) = signer.quote(&nonce, &good_pcrs());
	PossessionProof {
		anchor,
		attest: attest.try_into().unwrap(),
		signature: signature.try_into().unwrap(),
		pcrs: good_pcrs().try_into().unwrap(),
	}
}

fn claim(claimant: AccountId, i: u32, proof: PossessionProof<u64>) -> DispatchResult {
	TeaNodes::claim(
		RuntimeOrigin::signed(claimant),
		ek(i).try_into().unwrap(),
		vec![0x30, 0x00].try_into().unwrap(),
		tpm(i).ak(),
		b"owner's peer".to_vec().try_into().unwrap(),
		proof,
	)
}

/// Review finding (issue 14): the challenge did not bind the operator, so whoever registered
/// an honest node's public EK and AK under its own account could complete the registration
/// with the honest node's own quotes (relayed), and the owner could never register. Now a
/// quote made for one account never serves another, the squatter can neither complete nor
/// harm the registration, and the owner claims it with a proof of possession and is admitted.
#[test]
fn a_squatter_never_completes_and_the_key_holder_claims_and_is_admitted() {
	build_and_execute(3, || {
		let (squatter, owner) = (1, 2);
		let node = register(squatter, 5);
		run_to(4);
		// The owner's TPM quotes for the owner's account; relayed by the squatter, the quote
		// proves nothing.
		let anchor = System::block_number() - 1;
		let owners = TeaAttestation::challenge(&node, &owner, Purpose::Admission, anchor);
		let (attest, signature) = tpm(5).quote(&owners, &good_pcrs());
		let relayed = Quote { anchor, attest, signature, pcrs: good_pcrs(), log: launch() };
		assert_noop!(
			submit(squatter, node, Purpose::Admission, &relayed),
			AttestationError::StaleChallenge
		);
		// Nor do bytes of its own making.
		let mut garbage = relayed.clone();
		garbage.pcrs[0].1[0] ^= 1;
		garbage.attest[40] ^= 1;
		assert_noop!(
			submit(squatter, node, Purpose::Admission, &garbage),
			AttestationError::UnsignedQuote
		);
		// The owner's proofs: not an admission quote, not another account's, not stale.
		assert_noop!(
			claim(
				owner,
				5,
				PossessionProof {
					anchor: relayed.anchor,
					attest: relayed.attest.clone().try_into().unwrap(),
					signature: relayed.signature.clone().try_into().unwrap(),
					pcrs: good_pcrs().try_into().unwrap(),
				}
			),
			AttestationError::BadPossessionProof
		);
		assert_noop!(
			claim(3, 5, possession(&tpm(5), node, owner)),
			AttestationError::BadPossessionProof
		);
		assert_noop!(
			claim(owner, 5, possession(&SoftTpm::new(99), node, owner)),
			AttestationError::BadPossessionProof
		);
		let early = possession(&tpm(5), node, owner);
		run_to(4 + WINDOW + 1);
		assert_noop!(claim(owner, 5, early), AttestationError::AnchorTooOld);
		// The claim, then the owner's admission quote (a claim quote never serves as one):
		// the committee is asked.
		assert_ok!(claim(owner, 5, possession(&tpm(5), node, owner)));
		assert_eq!(pallet_tea_nodes::Nodes::<Test>::get(node).unwrap().operator, owner);
		let proof = possession(&tpm(5), node, owner);
		let as_admission = Quote {
			anchor: proof.anchor,
			attest: proof.attest.to_vec(),
			signature: proof.signature.to_vec(),
			pcrs: good_pcrs(),
			log: launch(),
		};
		assert_noop!(
			submit(owner, node, Purpose::Admission, &as_admission),
			AttestationError::StaleChallenge
		);
		assert_ok!(submit(
			owner,
			node,
			Purpose::Admission,
			&quote(&tpm(5), node, Purpose::Admission)
		));
		assert!(events().contains(&Event::ReviewRequested { node, purpose: Purpose::Admission }));
		// Complete now (its quote verified): nobody claims it any more, not even with the key.
		assert_noop!(
			claim(3, 5, possession(&tpm(5), node, 3)),
			pallet_tea_nodes::Error::<Test>::NotClaimable
		);
	});
}

/// Review finding: a node removed while its review was open or waiting for its draw left the
/// review's schedule (and the pending draw) behind, which could close a later review of the
/// same node id early or decide it for a new registration. Removal takes both away.
#[test]
fn a_removed_node_takes_its_review_and_its_pending_draw_with_it() {
	use pallet_tea_nodes::OnNodeRemoved;
	build_and_execute(3, || {
		let (a, b) = (register(1, 1), register(2, 2));
		run_to(4);
		assert_ok!(submit(1, a, Purpose::Admission, &quote(&tpm(1), a, Purpose::Admission)));
		run_to(5);
		let deadline = Reviews::<Test>::get(a).expect("a's review is open").deadline;
		assert_ok!(submit(2, b, Purpose::Admission, &quote(&tpm(2), b, Purpose::Admission)));
		assert!(PendingReviews::<Test>::get().iter().any(|(n, _)| *n == b));
		TeaAttestation::on_node_removed(&a);
		TeaAttestation::on_node_removed(&b);
		assert!(Reviews::<Test>::get(a).is_none());
		assert!(ReviewsDue::<Test>::iter().all(|(_, due)| !due.contains(&a)), "{deadline}");
		assert!(PendingReviews::<Test>::get().is_empty());
		// Nothing is drawn for it at the next block.
		run_to(6);
		assert!(Reviews::<Test>::get(b).is_none());
	});
}
