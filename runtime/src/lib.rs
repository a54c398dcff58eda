//! # TEA runtime
//!
//! The FRAME runtime of the TEA chain, the root of truth for trusted WebAssembly compute: it
//! will hold approved actor/provider CIDs, developer-signed capability grants, the DAO's upgrade
//! votes, birth-control admission of worker nodes and the slashing of nodes that fail remote
//! attestation. The TEA pallets arrive through their own issues; each gets a module in
//! [`configs`] and an explicit index in the `runtime` block below.

#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

use alloc::vec::Vec;

pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod block_time;
pub mod configs;
pub mod genesis_config_presets;
pub mod weights;

use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Opaque types: what the node needs to know about blocks without knowing the runtime's
/// extrinsic format, so it keeps syncing across runtime upgrades.
pub mod opaque {
	use super::*;
	use sp_runtime::traits::Hash as HashT;

	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block identifier type.
	pub type BlockId = generic::BlockId<Block>;
	/// Opaque block hash type.
	pub type Hash = <BlakeTwo256 as HashT>::Output;
}

impl_opaque_keys! {
	/// The session keys of a validator: Aura for block production, GRANDPA for finality.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

/// The runtime version. `spec_version` must be bumped for every runtime upgrade.
#[cfg(not(feature = "spec-bump"))]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("tea"),
	impl_name: alloc::borrow::Cow::Borrowed("tea-runtime"),
	authoring_version: 1,
	spec_version: 100,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// The same runtime with the next `spec_version`: what the end-to-end test upgrades to
/// (`runtime/spec-bump` builds it; never enabled in the node).
#[cfg(feature = "spec-bump")]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("tea"),
	impl_name: alloc::borrow::Cow::Borrowed("tea-runtime"),
	authoring_version: 1,
	spec_version: 101,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// Block time constants.
mod block_times {
	/// Target block time of production chains. Blocks are produced at most once per slot;
	/// a genesis may choose another slot duration (`blockTime.slotDuration`, see
	/// [`crate::block_time`]), the dev chain 2 s. The block counts below assume this one.
	pub const MILLI_SECS_PER_BLOCK: u64 = 6000;
	/// Default Aura slot duration. It cannot change after genesis without bricking block
	/// production.
	pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;
}
pub use block_times::*;

/// Blocks per minute.
pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
/// Blocks per hour.
pub const HOURS: BlockNumber = MINUTES * 60;
/// Blocks per day.
pub const DAYS: BlockNumber = HOURS * 24;

/// Number of block hashes kept by `frame_system` (the mortality window of transactions).
pub const BLOCK_HASH_COUNT: BlockNumber = 2400;

/// One TEA token in its smallest units (12 decimals).
pub const UNIT: Balance = 1_000_000_000_000;
/// A thousandth of a TEA token.
pub const MILLI_UNIT: Balance = 1_000_000_000;
/// A millionth of a TEA token.
pub const MICRO_UNIT: Balance = 1_000_000;

/// Existential deposit: accounts below this balance are reaped.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_UNIT;

/// Transaction signature: sr25519, ed25519 or ecdsa.
pub type Signature = MultiSignature;

/// An account is identified by the public key of its signing scheme.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// Balance of an account.
pub type Balance = u128;

/// Transaction counter of an account.
pub type Nonce = u32;

/// A hash of some data used by the chain.
pub type Hash = sp_core::H256;

/// Block number.
pub type BlockNumber = u32;

/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type as expected by this runtime.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Block type as expected by this runtime.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// A block with its justifications.
pub type SignedBlock = generic::SignedBlock<Block>;

/// Block identifier.
pub type BlockId = generic::BlockId<Block>;

/// The transaction extensions every signed transaction carries.
pub type TxExtension = (
	// Lets authorized calls (validators' verdicts) in without a signer; a no-op otherwise.
	frame_system::AuthorizeCall<Runtime>,
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// Unchecked extrinsic type as expected by this runtime.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// The payload being signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// Runtime-level migrations (pallet migrations are declared in the pallets).
#[allow(unused_parens)]
type Migrations = ();

/// Executive: dispatches to the pallets.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

// The pallets of the runtime. Indices are part of the transaction format: never reuse one.
#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;

	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;

	#[runtime::pallet_index(6)]
	pub type Utility = pallet_utility;

	// Present in every runtime so that the dev preset can set a key; the `local_testnet`
	// preset (and any production chain spec) leaves the key empty, which disables it.
	#[runtime::pallet_index(7)]
	pub type Sudo = pallet_sudo;

	// The block time the genesis chose (2 s on the dev chain, 6 s elsewhere).
	#[runtime::pallet_index(8)]
	pub type BlockTime = block_time;

	// The DAO: an elected committee that proposes and votes motions.
	#[runtime::pallet_index(10)]
	pub type Council = pallet_collective<Instance1>;

	#[runtime::pallet_index(11)]
	pub type Elections = pallet_elections_phragmen;
	// TEA pallets (actors, nodes, attestation, upgrades, rewards) take indices 20 and up.
	#[runtime::pallet_index(20)]
	pub type Actors = pallet_tea_actors;

	#[runtime::pallet_index(21)]
	pub type Upgrades = pallet_tea_upgrades;

	#[runtime::pallet_index(22)]
	pub type Nodes = pallet_tea_nodes;

	#[runtime::pallet_index(23)]
	pub type Attestation = pallet_tea_attestation;

	#[runtime::pallet_index(24)]
	pub type Rewards = pallet_tea_rewards;
}
