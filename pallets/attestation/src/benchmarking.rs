//! Benchmarks. Quotes are signed inside the runtime by the software signer over the chain's
//! real challenge, so the measured path is the real verification (structure, nonce, PCR
//! digest, ECDSA P-256): the verify dominates.

use super::*;
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{EnsureOrigin, Get, Hooks},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use pallet_tea_nodes::{NodeRegistry, NodeState};
use pallet_tea_upgrades::Allowlists;
use sp_runtime::traits::Hash;
use tea_primitives::{soft_tpm::SoftTpm, tpm};

fn pcrs() -> Vec<(u8, [u8; 32])> {
	vec![(16, [7; 32]), (23, [0; 32])]
}

/// Moves to block 10 with a known anchor block 9 and allows the measurement.
fn setup<T: Config>() {
	frame_system::Pallet::<T>::set_block_number(10u32.into());
	let anchor: BlockNumberFor<T> = 9u32.into();
	frame_system::BlockHash::<T>::insert(
		anchor,
		<T as frame_system::Config>::Hashing::hash(b"the anchor block"),
	);
	T::Upgrades::allow_for_benchmark(H256(tpm::pcr_digest(&pcrs())));
}

/// `n` active nodes (committee material).
fn active<T: Config>(n: u32) -> Vec<NodeId> {
	(0..n)
		.map(|i| {
			let ak = SoftTpm::new(10_000 + i as u64).ak();
			T::Nodes::insert_for_benchmark(
				10_000 + i,
				account("member", i, 0),
				ak,
				NodeState::Active,
			)
		})
		.collect()
}

/// A quote by `tpm` for `node`'s `purpose` anchored at block 9, submitted by `operator`.
fn quoted<T: Config>(
	tpm: &SoftTpm,
	node: NodeId,
	operator: &T::AccountId,
	purpose: Purpose,
) -> (BlockNumberFor<T>, AttestBytes, SignatureBytes, PcrValues) {
	let anchor: BlockNumberFor<T> = 9u32.into();
	let nonce = Pallet::<T>::challenge(&node, operator, purpose, anchor);
	let (attest, signature) = tpm.quote(&nonce, &pcrs());
	(
		anchor,
		attest.try_into().expect("fits"),
		signature.try_into().expect("fits"),
		pcrs().try_into().expect("fits"),
	)
}

