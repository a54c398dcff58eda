//! Benchmarks of every call and of the epoch boundary in its worst case: every node due for a
//! removal, a promotion or an admission.

use super::*;
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Mutate, MutateHold},
		EnsureOrigin, Get,
	},
	BoundedVec,
};
use frame_system::RawOrigin;
use pallet::{ActiveCount, NodeByKey, Nodes, Params, ProbationNodes, Queue};
use sp_runtime::traits::{Bounded, Saturating, Zero};

/// A valid attestation key no genesis node uses (genesis presets use the dev keys 1, 2, 3).
fn fresh_key() -> AttestationKey {
	tea_primitives::tpm::dev_attestation_key(0xbe7c)
}

fn funded<T: Config>() -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account("operator", 0, 0);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 4u32.into());
	who
}

/// A funded operator and the candidate it registered through the call.
fn registered<T: Config>() -> (T::AccountId, NodeId)
where
	T::Currency: Mutate<T::AccountId>,
{
	let operator = funded::<T>();
	let ek = EkPublic::truncate_from(vec![7; 32]);
	Pallet::<T>::register(
		RawOrigin::Signed(operator.clone()).into(),
		ek.clone(),
		Default::default(),
		fresh_key(),
		PeerId::truncate_from(vec![1]),
	)
	.unwrap();
	(operator, node_id(&ek))
}

