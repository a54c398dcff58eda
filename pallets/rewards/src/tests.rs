//! Point accounting, the probation fraction, forfeits, self-dealing, every bad receipt, claims,
//! expiry, sweeping, and that an era never pays more than its reward.

use crate::{mock::*, *};
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Inspect, ConstU32},
	BoundedVec,
};
use pallet_tea_attestation::OnAttestation;
use pallet_tea_nodes::{NodeState, OnNodeRemoved};
use sp_core::{ed25519, Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{DispatchError, MultiSignature, Perbill};
use tea_primitives::{
	receipt::{sha256, Acknowledged, Receipt},
	ContentId,
};

const FUEL: u64 = 1_000_000;

fn node(i: u8) -> NodeId {
	H256::repeat_byte(i)
}

fn receipt_key(i: u8) -> ed25519::Pair {
	ed25519::Pair::from_seed(&[i; 32])
}

fn echo() -> ContentId {
	ContentId::of(b"\0asm echo")
}

/// Node `i`, operated by account `i`, active, with receipt key `i` bound and `echo` v1 out.
fn serving(i: u8) -> NodeId {
	let id = node(i);
	Registry::set(id, account(i), NodeState::Active);
	Rewards::attested(&id, Some(receipt_key(i).public().0));
	Releases::set(&echo(), "echo", 1);
	id
}

/// A receipt of node `i` (signed with key `key`) for `client`'s task `nonce`, burning `fuel`,
/// at `block`, acknowledged by `client`.
fn acked(
	i: u8,
	key: u8,
	client: Sr25519Keyring,
	nonce: u64,
	fuel: u64,
	block: u64,
) -> AcknowledgedOf<Test> {
	let receipt = Receipt {
		node: node(i).0,
		actor: b"echo".to_vec().try_into().unwrap(),
		version: 1,
		cid: echo(),
		input: sha256(b"in"),
		output: sha256(b"out"),
		fuel_used: fuel,
		client: client.to_account_id(),
		nonce,
		block,
		block_hash: H256::repeat_byte(0xbb),
		attestation: block.saturating_sub(1),
		key: receipt_key(key).public().0,
	};
	ack(receipt.sign(&receipt_key(key)), client)
}

fn ack(
	signed: tea_primitives::receipt::SignedReceipt<AccountId, u64, H256>,
	by: Sr25519Keyring,
) -> AcknowledgedOf<Test> {
	let acknowledgement = MultiSignature::from(by.pair().sign(&signed.acknowledgement_payload()));
	Acknowledged { signed, acknowledgement }
}

fn batch(
	receipts: Vec<AcknowledgedOf<Test>>,
) -> BoundedVec<AcknowledgedOf<Test>, ConstU32<MAX_BATCH>> {
	receipts.try_into().expect("within MaxBatch")
}

fn submit(i: u8, receipts: Vec<AcknowledgedOf<Test>>) -> sp_runtime::DispatchResult {
	Rewards::submit_receipts(RuntimeOrigin::signed(account(i)), node(i), batch(receipts))
}

fn points(era: EraIndex, i: u8) -> NodePointsOf<Test> {
	Points::<Test>::get(era, node(i)).expect("has points")
}

/// The last `ReceiptsCounted`: `(receipts, skipped, points)`.
fn last_counted() -> (u32, u32, u32) {
	System::events()
		.into_iter()
		.rev()
		.find_map(|r| match r.event {
			RuntimeEvent::Rewards(Event::ReceiptsCounted { receipts, skipped, points, .. }) => {
				Some((receipts, skipped, points))
			}
			_ => None,
		})
		.expect("a ReceiptsCounted event")
}

fn balance(who: &AccountId) -> Balance {
	Balances::balance(who)
}

fn set_params(f: impl FnOnce(&mut ParamsOf<Test>)) {
	let mut params = Params::<Test>::get();
	f(&mut params);
	assert_ok!(Rewards::set_params(RuntimeOrigin::root(), params));
}

#[test]
fn uptime_counts_once_per_interval_and_only_while_serving() {
	build_and_execute(|| {
		let a = serving(1);
		// `serving` counted its first quote at block 1.
		assert_eq!(points(0, 1).uptime, 100);
		// A node that quotes every block earns no more than one quote per interval: blocks 1
		// and 6 count, 2-5 and 7-10 do not.
		set_params(|p| p.beat_interval = 5);
		for block in 2..=10 {
			run_to(block);
			Rewards::attested(&a, None);
		}
		assert_eq!(points(0, 1).uptime, 200);
		assert_eq!(points(0, 1).last_beat, Some(6));
		// Candidates, quarantined and exiting nodes earn nothing.
		let states = [
			NodeState::Candidate { attested: true },
			NodeState::Quarantined {
				appeal_until: 100,
				offence: pallet_tea_nodes::Offence::MissedHeartbeats,
			},
			NodeState::Exiting { unbond_at: 100 },
		];
		for (i, state) in states.into_iter().enumerate() {
			let other = node(10 + i as u8);
			Registry::set(other, account(10 + i as u8), state);
			Rewards::attested(&other, None);
			Rewards::voted_with_majority(&other);
			assert_eq!(Points::<Test>::get(0, other), None, "{i}");
		}
		// Unregistered: nothing either.
		Rewards::attested(&node(99), None);
		assert_eq!(Points::<Test>::get(0, node(99)), None);
		assert_eq!(EraPoints::<Test>::get(), 200);
	});
}

#[test]
fn duty_points_count_each_vote_with_the_majority_and_probation_earns_its_fraction() {
	build_and_execute(|| {
		let a = serving(1);
		Rewards::voted_with_majority(&a);
		Rewards::voted_with_majority(&a);
		assert_eq!(points(0, 1).duty, 200);
		let b = node(2);
		Registry::set(b, account(2), NodeState::Probation { clean_epochs: 0 });
		Rewards::attested(&b, Some(receipt_key(2).public().0));
		Rewards::voted_with_majority(&b);
		// Half of 100 each.
		assert_eq!((points(0, 2).uptime, points(0, 2).duty), (50, 50));
		set_params(|p| p.probation = Perbill::from_percent(10));
		Rewards::voted_with_majority(&b);
		assert_eq!(points(0, 2).duty, 60);
		// Its work is worth the fraction too: 7 points of fuel, 10% of them rounded down.
		assert_ok!(submit(2, vec![acked(2, 2, Sr25519Keyring::Alice, 1, 70 * FUEL, 1)]));
		assert_eq!(points(0, 2).work, 7);
		// Promoted at block 10: what it did before counts at the probation rate, held back or
		// not.
		run_to(12);
		Registry::set_state(b, NodeState::Active);
		Registry::set_since(b, 10);
		assert_ok!(submit(
			2,
			vec![
				acked(2, 2, Sr25519Keyring::Bob, 1, 70 * FUEL, 9),
				acked(2, 2, Sr25519Keyring::Bob, 2, 70 * FUEL, 10),
			]
		));
		assert_eq!(points(0, 2).work, 7 + 7 + 70);
		assert_eq!(EraPoints::<Test>::get(), 300 + 50 + 60 + 84);
	});
}

#[test]
fn acknowledged_work_counts_fuel_per_client_up_to_the_cap() {
	build_and_execute(|| {
		serving(1);
		set_params(|p| p.client_cap = 10);
		run_to(3);
		assert_ok!(submit(
			1,
			vec![
				acked(1, 1, Sr25519Keyring::Alice, 1, 4 * FUEL, 2),
				acked(1, 1, Sr25519Keyring::Alice, 2, 4 * FUEL + 999_999, 2),
				acked(1, 1, Sr25519Keyring::Bob, 1, 3 * FUEL, 3),
			]
		));
		let p = points(0, 1);
		assert_eq!((p.work, p.clients), (11, 2));
		System::assert_last_event(
			Event::ReceiptsCounted { node: node(1), era: 0, receipts: 3, skipped: 0, points: 11 }
				.into(),
		);
		// Alice's receipts earn no more than the cap of 10 per client.
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 3, 50 * FUEL, 3)]));
		assert_eq!(points(0, 1).work, 13);
		assert_eq!(
			ClientWork::<Test>::get((0, node(1), Sr25519Keyring::Alice.to_account_id())),
			10
		);
		// A receipt without fuel, or of a client at its cap, earns nothing: it is not stored and
		// not counted against the limits (sent again, it earns nothing again).
		for _ in 0..2 {
			assert_ok!(submit(
				1,
				vec![
					acked(1, 1, Sr25519Keyring::Charlie, 1, 0, 3),
					acked(1, 1, Sr25519Keyring::Alice, 4, 9 * FUEL, 3)
				]
			));
			System::assert_last_event(
				Event::ReceiptsCounted {
					node: node(1),
					era: 0,
					receipts: 0,
					skipped: 2,
					points: 0,
				}
				.into(),
			);
		}
		assert_eq!((points(0, 1).clients, points(0, 1).receipts), (2, 4));
		assert_eq!(EraReceipts::<Test>::get(), 4);
		assert_eq!(Seen::<Test>::iter_prefix(0).count(), 4);
		// Workers find what counted under `seen_key`; what earned nothing is not there.
		let alice = Sr25519Keyring::Alice.to_account_id();
		assert!(Seen::<Test>::contains_key(0, crate::seen_key(&node(1), &alice, 3)));
		assert!(!Seen::<Test>::contains_key(0, crate::seen_key(&node(1), &alice, 4)));
		assert_eq!(EraPoints::<Test>::get(), 100 + 13);
	});
}

