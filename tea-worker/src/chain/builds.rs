//! The build duty: moves the node to the worker build (the mini-runtime measurement) the chain
//! wants it to run, through the measured launch.
//!
//! A new build rolls out with `upgrades.rollOutMeasurement(new, replaces, plan)`; `new` is the
//! SHA-256 of the binary, so the build's content ID is `new` itself (CIDv1, raw, sha2-256):
//! whoever has the binary can serve it and nobody can serve anything else under that name.
//! With each finalized block the duty reads which builds this node may run
//! ([`read_view`]) and [`choose`]s:
//! - a build of a live rollout whose tier is open for this node (the newest rollout first)
//!   that it does not run yet;
//! - otherwise, if the build it runs is not allowed for it any more (its rollout was rolled
//!   back, or it was removed), a build allowed everywhere, one it has first.
//!
//! The chosen build is fetched by CID from registered peers ([`crate::p2p::blob::fetch`]:
//! chunked, hash-checked, at most [`MAX_BUILD_SIZE`]), and written, verified again, to
//! `<data_dir>/builds/<measurement>`. The running build is kept in the content store first, so
//! the node (and its peers) can go back to it. Then the daemon stops its duties and
//! re-executes the launcher of the running, measured build (`tea-worker launch --exec <new>`),
//! which measures the new binary into the event log before it runs: its next quote proves the
//! upgrade (`upgrades.NodeUpgraded`), or shows what it really runs.

use super::{
	by_key,
	grants::{open_for, ChainRollout},
	request_error, value, ChainClient, ChainError, LOG_TARGET,
};
use crate::{p2p::Network, store::ContentStore};
use pallet_tea_upgrades::{MeasurementStatus, RolloutId, RolloutTarget};
use sp_core::H256;
use std::{
	collections::HashMap,
	path::{Path, PathBuf},
	sync::Arc,
};
use tea_primitives::ContentId;

/// Blocks before a build that could not be fetched or prepared is tried again.
const RETRY_AFTER: u32 = 10;

/// The largest build accepted from a peer.
pub const MAX_BUILD_SIZE: u64 = 512 << 20;

/// The content ID of the build whose measurement (SHA-256 of the binary) is `measurement`.
pub fn build_cid(measurement: &H256) -> ContentId {
	ContentId::from_digest(&measurement.0)
}

/// What the chain says about the builds this node may run, at one finalized block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildView {
	/// The finalized block read.
	pub block: u32,
	/// The new builds of live rollouts whose tier is open for this node, newest rollout first.
	pub rolling: Vec<H256>,
	/// Whether the build this node runs is allowed for it now.
	pub running_allowed: bool,
	/// The builds allowed for every node (read only when the running one is not allowed).
	pub allowed: Vec<H256>,
}

/// The build a node running `running` should relaunch into, if any; `have` tells which builds
/// it holds already (preferred when going back).
pub fn choose(running: &H256, view: &BuildView, have: impl Fn(&H256) -> bool) -> Option<H256> {
	if let Some(newest) = view.rolling.first() {
		return (newest != running).then_some(*newest);
	}
	if view.running_allowed {
		return None;
	}
	view.allowed.iter().find(|m| have(m)).or(view.allowed.first()).copied()
}

