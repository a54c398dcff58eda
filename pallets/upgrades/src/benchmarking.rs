//! Benchmarks of every call and hook, each in its worst case: the most tiers, every node of the
//! rollout touched, a previous active release to deprecate.

use super::*;
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{EnsureOrigin, Get},
	BoundedVec,
};
use pallet_tea_actors::ActorReleases;
use sp_core::H256;
use sp_runtime::Percent;
use tea_primitives::manifest::Name;

fn actor() -> Name {
	Name::truncate_from(b"bench-actor".to_vec())
}

/// `MaxTiers` tiers of equal shares (the last takes the remainder), each of the shortest wait.
fn worst_plan<T: Config>() -> RolloutPlanOf<T> {
	let count = T::MaxTiers::get().clamp(1, 100);
	let share = 100 / count;
	let tiers = (0..count)
		.map(|i| Tier {
			share: Percent::from_percent(if i + 1 == count {
				100 - share * (count - 1)
			} else {
				share
			} as u8),
			wait: Timings::<T>::get().min_tier_blocks,
		})
		.collect::<Vec<_>>();
	RolloutPlan { tiers: BoundedVec::truncate_from(tiers), max_failure: Percent::from_percent(50) }
}

/// One tier of every node, the shortest wait.
fn one_tier<T: Config>() -> RolloutPlanOf<T> {
	RolloutPlan {
		tiers: BoundedVec::truncate_from(vec![Tier {
			share: Percent::from_percent(100),
			wait: Timings::<T>::get().min_tier_blocks,
		}]),
		max_failure: Percent::from_percent(0),
	}
}

fn nodes<T: Config>(n: u32) -> Vec<T::NodeId> {
	let nodes: Vec<T::NodeId> = (0..n).map(|i| account("node", i, 0)).collect();
	T::Nodes::set_for_benchmark(nodes.clone());
	nodes
}

fn governance<T: Config>() -> T::RuntimeOrigin {
	T::GovernanceOrigin::try_successful_origin().expect("governance origin is reachable")
}

/// Version 1 of the bench actor active, version 2 validated.
fn active_and_validated<T: Config>() {
	T::Releases::validated_for_benchmark(&actor(), 1);
	T::Releases::approve(&actor(), 1).unwrap();
	T::Releases::activate(&actor(), 1).unwrap();
	T::Releases::validated_for_benchmark(&actor(), 2);
}

/// Rollout 0 of version 2 over `n` nodes with one tier.
fn release_rollout<T: Config>(n: u32) -> Vec<T::NodeId> {
	let nodes = nodes::<T>(n);
	active_and_validated::<T>();
	Pallet::<T>::approve_release(governance::<T>(), actor(), 2, one_tier::<T>()).unwrap();
	nodes
}

/// A measurement rollout (id = current `NextRolloutId`) over no nodes.
fn measurement_rollout<T: Config>(i: u8) -> RolloutId {
	nodes::<T>(0);
	let id = NextRolloutId::<T>::get();
	Pallet::<T>::roll_out_measurement(
		governance::<T>(),
		H256::repeat_byte(i),
		None,
		one_tier::<T>(),
	)
	.unwrap();
	id
}

