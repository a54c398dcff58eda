//! Benchmarks. Quotes are signed inside the runtime by the software signer over the chain's
//! real challenge, so the measured path is the real verification (structure, nonce, PCR
//! digest, ECDSA P-256, freshness, the policy's judgement): the verify dominates. Every
//! submission is judged under the worst-case policy (all 16 policy PCRs quoted, 15 of them
//! fixed values), whatever policy the runtime's genesis sets.

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
use tea_primitives::{
	evidence::{extend, EventKind, LogEvent, PcrPolicy, PcrRule},
	soft_tpm::SoftTpm,
	tpm,
};

/// The runtime binary the benchmarks' nodes launched.
const RUNTIME: [u8; 32] = [0x5a; 32];
/// The policy's event-log PCR.
const LOG_PCR: u8 = 14;

/// The value every fixed PCR of [`policy`] must hold.
fn boot_value(pcr: u8) -> [u8; 32] {
	[pcr.saturating_add(1); 32]
}

/// The worst-case policy: PCRs 0-15 quoted, [`LOG_PCR`] holding the log, the others fixed.
fn policy() -> PcrPolicy {
	let pcrs: Vec<(u8, PcrRule)> = (0..=evidence::MAX_POLICY_PCR)
		.map(|pcr| {
			let rule = if pcr == LOG_PCR { PcrRule::Log } else { PcrRule::Fixed(boot_value(pcr)) };
			(pcr, rule)
		})
		.collect();
	PcrPolicy { pcrs: pcrs.try_into().expect("16 PCRs") }
}

/// The PCR values a TPM quotes under [`policy`] when its log PCR holds `log_value`.
fn pcrs(log_value: [u8; 32]) -> Vec<(u8, [u8; 32])> {
	(0..=evidence::MAX_POLICY_PCR)
		.map(|pcr| (pcr, if pcr == LOG_PCR { log_value } else { boot_value(pcr) }))
		.collect()
}

/// The launcher's log entry for [`RUNTIME`].
fn runtime_entry() -> LogEvent {
	LogEvent {
		pcr: LOG_PCR,
		kind: EventKind::Runtime,
		data: RUNTIME.to_vec().try_into().expect("32 bytes"),
	}
}

/// The log PCR's value after `log`, from the TPM's reset.
fn replayed(log: &[LogEvent]) -> [u8; 32] {
	log.iter().fold([0u8; 32], |acc, e| extend(&acc, &e.digest()))
}

/// What a node whose last accepted quote showed `log` (in reset cycle 1) continues from.
fn accepted<T: Config>(node: NodeId, log: &[LogEvent]) {
	Evidence::<T>::insert(
		node,
		EvidenceState {
			reset_count: 1,
			pcrs: vec![(LOG_PCR, replayed(log))].try_into().expect("1 PCR"),
			runtime: H256(RUNTIME),
			anchor: 1u32.into(),
			receipt_key: None,
		},
	);
}

