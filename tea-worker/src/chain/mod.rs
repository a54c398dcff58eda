//! The chain client: talks to a tea-node over JSON-RPC with subxt.
//!
//! - [`ChainClient::status`]: chain, runtime version, latest finalized block.
//! - [`grants`]: the releases this worker may run, following finalized blocks.
//! - [`committee`]: a committee member's duty (examine candidates, vote).
//! - [`duty`]: a node's own attestations (heartbeats, appeals).
//!
//! Followers read state at each finalized block (`ChainClient::finalized_blocks`); every
//! extrinsic is signed by the node's operator ([`signer`]), kept in the persisted [`outbox`]
//! until the chain settles it, and counts once it is finalized.

pub mod acks;
pub mod builds;
pub mod committee;
pub mod duty;
pub mod grants;
pub mod outbox;
pub mod receipts;
pub mod releases;
pub mod signer;

use std::{fmt, time::Duration};
use subxt::{
	config::RpcConfigFor,
	rpcs::{LegacyRpcMethods, RpcClient},
	OnlineClient, SubstrateConfig,
};

const LOG_TARGET: &str = "tea::chain";

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
	/// The endpoint is not a WebSocket/HTTP URL.
	#[error("'{url}' is not a node RPC endpoint: expected a URL like ws://127.0.0.1:9944")]
	InvalidUrl {
		/// The URL given.
		url: String,
	},
	/// Nothing answered at the endpoint.
	#[error(
		"cannot reach a tea-node at {url} ({reason}): is the node running? Start one with \
		 `scripts/run`, or pass --chain ws://HOST:PORT"
	)]
	Unreachable {
		/// The URL given.
		url: String,
		/// Why the connection failed.
		reason: String,
	},
	/// The node did not answer in time.
	#[error("the tea-node at {url} did not answer within {secs} s: is it still starting?")]
	Timeout {
		/// The URL given.
		url: String,
		/// The timeout in seconds.
		secs: u64,
	},
	/// The extrinsic was included and failed with a pallet error.
	#[error("{what} failed on chain: {pallet}.{error}")]
	Dispatch {
		/// What was submitted.
		what: &'static str,
		/// The pallet.
		pallet: String,
		/// The error's name in that pallet.
		error: String,
	},
	/// A stored submission can never be included: the chain settled it without it.
	#[error("{what} lapsed: {reason}")]
	Lapsed {
		/// What was submitted.
		what: &'static str,
		/// Why it can never be included.
		reason: String,
	},
	/// The persisted outbox failed (the local disk).
	#[error(transparent)]
	Outbox(#[from] outbox::OutboxError),
	/// The node answered, but a request failed.
	#[error("the tea-node at {url} failed a request ({what}): {reason}")]
	Request {
		/// The URL given.
		url: String,
		/// What was asked.
		what: &'static str,
		/// The node's or the client's error.
		reason: String,
	},
}

/// A connection to a tea-node.
pub struct ChainClient {
	url: String,
	rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
	api: OnlineClient<SubstrateConfig>,
}

/// A snapshot of the chain as a worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
	/// The endpoint.
	pub url: String,
	/// Chain name from the chain spec (`system_chain`).
	pub chain: String,
	/// Runtime `spec_name`.
	pub spec_name: String,
	/// Runtime `spec_version`.
	pub spec_version: u32,
	/// Runtime `transaction_version`.
	pub transaction_version: u32,
	/// Genesis hash, `0x`-prefixed hex.
	pub genesis_hash: String,
	/// Number of the latest finalized block.
	pub finalized_number: u64,
	/// Hash of the latest finalized block, `0x`-prefixed hex.
	pub finalized_hash: String,
}

