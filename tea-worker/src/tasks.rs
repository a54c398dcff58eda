//! Running actors for callers: what the chain lets this node run, in the mini-runtime, bounded.
//!
//! [`Executor::run`] is the one way in. The daemon's local invocation API
//! ([`crate::daemon::api`]) calls it today; the client task API (signed requests, receipts)
//! wraps the same call, so both run exactly what the chain allows for this node:
//! - by actor name, the release this node runs of that actor: the rolling one where its tier is
//!   open for this node, else the active one ([`crate::chain::grants::read_view`]);
//! - by CID, that release if it may run here (active, or rolling in an open tier for this node);
//!   anything else is refused with the chain's reason.
//!
//! The rollout duty keeps the releases in the content store and calls [`Executor::prepare`]
//! after each finalized block: what may run and is stored is compiled before anyone asks, and
//! what may no longer run (revoked, superseded) is dropped. Revocation takes effect with the
//! first finalized block that shows it, for compiled releases too: every invocation asks the
//! grants again.

use crate::{
	chain::{
		grants::{ChainGrants, ReleaseView},
		receipts::NodeFacts,
	},
	grants::ApprovedRelease,
	runtime::{InvokeError, LoadError, MiniRuntime},
	store::ContentStore,
};
use sp_core::H256;
use std::{
	collections::{HashMap, HashSet},
	sync::{Arc, Mutex},
};
use tea_primitives::ContentId;

const LOG_TARGET: &str = "tea::tasks";

/// What a caller asks to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
	/// The release of this actor that runs on this node.
	Actor(String),
	/// This release, if it may run on this node.
	Release(ContentId),
}

/// A finished invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
	/// The actor that ran.
	pub actor: String,
	/// Its release version.
	pub version: u32,
	/// The release's CID.
	pub cid: ContentId,
	/// The finalized block whose grants it ran under.
	pub block: u32,
	/// That block's hash.
	pub hash: H256,
	/// What the chain said of this node at that block (none: nothing read yet, or no node id).
	pub node: Option<NodeFacts>,
	/// What it returned.
	pub output: Vec<u8>,
	/// Fuel it burned.
	pub fuel_used: u64,
}

/// Why an invocation did not run or did not finish. The worker is unaffected by any of these.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
	/// No release of the actor may run on this node.
	#[error("no release of actor {0:?} may run on this node")]
	UnknownActor(String),
	/// The release may not run on this node; the chain's reason.
	#[error("{0}")]
	NotRunnable(String),
	/// The release may run but is not in the content store yet.
	#[error("release {0} may run here but is not in the content store yet (the rollout duty fetches it from peers)")]
	NotFetched(String),
	/// The input is over the limit.
	#[error("the input of {size} bytes is over the limit of {max} bytes")]
	InputTooLarge {
		/// Its size.
		size: usize,
		/// The limit.
		max: usize,
	},
	/// Every invocation slot is taken.
	#[error("all {0} invocation slots are busy; try again")]
	Busy(usize),
	/// The grants were last read too long ago (the chain is not reachable): what may run is
	/// not known, so nothing runs.
	#[error("this node has not read a finalized block for {0:?}: what may run is not known")]
	Stale(std::time::Duration),
	/// The actor failed to load or failed on this input.
	#[error(transparent)]
	Invoke(#[from] InvokeError),
}

impl TaskError {
	/// A short, stable name of the error (the `invocations_total` label, the API's `error`).
	pub fn kind(&self) -> &'static str {
		match self {
			Self::UnknownActor(_) => "unknown_actor",
			Self::NotRunnable(_) => "not_runnable",
			Self::NotFetched(_) => "not_fetched",
			Self::InputTooLarge { .. } => "input_too_large",
			Self::Busy(_) => "busy",
			Self::Stale(_) => "stale",
			Self::Invoke(InvokeError::Load(_)) => "load_failed",
			Self::Invoke(InvokeError::OutOfFuel(_)) => "out_of_fuel",
			Self::Invoke(InvokeError::Timeout(_)) => "timeout",
			Self::Invoke(InvokeError::MemoryLimit(_)) => "memory_limit",
			Self::Invoke(InvokeError::Trap(_)) => "trap",
			Self::Invoke(InvokeError::BadOutput) => "bad_output",
		}
	}
}

/// A runnable release and how ready it is here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
	/// The release.
	pub release: ApprovedRelease,
	/// Its bytes are in the content store.
	pub stored: bool,
	/// It is compiled.
	pub loaded: bool,
	/// Why it failed to load, if it did.
	pub failed: Option<String>,
}

/// Runs what the chain lets this node run.
pub struct Executor {
	runtime: MiniRuntime,
	grants: Arc<ChainGrants>,
	store: Arc<ContentStore>,
	slots: Arc<tokio::sync::Semaphore>,
	slot_count: usize,
	max_input: usize,
	/// Releases whose code failed to compile, and why (not compiled again while runnable).
	failed: Mutex<HashMap<ContentId, String>>,
	/// When the grants were last updated (none: never).
	updated: Mutex<Option<std::time::Instant>>,
	/// How long grants stay good without an update.
	stale_after: std::time::Duration,
	/// The block of the grants, its hash and the node's facts there, set with them.
	context: std::sync::RwLock<(u32, H256, Option<NodeFacts>)>,
}

