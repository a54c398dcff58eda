//! A test runtime: System, Balances, the real nodes pallet and this pallet; epochs of 10
//! blocks. The allowlists and rollout signals of `pallet-tea-upgrades` are a list and two logs
//! here (the runtime wires the real pallet; its own tests cover it).

use crate as pallet_tea_attestation;
use crate::*;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU32, ConstU64, Hooks},
};
use pallet_tea_upgrades::{Allowlists, Measurement, RolloutSignals, RolloutTarget};
use sp_runtime::BuildStorage;
use tea_primitives::testing::SoftTpm;

pub type AccountId = u64;
pub type Balance = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		TeaNodes: pallet_tea_nodes,
		TeaAttestation: pallet_tea_attestation,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = frame_system::mocking::MockBlock<Test>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
	type Balance = Balance;
}

pub const DEPOSIT: Balance = 1_000;
pub const EPOCH: u64 = 10;
pub const WINDOW: u64 = 5;
pub const REVIEW: u64 = 4;
pub const PERIOD: u64 = 20;
pub const MAX_MISSED: u32 = 2;
pub const APPEAL: u64 = 40;
pub const TREASURY: AccountId = 999;
/// Blocks a registration may stay provisional.
pub const EXPIRY: u64 = 1_000;

impl pallet_tea_nodes::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type GovernanceOrigin = frame_system::EnsureRoot<AccountId>;
	type NodeDeposit = ConstU64<DEPOSIT>;
	type EpochLength = ConstU64<EPOCH>;
	type UnbondingPeriod = ConstU64<15>;
	type MaxNodes = ConstU32<64>;
	type MaxReporters = ConstU32<3>;
	type SlashDestination = Treasury;
	type OnRemoved = TeaAttestation;
	type Possession = TeaAttestation;
	type CandidateExpiry = ConstU64<EXPIRY>;
	type WeightInfo = ();
}

parameter_types! {
	pub const Treasury: Option<AccountId> = Some(TREASURY);
	/// The measurements governance allowed.
	pub static Allowed: Vec<Measurement> = vec![];
	/// `note_upgraded` calls: (node, measurement).
	pub static Upgraded: Vec<(NodeId, Measurement)> = vec![];
	/// `note_failure` calls.
	pub static Failures: Vec<NodeId> = vec![];
	/// Measurements allowed once and withdrawn since.
	pub static Withdrawn: Vec<Measurement> = vec![];
}

parameter_types! {
	/// Releases workers may run: (CID bytes, actor, version).
	pub static Runnable: Vec<(Vec<u8>, Vec<u8>, u32)> = vec![];
	/// Releases rolling out whose tier is open for no node: (actor, version).
	pub static TierClosed: Vec<(Vec<u8>, u32)> = vec![];
	/// Releases revoked, by CID, with the block of their revocation.
	pub static RevokedAt: Vec<(Vec<u8>, u64)> = vec![];
	/// `note_upgraded` calls for releases: (node, actor, version).
	pub static ReleasesUpgraded: Vec<(NodeId, Vec<u8>, u32)> = vec![];
}

/// The releases and providers event logs name.
pub struct TestReleases;