impl ChainClient {
	/// Connects to `url`, giving up after `timeout`.
	pub async fn connect(url: &str, timeout: Duration) -> Result<Self, ChainError> {
		let parsed =
			url.parse::<url::Url>().map_err(|_| ChainError::InvalidUrl { url: url.to_string() })?;
		if !matches!(parsed.scheme(), "ws" | "wss" | "http" | "https") || parsed.host().is_none() {
			return Err(ChainError::InvalidUrl { url: url.to_string() });
		}
		let connect = async {
			let rpc = RpcClient::from_insecure_url(url).await.map_err(|e| {
				ChainError::Unreachable { url: url.to_string(), reason: root_cause(&e) }
			})?;
			let api = OnlineClient::<SubstrateConfig>::from_rpc_client(rpc.clone())
				.await
				.map_err(|e| request_error(url, "metadata and runtime version", &e))?;
			Ok::<_, ChainError>((LegacyRpcMethods::new(rpc), api))
		};
		let (rpc, api) = tokio::time::timeout(timeout, connect)
			.await
			.map_err(|_| ChainError::Timeout { url: url.to_string(), secs: timeout.as_secs() })??;
		tracing::debug!(target: LOG_TARGET, %url, "connected");
		Ok(Self { url: url.to_string(), rpc, api })
	}

	/// The genesis hash of the chain the node serves.
	pub fn genesis_hash(&self) -> sp_core::H256 {
		sp_core::H256(self.api.genesis_hash().0)
	}

	/// Reads the chain name, the runtime version and the latest finalized block.
	pub async fn status(&self) -> Result<ChainStatus, ChainError> {
		let url = &self.url;
		let chain =
			self.rpc.system_chain().await.map_err(|e| request_error(url, "system_chain", &e))?;
		let at = self
			.api
			.at_current_block()
			.await
			.map_err(|e| request_error(url, "latest finalized block", &e))?;
		let version = self
			.rpc
			.state_get_runtime_version(Some(at.block_hash()))
			.await
			.map_err(|e| request_error(url, "state_getRuntimeVersion", &e))?;
		let spec_name =
			version.other.get("specName").and_then(|v| v.as_str()).unwrap_or_default().to_string();
		Ok(ChainStatus {
			url: url.clone(),
			chain,
			spec_name,
			spec_version: version.spec_version,
			transaction_version: version.transaction_version,
			genesis_hash: format!("{:?}", self.api.genesis_hash()),
			finalized_number: at.block_number(),
			finalized_hash: format!("{:?}", at.block_hash()),
		})
	}
}

impl ChainClient {
	/// Finalized blocks as the node finalizes them (followers read state at each).
	pub(crate) async fn finalized_blocks(
		&self,
	) -> Result<subxt::client::Blocks<SubstrateConfig>, ChainError> {
		self.api.stream_blocks().await.map_err(|e| request_error(&self.url, "finalized blocks", &e))
	}

	/// The next finalized block; the error says when the node ended the subscription.
	pub(crate) async fn next_finalized(
		&self,
		blocks: &mut subxt::client::Blocks<SubstrateConfig>,
	) -> Result<subxt::client::Block<SubstrateConfig>, ChainError> {
		match blocks.next().await {
			Some(block) => block.map_err(|e| request_error(&self.url, "finalized blocks", &e)),
			None => Err(ChainError::Request {
				url: self.url.clone(),
				what: "finalized blocks",
				reason: "the node closed the subscription".into(),
			}),
		}
	}
}

/// Reads a storage map keyed by a node id at block `at`: `entry` is `"Pallet.Entry"`, `V` the
/// runtime's value type (SCALE).
pub(crate) async fn by_node<V: subxt::ext::codec::Decode>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	node: sp_core::H256,
) -> Result<Option<V>, ChainError> {
	by_key(at, url, entry, node).await
}

/// The latest finalized block of `client`, to read state at.
pub(crate) async fn finalized(
	client: &ChainClient,
) -> Result<subxt::OnlineClientAtBlock<SubstrateConfig>, ChainError> {
	client
		.api
		.at_current_block()
		.await
		.map_err(|e| request_error(&client.url, "finalized block", &subxt::Error::from(e)))
}

/// A `u32` constant of the runtime at block `at`: `entry` is `"Pallet.Constant"`.
pub(crate) fn constant(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
) -> Result<u32, ChainError> {
	let (pallet, name) = entry.split_once('.').expect("entry is Pallet.Constant");
	at.constants()
		.entry(subxt::constants::dynamic::<u32>(pallet, name))
		.map_err(|e| request_error(url, entry, &subxt::Error::from(e)))
}