/// An open admission review of `node` by `members`, where `voters` voted `approve`.
fn open_review<T: Config>(
	node: NodeId,
	members: &[NodeId],
	voters: &[NodeId],
	approve: bool,
	deadline: u32,
) {
	let votes: Vec<(NodeId, bool)> = voters.iter().map(|m| (*m, approve)).collect();
	Reviews::<T>::insert(
		node,
		Review {
			purpose: Purpose::Admission,
			members: members.to_vec().try_into().expect("committee size"),
			votes: votes.try_into().expect("fits"),
			deadline: deadline.into(),
		},
	);
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// The committee draw at the start of a block, over `n` active nodes.
	#[benchmark]
	fn draw_committee(n: Linear<1, { T::MaxNodes::get() - 1 }>) {
		setup::<T>();
		active::<T>(n);
		let node = T::Nodes::insert_for_benchmark(
			1,
			account("candidate", 0, 0),
			SoftTpm::new(1).ak(),
			NodeState::Candidate { attested: false },
		);
		PendingReviews::<T>::put(
			BoundedVec::try_from(vec![(node, Purpose::Admission)]).expect("room for one"),
		);
		let now = frame_system::Pallet::<T>::block_number();

		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}

		assert!(Reviews::<T>::contains_key(node));
	}

	/// A candidate's valid admission quote: verified, its committee draw queued.
	#[benchmark]
	fn submit_admission() {
		setup::<T>();
		let operator: T::AccountId = whitelisted_caller();
		let tpm = SoftTpm::new(6);
		let node = T::Nodes::insert_for_benchmark(
			6,
			operator.clone(),
			tpm.ak(),
			NodeState::Candidate { attested: false },
		);
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Admission);

		#[extrinsic_call]
		submit_attestation(
			RawOrigin::Signed(operator),
			node,
			Purpose::Admission,
			anchor,
			attest,
			signature,
			pcrs,
			BoundedVec::new(),
		);

		assert_eq!(PendingReviews::<T>::get().len(), 1);
	}

	/// An active node's valid heartbeat.
	#[benchmark]
	fn submit_heartbeat() {
		setup::<T>();
		let operator: T::AccountId = whitelisted_caller();
		let tpm = SoftTpm::new(2);
		let node = T::Nodes::insert_for_benchmark(2, operator.clone(), tpm.ak(), NodeState::Active);
		// Its last accepted quote's clock, which this one must pass.
		Clocks::<T>::insert(node, tpm::TpmClock { clock: 1, reset_count: 1, restart_count: 0 });
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Heartbeat);

		#[extrinsic_call]
		submit_attestation(
			RawOrigin::Signed(operator),
			node,
			Purpose::Heartbeat,
			anchor,
			attest,
			signature,
			pcrs,
			BoundedVec::new(),
		);

		assert_eq!(Records::<T>::get(node).and_then(|r| r.last_valid), Some(10u32.into()));
	}

	/// A heartbeat that fails after the whole verification (signature, structure, digest: its
	/// TPM's clock went back): the active node is quarantined.
	#[benchmark]
	fn submit_rejected() {
		setup::<T>();
		let operator: T::AccountId = whitelisted_caller();
		let tpm = SoftTpm::new(3);
		let node = T::Nodes::insert_for_benchmark(3, operator.clone(), tpm.ak(), NodeState::Active);
		let later = tpm::TpmClock { clock: u64::MAX, reset_count: 1, restart_count: 0 };
		Clocks::<T>::insert(node, later);
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Heartbeat);

		#[extrinsic_call]
		submit_attestation(
			RawOrigin::Signed(operator),
			node,
			Purpose::Heartbeat,
			anchor,
			attest,
			signature,
			pcrs,
			BoundedVec::new(),
		);

		assert!(matches!(
			T::Nodes::node(&node).map(|v| v.state),
			Some(NodeState::Quarantined { .. })
		));
	}

	#[benchmark]
	fn vote() {
		setup::<T>();
		let members = active::<T>(T::CommitteeSize::get());
		let node = T::Nodes::insert_for_benchmark(
			4,
			account("candidate", 0, 0),
			SoftTpm::new(4).ak(),
			NodeState::Candidate { attested: false },
		);
		let mut voted = members.clone();
		let last = voted.pop().expect("a committee");
		open_review::<T>(node, &members, &voted, true, 20);
		let operator: T::AccountId = account("member", members.len() as u32 - 1, 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(operator), last, node, true);

		// The last vote of a full committee: it also closes the review (the worst case).
		assert!(Reviews::<T>::get(node).is_none(), "the last vote closed the review");
	}

	#[benchmark]
	fn set_heartbeat_rules() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let rules = HeartbeatRules { period: 50u32.into(), max_missed: 5 };

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, rules);

		assert_eq!(Heartbeats::<T>::get(), rules);
		Ok(())
	}

	/// A review that rejects (every member voted no): tally, reporters, quarantine.
	#[benchmark]
	fn close_review() {
		setup::<T>();
		let members = active::<T>(T::CommitteeSize::get());
		let node = T::Nodes::insert_for_benchmark(
			5,
			account("candidate", 0, 0),
			SoftTpm::new(5).ak(),
			NodeState::Candidate { attested: false },
		);
		open_review::<T>(node, &members, &members, false, 10);

		#[block]
		{
			Pallet::<T>::close(node);
		}

		assert!(matches!(
			T::Nodes::node(&node).map(|v| v.state),
			Some(NodeState::Quarantined { .. })
		));
	}

	/// The heartbeat check with `n` attesting nodes, every one of them past `max_missed`.
	#[benchmark]
	fn check_heartbeats(n: Linear<1, { T::MaxNodes::get() }>) {
		let nodes = active::<T>(n);
		let rules = HeartbeatRules { period: 10u32.into(), max_missed: 1 };
		Heartbeats::<T>::put(rules);
		let now: BlockNumberFor<T> = 100u32.into();
		frame_system::Pallet::<T>::set_block_number(now);

		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}

		for node in nodes {
			assert!(matches!(
				T::Nodes::node(&node).map(|v| v.state),
				Some(NodeState::Quarantined { .. })
			));
		}
	}

	/// Replaying and judging a log of `n` runtime entries (each one an allowlist read and two
	/// SHA-256), continuing from the node's last accepted values: first tried and failed (the
	/// log starts from the reset), then replayed from zero, the worst case.
	#[benchmark]
	fn log_entries(n: Linear<1, { T::MaxLogEntries::get() }>) {
		use tea_primitives::evidence::{extend, EventKind, LogEvent, PcrPolicy, PcrRule};
		setup::<T>();
		let runtime = [0x5a; 32];
		T::Upgrades::allow_for_benchmark(H256(runtime));
		let policy = PcrPolicy {
			pcrs: vec![(0, PcrRule::Fixed([1; 32])), (14, PcrRule::Log)]
				.try_into()
				.expect("2 PCRs"),
		};
		let entry = LogEvent {
			pcr: 14,
			kind: EventKind::Runtime,
			data: runtime.to_vec().try_into().expect("32 bytes"),
		};
		let log = vec![entry; n as usize];
		let end = log.iter().fold([0u8; 32], |acc, e| extend(&acc, &e.digest()));
		let pcrs = vec![(0u8, [1u8; 32]), (14u8, end)];
		let node = NodeId::repeat_byte(4);
		Evidence::<T>::insert(
			node,
			EvidenceState {
				reset_count: 1,
				pcrs: vec![(14, [9; 32])].try_into().expect("1 PCR"),
				runtime: H256(runtime),
				anchor: 1u32.into(),
			},
		);
		let info = tpm::QuoteInfo {
			clock: tpm::TpmClock { clock: 5, reset_count: 1, restart_count: 0 },
			safe: true,
			firmware_version: 0,
			pcr_digest: [0; 32],
		};
		let judged;
		#[block]
		{
			judged = Pallet::<T>::judge(&node, 2u32.into(), &policy, &info, &pcrs, &log);
		}
		assert!(judged.is_ok());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(0), crate::mock::Test);
}
