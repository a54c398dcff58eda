//! A test runtime: System, Balances and this pallet, with real sr25519 manifest signatures
//! (`MultiSignature`) and test validator keys (`UintAuthorityId`).

use crate as pallet_tea_actors;
use crate::*;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use sp_core::{sr25519, Pair};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	testing::{TestXt, UintAuthorityId},
	traits::{IdentityLookup, Verify},
	AccountId32, BuildStorage, MultiSignature,
};
use tea_primitives::manifest::Limits;

pub type AccountId = AccountId32;
pub type Balance = u64;
pub type Extrinsic = TestXt<RuntimeCall, ()>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		TeaActors: pallet_tea_actors,
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

parameter_types! {
	/// The validator set; tests change it with `MockValidators::set`.
	pub static MockValidators: Vec<UintAuthorityId> =
		vec![UintAuthorityId(1), UintAuthorityId(2), UintAuthorityId(3)];
	pub static MaxPending: u32 = 8;
	/// The (operator, node) pairs that may report refusals; tests change it.
	pub static MockReporters: Vec<(AccountId, NodeId)> =
		vec![(Sr25519Keyring::Ferdie.to_account_id(), NodeId::repeat_byte(0xfe))];
}

pub struct TestReporters;
impl RefusalReporters<AccountId> for TestReporters {
	fn may_report(who: &AccountId, node: &NodeId) -> bool {
		MockReporters::get().iter().any(|(w, n)| w == who && n == node)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn reporter_for_benchmark() -> (AccountId, NodeId) {
		MockReporters::get()[0].clone()
	}
}

pub const REPORT_INTERVAL: u64 = 5;

pub struct TestValidators;
impl ValidatorSet<UintAuthorityId> for TestValidators {
	fn validators() -> Vec<UintAuthorityId> {
		MockValidators::get()
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(validators: Vec<UintAuthorityId>) {
		MockValidators::set(validators);
	}
}

pub const ACTOR_DEPOSIT: Balance = 100;
pub const RELEASE_DEPOSIT: Balance = 10;
pub const MAX_CODE_SIZE: u32 = 64 * 1024;
pub const MAX_RELEASES: u32 = 3;
pub const RETRY_BLOCKS: u64 = 5;

impl Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Signature = MultiSignature;
	type Signer = <MultiSignature as Verify>::Signer;
	type GovernanceOrigin = frame_system::EnsureRoot<AccountId>;
	type ValidatorId = UintAuthorityId;
	type Validators = TestValidators;
	type MaxValidators = ConstU32<4>;
	type ActorDeposit = frame_support::traits::ConstU64<ACTOR_DEPOSIT>;
	type ReleaseDeposit = frame_support::traits::ConstU64<RELEASE_DEPOSIT>;
	type MaxReleasesPerActor = ConstU32<MAX_RELEASES>;
	type MaxPendingValidations = MaxPending;
	type MaxCodeSize = ConstU32<MAX_CODE_SIZE>;
	type FetchRetryBlocks = frame_support::traits::ConstU64<RETRY_BLOCKS>;
	type Reporters = TestReporters;
	type RefusalReportInterval = frame_support::traits::ConstU64<REPORT_INTERVAL>;
	type MaxRefusalReports = ConstU32<2>;
	type WeightInfo = ();
}

/// Developer accounts.
pub fn alice() -> AccountId {
	Sr25519Keyring::Alice.to_account_id()
}
pub fn bob() -> AccountId {
	Sr25519Keyring::Bob.to_account_id()
}
/// An account with no funds.
pub fn pauper() -> AccountId {
	AccountId32::from(sr25519::Pair::from_seed(&[7; 32]).public())
}

pub fn name(s: &str) -> Name {
	Name::try_from(s.as_bytes().to_vec()).unwrap()
}

/// The providers registered at genesis: `tea:keyvalue` {get, put}, `tea:log` {write}.
pub fn genesis_providers() -> Vec<GenesisProvider> {
	[("tea:keyvalue", &["get", "put"][..]), ("tea:log", &["write"][..])]
		.into_iter()
		.map(|(n, ops)| GenesisProvider {
			name: n.into(),
			cid: ContentId::of(n.as_bytes()).to_text(),
			operations: ops.iter().map(|o| o.to_string()).collect(),
			schema_version: 1,
		})
		.collect()
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(alice(), 10_000), (bob(), 10_000)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_actors::GenesisConfig::<Test> {
		providers: genesis_providers(),
		grant_limits: Some(Limits { max_memory_pages: 64, max_fuel_per_call: 10_000_000 }),
		required_approvals: 2,
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	// Benchmarks sign manifests with keys generated in the keystore, as on a real node.
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` on a fresh chain and checks the pallet's invariants afterwards.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		TeaActors::do_try_state().expect("invariants hold");
	});
}