/// Reads the storage entry under the key parts `keys` (a tuple of `Static` keys, hashed as
/// the map says) at block `at`: its value, or a `ValueQuery` map's default where it has none.
async fn entry_at<Keys, V>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	keys: Keys,
) -> Result<Option<V>, ChainError>
where
	Keys: subxt::ext::frame_decode::storage::IntoEncodableValues
		+ subxt::ext::frame_decode::storage::IntoDecodableValues,
	V: subxt::ext::codec::Decode,
{
	use subxt::utils::Static;
	let fail = |e: subxt::Error| request_error(url, entry, &e);
	let (pallet, name) = entry.split_once('.').expect("entry is Pallet.Entry");
	let address = subxt::storage::dynamic::<Keys, Static<V>>(pallet, name);
	match at.storage().try_fetch(address, keys).await {
		Ok(Some(value)) => Ok(Some(value.decode().map_err(|e| fail(e.into()))?.0)),
		Ok(None) => Ok(None),
		Err(e) => Err(fail(e.into())),
	}
}

/// Whether the storage map `entry` has a value under the key parts `keys` at block `at`,
/// unlike a read never the default of a `ValueQuery` map (`System.Account` has one for every
/// account); the value is not decoded.
pub(crate) async fn exists<Keys>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	keys: Keys,
) -> Result<bool, ChainError>
where
	Keys: subxt::ext::frame_decode::storage::IntoEncodableValues
		+ subxt::ext::frame_decode::storage::IntoDecodableValues,
{
	use subxt::utils::Static;
	let fail = |e: subxt::Error| request_error(url, entry, &e);
	let (pallet, name) = entry.split_once('.').expect("entry is Pallet.Entry");
	let address = subxt::storage::dynamic::<Keys, Static<()>>(pallet, name);
	let storage = at.storage();
	let key = storage
		.entry(address)
		.and_then(|entry| entry.fetch_key(keys))
		.map_err(|e| fail(e.into()))?;
	match storage.fetch_raw(key).await {
		Ok(_) => Ok(true),
		Err(subxt::error::StorageError::NoValueFound) => Ok(false),
		Err(e) => Err(fail(e.into())),
	}
}

/// Reads a storage map entry under `key` (SCALE, hashed as the map says) at block `at`.
pub(crate) async fn by_key<
	K: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	V: subxt::ext::codec::Decode,
>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	key: K,
) -> Result<Option<V>, ChainError> {
	entry_at(at, url, entry, (subxt::utils::Static(key),)).await
}

/// Reads a storage double map entry under `(k1, k2)` (SCALE, hashed as the map says) at block
/// `at`.
pub(crate) async fn by_keys<
	K1: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	K2: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	V: subxt::ext::codec::Decode,
>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	k1: K1,
	k2: K2,
) -> Result<Option<V>, ChainError> {
	use subxt::utils::Static;
	entry_at(at, url, entry, (Static(k1), Static(k2))).await
}

/// Reads a storage map entry under three keys (an `NMap`'s `(k1, k2, k3)`) at block `at`.
pub(crate) async fn by_three_keys<
	K1: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	K2: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	K3: subxt::ext::codec::Encode + subxt::ext::codec::Decode,
	V: subxt::ext::codec::Decode,
>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
	keys: (K1, K2, K3),
) -> Result<Option<V>, ChainError> {
	use subxt::utils::Static;
	let (k1, k2, k3) = keys;
	entry_at(at, url, entry, (Static(k1), Static(k2), Static(k3))).await
}

/// Reads a storage value at block `at` (its default when unset): `entry` is `"Pallet.Entry"`,
/// `V` the runtime's value type (SCALE).
pub(crate) async fn value<V: subxt::ext::codec::Decode>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
) -> Result<V, ChainError> {
	use subxt::utils::Static;
	let fail = |e: subxt::Error| request_error(url, entry, &e);
	let (pallet, name) = entry.split_once('.').expect("entry is Pallet.Entry");
	let address = subxt::storage::dynamic::<(), Static<V>>(pallet, name);
	let value = at.storage().fetch(address, ()).await.map_err(|e| fail(e.into()))?;
	Ok(value.decode().map_err(|e| fail(e.into()))?.0)
}