/// How long grants read from the chain stay good without a newer finalized block (ten blocks
/// of the TEA runtime): past it invocations are refused as [`TaskError::Stale`], so a node cut
/// off from the chain does not keep running releases revoked meanwhile.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

impl Executor {
	/// An executor of `runtime`, whose grant source is `grants`, reading code from `store`.
	/// At most `max_input` bytes of input are taken. Invocations run at once up to the pool's
	/// instances divided by the deepest `tea:message` chain (each hop takes an instance).
	pub fn new(
		runtime: MiniRuntime,
		grants: Arc<ChainGrants>,
		store: Arc<ContentStore>,
		max_input: usize,
	) -> Self {
		let config = runtime.config();
		let slot_count =
			(config.max_instances / config.max_message_depth.saturating_add(1)).max(1) as usize;
		Self {
			runtime,
			grants,
			store,
			slots: Arc::new(tokio::sync::Semaphore::new(slot_count)),
			slot_count,
			max_input,
			failed: Mutex::new(HashMap::new()),
			updated: Mutex::new(None),
			stale_after: STALE_AFTER,
			context: Default::default(),
		}
	}

	/// With grants good for `stale_after` without an update (default [`STALE_AFTER`]).
	pub fn with_stale_after(mut self, stale_after: std::time::Duration) -> Self {
		self.stale_after = stale_after;
		self
	}

	/// Invocations that may run at once.
	pub fn slots(&self) -> usize {
		self.slot_count
	}

	/// The largest input taken.
	pub fn max_input(&self) -> usize {
		self.max_input
	}

	/// The finalized block of the current grants (0: none read yet).
	pub fn current_block(&self) -> u32 {
		self.context.read().unwrap_or_else(|e| e.into_inner()).0
	}

	/// What the chain said of this node at that block.
	pub fn node_facts(&self) -> Option<NodeFacts> {
		self.context.read().unwrap_or_else(|e| e.into_inner()).2
	}

	/// Takes what the chain says at a finalized block: from now on invocations run under it.
	pub fn update(&self, view: ReleaseView) {
		*self.context.write().unwrap_or_else(|e| e.into_inner()) =
			(view.block, view.hash, view.node);
		self.grants.apply(view);
		*self.updated.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
	}

	/// The release `target` names, if it may run on this node, or why not.
	pub fn release(&self, target: &Target) -> Result<ApprovedRelease, TaskError> {
		self.resolve(target).map(|(release, _)| release)
	}

	/// [`Executor::release`] and the block whose grants allowed it, its hash and the node's
	/// facts there, read together (an update between the two reads is read again).
	fn resolve_at(
		&self,
		target: &Target,
	) -> Result<(ApprovedRelease, u32, H256, Option<NodeFacts>), TaskError> {
		for _ in 0..16 {
			let (release, block) = self.resolve(target)?;
			let (at, hash, node) = *self.context.read().unwrap_or_else(|e| e.into_inner());
			if at == block {
				return Ok((release, block, hash, node));
			}
			std::thread::yield_now();
		}
		// Grants whose block moved on without a view (`ChainGrants::follow`): no facts.
		let (release, block) = self.resolve(target)?;
		Ok((release, block, H256::zero(), None))
	}

	/// [`Executor::release`] and the block whose grants allowed it, read together.
	fn resolve(&self, target: &Target) -> Result<(ApprovedRelease, u32), TaskError> {
		let (cid, release, block) = match target {
			Target::Actor(name) => self.grants.resolve(Some(name), None),
			Target::Release(cid) => self.grants.resolve(None, Some(cid)),
		};
		let cid = cid.ok_or_else(|| match target {
			Target::Actor(name) => TaskError::UnknownActor(name.clone()),
			Target::Release(cid) => self.not_runnable(cid),
		})?;
		release.map(|release| (release, block)).ok_or_else(|| self.not_runnable(&cid))
	}

	fn not_runnable(&self, cid: &ContentId) -> TaskError {
		TaskError::NotRunnable(
			self.grants
				.reason(cid)
				.unwrap_or_else(|| format!("no release on chain has the CID {}", cid.to_text())),
		)
	}

	/// Runs `target` once on `input` in a fresh instance, on a blocking thread.
	pub async fn run(&self, target: Target, input: Vec<u8>) -> Result<Outcome, TaskError> {
		let result = self.run_counted(target, input).await;
		crate::metrics::invocation(match &result {
			Ok(_) => "ok",
			Err(e) => e.kind(),
		});
		result
	}