#[test]
fn every_bad_receipt_fails_its_batch_with_its_own_error_and_changes_nothing() {
	build_and_execute(|| {
		serving(1);
		serving(2);
		run_to(30);
		let good = || acked(1, 1, Sr25519Keyring::Alice, 1, 5 * FUEL, 25);
		let tampered = |f: &dyn Fn(&mut AcknowledgedOf<Test>)| {
			let mut r = good();
			f(&mut r);
			r
		};
		let resigned = |f: &dyn Fn(&mut Receipt<AccountId, u64, H256>), by: Sr25519Keyring| {
			let mut r = good().signed.receipt;
			f(&mut r);
			ack(r.sign(&receipt_key(1)), by)
		};
		let mut node2_key = good().signed.receipt;
		node2_key.key = receipt_key(2).public().0;
		let node2_key = ack(node2_key.sign(&receipt_key(2)), Sr25519Keyring::Alice);
		let unbound = ed25519::Pair::from_seed(&[77; 32]);
		let mut other_key = good().signed.receipt;
		other_key.key = unbound.public().0;
		let other_key = ack(other_key.sign(&unbound), Sr25519Keyring::Alice);
		let nobody = sp_core::sr25519::Pair::from_seed(&[55; 32]);
		let mut unknown = good().signed.receipt;
		unknown.client = nobody.public().into();
		let signed = unknown.sign(&receipt_key(1));
		let unknown = Acknowledged {
			acknowledgement: MultiSignature::from(nobody.sign(&signed.acknowledgement_payload())),
			signed,
		};
		let operator = sp_core::sr25519::Pair::from_seed(&[1; 32]);
		Registry::set(node(3), operator.public().into(), NodeState::Active);
		Rewards::attested(&node(3), Some(receipt_key(3).public().0));
		let mut own = acked(3, 3, Sr25519Keyring::Alice, 1, FUEL, 25).signed.receipt;
		own.client = operator.public().into();
		let signed = own.sign(&receipt_key(3));
		let own = Acknowledged {
			acknowledgement: MultiSignature::from(operator.sign(&signed.acknowledgement_payload())),
			signed,
		};
		let revoked = ContentId::of(b"\0asm revoked");
		Releases::set(&revoked, "echo", 2);
		Releases::revoke(&revoked, 25);

		let cases: Vec<(u8, Vec<AcknowledgedOf<Test>>, Error<Test>)> = vec![
			(1, vec![], Error::EmptyBatch),
			(1, vec![acked(2, 2, Sr25519Keyring::Alice, 1, FUEL, 25)], Error::WrongNode),
			(1, vec![tampered(&|r| r.signed.receipt.fuel_used += 1)], Error::BadReceiptSignature),
			(1, vec![tampered(&|r| r.signed.signature[0] ^= 1)], Error::BadReceiptSignature),
			(
				1,
				vec![tampered(&|r| {
					r.acknowledgement = ack(good().signed, Sr25519Keyring::Bob).acknowledgement
				})],
				Error::BadAcknowledgement,
			),
			(
				1,
				vec![resigned(
					&|r| r.client = Sr25519Keyring::Bob.to_account_id(),
					Sr25519Keyring::Alice,
				)],
				Error::BadAcknowledgement,
			),
			(
				1,
				vec![resigned(&|r| r.cid = ContentId::of(b"other"), Sr25519Keyring::Alice)],
				Error::UnknownRelease,
			),
			(1, vec![resigned(&|r| r.version = 2, Sr25519Keyring::Alice)], Error::UnknownRelease),
			(1, vec![resigned(&|r| r.block = 31, Sr25519Keyring::Alice)], Error::FutureReceipt),
			// One bad receipt fails the good ones before it.
			(
				1,
				vec![
					acked(1, 1, Sr25519Keyring::Bob, 1, FUEL, 25),
					tampered(&|r| r.signed.signature[0] ^= 1),
				],
				Error::BadReceiptSignature,
			),
		];
		for (i, (who, receipts, error)) in cases.into_iter().enumerate() {
			let before = (
				Points::<Test>::get(0, node(who)),
				Points::<Test>::get(1, node(who)),
				EraReceipts::<Test>::get(),
			);
			assert_noop!(submit(who, receipts), error);
			assert_eq!(
				before,
				(
					Points::<Test>::get(0, node(who)),
					Points::<Test>::get(1, node(who)),
					EraReceipts::<Test>::get()
				),
				"case {i}"
			);
		}
		// What the chain's state refuses of a well-formed receipt counts nothing and fails
		// nothing: a key no longer bound (or node 2's own key, no key of node 1's), a client
		// with no account, a release revoked by the receipt's block, the same receipt twice.
		let revoked_receipt = resigned(
			&|r| {
				r.cid = revoked.clone();
				r.version = 2
			},
			Sr25519Keyring::Alice,
		);
		let era = CurrentEra::<Test>::get();
		let mine = || Points::<Test>::get(era, node(1)).map(|p| (p.receipts, p.work));
		for (receipts, stored) in [
			(vec![other_key], 0),
			(vec![node2_key], 0),
			(vec![unknown], 0),
			(vec![revoked_receipt], 0),
			(vec![good(), good()], 1),
		] {
			let (before, era_before) = (mine().unwrap_or_default(), EraReceipts::<Test>::get());
			let skipped = receipts.len() as u32 - stored;
			assert_ok!(submit(1, receipts));
			let work = if stored == 1 { 5 } else { 0 };
			assert_eq!(last_counted(), (stored, skipped, work));
			assert_eq!(mine(), Some((before.0 + stored, before.1 + work)));
			assert_eq!(EraReceipts::<Test>::get(), era_before + stored);
		}
		// The operator's own account as the client.
		assert_noop!(
			Rewards::submit_receipts(
				RuntimeOrigin::signed(operator.public().into()),
				node(3),
				batch(vec![own])
			),
			Error::<Test>::SelfDealing
		);
		// A receipt revoked after its block still counts.
		assert_ok!(submit(
			1,
			vec![resigned(
				&|r| {
					r.cid = revoked.clone();
					r.version = 2;
					r.block = 24;
					r.nonce = 77
				},
				Sr25519Keyring::Alice
			)]
		));
		// The batch from someone else than the operator, for an unknown node, or from a node
		// that does not serve.
		assert_noop!(
			Rewards::submit_receipts(
				RuntimeOrigin::signed(account(2)),
				node(1),
				batch(vec![good()])
			),
			Error::<Test>::NotOperator
		);
		assert_noop!(
			Rewards::submit_receipts(
				RuntimeOrigin::signed(account(9)),
				node(9),
				batch(vec![good()])
			),
			Error::<Test>::UnknownNode
		);
		Registry::set_state(
			node(1),
			NodeState::Quarantined {
				appeal_until: 99,
				offence: pallet_tea_nodes::Offence::MissedHeartbeats,
			},
		);
		assert_noop!(submit(1, vec![good()]), Error::<Test>::NotServing);
		Registry::set_state(node(1), NodeState::Active);
		// Counted once (above): again, it counts nothing.
		assert_ok!(submit(1, vec![good()]));
		assert_eq!(last_counted(), (0, 1, 0));
		// Only in the era it was made in: a receipt held back past its era's end (to escape a
		// forfeit, or the probation rate) counts nothing.
		run_to(41);
		assert_eq!(CurrentEra::<Test>::get(), 2);
		assert_ok!(submit(1, vec![good()]));
		assert_eq!(last_counted(), (0, 1, 0));
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 9, FUEL, 39)]));
		assert_eq!(last_counted(), (0, 1, 0));
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 9, FUEL, 40)]));
		assert_eq!(last_counted(), (1, 0, 1));
		// A batch longer than MaxBatch does not even decode.
		let long: Vec<AcknowledgedOf<Test>> = (0..=MAX_BATCH as u64)
			.map(|n| acked(1, 1, Sr25519Keyring::Bob, 100 + n, FUEL, 40))
			.collect();
		let call = RuntimeCall::Rewards(crate::Call::submit_receipts {
			node: node(1),
			receipts: batch(long[..MAX_BATCH as usize].to_vec()),
		});
		let mut bytes = call.encode();
		let short_len = codec::Compact(MAX_BATCH).encode();
		let long_len = codec::Compact(MAX_BATCH + 1).encode();
		assert_eq!(short_len.len(), long_len.len());
		let at = 2 + 32;
		assert_eq!(&bytes[at..at + short_len.len()], &short_len[..]);
		bytes[at..at + long_len.len()].copy_from_slice(&long_len);
		bytes.extend(long[MAX_BATCH as usize].encode());
		assert!(<RuntimeCall as codec::Decode>::decode(&mut &bytes[..]).is_err());
	});
}