/// Moves to block 10 with a known anchor block 9, sets [`policy`] and allows [`RUNTIME`].
fn setup<T: Config>() {
	frame_system::Pallet::<T>::set_block_number(10u32.into());
	let anchor: BlockNumberFor<T> = 9u32.into();
	frame_system::BlockHash::<T>::insert(
		anchor,
		<T as frame_system::Config>::Hashing::hash(b"the anchor block"),
	);
	Policy::<T>::put(policy());
	PolicyChange::<T>::kill();
	T::Upgrades::allow_for_benchmark(H256(RUNTIME));
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

/// A quote by `tpm` for `node`'s `purpose` anchored at block 9, submitted by `operator`,
/// with the log PCR at `log_value`.
fn quoted<T: Config>(
	tpm: &SoftTpm,
	node: NodeId,
	operator: &T::AccountId,
	purpose: Purpose,
	log_value: [u8; 32],
) -> (BlockNumberFor<T>, AttestBytes, SignatureBytes, PcrValues) {
	let anchor: BlockNumberFor<T> = 9u32.into();
	let nonce = Pallet::<T>::challenge(&node, operator, purpose, anchor);
	let (attest, signature) = tpm.quote(&nonce, &pcrs(log_value));
	(
		anchor,
		attest.try_into().expect("fits"),
		signature.try_into().expect("fits"),
		pcrs(log_value).try_into().expect("fits"),
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

	/// A candidate's valid admission quote with its launcher's log (one entry, replayed from
	/// the reset): verified, judged, its committee draw queued.
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
		let log = vec![runtime_entry()];
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Admission, replayed(&log));

		#[extrinsic_call]
		submit_attestation(
			RawOrigin::Signed(operator),
			node,
			Purpose::Admission,
			anchor,
			attest,
			signature,
			pcrs,
			log.try_into().expect("1 entry"),
		);

		assert_eq!(PendingReviews::<T>::get().len(), 1);
		assert!(Evidence::<T>::contains_key(node), "judged under the policy");
	}

	/// An active node's valid heartbeat with an empty log (nothing loaded since its last
	/// accepted quote): verified, judged, the rollout signal sent.
	#[benchmark]
	fn submit_heartbeat() {
		setup::<T>();
		let operator: T::AccountId = whitelisted_caller();
		let tpm = SoftTpm::new(2);
		let node = T::Nodes::insert_for_benchmark(2, operator.clone(), tpm.ak(), NodeState::Active);
		// Its last accepted quote's clock, which this one must pass, and values.
		Clocks::<T>::insert(node, tpm::TpmClock { clock: 1, reset_count: 1, restart_count: 0 });
		accepted::<T>(node, &[runtime_entry()]);
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Heartbeat, replayed(&[runtime_entry()]));

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

	/// A heartbeat that fails at the end of its judgement (signature, structure, digest and
	/// freshness pass; its log PCR is neither where its last accepted quote left it nor what
	/// its log replays to): the active node is quarantined.
	#[benchmark]
	fn submit_rejected() {
		setup::<T>();
		let operator: T::AccountId = whitelisted_caller();
		let tpm = SoftTpm::new(3);
		let node = T::Nodes::insert_for_benchmark(3, operator.clone(), tpm.ak(), NodeState::Active);
		Clocks::<T>::insert(node, tpm::TpmClock { clock: 1, reset_count: 1, restart_count: 0 });
		accepted::<T>(node, &[runtime_entry()]);
		let (anchor, attest, signature, pcrs) =
			quoted::<T>(&tpm, node, &operator, Purpose::Heartbeat, [0xee; 32]);

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

	/// Replaying and judging a log of `n` entries and signalling its releases: the
	/// launcher's runtime entry, then `n - 1` actor entries, each a release rolling out in an
	/// open tier of the node (the most an entry costs: the release, its rollout, the node's
	/// tier and the release's revocation looked up, then the rollout counts the node). The
	/// log is first tried from the node's last accepted values and fails (it starts from the
	/// reset), then is replayed from zero: the worst case.
	#[benchmark]
	fn log_entries(n: Linear<1, { T::MaxLogEntries::get() }>) {
		setup::<T>();
		let node = NodeId::repeat_byte(4);
		let mut log = vec![runtime_entry()];
		for i in 1..n {
			let cid =
				tea_primitives::ContentId::from_digest(&sp_io::hashing::sha2_256(&i.to_le_bytes()));
			let actor: Name = alloc::format!("actor-{i}").into_bytes().try_into().expect("short");
			T::Releases::ran_for_benchmark(&cid, actor.clone(), 2);
			T::Upgrades::roll_release_for_benchmark(&node, &actor, 2);
			log.push(LogEvent {
				pcr: LOG_PCR,
				kind: EventKind::Actor,
				data: cid.as_bytes().to_vec().try_into().expect("a CID fits"),
			});
		}
		let quoted = pcrs(replayed(&log));
		// Its last accepted quote in this reset cycle left the log PCR elsewhere.
		Evidence::<T>::insert(
			node,
			EvidenceState {
				reset_count: 1,
				pcrs: vec![(LOG_PCR, [9; 32])].try_into().expect("1 PCR"),
				runtime: H256(RUNTIME),
				anchor: 1u32.into(),
				receipt_key: None,
			},
		);
		let info = tpm::QuoteInfo {
			clock: tpm::TpmClock { clock: 5, reset_count: 1, restart_count: 0 },
			safe: true,
			firmware_version: 0,
			pcr_digest: [0; 32],
		};
		let proven;
		#[block]
		{
			let judged = Pallet::<T>::judge(&node, 2u32.into(), &policy(), &info, &quoted, &log);
			let Ok((_, _, _, releases)) = judged else { panic!("the log is accepted") };
			proven = releases.len() as u32;
			Pallet::<T>::note_releases(&node, releases);
		}
		assert_eq!(proven, n - 1);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(0), crate::mock::Test);
}