/// Reads a storage value that may be unset (an `OptionQuery` value) at block `at`.
pub(crate) async fn optional<V: subxt::ext::codec::Decode>(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	entry: &'static str,
) -> Result<Option<V>, ChainError> {
	use subxt::utils::Static;
	let fail = |e: subxt::Error| request_error(url, entry, &e);
	let (pallet, name) = entry.split_once('.').expect("entry is Pallet.Entry");
	let address = subxt::storage::dynamic::<(), Static<V>>(pallet, name);
	match at.storage().try_fetch(address, ()).await {
		Ok(Some(value)) => Ok(Some(value.decode().map_err(|e| fail(e.into()))?.0)),
		Ok(None) => Ok(None),
		Err(e) => Err(fail(e.into())),
	}
}

/// The libp2p peer ids of every registered node at the latest finalized block (entries that
/// are not peer ids are skipped).
pub async fn registered_peers(client: &ChainClient) -> Result<Vec<libp2p::PeerId>, ChainError> {
	use subxt::utils::Static;
	let url = client.url.as_str();
	let fail = |e: subxt::Error| request_error(url, "Nodes.Nodes", &e);
	let at = client.api.at_current_block().await.map_err(|e| fail(e.into()))?;
	let nodes = subxt::storage::dynamic::<(Static<sp_core::H256>,), Static<committee::ChainNode>>(
		"Nodes", "Nodes",
	);
	let mut entries = at.storage().iter(nodes, ()).await.map_err(|e| fail(e.into()))?;
	let mut peers = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry.map_err(|e| fail(e.into()))?;
		let Static(info) = entry.value().decode().map_err(|e| fail(e.into()))?;
		if let Ok(peer) = libp2p::PeerId::from_bytes(&info.peer_id) {
			peers.push(peer);
		}
	}
	Ok(peers)
}

/// Every registered node that published addresses: its libp2p peer id and those addresses as
/// dialable `…/p2p/<peer id>` multiaddrs, at the latest finalized block. Vetted nodes (active
/// or on probation) come first, each group in a random order: a fetch tries peers in this
/// order, and registering (a deposit) must not buy the first place with a peer that stalls
/// every fetch.
pub async fn peer_addresses(
	client: &ChainClient,
) -> Result<Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>, ChainError> {
	use subxt::utils::Static;
	let url = client.url.as_str();
	let fail = |e: subxt::Error| request_error(url, "Nodes.Addresses", &e);
	let at = client.api.at_current_block().await.map_err(|e| fail(e.into()))?;
	let published = subxt::storage::dynamic::<(Static<sp_core::H256>,), Static<Vec<Vec<u8>>>>(
		"Nodes",
		"Addresses",
	);
	let mut entries = at.storage().iter(published, ()).await.map_err(|e| fail(e.into()))?;
	let mut peers = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry.map_err(|e| fail(e.into()))?;
		let key = entry.key().map_err(|e| fail(e.into()))?;
		let (Static(node),) = key.decode().map_err(|e| fail(e.into()))?;
		let Static(addresses) = entry.value().decode().map_err(|e| fail(e.into()))?;
		let Some(info) = by_node::<committee::ChainNode>(&at, url, "Nodes.Nodes", node).await?
		else {
			continue;
		};
		if let Ok(peer) = libp2p::PeerId::from_bytes(&info.peer_id) {
			let dialable = crate::p2p::published(peer, &addresses);
			if !dialable.is_empty() {
				let vetted = matches!(
					info.state,
					pallet_tea_nodes::NodeState::Active
						| pallet_tea_nodes::NodeState::Probation { .. }
				);
				// Best effort: without the OS's randomness, the storage order.
				let mut draw = [0u8; 8];
				let _ = getrandom::getrandom(&mut draw);
				peers.push((!vetted, u64::from_le_bytes(draw), peer, dialable));
			}
		}
	}
	peers.sort_unstable_by_key(|(unvetted, draw, _, _)| (*unvetted, *draw));
	Ok(peers.into_iter().map(|(_, _, peer, dialable)| (peer, dialable)).collect())
}