#[test]
fn an_era_counts_at_most_its_receipts_and_a_node_at_most_its_share() {
	build_and_execute(|| {
		serving(1);
		serving(2);
		run_to(2);
		// 16 per node, 20 per era.
		for n in 0..2u64 {
			let receipts = (0..MAX_BATCH as u64)
				.map(|k| acked(1, 1, Sr25519Keyring::Alice, n * 100 + k, FUEL, 2))
				.collect();
			assert_ok!(submit(1, receipts));
		}
		// Past the node's room a receipt counts nothing.
		let before = points(0, 1);
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Bob, 999, FUEL, 2)]));
		assert_eq!(last_counted(), (0, 1, 0));
		assert_eq!(points(0, 1), before);
		// A batch that crosses the era's room: what fits counts, the rest counts nothing.
		let receipts: Vec<_> =
			(0..6).map(|k| acked(2, 2, Sr25519Keyring::Bob, k, FUEL, 2)).collect();
		assert_ok!(submit(2, receipts));
		assert_eq!(last_counted(), (4, 2, 4));
		assert_eq!(EraReceipts::<Test>::get(), MAX_PER_ERA);
		assert_eq!(points(0, 1).receipts + points(0, 2).receipts, MAX_PER_ERA);
		assert_eq!(Seen::<Test>::iter_prefix(0).count() as u32, MAX_PER_ERA);
		assert_eq!(ClientWork::<Test>::get((0, node(2), Sr25519Keyring::Bob.to_account_id())), 4);
		// Past the room a receipt is still checked: one the node signed wrong fails its batch.
		let mut forged = acked(2, 2, Sr25519Keyring::Bob, 50, FUEL, 2);
		forged.signed.signature[0] ^= 1;
		assert_noop!(
			submit(2, vec![acked(2, 2, Sr25519Keyring::Bob, 51, FUEL, 2), forged]),
			Error::<Test>::BadReceiptSignature
		);
		assert_ok!(submit(2, vec![acked(2, 2, Sr25519Keyring::Bob, 999, FUEL, 2)]));
		assert_eq!(last_counted(), (0, 1, 0));
		assert_eq!(EraReceipts::<Test>::get(), MAX_PER_ERA);
		// The next era counts again.
		run_to(21);
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Bob, 999, FUEL, 21)]));
		assert_ok!(submit(2, vec![acked(2, 2, Sr25519Keyring::Bob, 999, FUEL, 21)]));
	});
}
#[test]
fn receipts_of_a_relaunched_worker_count_while_its_key_is_among_the_recent_ones() {
	build_and_execute(|| {
		serving(1);
		// Relaunches bind keys 11, 12, 13: key 1 is still one of the last four.
		for k in 11..=13 {
			Rewards::attested(&node(1), Some(receipt_key(k).public().0));
		}
		// The same key again is not a new one.
		Rewards::attested(&node(1), Some(receipt_key(13).public().0));
		assert_eq!(ReceiptKeys::<Test>::get(node(1)).len(), 4);
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 1, FUEL, 1)]));
		Rewards::attested(&node(1), Some(receipt_key(14).public().0));
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 2, FUEL, 1)]));
		assert_eq!(last_counted(), (0, 1, 0), "key 1 is no longer among them");
		assert_ok!(submit(1, vec![acked(1, 14, Sr25519Keyring::Alice, 2, FUEL, 1)]));
		// A removed node's keys are forgotten.
		Rewards::on_node_removed(&node(1));
		assert!(ReceiptKeys::<Test>::get(node(1)).is_empty());
	});
}