/// Reads the builds `node`, running `running`, may run at the latest finalized block.
pub async fn read_view(
	client: &ChainClient,
	node: H256,
	running: &H256,
) -> Result<BuildView, ChainError> {
	use subxt::{storage, utils::Static};
	let url = client.url.as_str();
	let at = client
		.api
		.at_current_block()
		.await
		.map_err(|e| request_error(url, "finalized block", &e))?;
	let mut view = BuildView { block: at.block_number() as u32, ..Default::default() };
	let live: Vec<RolloutId> = value(&at, url, "Upgrades.LiveRollouts").await?;
	for id in live.into_iter().rev() {
		let Some(rollout) =
			by_key::<RolloutId, ChainRollout>(&at, url, "Upgrades.Rollouts", id).await?
		else {
			continue;
		};
		if let RolloutTarget::Measurement { new, .. } = rollout.target {
			if open_for(&at, url, id, &rollout, node).await? {
				view.rolling.push(new);
			}
		}
	}
	let status =
		by_key::<H256, MeasurementStatus>(&at, url, "Upgrades.Measurements", *running).await?;
	view.running_allowed =
		status == Some(MeasurementStatus::Allowed) || view.rolling.contains(running);
	if view.rolling.is_empty() && !view.running_allowed {
		let fail = |e: subxt::Error| request_error(url, "Upgrades.Measurements", &e);
		let all = storage::dynamic::<(Static<H256>,), Static<MeasurementStatus>>(
			"Upgrades",
			"Measurements",
		);
		let mut entries = at.storage().iter(all, ()).await.map_err(|e| fail(e.into()))?;
		while let Some(entry) = entries.next().await {
			let entry = entry.map_err(|e| fail(e.into()))?;
			let key = entry.key().map_err(|e| fail(e.into()))?;
			let (Static(measurement),) = key.decode().map_err(|e| fail(e.into()))?;
			let Static(status) = entry.value().decode().map_err(|e| fail(e.into()))?;
			if status == MeasurementStatus::Allowed {
				view.allowed.push(measurement);
			}
		}
		view.allowed.sort();
	}
	Ok(view)
}

/// What the build duty did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildEvent {
	/// A build was fetched from a peer.
	Fetched {
		/// Its measurement.
		measurement: H256,
		/// The peer that served it.
		from: Option<libp2p::PeerId>,
		/// Its size.
		size: u64,
	},
	/// The chain wants this node on another build, and this node cannot relaunch into it (it
	/// was not started through `tea-worker launch`, or that build did not start here).
	Stuck {
		/// The build wanted.
		measurement: H256,
		/// Why it cannot relaunch.
		reason: String,
	},
	/// A build could not be fetched or prepared; tried again later.
	Unavailable {
		/// Its measurement.
		measurement: H256,
		/// Why.
		reason: String,
	},
	/// The build is ready: the daemon relaunches into it.
	Relaunch {
		/// Its measurement.
		measurement: H256,
		/// The binary the launcher measures and executes.
		path: PathBuf,
	},
}

/// Keeps the node on the build the chain wants it to run.
pub struct Builds {
	node: H256,
	running: H256,
	store: Arc<ContentStore>,
	network: Network,
	dir: PathBuf,
	/// `Err(why)` when this daemon cannot relaunch measured.
	relaunch: Result<(), String>,
	/// Builds that could not be fetched or prepared, and when that was last tried.
	failed: HashMap<H256, u32>,
	/// The build last reported as wanted but out of reach (reported once).
	stuck: Option<H256>,
}

impl Builds {
	/// The duty of `node` running the build `running`; builds are written to `dir`;
	/// `relaunch` says whether it can relaunch measured.
	pub fn new(
		node: H256,
		running: H256,
		store: Arc<ContentStore>,
		network: Network,
		dir: PathBuf,
		relaunch: Result<(), String>,
	) -> Self {
		Self { node, running, store, network, dir, relaunch, failed: HashMap::new(), stuck: None }
	}

	/// Follows finalized blocks until `stop` is set (`Ok(None)`), the connection is lost
	/// (the error), or a build to relaunch into is ready (`Ok(Some((measurement, path)))`).
	pub async fn follow(
		&mut self,
		client: &Arc<ChainClient>,
		stop: &tokio::sync::watch::Receiver<bool>,
		report: &mut (dyn FnMut(&BuildEvent) + Send),
	) -> Result<Option<(H256, PathBuf)>, ChainError> {
		let mut blocks = client.finalized_blocks().await?;
		let mut stop = stop.clone();
		loop {
			tokio::select! {
				block = client.next_finalized(&mut blocks) => { block?; }
				_ = stop.wait_for(|stop| *stop) => return Ok(None),
			}
			if let Some(ready) = self.step(client, report).await {
				return Ok(Some(ready));
			}
		}
	}

