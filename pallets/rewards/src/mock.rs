//! A test runtime: System, Balances and this pallet; eras of 20 blocks, two eras of history.
//! The node registry and the releases are tables the tests set (the nodes and attestation
//! pallets are tested in their own crates; the runtime wires the real ones).

use crate as pallet_tea_rewards;
use crate::*;
use core::cell::RefCell;
use frame_support::{derive_impl, parameter_types, traits::ConstU32, PalletId};
#[cfg(feature = "runtime-benchmarks")]
use pallet_tea_nodes::AttestationKey;
use pallet_tea_nodes::{NodeRegistry, NodeState, NodeView};
use sp_runtime::{traits::IdentityLookup, AccountId32, BuildStorage, MultiSignature};
use std::collections::BTreeMap;
use tea_primitives::{manifest::Name, ContentId};

pub type AccountId = AccountId32;
pub type Balance = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Rewards: pallet_tea_rewards,
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
	type ExistentialDeposit = frame_support::traits::ConstU64<ED>;
}

pub const ED: Balance = 10;
pub const ERA: u64 = 20;
pub const HISTORY: u32 = 2;
pub const MAX_BATCH: u32 = 8;
pub const MAX_PER_ERA: u32 = 20;

parameter_types! {
	pub const RewardsPalletId: PalletId = PalletId(*b"tea/rwds");
}

impl Config for Test {
	type Currency = Balances;
	type Nodes = Registry;
	type Releases = Releases;
	type GovernanceOrigin = frame_system::EnsureRoot<AccountId>;
	type Signature = MultiSignature;
	type PalletId = RewardsPalletId;
	type EraLength = frame_support::traits::ConstU64<ERA>;
	type HistoryDepth = ConstU32<HISTORY>;
	type MaxBatch = ConstU32<MAX_BATCH>;
	type MaxReceiptsPerEra = ConstU32<MAX_PER_ERA>;
	type WeightInfo = ();
}

thread_local! {
	static NODES: RefCell<BTreeMap<NodeId, NodeView<AccountId, u64>>> = RefCell::new(BTreeMap::new());
	static RELEASES: RefCell<BTreeMap<ContentId, (Name, u32, Option<u64>)>> =
		RefCell::new(BTreeMap::new());
}

/// The node registry the tests set.
pub struct Registry;
impl Registry {
	/// Registers `node`, operated by `operator`, in `state`.
	pub fn set(node: NodeId, operator: AccountId, state: NodeState<u64>) {
		NODES.with(|n| {
			n.borrow_mut()
				.insert(node, NodeView { operator, attestation_key: [0; 65], state, since: 0 })
		});
	}
	/// Moves `node` to `state`.
	pub fn set_state(node: NodeId, state: NodeState<u64>) {
		NODES.with(|n| n.borrow_mut().get_mut(&node).expect("registered").state = state);
	}
	/// Sets the block at which `node` entered its state.
	pub fn set_since(node: NodeId, since: u64) {
		NODES.with(|n| n.borrow_mut().get_mut(&node).expect("registered").since = since);
	}
	/// Deletes `node`.
	pub fn remove(node: NodeId) {
		NODES.with(|n| n.borrow_mut().remove(&node));
	}
}
impl NodeRegistry<AccountId, u64> for Registry {
	fn node(id: &NodeId) -> Option<NodeView<AccountId, u64>> {
		NODES.with(|n| n.borrow().get(id).cloned())
	}
	fn active_nodes() -> Vec<(NodeId, AccountId)> {
		NODES.with(|n| {
			n.borrow()
				.iter()
				.filter(|(_, v)| v.state == NodeState::Active)
				.map(|(id, v)| (*id, v.operator.clone()))
				.collect()
		})
	}
	fn node_count() -> u32 {
		NODES.with(|n| n.borrow().len() as u32)
	}
	fn attesting_nodes() -> Vec<(NodeId, u64)> {
		NODES.with(|n| {
			n.borrow()
				.iter()
				.filter(|(_, v)| matches!(v.state, NodeState::Active | NodeState::Probation { .. }))
				.map(|(id, v)| (*id, v.since))
				.collect()
		})
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn insert_for_benchmark(
		seed: u32,
		operator: AccountId,
		_attestation_key: AttestationKey,
		state: NodeState<u64>,
	) -> NodeId {
		let node = NodeId::repeat_byte(seed as u8);
		Registry::set(node, operator, state);
		node
	}
}

/// The releases the tests set: CID → (actor, version, revoked at).
pub struct Releases;
impl Releases {
	/// Approves `cid` as `actor` version `version`.
	pub fn set(cid: &ContentId, actor: &str, version: u32) {
		let name = Name::try_from(actor.as_bytes().to_vec()).unwrap();
		RELEASES.with(|r| r.borrow_mut().insert(cid.clone(), (name, version, None)));
	}
	/// Revokes `cid` at `block`.
	pub fn revoke(cid: &ContentId, block: u64) {
		RELEASES.with(|r| r.borrow_mut().get_mut(cid).expect("released").2 = Some(block));
	}
}
impl pallet_tea_attestation::LoggedReleases<u64> for Releases {
	fn release(cid: &ContentId) -> Option<(Name, u32)> {
		RELEASES.with(|r| r.borrow().get(cid).map(|(n, v, _)| (n.clone(), *v)))
	}
	fn revoked_at(cid: &ContentId) -> Option<u64> {
		RELEASES.with(|r| r.borrow().get(cid).and_then(|(_, _, at)| *at))
	}
	fn provider(_: &[u8]) -> bool {
		false
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn ran_for_benchmark(cid: &ContentId, actor: Name, version: u32) {
		RELEASES.with(|r| r.borrow_mut().insert(cid.clone(), (actor, version, None)));
	}
}

/// Accounts 1..=20 (as `AccountId32::new([i; 32])`) hold funds; so does the sr25519 keyring.
pub fn account(i: u8) -> AccountId {
	AccountId32::new([i; 32])
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let keyring = sp_keyring::Sr25519Keyring::iter().map(|k| k.to_account_id());
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=20).map(account).chain(keyring).map(|a| (a, 1_000)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_rewards::GenesisConfig::<Test> {
		params: Some(RewardParams {
			node_receipts: 16,
			..<DefaultParams<Test> as frame_support::traits::Get<_>>::get()
		}),
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

/// Runs `test` on a fresh chain and checks the invariants afterwards.
pub fn build_and_execute(test: impl FnOnce()) {
	NODES.with(|n| n.borrow_mut().clear());
	RELEASES.with(|r| r.borrow_mut().clear());
	new_test_ext().execute_with(|| {
		test();
		Rewards::do_try_state().expect("invariants hold");
	});
}

/// Runs blocks up to `n` (each with this pallet's `on_initialize`).
pub fn run_to(n: u64) {
	use frame_support::traits::Hooks;
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Rewards::on_initialize(next);
	}
}