/// The longest well-formed CA key.
fn longest_key() -> CaKey {
	let body = MAX_CA_KEY_LEN - 4;
	let mut key = vec![0x30, 0x82, (body >> 8) as u8, body as u8];
	key.resize(MAX_CA_KEY_LEN as usize, 0x42);
	CaKey::truncate_from(key)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn approve_release(n: Linear<0, { T::MaxNodes::get() }>) {
		nodes::<T>(n);
		active_and_validated::<T>();
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, actor(), 2, worst_plan::<T>());
		assert!(LiveByKey::<T>::contains_key(RolloutKey::Actor(actor())));
	}

	#[benchmark]
	fn roll_out_measurement(n: Linear<0, { T::MaxNodes::get() }>) {
		nodes::<T>(n);
		Pallet::<T>::allow_measurement(governance::<T>(), H256::repeat_byte(1)).unwrap();
		let origin = governance::<T>();
		#[extrinsic_call]
		_(
			origin as T::RuntimeOrigin,
			H256::repeat_byte(2),
			Some(H256::repeat_byte(1)),
			worst_plan::<T>(),
		);
		assert!(Measurements::<T>::contains_key(H256::repeat_byte(2)));
	}

	#[benchmark]
	fn freeze_rollout() {
		let id = measurement_rollout::<T>(1);
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, id);
		assert!(matches!(Rollouts::<T>::get(id).unwrap().state, RolloutState::Frozen { .. }));
	}

	#[benchmark]
	fn resume_rollout() {
		let id = measurement_rollout::<T>(1);
		Pallet::<T>::freeze_rollout(governance::<T>(), id).unwrap();
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, id);
		assert!(!matches!(Rollouts::<T>::get(id).unwrap().state, RolloutState::Frozen { .. }));
	}

	#[benchmark]
	fn roll_back(n: Linear<0, { T::MaxNodes::get() }>) {
		release_rollout::<T>(n);
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, 0);
		assert_eq!(Rollouts::<T>::get(0).unwrap().state, RolloutState::RolledBack);
	}

	#[benchmark]
	fn allow_measurement() {
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, H256::repeat_byte(1));
		assert!(Measurements::<T>::contains_key(H256::repeat_byte(1)));
	}

	#[benchmark]
	fn remove_measurement() {
		Pallet::<T>::allow_measurement(governance::<T>(), H256::repeat_byte(1)).unwrap();
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, H256::repeat_byte(1));
		assert!(!Measurements::<T>::contains_key(H256::repeat_byte(1)));
	}

	#[benchmark]
	fn add_ca_key() {
		let key = longest_key();
		let hash = ca_key_hash(&key);
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, key);
		assert!(CaKeys::<T>::contains_key(hash));
	}

	#[benchmark]
	fn remove_ca_key() {
		let key = longest_key();
		let hash = ca_key_hash(&key);
		Pallet::<T>::add_ca_key(governance::<T>(), key).unwrap();
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, hash);
		assert!(!CaKeys::<T>::contains_key(hash));
	}

	#[benchmark]
	fn authorize_runtime_upgrade() {
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, T::Hash::default());
	}

	/// The gate of a tier none of whose `n` nodes upgraded: every one is marked and reported,
	/// and (the plan tolerating it) the rollout passes into its grace period.
	#[benchmark]
	fn gate(n: Linear<0, { T::MaxNodes::get() }>) {
		nodes::<T>(n);
		active_and_validated::<T>();
		let mut plan = one_tier::<T>();
		plan.max_failure = Percent::from_percent(100);
		Pallet::<T>::approve_release(governance::<T>(), actor(), 2, plan).unwrap();
		let rollout = Rollouts::<T>::get(0).unwrap();
		#[block]
		{
			Pallet::<T>::gate(0, rollout, 0);
		}
		let rollout = Rollouts::<T>::get(0).unwrap();
		assert_eq!(rollout.tiers[0].failed, n);
		assert!(matches!(rollout.state, RolloutState::Grace { .. }));
	}

	/// The end of the grace period: activation, deprecation of the previous release, `n` node
	/// records dropped.
	#[benchmark]
	fn finish(n: Linear<0, { T::MaxNodes::get() }>) {
		release_rollout::<T>(n);
		let mut rollout = Rollouts::<T>::get(0).unwrap();
		rollout.state = RolloutState::Grace { until: frame_system::Pallet::<T>::block_number() };
		#[block]
		{
			Pallet::<T>::finish(0, rollout);
		}
		assert_eq!(Rollouts::<T>::get(0).unwrap().state, RolloutState::Completed);
		assert_eq!(
			T::Releases::status(&actor(), 1),
			Some(pallet_tea_actors::ReleaseStatus::Deprecated)
		);
	}

	#[benchmark]
	fn note_upgraded() {
		let nodes = release_rollout::<T>(1);
		let target = RolloutTarget::Release { actor: actor(), version: 2 };
		#[block]
		{
			Pallet::<T>::note_upgraded(&nodes[0], &target);
		}
		assert_eq!(Rollouts::<T>::get(0).unwrap().tiers[0].upgraded, 1);
	}

	/// A node upgraded in `r` live rollouts fails.
	#[benchmark]
	fn note_failure(r: Linear<1, { T::MaxLiveRollouts::get() }>) {
		let node: T::NodeId = account("node", 0, 0);
		T::Nodes::set_for_benchmark(vec![node.clone()]);
		for i in 0..r {
			let mut bytes = [0u8; 32];
			bytes[..4].copy_from_slice(&(i + 1).to_le_bytes());
			let new = H256(bytes);
			Pallet::<T>::roll_out_measurement(governance::<T>(), new, None, one_tier::<T>())
				.unwrap();
			let target = RolloutTarget::Measurement { new, replaces: None };
			Pallet::<T>::note_upgraded(&node, &target);
		}
		#[block]
		{
			Pallet::<T>::note_failure(&node);
		}
		assert!((0..r).all(|i| Rollouts::<T>::get(i).unwrap().tiers[0].failed == 1));
	}

	#[benchmark]
	fn set_rollout_timings() {
		let timings = RolloutTimings { min_tier_blocks: 5u32.into(), grace_period: 7u32.into() };
		let origin = governance::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, timings);
		assert_eq!(Timings::<T>::get(), timings);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
