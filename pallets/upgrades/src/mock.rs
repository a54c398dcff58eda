//! A test runtime: System, Balances, the real actors pallet (releases are published, signed and
//! validated as on chain), a council (`pallet_collective`) whose two thirds govern, and this
//! pallet with a node set the tests control.

use crate as pallet_tea_upgrades;
use crate::*;
use frame_support::{derive_impl, parameter_types, traits::ConstU32, weights::Weight};
use frame_system::EnsureRoot;
use pallet_tea_actors::{GenesisProvider, ValidatorSet};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	testing::{TestXt, UintAuthorityId},
	traits::{IdentityLookup, Verify},
	AccountId32, BuildStorage, MultiSignature,
};
use tea_primitives::{cid::ContentId, manifest::Name};

pub type AccountId = AccountId32;
pub type Balance = u64;
pub type Extrinsic = TestXt<RuntimeCall, ()>;
pub type NodeId = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Council: pallet_collective::<Instance1>,
		TeaActors: pallet_tea_actors,
		Upgrades: pallet_tea_upgrades,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = frame_system::mocking::MockBlock<Test>;
	type AccountId = AccountId;
	type Lookup = IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
	type Balance = Balance;
}

parameter_types! {
	pub MaxProposalWeight: Weight = Weight::from_parts(2_000_000_000_000, u64::MAX);
}

impl pallet_collective::Config<pallet_collective::Instance1> for Test {
	type RuntimeOrigin = RuntimeOrigin;
	type Proposal = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type MotionDuration = frame_support::traits::ConstU64<10>;
	type MaxProposals = ConstU32<10>;
	type MaxMembers = ConstU32<8>;
	type DefaultVote = pallet_collective::PrimeDefaultVote;
	type WeightInfo = ();
	type SetMembersOrigin = EnsureRoot<AccountId>;
	type MaxProposalWeight = MaxProposalWeight;
	type DisapproveOrigin = EnsureRoot<AccountId>;
	type KillOrigin = EnsureRoot<AccountId>;
	type Consideration = ();
}

/// Two thirds of the council, as in the TEA runtime (root is left out: the tests show that the
/// council's majority is what counts).
pub type Committee =
	pallet_collective::EnsureProportionAtLeast<AccountId, pallet_collective::Instance1, 2, 3>;

impl<C> frame_system::offchain::CreateTransactionBase<C> for Test
where
	RuntimeCall: From<C>,
{
	type RuntimeCall = RuntimeCall;
	type Extrinsic = Extrinsic;
}

impl<C> frame_system::offchain::CreateTransaction<C> for Test
where
	RuntimeCall: From<C>,
{
	type Extension = ();
	fn create_transaction(call: RuntimeCall, extension: ()) -> Extrinsic {
		Extrinsic::new_transaction(call, extension)
	}
}

impl<C> frame_system::offchain::CreateAuthorizedTransaction<C> for Test
where
	RuntimeCall: From<C>,
{
	fn create_extension() {}
}

pub struct OneValidator;
impl ValidatorSet<UintAuthorityId> for OneValidator {
	fn validators() -> Vec<UintAuthorityId> {
		vec![UintAuthorityId(1)]
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(_: Vec<UintAuthorityId>) {}
}

impl pallet_tea_actors::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Signature = MultiSignature;
	type Signer = <MultiSignature as Verify>::Signer;
	type GovernanceOrigin = Committee;
	type ValidatorId = UintAuthorityId;
	type Validators = OneValidator;
	type MaxValidators = ConstU32<4>;
	type ActorDeposit = frame_support::traits::ConstU64<100>;
	type ReleaseDeposit = frame_support::traits::ConstU64<10>;
	type MaxReleasesPerActor = ConstU32<8>;
	type MaxPendingValidations = ConstU32<8>;
	type MaxCodeSize = ConstU32<65536>;
	type FetchRetryBlocks = frame_support::traits::ConstU64<5>;
	type Reporters = ();
	type RefusalReportInterval = frame_support::traits::ConstU64<10>;
	type MaxRefusalReports = ConstU32<8>;
	type WeightInfo = ();
}

parameter_types! {
	/// The rollout nodes; tests change them with `MockNodes::set`.
	pub static MockNodes: Vec<NodeId> = (1..=10).collect();
	/// Missed deadlines reported to the registry.
	pub static Missed: Vec<(NodeId, RolloutId)> = vec![];
}

pub struct TestNodes;
impl NodeSet<NodeId> for TestNodes {
	fn rollout_nodes() -> Vec<NodeId> {
		MockNodes::get()
	}
	fn missed_upgrade_deadline(node: &NodeId, rollout: RolloutId) {
		Missed::mutate(|m| m.push((*node, rollout)));
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(nodes: Vec<NodeId>) {
		MockNodes::set(nodes);
	}
}

pub const MAX_NODES: u32 = 64;
pub const MAX_LIVE: u32 = 3;
pub const MAX_MEASUREMENTS: u32 = 4;
pub const MAX_CA_KEYS: u32 = 2;
pub const MIN_TIER_BLOCKS: u64 = 2;
pub const GRACE: u64 = 5;

impl Config for Test {
	type GovernanceOrigin = Committee;
	type Releases = TeaActors;
	type NodeId = NodeId;
	type Nodes = TestNodes;
	type MaxNodes = ConstU32<MAX_NODES>;
	type MaxTiers = ConstU32<4>;
	type MaxLiveRollouts = ConstU32<MAX_LIVE>;
	type MaxMeasurements = ConstU32<MAX_MEASUREMENTS>;
	type MaxCaKeys = ConstU32<MAX_CA_KEYS>;
	type MinTierBlocks = frame_support::traits::ConstU64<MIN_TIER_BLOCKS>;
	type GracePeriod = frame_support::traits::ConstU64<GRACE>;
	type WeightInfo = ();
}

/// The council: Alice, Bob, Charlie.
pub fn council() -> Vec<AccountId> {
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
		.iter()
		.map(|k| k.to_account_id())
		.collect()
}

pub fn name(s: &str) -> Name {
	Name::try_from(s.as_bytes().to_vec()).unwrap()
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let dave = Sr25519Keyring::Dave.to_account_id();
	pallet_balances::GenesisConfig::<Test> {
		balances: council().into_iter().chain([dave]).map(|a| (a, 10_000)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_collective::GenesisConfig::<Test, pallet_collective::Instance1> {
		members: council(),
		phantom: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_actors::GenesisConfig::<Test> {
		providers: vec![GenesisProvider {
			name: "tea:log".into(),
			cid: ContentId::of(b"tea:log").to_text(),
			operations: vec!["write".into()],
			schema_version: 1,
		}],
		grant_limits: None,
		required_approvals: 1,
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` on a fresh chain and checks both pallets' invariants afterwards.
pub fn build_and_execute(test: impl FnOnce()) {
	MockNodes::set((1..=10).collect());
	Missed::set(vec![]);
	new_test_ext().execute_with(|| {
		test();
		Upgrades::do_try_state().expect("upgrades invariants hold");
		TeaActors::do_try_state().expect("actors invariants hold");
	});
}