#[test]
fn a_reported_node_forfeits_the_era_and_the_one_before_and_an_exited_one_keeps_its_points() {
	build_and_execute(|| {
		for i in 1..=5 {
			serving(i);
		}
		Rewards::voted_with_majority(&node(1));
		assert_ok!(submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 1, 5 * FUEL, 1)]));
		assert_eq!(EraPoints::<Test>::get(), 500 + 100 + 5);
		Rewards::reported(&node(1));
		System::assert_last_event(Event::Forfeited { node: node(1), era: 0, points: 205 }.into());
		assert_eq!(EraPoints::<Test>::get(), 400);
		// Its keys are forgotten until a new accepted quote binds one.
		assert!(ReceiptKeys::<Test>::get(node(1)).is_empty());
		// Cleared in the same era: it earns nothing more in it.
		Rewards::attested(&node(1), Some(receipt_key(1).public().0));
		Rewards::voted_with_majority(&node(1));
		run_to(7);
		assert_noop!(
			submit(1, vec![acked(1, 1, Sr25519Keyring::Alice, 2, 5 * FUEL, 6)]),
			Error::<Test>::Forfeited
		);
		assert_eq!(points(0, 1).total(), 205);
		assert_eq!(EraPoints::<Test>::get(), 400);
		// Reported again: no second forfeit.
		Rewards::reported(&node(1));
		assert_eq!(EraPoints::<Test>::get(), 400);
		// An exit (a removal without evidence: one for cause was reported first) keeps what the
		// node earned, and forgets its keys.
		Rewards::on_node_removed(&node(2));
		assert!(!points(0, 2).forfeited);
		assert!(ReceiptKeys::<Test>::get(node(2)).is_empty());
		Registry::remove(node(2));
		run_to(20);
		assert_eq!(Eras::<Test>::get(0).unwrap().points, 400);
		// Evidence in era 1 forfeits era 0 too (its claims are not open yet): node 3's points
		// leave era 0, whose reward the others share.
		Rewards::reported(&node(3));
		assert!(points(0, 3).forfeited && points(1, 3).forfeited);
		assert_eq!(Eras::<Test>::get(0).unwrap().points, 300);
		// Node 6, new in era 1, forfeits only era 1.
		Registry::set(node(6), account(6), NodeState::Active);
		Rewards::attested(&node(6), None);
		Rewards::reported(&node(6));
		assert!(points(1, 6).forfeited);
		assert_eq!(Points::<Test>::get(0, node(6)), None);
		assert_eq!(EraPoints::<Test>::get(), 0);
		run_to(40);
		for i in [1, 3] {
			assert_noop!(
				Rewards::claim(RuntimeOrigin::signed(account(i)), 0, node(i)),
				Error::<Test>::Forfeited
			);
		}
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(4)), 0, node(4)));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(2)), 0, node(2)));
		// Evidence once era 0's claims opened no longer reaches it.
		Rewards::reported(&node(5));
		assert!(!points(0, 5).forfeited);
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(5)), 0, node(5)));
	});
}
#[test]
fn an_era_pays_pro_rata_once_per_node_and_expires_after_its_history() {
	build_and_execute(|| {
		set_params(|p| p.source = RewardSource::Inflation(1_000));
		let (a, b) = (serving(1), serving(2));
		// a: 100 uptime + 200 duty; b: 100 uptime.
		Rewards::voted_with_majority(&a);
		Rewards::voted_with_majority(&a);
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(1)), 0, a),
			Error::<Test>::EraNotEnded
		);
		let pot = Rewards::pot();
		assert_eq!(balance(&pot), ED);
		run_to(20);
		System::assert_has_event(Event::EraEnded { era: 0, reward: 1_000, points: 400 }.into());
		assert_eq!(balance(&pot), ED + 1_000);
		assert_eq!(Owed::<Test>::get(), 1_000);
		// Claims open when the era after it ends.
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(1)), 0, a),
			Error::<Test>::EraNotEnded
		);
		run_to(40);
		// An era without points mints nothing.
		System::assert_has_event(Event::EraEnded { era: 1, reward: 0, points: 0 }.into());
		let before = balance(&account(1));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(1)), 0, a));
		assert_eq!(balance(&account(1)), before + 750);
		System::assert_last_event(
			Event::Rewarded { era: 0, node: a, operator: account(1), amount: 750 }.into(),
		);
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(1)), 0, a),
			Error::<Test>::AlreadyClaimed
		);
		// Only the node's operator claims.
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(1)), 0, b),
			Error::<Test>::NotOperator
		);
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(5)), 0, node(5)),
			Error::<Test>::NoPoints
		);
		assert_eq!(Owed::<Test>::get(), 250);
		assert_eq!(balance(&pot), ED + 250);
		// Claimable for two eras (while eras 2 and 3 run); it expires when era 3 ends: b's 250
		// stay in the pot.
		run_to(60);
		assert!(Eras::<Test>::get(0).is_some());
		run_to(80);
		System::assert_has_event(Event::Expired { era: 0, unclaimed: 250 }.into());
		assert_eq!(Owed::<Test>::get(), 0);
		assert_noop!(
			Rewards::claim(RuntimeOrigin::signed(account(2)), 0, b),
			Error::<Test>::EraExpired
		);
		assert_eq!(balance(&pot), ED + 250);
		// Swept within the next blocks.
		run_to(82);
		assert_eq!(Points::<Test>::iter_prefix(0).count(), 0);
		assert!(!Rewards::sweep_pending());
	});
}
#[test]
fn a_pot_funded_era_pays_a_share_of_what_no_earlier_era_is_owed() {
	build_and_execute(|| {
		set_params(|p| p.source = RewardSource::Pot(Perbill::from_percent(50)));
		let pot = Rewards::pot();
		assert_ok!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(account(20)),
			pot.clone(),
			800
		));
		serving(1);
		run_to(20);
		System::assert_has_event(Event::EraEnded { era: 0, reward: 400, points: 100 }.into());
		Rewards::attested(&node(1), None);
		run_to(40);
		// Half of the 400 not owed to era 0.
		System::assert_has_event(Event::EraEnded { era: 1, reward: 200, points: 100 }.into());
		assert_eq!(Owed::<Test>::get(), 600);
		run_to(60);
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(1)), 0, node(1)));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(account(1)), 1, node(1)));
		assert_eq!(balance(&pot), ED + 200);
	});
}

