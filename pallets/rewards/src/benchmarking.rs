//! Benchmarks of every call and hook in its worst case: a batch of receipts from distinct
//! clients (both signatures checked, a new per-client entry each), an era end that mints and
//! expires an era, a full sweep.

use super::*;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		EnsureOrigin, Get, Hooks,
	},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use pallet_tea_attestation::{LoggedReleases, OnAttestation};
use pallet_tea_nodes::{NodeRegistry, NodeState};
use sp_core::{crypto::KeyTypeId, ed25519, sr25519};
use sp_runtime::traits::{Bounded, Zero};
use tea_primitives::{
	receipt::{Acknowledged, Receipt, SignedReceipt},
	ContentId,
};

const KEY: KeyTypeId = KeyTypeId(*b"rwds");

/// An active node operated by a funded account, with receipt key `key` bound.
fn node<T: Config>(key: ed25519::Public) -> (T::AccountId, NodeId) {
	let operator: T::AccountId = account("operator", 0, 0);
	T::Currency::set_balance(&operator, BalanceOf::<T>::max_value() / 4u32.into());
	let node = T::Nodes::insert_for_benchmark(
		0xbe,
		operator.clone(),
		tea_primitives::tpm::dev_attestation_key(0xbe7c),
		NodeState::Active,
	);
	Pallet::<T>::attested(&node, Some(key.0));
	(operator, node)
}

/// A receipt of `node` signed with `key`, for a fresh funded client `i`, acknowledged by it.
fn acked<T: Config>(node: NodeId, key: ed25519::Public, i: u32) -> AcknowledgedOf<T>
where
	T::AccountId: From<sr25519::Public>,
	T::Signature: From<sr25519::Signature>,
{
	let cid = ContentId::of(b"\0asm benchmark");
	// The longest name: the dearest to hash and compare.
	let actor: tea_primitives::manifest::Name =
		alloc::vec![b'a'; tea_primitives::manifest::MAX_NAME_LEN as usize].try_into().unwrap();
	T::Releases::ran_for_benchmark(&cid, actor.clone(), 1);
	let client = sp_io::crypto::sr25519_generate(KEY, None);
	let account: T::AccountId = client.into();
	T::Currency::set_balance(&account, T::Currency::minimum_balance().max(1u32.into()));
	let receipt = Receipt {
		node: node.0,
		actor,
		version: 1,
		cid,
		input: [1; 32],
		output: [2; 32],
		fuel_used: u64::MAX,
		client: account,
		nonce: i.into(),
		block: frame_system::Pallet::<T>::block_number(),
		block_hash: T::Hash::default(),
		attestation: Zero::zero(),
		key: key.0,
	};
	let signature = sp_io::crypto::ed25519_sign(KEY, &key, &receipt.signing_payload()).unwrap();
	let signed = SignedReceipt { receipt, signature: signature.0 };
	let acknowledgement =
		sp_io::crypto::sr25519_sign(KEY, &client, &signed.acknowledgement_payload()).unwrap();
	Acknowledged { signed, acknowledgement: acknowledgement.into() }
}

/// Ends eras 0 and 1 with `node` holding all of era 0's points and a reward in the pot.
fn ended_era<T: Config>(node: NodeId, operator: &T::AccountId) {
	let reward: BalanceOf<T> = T::Currency::minimum_balance().max(1u32.into()) * 1000u32.into();
	Params::<T>::mutate(|p| p.source = RewardSource::Inflation(reward));
	Pallet::<T>::voted_with_majority(&node);
	assert!(Points::<T>::get(0, node).is_some_and(|p| p.operator == *operator));
	let params = Params::<T>::get();
	Pallet::<T>::end_era(frame_system::Pallet::<T>::block_number(), &params);
	Pallet::<T>::end_era(frame_system::Pallet::<T>::block_number(), &params);
}

