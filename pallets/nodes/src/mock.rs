//! A test runtime: System, Balances and this pallet; epochs of 10 blocks.

use crate as pallet_tea_nodes;
use crate::*;
use codec::Encode;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use sp_runtime::BuildStorage;

pub type AccountId = u64;
pub type Balance = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		TeaNodes: pallet_tea_nodes,
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
pub const UNBONDING: u64 = 15;
pub const EXPIRY: u64 = 100;
pub const MAX_NODES: u32 = 64;
/// Where slashed deposits go.
pub const TREASURY: AccountId = 999;

parameter_types! {
	pub static Destination: Option<AccountId> = Some(TREASURY);
}

impl Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type GovernanceOrigin = frame_system::EnsureRoot<AccountId>;
	type NodeDeposit = frame_support::traits::ConstU64<DEPOSIT>;
	type EpochLength = frame_support::traits::ConstU64<EPOCH>;
	type UnbondingPeriod = frame_support::traits::ConstU64<UNBONDING>;
	type MaxNodes = ConstU32<MAX_NODES>;
	type MaxReporters = ConstU32<3>;
	type SlashDestination = Destination;
	type OnRemoved = ();
	type Possession = SignedByKey;
	type CandidateExpiry = frame_support::traits::ConstU64<EXPIRY>;
	type WeightInfo = ();
}

/// A stand-in for the attestation pallet's possession check (tested there with real quotes):
/// a proof's signature must be `blake2_256(node ‖ operator ‖ key)` and its anchor 7.
pub struct SignedByKey;
parameter_types! {
	/// Nodes a quote of which verified (at block `VerifiedAt`), as the attestation pallet would
	/// say.
	pub static Proven: Vec<NodeId> = Vec::new();
	pub static VerifiedAt: u64 = 1;
	/// Nodes a committee reviews.
	pub static UnderReview: Vec<NodeId> = Vec::new();
}
impl SignedByKey {
	/// The proof `operator` makes for `node` holding `key`.
	pub fn proof(node: &NodeId, operator: AccountId, key: &AttestationKey) -> PossessionProof<u64> {
		let tag = sp_io::hashing::blake2_256(&(node, operator, key).encode());
		PossessionProof {
			anchor: 7,
			attest: Default::default(),
			signature: tag.to_vec().try_into().unwrap(),
			pcrs: Default::default(),
		}
	}
}
impl VerifyPossession<AccountId, u64> for SignedByKey {
	fn verify(
		node: &NodeId,
		operator: &AccountId,
		key: &AttestationKey,
		proof: &PossessionProof<u64>,
	) -> sp_runtime::DispatchResult {
		frame_support::ensure!(
			*proof == Self::proof(node, *operator, key),
			sp_runtime::DispatchError::Other("bad possession proof")
		);
		Ok(())
	}
	fn last_verified(node: &NodeId) -> Option<u64> {
		Proven::get().contains(node).then(VerifiedAt::get)
	}
	fn under_review(node: &NodeId) -> bool {
		UnderReview::get().contains(node)
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn valid_proof(node: &NodeId, operator: &AccountId) -> (AttestationKey, PossessionProof<u64>) {
		let key = ak(77);
		(key, Self::proof(node, *operator, &key))
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn set_proven(node: &NodeId) {
		Proven::mutate(|p| p.push(*node));
	}
}

/// The EK of test node `i` (any bytes: its hash is the id).
pub fn ek(i: u32) -> Vec<u8> {
	let mut ek = b"test EK ".to_vec();
	ek.extend(i.to_le_bytes());
	ek
}

/// A valid attestation key for test node `i`: `i·G` on P-256, from the primitives' tests.
pub fn ak(i: u32) -> AttestationKey {
	tea_primitives::testing::p256_point(i as u64 + 1)
}

/// Trusted genesis nodes 1000.. operated by account 1000+i.
pub fn new_test_ext(trusted: u32) -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=100).chain([TREASURY]).map(|a| (a, 100_000)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tea_nodes::GenesisConfig::<Test> {
		trusted: (0..trusted)
			.map(|i| (1000 + i as u64, ek(1000 + i), ak(1000 + i).to_vec(), vec![]))
			.collect(),
		params: None,
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` with `trusted` genesis nodes and checks the invariants afterwards.
pub fn build_and_execute(trusted: u32, test: impl FnOnce()) {
	Destination::set(Some(TREASURY));
	Proven::set(Vec::new());
	VerifiedAt::set(1);
	UnderReview::set(Vec::new());
	new_test_ext(trusted).execute_with(|| {
		test();
		TeaNodes::do_try_state().expect("invariants hold");
	});
}