/// The chain's type (`system_chainType`: `Development`, `Local`, `Live`).
pub async fn chain_type(client: &ChainClient) -> Result<String, ChainError> {
	client
		.rpc
		.system_chain_type()
		.await
		.map_err(|e| request_error(&client.url, "system_chainType", &e))
}

/// Best minus finalized block number (how far finality lags).
pub async fn finality_lag(client: &ChainClient, finalized: u64) -> Result<u64, ChainError> {
	let best = client
		.rpc
		.chain_get_header(None)
		.await
		.map_err(|e| request_error(&client.url, "chain_getHeader", &e))?
		.map_or(finalized, |h| u64::from(h.number));
	Ok(best.saturating_sub(finalized))
}

impl ChainStatus {
	/// The status as one JSON object (stable field names, for scripts and tests).
	pub fn to_json(&self) -> String {
		serde_json::json!({
			"url": self.url,
			"chain": self.chain,
			"specName": self.spec_name,
			"specVersion": self.spec_version,
			"transactionVersion": self.transaction_version,
			"genesisHash": self.genesis_hash,
			"finalizedNumber": self.finalized_number,
			"finalizedHash": self.finalized_hash,
		})
		.to_string()
	}
}

impl fmt::Display for ChainStatus {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		writeln!(f, "node:       {}", self.url)?;
		writeln!(f, "chain:      {}", self.chain)?;
		writeln!(
			f,
			"runtime:    {} spec_version {} (transaction_version {})",
			self.spec_name, self.spec_version, self.transaction_version
		)?;
		writeln!(f, "genesis:    {}", self.genesis_hash)?;
		write!(f, "finalized:  #{} {}", self.finalized_number, self.finalized_hash)
	}
}

fn request_error(url: &str, what: &'static str, e: &dyn std::error::Error) -> ChainError {
	ChainError::Request { url: url.to_string(), what, reason: root_cause(e) }
}

/// The innermost cause of an error: the part a user can act on ("Connection refused").
pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
	let mut cur = e;
	while let Some(next) = cur.source() {
		cur = next;
	}
	cur.to_string()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn rejects_non_rpc_urls_before_connecting() {
		for bad in ["", "localhost:9944", "ftp://127.0.0.1:9944", "ws://", "not a url"] {
			let err = ChainClient::connect(bad, Duration::from_secs(1)).await.err().unwrap();
			assert!(matches!(err, ChainError::InvalidUrl { .. }), "{bad}: {err}");
		}
	}

	#[tokio::test]
	async fn closed_port_is_reported_as_unreachable() {
		// Bind then drop a listener: the port is free and nothing answers on it.
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let url = format!("ws://127.0.0.1:{port}");
		let err = ChainClient::connect(&url, Duration::from_secs(5)).await.err().unwrap();
		match &err {
			ChainError::Unreachable { url: u, reason } => {
				assert_eq!(u, &url);
				assert!(reason.to_lowercase().contains("refused"), "{reason}");
			}
			other => panic!("expected Unreachable, got {other}"),
		}
		assert!(err.to_string().contains("is the node running?"));
	}

	#[test]
	fn status_json_is_valid_json_with_stable_fields() {
		let s = ChainStatus {
			url: "ws://127.0.0.1:9944".into(),
			chain: "TEA \"Dev\"".into(),
			spec_name: "tea".into(),
			spec_version: 100,
			transaction_version: 1,
			genesis_hash: "0x00".into(),
			finalized_number: 7,
			finalized_hash: "0x01".into(),
		};
		let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
		assert_eq!(v["chain"], "TEA \"Dev\"");
		assert_eq!(v["specVersion"], 100);
		assert_eq!(v["finalizedNumber"], 7);
	}
}