#[benchmarks(where T::AccountId: From<sr25519::Public>, T::Signature: From<sr25519::Signature>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn submit_receipts(n: Linear<1, { T::MaxBatch::get() }>) {
		let key = sp_io::crypto::ed25519_generate(KEY, None);
		let (operator, node) = node::<T>(key);
		let receipts: Vec<_> = (0..n).map(|i| acked::<T>(node, key, i)).collect();
		let receipts = BoundedVec::truncate_from(receipts);

		#[extrinsic_call]
		_(RawOrigin::Signed(operator), node, receipts);

		assert_eq!(EraReceipts::<T>::get(), n);
		assert_eq!(Points::<T>::get(0, node).map(|p| p.clients), Some(n));
	}

	#[benchmark]
	fn claim() {
		let key = sp_io::crypto::ed25519_generate(KEY, None);
		let (operator, node) = node::<T>(key);
		ended_era::<T>(node, &operator);

		#[extrinsic_call]
		_(RawOrigin::Signed(operator), 0, node);

		assert!(Points::<T>::get(0, node).is_some_and(|p| p.claimed));
	}

	#[benchmark]
	fn set_params() {
		let origin = T::GovernanceOrigin::try_successful_origin().unwrap();
		let params = RewardParams { client_cap: 7, ..Params::<T>::get() };

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);

		assert_eq!(Params::<T>::get().client_cap, 7);
	}

	#[benchmark]
	fn on_initialize_idle() {
		let now: BlockNumberFor<T> = 1u32.into();
		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}
		assert_eq!(CurrentEra::<T>::get(), 0);
	}

	#[benchmark]
	fn end_era() {
		let key = sp_io::crypto::ed25519_generate(KEY, None);
		let (_, node) = node::<T>(key);
		// An era to expire, unclaimed; the ending one mints.
		let history = T::HistoryDepth::get();
		Eras::<T>::insert(0, EraReward { reward: 1u32.into(), points: 1, paid: Zero::zero() });
		Owed::<T>::put(BalanceOf::<T>::from(1u32));
		T::Currency::mint_into(&Pallet::<T>::pot(), 1u32.into()).unwrap();
		CurrentEra::<T>::put(history + 1);
		let reward: BalanceOf<T> = T::Currency::minimum_balance().max(1u32.into());
		Params::<T>::mutate(|p| p.source = RewardSource::Inflation(reward));
		Pallet::<T>::voted_with_majority(&node);
		let params = Params::<T>::get();
		let now = frame_system::Pallet::<T>::block_number();

		#[block]
		{
			Pallet::<T>::end_era(now, &params);
		}

		assert_eq!(CurrentEra::<T>::get(), history + 2);
		assert!(Eras::<T>::get(0).is_none());
		assert!(Eras::<T>::get(history + 1).is_some_and(|e| e.reward == reward));
	}

	#[benchmark]
	fn sweep(k: Linear<1, SWEEP_PER_BLOCK>) {
		// Era 0 ended: its receipts wait; the sweep also visits its (empty) per-client work
		// and expired points, every prefix a block may visit.
		for i in 0..k {
			Seen::<T>::insert(0, sp_io::hashing::blake2_256(&i.to_le_bytes()), ());
		}
		CurrentEra::<T>::put(T::HistoryDepth::get() + 2);
		Swept::<T>::put(SweepCursor::default());

		#[block]
		{
			Pallet::<T>::sweep(k);
		}

		assert_eq!(Seen::<T>::iter_prefix(0).count(), 0);
	}

	#[benchmark]
	fn note_attested() {
		let key = sp_io::crypto::ed25519_generate(KEY, None);
		let (_, node) = node::<T>(key);
		for i in 0..RECEIPT_KEYS {
			Pallet::<T>::attested(&node, Some([i as u8; 32]));
		}
		// Its next quote counts again.
		Params::<T>::mutate(|p| p.beat_interval = Zero::zero());

		#[block]
		{
			Pallet::<T>::attested(&node, Some([0xff; 32]));
		}

		assert_eq!(ReceiptKeys::<T>::get(node).last(), Some(&[0xff; 32]));
	}

	#[benchmark]
	fn note_reported() {
		// Points in the ended era before (whose claims are not open), none yet in this one:
		// both forfeits, and the registry read for the new record.
		let key = sp_io::crypto::ed25519_generate(KEY, None);
		let (_, node) = node::<T>(key);
		let params = Params::<T>::get();
		Pallet::<T>::end_era(frame_system::Pallet::<T>::block_number(), &params);
		assert!(Points::<T>::get(1, node).is_none());

		#[block]
		{
			Pallet::<T>::reported(&node);
		}

		assert!(Points::<T>::get(0, node).is_some_and(|p| p.forfeited));
		assert!(Points::<T>::get(1, node).is_some_and(|p| p.forfeited));
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