/// Stores node `i` in `state` directly (no deposit), keyed by a distinct fake AK.
fn stored<T: Config>(
	i: u32,
	state: NodeState<frame_system::pallet_prelude::BlockNumberFor<T>>,
) -> NodeId {
	let ek = EkPublic::truncate_from(i.to_le_bytes().to_vec());
	let id = node_id(&ek);
	let mut ak = [0u8; 65];
	ak[..4].copy_from_slice(&i.to_le_bytes());
	NodeByKey::<T>::insert(ak, id);
	Nodes::<T>::insert(
		id,
		NodeInfo {
			operator: account("operator", i, 0),
			ek_public: ek,
			ek_certificate: Default::default(),
			attestation_key: ak,
			peer_id: Default::default(),
			deposit: Zero::zero(),
			state,
			since: Zero::zero(),
		},
	);
	id
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register() {
		let operator = funded::<T>();
		let ek = EkPublic::truncate_from(vec![7; 600]);
		let cert = EkCertificate::truncate_from(vec![7; 4096]);
		let peer = PeerId::truncate_from(vec![7; 64]);
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), ek.clone(), cert, fresh_key(), peer);
		assert!(Nodes::<T>::contains_key(node_id(&ek)));
	}

	/// A provisional registration's exit, the heavier case: removed at once (deposit, key,
	/// addresses and the other pallets' records of it).
	#[benchmark]
	fn exit() {
		let (operator, node) = registered::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), node);
		assert!(!Nodes::<T>::contains_key(node));
	}

	/// An active node's exit, its worst case: it unbonds, and with one active node fewer the
	/// full probation list is over its bound, so a probationary node goes back to the queue.
	#[benchmark]
	fn exit_unbonding() {
		let (operator, node) = registered::<T>();
		T::Possession::set_proven(&node);
		Queue::<T>::mutate(|q| q.retain(|n| *n != node));
		Nodes::<T>::mutate(node, |info| {
			if let Some(info) = info {
				info.state = NodeState::Active;
			}
		});
		// Active nodes (this one among them) and half as many probationary ones: the most
		// probation allows.
		let probation = T::MaxNodes::get() / 3;
		let mut waiting = ProbationNodes::<T>::get();
		for i in 0..probation {
			let id = stored::<T>(1_000 + i, NodeState::Probation { clean_epochs: 0 });
			if waiting.try_push(id).is_err() {
				break;
			}
		}
		let probation = waiting.len() as u32;
		ProbationNodes::<T>::put(waiting);
		ActiveCount::<T>::put(probation.saturating_mul(2));
		#[extrinsic_call]
		exit(RawOrigin::Signed(operator), node);
		assert!(matches!(
			Nodes::<T>::get(node).map(|info| info.state),
			Some(NodeState::Exiting { .. })
		));
		assert_eq!(ProbationNodes::<T>::get().len() as u32, probation - 1, "one went back");
	}

	/// The most addresses, each of the longest, replacing others.
	#[benchmark]
	fn set_addresses() {
		let (operator, node) = registered::<T>();
		let most =
			|b: u8| NodeAddresses::truncate_from(vec![NodeAddress::truncate_from(vec![b; 64]); 4]);
		pallet::Addresses::<T>::insert(node, most(1));
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), node, most(2));
		assert_eq!(pallet::Addresses::<T>::get(node), Some(most(2)));
	}

	/// A claim of the longest registration over another account's provisional one.
	#[benchmark]
	fn claim() {
		let claimant = funded::<T>();
		let squatter: T::AccountId = account("squatter", 0, 0);
		T::Currency::set_balance(&squatter, BalanceOf::<T>::max_value() / 4u32.into());
		let ek = EkPublic::truncate_from(vec![7; 600]);
		let node = node_id(&ek);
		let (key, proof) = T::Possession::valid_proof(&node, &claimant);
		let peer = PeerId::truncate_from(vec![7; 64]);
		Pallet::<T>::register(
			RawOrigin::Signed(squatter).into(),
			ek.clone(),
			Default::default(),
			key,
			peer.clone(),
		)
		.unwrap();
		let cert = EkCertificate::truncate_from(vec![7; 4096]);
		#[extrinsic_call]
		_(RawOrigin::Signed(claimant.clone()), ek, cert, key, peer, proof);
		assert_eq!(Nodes::<T>::get(node).map(|info| info.operator), Some(claimant));
	}

	/// A claim of the claimant's key, registered first by another account under an EK of its
	/// making, with the queue near its bound: that registration is dropped (out of the queue,
	/// its deposit back) and the claimant's joins the queue.
	#[benchmark]
	fn claim_other_key() {
		let claimant = funded::<T>();
		let squatter: T::AccountId = account("squatter", 0, 0);
		T::Currency::set_balance(&squatter, BalanceOf::<T>::max_value() / 4u32.into());
		let ek = EkPublic::truncate_from(vec![7; 600]);
		let node = node_id(&ek);
		let (key, proof) = T::Possession::valid_proof(&node, &claimant);
		let peer = PeerId::truncate_from(vec![7; 64]);
		let made_up = EkPublic::truncate_from(vec![8; 600]);
		Pallet::<T>::register(
			RawOrigin::Signed(squatter).into(),
			made_up.clone(),
			Default::default(),
			key,
			peer.clone(),
		)
		.unwrap();
		// Others wait before the squatter's registration: it is removed from the queue's end.
		Queue::<T>::mutate(|q| {
			for i in 0..T::MaxNodes::get().saturating_sub(q.len() as u32 + 2) {
				let mut id = [0xee; 32];
				id[..4].copy_from_slice(&i.to_le_bytes());
				let _ = q.try_insert(0, NodeId::from(id));
			}
		});
		let cert = EkCertificate::truncate_from(vec![7; 4096]);
		#[extrinsic_call]
		claim(RawOrigin::Signed(claimant.clone()), ek, cert, key, peer, proof);
		assert_eq!(Nodes::<T>::get(node).map(|info| info.operator), Some(claimant));
		assert!(!Nodes::<T>::contains_key(node_id(&made_up)));
	}

	#[benchmark]
	fn set_params() {
		let origin = T::GovernanceOrigin::try_successful_origin().expect("reachable");
		let params = BirthControl {
			epoch_length: 7u32.into(),
			max_admissions_per_epoch: 9,
			probation_epochs: 2,
			appeal_window: 5u32.into(),
			reporter_share: Perbill::from_percent(20),
		};
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);
		assert_eq!(Params::<T>::get(), params);
	}

	/// An epoch boundary with `n` nodes, a quarter each due for removal (appeal expired),
	/// promotion (last probation epoch), admission (attested) and expiry (provisional), with
	/// room for all of them.
	#[benchmark]
	fn epoch(n: Linear<0, { T::MaxNodes::get() / 2 }>) {
		let mut params = Params::<T>::get();
		params.max_admissions_per_epoch = n;
		params.probation_epochs = 1;
		Params::<T>::put(params);
		let trusted = T::MaxNodes::get() - n;
		ActiveCount::<T>::put(trusted);
		for i in 0..n {
			let id = stored::<T>(
				i,
				match i % 4 {
					0 => NodeState::Quarantined {
						appeal_until: Zero::zero(),
						offence: Offence::MissedHeartbeats,
					},
					1 => NodeState::Probation { clean_epochs: 0 },
					2 => NodeState::Candidate { attested: true },
					_ => NodeState::Candidate { attested: false },
				},
			);
			match i % 4 {
				0 => {}
				1 => ProbationNodes::<T>::mutate(|p| p.try_push(id).unwrap()),
				_ => Queue::<T>::mutate(|q| q.try_push(id).unwrap()),
			}
		}
		let now = T::EpochLength::get().max(T::CandidateExpiry::get()).max(1u32.into());
		#[block]
		{
			Pallet::<T>::epoch(now);
		}
		assert!(Queue::<T>::get().is_empty());
	}

	/// An epoch boundary with `n` nodes whose appeal window passed, each removed and its
	/// deposit slashed, shared among the most reporters (each a new account).
	#[benchmark]
	fn epoch_slashing(n: Linear<0, { T::MaxNodes::get() / 2 }>) {
		let deposit = T::NodeDeposit::get();
		let before = Nodes::<T>::count();
		for i in 0..n {
			let id = stored::<T>(
				i,
				NodeState::Quarantined {
					appeal_until: Zero::zero(),
					offence: Offence::MissedHeartbeats,
				},
			);
			let operator: T::AccountId = account("operator", i, 0);
			T::Currency::set_balance(&operator, deposit.saturating_mul(4u32.into()));
			T::Currency::hold(&HoldReason::NodeDeposit.into(), &operator, deposit).expect("funded");
			Nodes::<T>::mutate(id, |info| {
				if let Some(info) = info {
					info.deposit = deposit;
				}
			});
			let reporters: Vec<T::AccountId> =
				(0..T::MaxReporters::get()).map(|r| account("reporter", r, i)).collect();
			pallet::Reporters::<T>::insert(id, BoundedVec::truncate_from(reporters));
		}
		let now = T::EpochLength::get().max(T::CandidateExpiry::get()).max(1u32.into());
		#[block]
		{
			Pallet::<T>::epoch(now);
		}
		assert_eq!(Nodes::<T>::count(), before, "all removed");
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(0), crate::mock::Test);
}