	async fn step(
		&mut self,
		client: &Arc<ChainClient>,
		report: &mut (dyn FnMut(&BuildEvent) + Send),
	) -> Option<(H256, PathBuf)> {
		let view = match read_view(client, self.node, &self.running).await {
			Ok(view) => view,
			Err(e) => {
				tracing::warn!(target: LOG_TARGET, error = %e, "builds not read; trying again next block");
				return None;
			}
		};
		let store = self.store.clone();
		let target = choose(&self.running, &view, |m| store.contains(&build_cid(m)))?;
		if let Err(reason) = &self.relaunch {
			if self.stuck != Some(target) {
				self.stuck = Some(target);
				report(&BuildEvent::Stuck { measurement: target, reason: reason.clone() });
			}
			return None;
		}
		if self.failed.get(&target).is_some_and(|at| view.block < at.saturating_add(RETRY_AFTER)) {
			return None;
		}
		// It did not start on this machine (the launcher fell back to this build).
		let record = crate::daemon::launch::failed_record(&self.dir, &target.0);
		if let Ok(why) = std::fs::read_to_string(&record) {
			if self.stuck != Some(target) {
				self.stuck = Some(target);
				let reason =
					format!("it did not start here ({}): {}", record.display(), why.trim());
				report(&BuildEvent::Stuck { measurement: target, reason });
			}
			return None;
		}
		let cid = build_cid(&target);
		if !self.store.contains(&cid) {
			if let Err(reason) = self.fetch(client, &target, report).await {
				self.failed.insert(target, view.block);
				report(&BuildEvent::Unavailable { measurement: target, reason });
				return None;
			}
		}
		let (running, dir) = (self.running, self.dir.clone());
		let prepared = tokio::task::spawn_blocking({
			let store = store.clone();
			move || prepare(&store, &running, &target, &dir)
		})
		.await
		.unwrap_or_else(|e| Err(e.to_string()));
		match prepared {
			Ok(path) => {
				// A fetch can take minutes: relaunch only if the chain still wants this build
				// (not rolled back meanwhile); else the next block decides again.
				let now = read_view(client, self.node, &self.running).await.ok()?;
				if choose(&self.running, &now, |m| store.contains(&build_cid(m))) != Some(target) {
					return None;
				}
				report(&BuildEvent::Relaunch { measurement: target, path: path.clone() });
				Some((target, path))
			}
			Err(reason) => {
				self.failed.insert(target, view.block);
				report(&BuildEvent::Unavailable { measurement: target, reason });
				None
			}
		}
	}

	/// Fetches build `measurement` from registered peers into the store.
	async fn fetch(
		&mut self,
		client: &Arc<ChainClient>,
		measurement: &H256,
		report: &mut (dyn FnMut(&BuildEvent) + Send),
	) -> Result<(), String> {
		let own = self.network.peer_id();
		let peers: Vec<_> = super::peer_addresses(client)
			.await
			.map_err(|e| e.to_string())?
			.into_iter()
			.filter(|(peer, _)| *peer != own)
			.collect();
		let cid = build_cid(measurement);
		tracing::info!(target: LOG_TARGET, build = %crate::hex0x(&measurement.0), cid = %cid.to_text(), peers = peers.len(), "fetching a build");
		let fetched =
			crate::p2p::blob::fetch(&self.network, &self.store, &cid, MAX_BUILD_SIZE, &peers)
				.await
				.map_err(|e| e.to_string())?;
		crate::metrics::fetch("fetched");
		report(&BuildEvent::Fetched {
			measurement: *measurement,
			from: fetched.from,
			size: fetched.size,
		});
		Ok(())
	}
}