	async fn run_counted(&self, target: Target, input: Vec<u8>) -> Result<Outcome, TaskError> {
		if input.len() > self.max_input {
			return Err(TaskError::InputTooLarge { size: input.len(), max: self.max_input });
		}
		let updated = *self.updated.lock().unwrap_or_else(|e| e.into_inner());
		if let Some(age) = updated.map(|at| at.elapsed()).filter(|age| *age > self.stale_after) {
			return Err(TaskError::Stale(age));
		}
		let (release, block, hash, node) = self.resolve_at(&target)?;
		if !self.store.contains(&release.cid) {
			return Err(TaskError::NotFetched(release.cid.to_text()));
		}
		// Code that did not compile is not read and compiled again on every call.
		if let Some(reason) =
			self.failed.lock().unwrap_or_else(|e| e.into_inner()).get(&release.cid).cloned()
		{
			return Err(TaskError::Invoke(InvokeError::Load(LoadError::Compile(reason))));
		}
		let slot =
			self.slots.clone().try_acquire_owned().map_err(|_| TaskError::Busy(self.slot_count))?;
		let runtime = self.runtime.clone();
		let cid = release.cid.clone();
		let invocation = tokio::task::spawn_blocking(move || {
			let _slot = slot;
			runtime.invoke(&cid, &input)
		})
		.await
		.map_err(|e| TaskError::Invoke(InvokeError::Trap(format!("invocation task: {e}"))))?
		.map_err(|e| match e {
			// Revoked between the check above and the instance: the refusal, not a failure.
			InvokeError::Load(LoadError::NotApproved(_)) => self.not_runnable(&release.cid),
			e => TaskError::Invoke(e),
		})?;
		Ok(Outcome {
			actor: release.actor,
			version: release.version,
			cid: release.cid,
			block,
			hash,
			node,
			output: invocation.output,
			fuel_used: invocation.fuel_used,
		})
	}

	/// The releases that may run here, with how ready each is.
	pub fn readiness(&self) -> Vec<Readiness> {
		let loaded: HashSet<ContentId> = self.runtime.loaded().into_iter().collect();
		let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
		let mut all: Vec<Readiness> = self
			.grants
			.releases()
			.into_iter()
			.map(|release| Readiness {
				stored: self.store.contains(&release.cid),
				loaded: loaded.contains(&release.cid),
				failed: failed.get(&release.cid).cloned(),
				release,
			})
			.collect();
		all.sort_by(|a, b| {
			(&a.release.actor, a.release.version).cmp(&(&b.release.actor, b.release.version))
		});
		all
	}

	/// Compiles every release that may run here and is stored but not compiled yet, and drops
	/// the compiled code of releases that may no longer run. Returns the releases compiled now,
	/// and those that failed with the reason. A release whose code failed to compile is not
	/// compiled again while it stays runnable (its bytes are content-addressed: they cannot
	/// change); one whose stored bytes failed their hash is, once fetched again.
	pub async fn prepare(&self) -> Vec<(ApprovedRelease, Result<(), String>)> {
		let runnable = self.grants.releases();
		let keep: HashSet<&ContentId> = runnable.iter().map(|r| &r.cid).collect();
		for cid in self.runtime.loaded() {
			if !keep.contains(&cid) {
				self.runtime.unload(&cid);
				tracing::info!(target: LOG_TARGET, cid = %cid.to_text(), "unloaded: may no longer run here");
			}
		}
		self.failed.lock().unwrap_or_else(|e| e.into_inner()).retain(|cid, _| keep.contains(cid));
		let loaded: HashSet<ContentId> = self.runtime.loaded().into_iter().collect();
		let mut done = Vec::new();
		for release in runnable {
			let skip = loaded.contains(&release.cid)
				|| !self.store.contains(&release.cid)
				|| self.failed.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&release.cid);
			if skip {
				continue;
			}
			let runtime = self.runtime.clone();
			let cid = release.cid.clone();
			let loaded = tokio::task::spawn_blocking(move || runtime.load(&cid).map(|_| ()))
				.await
				.unwrap_or_else(|e| Err(LoadError::Compile(format!("compile task: {e}"))));
			// Bytes that fail their hash were moved aside by the store and are fetched again;
			// code that does not compile stays what it is.
			// Nor is a release the TPM could not measure: it is tried again.
			let lasting = matches!(&loaded, Err(e)
				if !matches!(e, LoadError::Store(_) | LoadError::Unmeasured(_)));
			let result = loaded.map_err(|e| e.to_string());
			match &result {
				Ok(()) => tracing::info!(
					target: LOG_TARGET,
					actor = release.actor,
					version = release.version,
					cid = %release.cid.to_text(),
					"loaded: the next invocation runs it"
				),
				Err(reason) => {
					tracing::warn!(target: LOG_TARGET, actor = release.actor, cid = %release.cid.to_text(), %reason, "release failed to load");
					if lasting {
						self.failed
							.lock()
							.unwrap_or_else(|e| e.into_inner())
							.insert(release.cid.clone(), reason.clone());
					}
				}
			}
			done.push((release, result));
		}
		crate::metrics::actors_loaded(self.runtime.loaded().len());
		done
	}
}