impl LoggedReleases<u64> for TestReleases {
	fn release(cid: &tea_primitives::ContentId) -> Option<(tea_primitives::Name, u32)> {
		Runnable::get()
			.into_iter()
			.find(|(c, _, _)| c == cid.as_bytes())
			.map(|(_, actor, version)| (actor.try_into().unwrap(), version))
	}
	fn revoked_at(cid: &tea_primitives::ContentId) -> Option<u64> {
		RevokedAt::get().into_iter().find(|(c, _)| c == cid.as_bytes()).map(|(_, at)| at)
	}
	fn provider(name: &[u8]) -> bool {
		name == b"tea:log"
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn ran_for_benchmark(
		cid: &tea_primitives::ContentId,
		actor: tea_primitives::Name,
		version: u32,
	) {
		Runnable::mutate(|r| r.push((cid.as_bytes().to_vec(), actor.to_vec(), version)));
	}
}

/// The allowlist and the rollout signals.
pub struct TestUpgrades;

impl Allowlists<NodeId> for TestUpgrades {
	fn measurement_allowed(_node: &NodeId, measurement: &Measurement) -> bool {
		Allowed::get().contains(measurement)
	}
	fn measurement_ever_allowed(measurement: &Measurement) -> bool {
		Allowed::get().contains(measurement) || Withdrawn::get().contains(measurement)
	}
	fn release_tier_open(_node: &NodeId, actor: &tea_primitives::Name, version: u32) -> bool {
		!TierClosed::get().contains(&(actor.to_vec(), version))
	}
	fn ca_key_allowed(_key: &[u8]) -> bool {
		false
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn allow_for_benchmark(measurement: Measurement) {
		Allowed::mutate(|a| a.push(measurement));
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn roll_release_for_benchmark(_: &NodeId, _: &tea_primitives::Name, _: u32) {}
}

impl RolloutSignals<NodeId> for TestUpgrades {
	fn note_upgraded(node: &NodeId, target: &RolloutTarget) {
		match target {
			RolloutTarget::Measurement { new, .. } => Upgraded::mutate(|u| u.push((*node, *new))),
			RolloutTarget::Release { actor, version } => {
				ReleasesUpgraded::mutate(|u| u.push((*node, actor.to_vec(), *version)))
			}
		}
	}
	fn note_failure(node: &NodeId) {
		Failures::mutate(|f| f.push(*node));
	}
}

impl Config for Test {
	type Nodes = TeaNodes;
	type GovernanceOrigin = frame_system::EnsureRoot<AccountId>;
	type Upgrades = TestUpgrades;
	type ChallengeWindow = ConstU64<WINDOW>;
	type CommitteeSize = ConstU32<3>;
	type ReviewPeriod = ConstU64<REVIEW>;
	type MaxReviewsPerBlock = ConstU32<2>;
	type MaxNodes = ConstU32<64>;
	type Releases = TestReleases;
	type MaxLogEntries = ConstU32<16>;
	type SignalsWeight = ();
	type Duties = ();
	type WeightInfo = ();
}

/// The PCR that holds the event log under [`policy`].
pub const LOG_PCR: u8 = 14;
/// The worker runtime binary's SHA-256 that governance allows.
pub const RUNTIME: [u8; 32] = [0x5a; 32];

/// The test chain's attestation policy (set at genesis): PCR 0 a fixed boot value, the log
/// in [`LOG_PCR`].
pub fn policy() -> PcrPolicy {
	PcrPolicy {
		pcrs: vec![(0, PcrRule::Fixed([0xb0; 32])), (LOG_PCR, PcrRule::Log)].try_into().unwrap(),
	}
}

/// An event log entry in [`LOG_PCR`].
pub fn entry(kind: EventKind, data: &[u8]) -> LogEvent {
	LogEvent { pcr: LOG_PCR, kind, data: data.to_vec().try_into().unwrap() }
}

/// What the launcher logs: the allowed runtime and its configuration.
pub fn launch() -> Vec<LogEvent> {
	vec![entry(EventKind::Runtime, &RUNTIME), entry(EventKind::Config, &[0xc0; 32])]
}

/// The PCR values of a TPM under [`policy`] whose log PCR held `base` and then had `log`
/// extended.
pub fn pcrs_after(base: [u8; 32], log: &[LogEvent]) -> Vec<(u8, [u8; 32])> {
	let end = log.iter().fold(base, |acc, e| evidence::extend(&acc, &e.digest()));
	vec![(0, [0xb0; 32]), (LOG_PCR, end)]
}

/// The PCR values of a TPM that launched the allowed runtime (and loaded nothing since): a
/// quote over them with [`launch`] as its log is valid in any state of the node's evidence.
pub fn good_pcrs() -> Vec<(u8, [u8; 32])> {
	pcrs_after([0; 32], &launch())
}

/// The measurement of [`good_pcrs`]: the runtime its log shows.
pub fn good_measurement() -> Measurement {
	H256(RUNTIME)
}

/// The EK of test node `i`.
pub fn ek(i: u32) -> Vec<u8> {
	let mut ek = b"test EK ".to_vec();
	ek.extend(i.to_le_bytes());
	ek
}

/// The TPM of test node `i`.
pub fn tpm(i: u32) -> SoftTpm {
	SoftTpm::new(i as u64 + 1)
}

/// `trusted` genesis nodes 1000.. (operated by accounts 1000+i), the good measurement allowed,
/// heartbeats every `PERIOD` blocks, evidence after `MAX_MISSED`.
pub fn new_test_ext(trusted: u32) -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=100)
			.chain(1000..1000 + trusted as u64)
			.chain([TREASURY])
			.map(|a| (a, 100_000))
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_nodes::GenesisConfig::<Test> {
		trusted: (0..trusted)
			.map(|i| (1000 + i as u64, ek(1000 + i), tpm(1000 + i).ak().to_vec(), vec![]))
			.collect(),
		// An appeal window long enough for a committee to decide an appeal.
		params: Some(pallet_tea_nodes::BirthControl {
			epoch_length: EPOCH,
			max_admissions_per_epoch: 2,
			probation_epochs: 3,
			appeal_window: APPEAL,
			reporter_share: sp_runtime::Perbill::from_percent(10),
		}),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_attestation::GenesisConfig::<Test> {
		heartbeats: Some(HeartbeatRules { period: PERIOD, max_missed: MAX_MISSED }),
		policy: Some(policy().pcrs.into_inner()),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| {
		Allowed::set(vec![good_measurement()]);
		Upgraded::set(vec![]);
		Failures::set(vec![]);
		TierClosed::set(vec![]);
		System::initialize(&1, &parent_of(1), &Default::default());
	});
	ext
}

/// The (made-up) hash of block `n - 1`, known to the chain as block `n`'s parent.
pub fn parent_of(n: u64) -> H256 {
	H256(sp_io::hashing::blake2_256(&(n - 1).to_le_bytes()))
}

/// Runs the hooks up to and including block `n`, checking both pallets' invariants after
/// every block.
pub fn run_to(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::initialize(&next, &parent_of(next), &Default::default());
		TeaNodes::on_initialize(next);
		TeaAttestation::on_initialize(next);
		TeaNodes::do_try_state().expect("node invariants hold after every block");
		TeaAttestation::do_try_state().expect("attestation invariants hold after every block");
	}
}

/// Runs `test` with `trusted` genesis nodes and checks the invariants afterwards.
pub fn build_and_execute(trusted: u32, test: impl FnOnce()) {
	new_test_ext(trusted).execute_with(|| {
		test();
		TeaNodes::do_try_state().expect("node invariants hold");
		TeaAttestation::do_try_state().expect("attestation invariants hold");
	});
}