/// Keeps the running build in the store (to go back to it, and for peers), then writes build
/// `target` from the store to an executable file in `dir`, verified: its path.
fn prepare(
	store: &ContentStore,
	running: &H256,
	target: &H256,
	dir: &Path,
) -> Result<PathBuf, String> {
	store
		.import_as(&build_cid(running), Path::new("/proc/self/exe"))
		.map_err(|e| format!("the running build is not kept: {e}"))?;
	std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
	let path = dir.join(crate::hex0x(&target.0));
	store.export(&build_cid(target), &path, MAX_BUILD_SIZE, 0o700).map_err(|e| e.to_string())?;
	let mut magic = [0u8; 4];
	let read = std::fs::File::open(&path)
		.and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
		.map_err(|e| format!("{}: {e}", path.display()));
	if read.is_err() || magic != *b"\x7fELF" {
		let _ = std::fs::remove_file(&path);
		return Err(format!(
			"build {} is not an ELF executable: not launched",
			crate::hex0x(&target.0)
		));
	}
	Ok(path)
}

#[cfg(test)]
mod tests {
	use super::*;

	const A: H256 = H256([1; 32]);
	const B: H256 = H256([2; 32]);
	const C: H256 = H256([3; 32]);

	fn view(rolling: &[H256], running_allowed: bool, allowed: &[H256]) -> BuildView {
		BuildView {
			block: 1,
			rolling: rolling.to_vec(),
			running_allowed,
			allowed: allowed.to_vec(),
		}
	}

	#[test]
	fn a_node_moves_to_the_newest_build_rolling_out_in_its_tier_and_stays_there() {
		let none = |_: &H256| false;
		// Its tier opened: it moves to the new build.
		assert_eq!(choose(&A, &view(&[B], true, &[]), none), Some(B));
		// Two rollouts open for it: the newest wins; once on it, it stays.
		assert_eq!(choose(&A, &view(&[C, B], true, &[]), none), Some(C));
		assert_eq!(choose(&C, &view(&[C, B], true, &[]), none), None);
		// Already on the rolling build, or no rollout open for it and its build allowed.
		assert_eq!(choose(&B, &view(&[B], true, &[]), none), None);
		assert_eq!(choose(&A, &view(&[], true, &[A, B]), none), None);
	}

	#[test]
	fn a_node_whose_build_is_withdrawn_goes_back_to_an_allowed_one_it_has_first() {
		// Rolled back: its build is not allowed any more; it returns to the one it kept.
		assert_eq!(choose(&B, &view(&[], false, &[A, C]), |m| *m == C), Some(C));
		// It has none of them: the first allowed one, fetched from peers.
		assert_eq!(choose(&B, &view(&[], false, &[A, C]), |_| false), Some(A));
		// Nothing is allowed: nothing to go to (its heartbeats are refused until governance
		// allows a build).
		assert_eq!(choose(&B, &view(&[], false, &[]), |_| true), None);
	}

	#[test]
	fn a_build_s_content_id_is_its_measurement() {
		let binary = b"\x7fELF a worker build";
		let measurement = H256(
			sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(binary)).into(),
		);
		assert_eq!(build_cid(&measurement), ContentId::of(binary));
	}

	#[test]
	fn only_a_verified_elf_build_is_prepared_and_the_running_one_is_kept() {
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let running = H256(crate::tpm::runtime_digest().unwrap());
		let elf = b"\x7fELF\x02\x01\x01 a build".to_vec();
		let script = b"#!/bin/sh\necho not a build\n".to_vec();
		let (elf_cid, script_cid) = (store.put(&elf).unwrap(), store.put(&script).unwrap());
		let m = |cid: &ContentId| H256(cid.digest().try_into().unwrap());
		let builds = dir.path().join("builds");
		let path = prepare(&store, &running, &m(&elf_cid), &builds).unwrap();
		assert_eq!(path, builds.join(crate::hex0x(&m(&elf_cid).0)));
		assert_eq!(std::fs::read(&path).unwrap(), elf);
		assert!(store.contains(&build_cid(&running)), "the running build is kept");
		let refused = prepare(&store, &running, &m(&script_cid), &builds).unwrap_err();
		assert!(refused.contains("not an ELF executable"), "{refused}");
		assert!(!builds.join(crate::hex0x(&m(&script_cid).0)).exists());
		let missing = prepare(&store, &running, &H256([9; 32]), &builds).unwrap_err();
		assert!(missing.contains("not in the content store"), "{missing}");
	}
}
