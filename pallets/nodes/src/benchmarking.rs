//! Benchmarks of every call and of the epoch boundary in its worst case: every node due for a
//! removal, a promotion or an admission.

use super::*;
use alloc::vec;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, EnsureOrigin, Get};
use frame_system::RawOrigin;
use pallet::{ActiveCount, NodeByKey, Nodes, Params, ProbationNodes, Queue};
use sp_runtime::traits::{Bounded, Zero};

/// The P-256 generator point, uncompressed: a valid attestation key.
const GENERATOR: AttestationKey = [
	0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
	0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2,
	0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
	0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51,
	0xf5,
];

fn funded<T: Config>() -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account("operator", 0, 0);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 4u32.into());
	who
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
		_(RawOrigin::Signed(operator), ek.clone(), cert, GENERATOR, peer);
		assert!(Nodes::<T>::contains_key(node_id(&ek)));
	}

	#[benchmark]
	fn exit() {
		let operator = funded::<T>();
		let ek = EkPublic::truncate_from(vec![7; 32]);
		Pallet::<T>::register(
			RawOrigin::Signed(operator.clone()).into(),
			ek.clone(),
			Default::default(),
			GENERATOR,
			PeerId::truncate_from(vec![1]),
		)
		.unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), node_id(&ek));
		assert!(matches!(Nodes::<T>::get(node_id(&ek)).unwrap().state, NodeState::Exiting { .. }));
	}

	#[benchmark]
	fn set_params() {
		let origin = T::GovernanceOrigin::try_successful_origin().expect("reachable");
		let params = BirthControl {
			max_admissions_per_epoch: 9,
			probation_epochs: 2,
			appeal_window: 5u32.into(),
			reporter_share: Perbill::from_percent(20),
		};
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);
		assert_eq!(Params::<T>::get(), params);
	}

	/// An epoch boundary with `n` nodes, a third each due for removal (appeal expired),
	/// promotion (last probation epoch) and admission (attested), with room for all of them.
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
				match i % 3 {
					0 => NodeState::Quarantined {
						appeal_until: Zero::zero(),
						offence: Offence::MissedHeartbeats,
					},
					1 => NodeState::Probation { clean_epochs: 0 },
					_ => NodeState::Candidate { attested: true },
				},
			);
			match i % 3 {
				0 => {}
				1 => ProbationNodes::<T>::mutate(|p| p.try_push(id).unwrap()),
				_ => Queue::<T>::mutate(|q| q.try_push(id).unwrap()),
			}
		}
		let now = T::EpochLength::get().max(1u32.into());
		#[block]
		{
			Pallet::<T>::epoch(now);
		}
		assert!(Queue::<T>::get().is_empty());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(0), crate::mock::Test);
}
