//! The rollout duty: with each finalized block, the releases this node may run (active ones,
//! and rolling ones whose tier is open for it: [`super::grants::read_view`]) that its content
//! store lacks are fetched by CID from registered peers at the addresses they published
//! ([`crate::p2p::blob::fetch`]: chunked, hash-checked, lying peers dropped). The mini-runtime
//! loads code from that store by CID, so the next invocation of the release runs it.

use super::{grants::read_view, ChainClient, ChainError, LOG_TARGET};
use crate::{p2p::Network, store::ContentStore};
use sp_core::H256;
use std::{collections::HashMap, sync::Arc};
use tea_primitives::ContentId;

/// Blocks before a release no peer served is asked for again.
const RETRY_AFTER: u32 = 10;

/// A release fetched into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
	/// Its CID.
	pub cid: ContentId,
	/// The peer that served it.
	pub from: Option<libp2p::PeerId>,
	/// Its size.
	pub size: u64,
}

/// Keeps the content store holding every release this node may run.
pub struct Releases {
	/// The node whose tier decides which rolling releases it may run.
	pub node: H256,
	/// Where releases are kept (and served from to peers).
	pub store: Arc<ContentStore>,
	/// The endpoint blobs are fetched through.
	pub network: Network,
	/// The largest release accepted.
	pub max_size: u64,
	/// Releases no peer served, and when that was last tried.
	failed: HashMap<ContentId, u32>,
}

impl Releases {
	/// The duty of `node`.
	pub fn new(node: H256, store: Arc<ContentStore>, network: Network, max_size: u64) -> Self {
		Self { node, store, network, max_size, failed: HashMap::new() }
	}

	/// Follows finalized blocks until `stop` is set (`Ok`) or the connection is lost (the
	/// error); `report` sees every release fetched. Failures are logged and tried again after
	/// [`RETRY_AFTER`] blocks.
	pub async fn follow(
		&mut self,
		client: &Arc<ChainClient>,
		stop: &tokio::sync::watch::Receiver<bool>,
		report: &mut (dyn FnMut(&Fetched) + Send),
	) -> Result<(), ChainError> {
		let mut blocks = client.finalized_blocks().await?;
		let mut stop = stop.clone();
		loop {
			tokio::select! {
				block = client.next_finalized(&mut blocks) => { block?; }
				_ = stop.wait_for(|stop| *stop) => return Ok(()),
			}
			let view = match read_view(client, Some(self.node)).await {
				Ok(view) => view,
				Err(e) => {
					tracing::warn!(target: LOG_TARGET, error = %e, "releases not read; trying again next block");
					continue;
				}
			};
			let now = view.block;
			let missing: Vec<ContentId> = view
				.runnable
				.iter()
				.map(|r| r.cid.clone())
				.filter(|cid| !self.store.contains(cid))
				.filter(|cid| {
					self.failed.get(cid).is_none_or(|at| now >= at.saturating_add(RETRY_AFTER))
				})
				.collect();
			if missing.is_empty() {
				continue;
			}
			let own = self.network.peer_id();
			let peers: Vec<_> = match super::peer_addresses(client).await {
				Ok(peers) => peers.into_iter().filter(|(peer, _)| *peer != own).collect(),
				Err(e) => {
					tracing::warn!(target: LOG_TARGET, error = %e, "peer addresses not read; trying again next block");
					continue;
				}
			};
			for cid in missing {
				tracing::info!(target: LOG_TARGET, cid = %cid.to_text(), peers = peers.len(), "fetching a release");
				match crate::p2p::blob::fetch(
					&self.network,
					&self.store,
					&cid,
					self.max_size,
					&peers,
				)
				.await
				{
					Ok(fetched) => {
						crate::metrics::fetch("fetched");
						self.failed.remove(&cid);
						report(&Fetched { cid, from: fetched.from, size: fetched.size });
					}
					Err(e) => {
						crate::metrics::fetch("failed");
						tracing::warn!(target: LOG_TARGET, error = %e, "release not fetched; trying again later");
						self.failed.insert(cid, now);
					}
				}
			}
		}
	}
}
