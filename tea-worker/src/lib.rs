//! `tea-worker`: the TEA companion daemon, as a library (the binary is a thin CLI over it).
//!
//! - [`store`]: content-addressed blobs, verified on every read, fetched from a gateway.
//! - [`grants`]: which releases may run and what they may call (signed manifests, chain).
//! - [`runtime`]: the wasmtime mini-runtime with limits, fuel, deadlines and the host ABI.
//! - [`providers`]: the built-in capability providers.
//! - [`chain`]: the subxt client of tea-node.
//! - [`evidence`]: the event log of everything extended into the log PCR.
//! - [`tpm`]: the TPM identity, self-measurement, quotes and credential activation (tss-esapi;
//!   swtpm in development).
//! - [`p2p`]: worker-to-worker requests over rust-libp2p.
//! - [`committee`]: examining candidates (EK certificate, credential activation) and voting.
//! - [`daemon`]: `tea-worker run`, one long-running process per node.
//! - [`metrics`]: Prometheus metrics, `/metrics` and `/health`.
//! - [`tasks`]: running what the chain lets this node run, for callers.
//! - [`receipts`]: client tasks (signed requests) and their proof-of-trust receipts.
//! - [`http`]: the small HTTP servers (metrics, the local invocation API).
//! - [`logs`]: log lines as text or JSON.

pub mod chain;
pub mod committee;
pub mod daemon;
pub mod error;
pub mod evidence;
pub mod grants;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod p2p;
pub mod providers;
pub mod receipts;
pub mod runtime;
pub mod store;
pub mod tasks;
pub mod tpm;

/// `bytes` as `0x`-prefixed lowercase hex (how polkadot.js and the JSON lines print them).
pub fn hex0x(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

/// The bytes of hex `text`, with or without the `0x` prefix (the inverse of [`hex0x`]).
pub fn unhex0x(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
	hex::decode(text.strip_prefix("0x").unwrap_or(text))
}