#[test]
fn payouts_never_exceed_the_era_reward() {
	// A property over pseudo-random eras: any points, any reward, claims in any order.
	let mut seed = 0x2545_f491_4f6c_dd1du64;
	let mut next = move || {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		seed
	};
	for round in 0..60 {
		build_and_execute(|| {
			let reward = next() % 1_000_000 + 1;
			let (beat, duty) = ((next() % 997 + 1) as u32, (next() % 991 + 1) as u32);
			let probation = Perbill::from_parts((next() % 1_000_000_000) as u32);
			set_params(|p| {
				p.source = RewardSource::Inflation(reward);
				p.heartbeat_points = beat;
				p.duty_points = duty;
				p.probation = probation;
			});
			let nodes = (next() % 12 + 1) as u8;
			for i in 1..=nodes {
				if next() % 3 == 0 {
					Registry::set(node(i), account(i), NodeState::Probation { clean_epochs: 0 });
					Rewards::attested(&node(i), Some(receipt_key(i).public().0));
				} else {
					serving(i);
				}
				for _ in 0..next() % 5 {
					Rewards::voted_with_majority(&node(i));
				}
				if next() % 7 == 0 {
					Rewards::reported(&node(i));
				}
			}
			run_to(40);
			let pot = Rewards::pot();
			let before = balance(&pot);
			let mut order: Vec<u8> = (1..=nodes).collect();
			for k in (1..order.len()).rev() {
				order.swap(k, (next() % (k as u64 + 1)) as usize);
			}
			for i in order {
				let _ = Rewards::claim(RuntimeOrigin::signed(account(i)), 0, node(i));
			}
			let ended = Eras::<Test>::get(0).unwrap();
			assert!(ended.paid <= ended.reward, "round {round}");
			assert_eq!(before - balance(&pot), ended.paid, "round {round}");
			if ended.points > 0 {
				assert!(
					ended.reward - ended.paid < nodes as u64,
					"round {round}: only rounding is left"
				);
			}
		});
	}
}
#[test]
fn governance_sets_valid_rules() {
	build_and_execute(|| {
		let params = Params::<Test>::get();
		assert_noop!(
			Rewards::set_params(RuntimeOrigin::signed(account(1)), params),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Rewards::set_params(RuntimeOrigin::root(), RewardParams { era_length: 9, ..params }),
			Error::<Test>::InvalidParams
		);
		let invalid = [
			RewardParams { fuel_per_point: 0, ..params },
			RewardParams { beat_interval: 0, ..params },
			RewardParams { max_receipts: MAX_PER_ERA + 1, node_receipts: 1, ..params },
			RewardParams { node_receipts: params.max_receipts + 1, ..params },
		];
		for bad in invalid {
			assert_noop!(
				Rewards::set_params(RuntimeOrigin::root(), bad),
				Error::<Test>::InvalidParams
			);
		}
		let longer = RewardParams { era_length: 50, ..params };
		assert_ok!(Rewards::set_params(RuntimeOrigin::root(), longer));
		System::assert_last_event(Event::ParamsSet { params: longer }.into());
		// The current era (from block 0) now ends at 50.
		run_to(49);
		assert_eq!(CurrentEra::<Test>::get(), 0);
		run_to(50);
		assert_eq!(CurrentEra::<Test>::get(), 1);
		assert_eq!(EraStart::<Test>::get(), 50);
	});
}

