//! # tea-primitives
//!
//! The one place where the TEA chain and `tea-worker` agree on data: both compile this crate
//! (the runtime for `wasm32v1-none`, the worker natively), so they can never disagree on what a
//! CID is, what a developer signed, or which host import belongs to which capability.
//!
//! - [`cid`]: content IDs of actor and provider Wasm (CIDv1, raw codec, sha2-256).
//! - [`manifest`]: the developer-signed capability grants of a release.
//! - [`abi`]: the TEA host ABI, the imports and exports of an actor module.
//! - [`code`]: the check of a release's Wasm bytes against its CID, size and grants.
//! - [`refusals`]: what a worker reports on chain that it refused while running a release.
//! - [`tpm`]: TPM 2.0 quote verification (TPMS_ATTEST, PCR digest, P-256 ECDSA), TPM clock
//!   freshness.
//! - [`receipt`]: clients' signed task requests, nodes' proof-of-trust receipts and their
//!   checks.
//! - [`evidence`]: the event log of what a worker extended into its log PCR, the PCR policy, and
//!   the replay that checks quoted PCR values against both.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod abi;
pub mod cid;
pub mod code;
pub mod evidence;
pub mod manifest;
pub mod receipt;
pub mod refusals;
#[cfg(any(feature = "std", feature = "soft-tpm"))]
pub mod soft_tpm;
#[cfg(feature = "std")]
pub mod testing;
pub mod tpm;

pub use cid::{CidError, ContentId};
pub use code::{ActorInterface, CodeRejection};
pub use manifest::{Grant, Limits, Manifest, Name};
pub use refusals::RefusalCounts;
