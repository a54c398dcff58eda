//! The rollout duty: with each finalized block, the releases this node may run (active ones,
//! and rolling ones whose tier is open for it: [`super::grants::read_view`]) that its content
//! store lacks are fetched by CID from registered peers at the addresses they published
//! ([`crate::p2p::blob::fetch`]: chunked, hash-checked, lying peers dropped). The view read is
//! what the node's [`Executor`] runs under from then on, and what it stores is compiled right
//! away ([`Executor::prepare`]), so the next invocation of the release runs it.

use super::{grants::read_view, ChainClient, ChainError, LOG_TARGET};
use crate::{p2p::Network, store::ContentStore, tasks::Executor};
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

/// What the rollout duty did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
	/// A release was fetched from a peer.
	Fetched(Fetched),
	/// A release was compiled: the next invocation runs it.
	Loaded {
		/// Its actor.
		actor: String,
		/// Its version.
		version: u32,
		/// Its CID.
		cid: ContentId,
	},
	/// A release that may run here does not compile.
	LoadFailed {
		/// Its actor.
		actor: String,
		/// Its version.
		version: u32,
		/// Its CID.
		cid: ContentId,
		/// Why.
		reason: String,
	},
}

/// Keeps the content store holding every release this node may run, and the executor running
/// what the chain allows.
pub struct Releases {
	/// The node whose tier decides which rolling releases it may run.
	pub node: H256,
	/// Where releases are kept (and served from to peers).
	pub store: Arc<ContentStore>,
	/// The endpoint blobs are fetched through.
	pub network: Network,
	/// The largest release accepted.
	pub max_size: u64,
	/// What runs the releases.
	pub executor: Arc<Executor>,
	/// Releases no peer served, and when that was last tried.
	failed: HashMap<ContentId, u32>,
}

impl Releases {
	/// The duty of `node`.
	pub fn new(
		node: H256,
		store: Arc<ContentStore>,
		network: Network,
		max_size: u64,
		executor: Arc<Executor>,
	) -> Self {
		Self { node, store, network, max_size, executor, failed: HashMap::new() }
	}

	/// Follows finalized blocks until `stop` is set (`Ok`) or the connection is lost (the
	/// error); `report` sees every release fetched and compiled. Failed fetches are logged and
	/// tried again after [`RETRY_AFTER`] blocks.
	pub async fn follow(
		&mut self,
		client: &Arc<ChainClient>,
		stop: &tokio::sync::watch::Receiver<bool>,
		report: &mut (dyn FnMut(&Rollout) + Send),
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
			let runnable = view.runnable.clone();
			self.executor.update(view);
			let missing: Vec<ContentId> = runnable
				.iter()
				.map(|r| r.cid.clone())
				.filter(|cid| !self.store.contains(cid))
				.filter(|cid| {
					self.failed.get(cid).is_none_or(|at| now >= at.saturating_add(RETRY_AFTER))
				})
				.collect();
			if !missing.is_empty() {
				self.fetch(client, missing, now, report).await;
			}
			for (release, result) in self.executor.prepare().await {
				let (actor, version, cid) = (release.actor, release.version, release.cid);
				report(&match result {
					Ok(()) => Rollout::Loaded { actor, version, cid },
					Err(reason) => Rollout::LoadFailed { actor, version, cid, reason },
				});
			}
		}
	}

	/// Fetches the `missing` releases from registered peers.
	async fn fetch(
		&mut self,
		client: &Arc<ChainClient>,
		missing: Vec<ContentId>,
		now: u32,
		report: &mut (dyn FnMut(&Rollout) + Send),
	) {
		let own = self.network.peer_id();
		let peers: Vec<_> = match super::peer_addresses(client).await {
			Ok(peers) => peers.into_iter().filter(|(peer, _)| *peer != own).collect(),
			Err(e) => {
				tracing::warn!(target: LOG_TARGET, error = %e, "peer addresses not read; trying again next block");
				return;
			}
		};
		for cid in missing {
			tracing::info!(target: LOG_TARGET, cid = %cid.to_text(), peers = peers.len(), "fetching a release");
			match crate::p2p::blob::fetch(&self.network, &self.store, &cid, self.max_size, &peers)
				.await
			{
				Ok(fetched) => {
					crate::metrics::fetch("fetched");
					self.failed.remove(&cid);
					report(&Rollout::Fetched(Fetched {
						cid,
						from: fetched.from,
						size: fetched.size,
					}));
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