#[test]
fn an_ended_eras_storage_is_swept_a_bounded_number_of_keys_a_block() {
	build_and_execute(|| {
		serving(1);
		run_to(2);
		for n in 0..2u64 {
			let receipts = (0..MAX_BATCH as u64)
				.map(|k| acked(1, 1, Sr25519Keyring::Alice, n * 100 + k, FUEL, 2))
				.collect();
			assert_ok!(submit(1, receipts));
		}
		assert_eq!(Seen::<Test>::iter_prefix(0).count(), 16);
		assert_eq!(ClientWork::<Test>::iter_prefix((0,)).count(), 1);
		// Era 0's receipts are dead once it ends: swept by the block that ends it.
		run_to(20);
		assert_eq!(Seen::<Test>::iter_prefix(0).count(), 0);
		assert_eq!(ClientWork::<Test>::iter_prefix((0,)).count(), 0);
		assert_eq!(Swept::<Test>::get(), SweepCursor { seen: 1, work: 1, points: 0 });
		assert!(!Rewards::sweep_pending());
	});
	// A limit below what waits leaves the rest for later blocks, each empty era costs a visit
	// (at most SWEEP_CALLS a block), and nothing is left behind. The keys were written in
	// earlier blocks: they are in the backend, not the block's overlay.
	let mut ext = new_test_ext();
	ext.execute_with(|| {
		Seen::<Test>::insert(5, [1; 32], ());
		Seen::<Test>::insert(5, [2; 32], ());
		ClientWork::<Test>::insert((6, node(1), account(1)), 3);
		CurrentEra::<Test>::put(9);
		Points::<Test>::insert(
			5,
			node(1),
			NodePoints {
				operator: account(1),
				uptime: 1,
				duty: 0,
				work: 0,
				clients: 0,
				receipts: 0,
				last_beat: None,
				forfeited: true,
				claimed: false,
			},
		);
	});
	ext.commit_all().unwrap();
	let mut swept = Vec::new();
	for _ in 0..30 {
		ext.execute_with(|| {
			if Rewards::sweep_pending() {
				swept.push(Rewards::sweep(1));
			}
		});
		ext.commit_all().unwrap();
	}
	ext.execute_with(|| {
		// Eras 0-8 of Seen and ClientWork and 0-5 of Points (6 is the oldest unexpired era
		// while era 9 runs): 24 visits, at most 4 a block and at most one key a block.
		assert!(swept.len() >= 6, "{swept:?}");
		assert_eq!(swept.iter().sum::<u32>(), 4, "{swept:?}");
		assert!(swept.iter().all(|k| *k <= 1));
		assert_eq!(Seen::<Test>::iter_prefix(5).count(), 0);
		assert_eq!(ClientWork::<Test>::iter_prefix((6,)).count(), 0);
		assert_eq!(Points::<Test>::iter_prefix(5).count(), 0);
		assert_eq!(Swept::<Test>::get(), SweepCursor { seen: 9, work: 9, points: 6 });
		assert!(!Rewards::sweep_pending());
	});
}

/// Workers compute a receipt's points with `receipt_points` before they batch, and drop a lone
/// receipt the chain refused only for the errors in `RECEIPT_ERRORS`: both must say what the
/// pallet does.
#[test]
fn what_workers_reuse_says_what_the_pallet_does() {
	let mut params = <DefaultParams<Test> as frame_support::traits::Get<_>>::get();
	params.fuel_per_point = 100;
	params.client_cap = 10;
	params.probation = Perbill::from_percent(50);
	assert_eq!(receipt_points(&params, 450, 0, false), (4, 4));
	assert_eq!(receipt_points(&params, 450, 8, false), (2, 2), "the client cap");
	assert_eq!(receipt_points(&params, 450, 10, false), (0, 0));
	assert_eq!(receipt_points(&params, 300, 0, true), (3, 1), "probation rounds down");
	assert_eq!(receipt_points(&params, 99, 0, false), (0, 0));
	assert_eq!(receipt_points(&params, u64::MAX, 0, false), (10, 10));
	params.fuel_per_point = 0;
	assert_eq!(receipt_points(&params, 7, 0, false), (7, 7), "a zero rate counts as 1");

	let errors = match <Error<Test> as scale_info::TypeInfo>::type_info().type_def {
		scale_info::TypeDef::Variant(v) => v.variants.iter().map(|v| v.name).collect::<Vec<_>>(),
		other => panic!("{other:?}"),
	};
	for name in RECEIPT_ERRORS {
		assert!(errors.contains(&name), "{name} is not an error of the pallet");
	}
	for node_level in ["NotOperator", "UnknownNode", "NotServing", "Forfeited"] {
		assert!(errors.contains(&node_level) && !RECEIPT_ERRORS.contains(&node_level));
	}
}
