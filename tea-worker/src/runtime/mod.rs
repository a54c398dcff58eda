//! The mini-runtime: runs CID-approved actors on wasmtime, each invocation boxed in by memory
//! limits, fuel and a wall-clock deadline, reaching the world only through granted providers.
//!
//! - One [`Engine`] (pooling allocator, fuel, epoch interruption) and one [`Linker`] per
//!   process; a module is compiled once per CID and kept as an [`InstancePre`].
//! - An actor loads only if its CID is approved by the [`GrantSource`], its bytes hash to the
//!   CID (the store verifies every read), and its imports are ABI v1 functions this worker
//!   provides; otherwise it is refused before compilation.
//! - Every [`Session`] gets a fresh `Store` and instance; every call in it gets fresh fuel and a
//!   fresh deadline. Traps, fuel exhaustion, denied memory growth and timeouts end the call with
//!   a typed [`InvokeError`]; the worker keeps serving.
//! - Every host call is checked against the release's grants (provider, operation, expiry,
//!   revocation, the grant's fuel budget); a refusal returns [`HostError::Denied`] to the actor,
//!   is logged and recorded as a [`SecurityEvent`].

mod host;
mod security;

pub use security::{SecurityEvent, SecurityEventKind, SecurityLog};

use crate::{
	grants::{ApprovedRelease, GrantSource},
	providers::Provider,
	store::{ContentStore, StoreError},
};
use std::{
	collections::HashMap,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};
use tea_primitives::{
	abi::HostError,
	code::{ActorInterface, CodeRejection},
	evidence::EventKind,
	manifest::Limits,
	ContentId,
};
use wasmtime::{
	Config, Engine, InstancePre, Linker, Module, OptLevel, PoolingAllocationConfig,
	ResourceLimiter, Store, Trap, TypedFunc,
};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings of the mini-runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
	/// Limits of actors without grants.
	pub default_limits: Limits,
	/// Wall-clock limit of one call.
	pub timeout: Duration,
	/// Instances that may exist at once (pooling allocator slots).
	pub max_instances: u32,
	/// Largest memory any actor may get, in 64 KiB pages (pooling slot size).
	pub max_memory_pages: u32,
	/// Largest actor Wasm, in bytes.
	pub max_code_size: u64,
	/// Deepest chain of `tea:message` calls.
	pub max_message_depth: u32,
}

impl Default for RuntimeConfig {
	fn default() -> Self {
		Self {
			default_limits: Limits { max_memory_pages: 16, max_fuel_per_call: 10_000_000 },
			timeout: Duration::from_secs(2),
			max_instances: 64,
			max_memory_pages: 256,
			max_code_size: 4 << 20,
			max_message_depth: 4,
		}
	}
}

/// Why an actor cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
	/// The CID is not an approved release (or it was revoked).
	#[error("{0} is not an approved release")]
	NotApproved(String),
	/// The bytes could not be read, or do not hash to the CID.
	#[error(transparent)]
	Store(#[from] StoreError),
	/// Not an ABI v1 actor (foreign import, bad signature, missing export, malformed).
	#[error("not a valid TEA actor: {0:?}")]
	InvalidActor(CodeRejection),
	/// Imports a provider operation this worker does not offer.
	#[error("imports {module}.{field}, which this worker does not provide")]
	UnknownImport {
		/// Import module.
		module: String,
		/// Import field.
		field: String,
	},
	/// wasmtime refused the module.
	#[error("cannot compile: {0}")]
	Compile(String),
	/// The release could not be measured into the event log, so it is not compiled: a node
	/// that ran code its TPM cannot show would prove nothing (the TPM failed, or its log PCR
	/// cannot be proven).
	#[error("not measured: {0}")]
	Unmeasured(String),
}

/// What records each actor release in the node's event log, before the release is compiled
/// (the TPM owner, [`crate::tpm::TpmHandle`]). Called from blocking threads.
pub trait Measure: Send + Sync {
	/// Records `data` of `kind` and extends it into the log PCR (once per TPM cycle for
	/// actors and providers).
	fn measure(&self, kind: EventKind, data: &[u8]) -> Result<(), String>;
}

/// Why a call failed. The worker is unaffected by any of these.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
	/// The actor could not be loaded.
	#[error(transparent)]
	Load(#[from] LoadError),
	/// The call used up its fuel.
	#[error("out of fuel ({0} units)")]
	OutOfFuel(u64),
	/// The call ran past its wall-clock deadline.
	#[error("timed out after {0:?}")]
	Timeout(Duration),
	/// The actor tried to grow its memory past its limit.
	#[error("memory limit of {0} pages exceeded")]
	MemoryLimit(u32),
	/// The actor trapped (panic, unreachable, out-of-bounds access, ...).
	#[error("actor trapped: {0}")]
	Trap(String),
	/// The actor returned an output outside its memory.
	#[error("actor returned an output outside its memory")]
	BadOutput,
}

/// The result of a successful call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
	/// What the actor returned.
	pub output: Vec<u8>,
	/// Fuel it burned.
	pub fuel_used: u64,
}

/// A loaded actor: its compiled, pre-linked module.
pub struct LoadedActor {
	/// Its CID.
	pub cid: ContentId,
	/// What it imports.
	pub interface: ActorInterface,
	pre: InstancePre<HostState>,
}

/// Memory limit of one store; remembers a denial so that the resulting trap is reported as
/// [`InvokeError::MemoryLimit`].
struct Limiter {
	max_bytes: usize,
	denied: bool,
}

impl ResourceLimiter for Limiter {
	fn memory_growing(
		&mut self,
		_current: usize,
		desired: usize,
		_maximum: Option<usize>,
	) -> wasmtime::Result<bool> {
		if desired > self.max_bytes {
			self.denied = true;
			return Ok(false);
		}
		Ok(true)
	}

	fn table_growing(
		&mut self,
		_current: usize,
		desired: usize,
		_maximum: Option<usize>,
	) -> wasmtime::Result<bool> {
		Ok(desired <= 10_000)
	}
}

/// What host functions see of the calling actor.
pub(crate) struct HostState {
	runtime: Arc<Inner>,
	release: ApprovedRelease,
	block: u32,
	limiter: Limiter,
	/// The response of the last provider call, until `tea.result_read` takes it.
	pending: Option<Vec<u8>>,
	/// Fuel the current call started with (for per-grant fuel budgets).
	fuel_at_start: u64,
	/// `tea:message` nesting depth of this store.
	depth: u32,
}

pub(crate) struct Inner {
	engine: Engine,
	linker: Linker<HostState>,
	modules: Mutex<HashMap<ContentId, Arc<LoadedActor>>>,
	store: Arc<ContentStore>,
	grants: Arc<dyn GrantSource>,
	providers: HashMap<&'static str, Arc<dyn Provider>>,
	security: SecurityLog,
	config: RuntimeConfig,
	ticker_stop: Arc<AtomicBool>,
	/// Measures releases before they are compiled (none: `tea-worker actor run`, tests).
	measure: Option<Arc<dyn Measure>>,
}

impl Drop for Inner {
	fn drop(&mut self) {
		self.ticker_stop.store(true, Ordering::Relaxed);
	}
}

/// The mini-runtime. Cheap to clone; all clones share the engine and the module cache.
#[derive(Clone)]
pub struct MiniRuntime {
	inner: Arc<Inner>,
}

/// The wasmtime configuration of the worker: Cranelift, fuel, epochs, pooling allocator.
pub fn engine_config(config: &RuntimeConfig) -> Config {
	let mut pool = PoolingAllocationConfig::default();
	pool.total_core_instances(config.max_instances)
		.total_memories(config.max_instances)
		.total_tables(config.max_instances)
		.max_memory_size(config.max_memory_pages as usize * 65536)
		.max_memories_per_module(1)
		.max_tables_per_module(1);
	let mut wasm = Config::new();
	wasm.consume_fuel(true)
		.epoch_interruption(true)
		.cranelift_opt_level(OptLevel::Speed)
		.cranelift_nan_canonicalization(true)
		.wasm_threads(false)
		.allocation_strategy(pool);
	wasm
}

impl MiniRuntime {
	/// A runtime that loads actors from `store`, approved by `grants`, offering `providers` (and
	/// `tea:message`).
	pub fn new(
		config: RuntimeConfig,
		store: Arc<ContentStore>,
		grants: Arc<dyn GrantSource>,
		providers: Vec<Arc<dyn Provider>>,
	) -> Result<Self, String> {
		Self::measured(config, store, grants, providers, None)
	}

	/// [`MiniRuntime::new`], every release measured by `measure` before it is compiled.
	pub fn measured(
		config: RuntimeConfig,
		store: Arc<ContentStore>,
		grants: Arc<dyn GrantSource>,
		providers: Vec<Arc<dyn Provider>>,
		measure: Option<Arc<dyn Measure>>,
	) -> Result<Self, String> {
		let engine = Engine::new(&engine_config(&config)).map_err(|e| format!("{e:#}"))?;
		let providers: HashMap<_, _> = providers.into_iter().map(|p| (p.name(), p)).collect();
		let mut linker = Linker::new(&engine);
		host::define(&mut linker, &providers).map_err(|e| format!("{e:#}"))?;

		let ticker_stop = Arc::new(AtomicBool::new(false));
		let (stop, ticking) = (ticker_stop.clone(), engine.clone());
		std::thread::Builder::new()
			.name("tea-epoch".into())
			.spawn(move || {
				while !stop.load(Ordering::Relaxed) {
					std::thread::sleep(EPOCH_TICK);
					ticking.increment_epoch();
				}
			})
			.map_err(|e| e.to_string())?;

		Ok(Self {
			inner: Arc::new(Inner {
				engine,
				linker,
				modules: Mutex::new(HashMap::new()),
				store,
				grants,
				providers,
				security: SecurityLog::default(),
				config,
				ticker_stop,
				measure,
			}),
		})
	}

	/// The security events recorded so far.
	pub fn security_log(&self) -> &SecurityLog {
		&self.inner.security
	}

	/// The engine (for benchmarks that compare against raw wasmtime).
	pub fn engine(&self) -> &Engine {
		&self.inner.engine
	}

	/// Loads (verifies, compiles, links, caches) the approved actor `cid`.
	pub fn load(&self, cid: &ContentId) -> Result<Arc<LoadedActor>, LoadError> {
		self.inner.load(cid)
	}

	/// Drops the compiled module of `cid` (e.g. after a revocation).
	pub fn unload(&self, cid: &ContentId) {
		self.inner.modules.lock().unwrap_or_else(|e| e.into_inner()).remove(cid);
	}

	/// The CIDs compiled and cached.
	pub fn loaded(&self) -> Vec<ContentId> {
		self.inner.modules.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
	}

	/// The settings it runs with.
	pub fn config(&self) -> &RuntimeConfig {
		&self.inner.config
	}

	/// A fresh instance of the approved actor `cid` for one task.
	pub fn session(&self, cid: &ContentId) -> Result<Session, InvokeError> {
		Session::new(self.inner.clone(), cid, 0)
	}

	/// Runs the approved actor `cid` once on `input` in a fresh instance.
	pub fn invoke(&self, cid: &ContentId, input: &[u8]) -> Result<Invocation, InvokeError> {
		self.session(cid)?.call(input)
	}
}

impl Inner {
	fn load(&self, cid: &ContentId) -> Result<Arc<LoadedActor>, LoadError> {
		let release =
			self.grants.release(cid).ok_or_else(|| LoadError::NotApproved(cid.to_text()))?;
		self.load_release(cid, &release)
	}

	/// Loads `cid`, already found approved as `release`.
	fn load_release(
		&self,
		cid: &ContentId,
		release: &ApprovedRelease,
	) -> Result<Arc<LoadedActor>, LoadError> {
		if let Some(actor) = self.modules.lock().unwrap_or_else(|e| e.into_inner()).get(cid) {
			return Ok(actor.clone());
		}
		let security = |kind| self.security.record(&release.actor, cid, kind);
		let bytes = self.store.get(cid, self.config.max_code_size).map_err(|e| {
			if matches!(e, StoreError::Corrupt(_) | StoreError::FetchedWrongBytes(_)) {
				security(SecurityEventKind::TamperedBytes);
			}
			LoadError::Store(e)
		})?;
		// The ABI check before compiling: nothing outside ABI v1 is ever compiled.
		let interface = tea_primitives::code::interface(&bytes).map_err(|reason| {
			security(SecurityEventKind::InvalidActor(reason.clone()));
			LoadError::InvalidActor(reason)
		})?;
		for (provider, operation) in &interface.provider_imports {
			let (module, field) = (
				String::from_utf8_lossy(provider).into_owned(),
				String::from_utf8_lossy(operation).into_owned(),
			);
			let offered = module == host::MESSAGE && field == host::MESSAGE_SEND
				|| self
					.providers
					.get(module.as_str())
					.is_some_and(|p| p.operations().contains(&field.as_str()));
			if !offered {
				security(SecurityEventKind::UnknownImport {
					module: module.clone(),
					field: field.clone(),
				});
				return Err(LoadError::UnknownImport { module, field });
			}
		}
		// Measured before it is compiled: wasmtime's compiler is the first to process the
		// bytes beyond the checks above.
		if let Some(measure) = &self.measure {
			measure.measure(EventKind::Actor, cid.as_bytes()).map_err(LoadError::Unmeasured)?;
		}
		let module =
			Module::new(&self.engine, &bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
		let pre = self
			.linker
			.instantiate_pre(&module)
			.map_err(|e| LoadError::Compile(format!("{e:#}")))?;
		let actor = Arc::new(LoadedActor { cid: cid.clone(), interface, pre });
		self.modules.lock().unwrap_or_else(|e| e.into_inner()).insert(cid.clone(), actor.clone());
		tracing::debug!(target: "tea::runtime", actor = release.actor, cid = %cid.to_text(), "loaded");
		Ok(actor)
	}
}

/// One task's instance of an actor: calls in it share memory; each call gets fresh fuel and a
/// fresh deadline.
pub struct Session {
	store: Store<HostState>,
	memory: wasmtime::Memory,
	alloc: TypedFunc<i32, i32>,
	run: TypedFunc<(i32, i32), i64>,
	limits: Limits,
	deadline_ticks: u64,
}

impl Session {
	fn new(runtime: Arc<Inner>, cid: &ContentId, depth: u32) -> Result<Self, InvokeError> {
		let release =
			runtime.grants.release(cid).ok_or_else(|| LoadError::NotApproved(cid.to_text()))?;
		let actor = runtime.load_release(cid, &release)?;
		let limits = release.invocation_limits(runtime.config.default_limits);
		let pages = limits.max_memory_pages.min(runtime.config.max_memory_pages);
		let deadline_ticks =
			(runtime.config.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
		let block = runtime.grants.current_block();
		let engine = runtime.engine.clone();
		let mut store = Store::new(
			&engine,
			HostState {
				runtime,
				release,
				block,
				limiter: Limiter { max_bytes: pages as usize * 65536, denied: false },
				pending: None,
				fuel_at_start: limits.max_fuel_per_call,
				depth,
			},
		);
		store.limiter(|state| &mut state.limiter);
		store
			.set_fuel(limits.max_fuel_per_call)
			.map_err(|e| InvokeError::Trap(format!("{e:#}")))?;
		store.set_epoch_deadline(deadline_ticks);
		store.epoch_deadline_trap();
		let session = |store: &mut Store<HostState>| -> wasmtime::Result<_> {
			let instance = actor.pre.instantiate(&mut *store)?;
			let memory = instance
				.get_memory(&mut *store, tea_primitives::abi::MEMORY_EXPORT)
				.ok_or_else(|| wasmtime::Error::msg("no memory export"))?;
			let alloc =
				instance.get_typed_func(&mut *store, tea_primitives::abi::ALLOC_EXPORT.name)?;
			let run = instance.get_typed_func(&mut *store, tea_primitives::abi::RUN_EXPORT.name)?;
			Ok((memory, alloc, run))
		};
		match session(&mut store) {
			Ok((memory, alloc, run)) => {
				Ok(Self { store, memory, alloc, run, limits, deadline_ticks })
			}
			Err(e) => Err(classify(e, &store, &limits, deadline_ticks)),
		}
	}

	/// Calls the actor with `input`; fresh fuel and deadline for this call.
	pub fn call(&mut self, input: &[u8]) -> Result<Invocation, InvokeError> {
		let fuel = self.limits.max_fuel_per_call;
		let store = &mut self.store;
		store.set_fuel(fuel).map_err(|e| InvokeError::Trap(format!("{e:#}")))?;
		store.set_epoch_deadline(self.deadline_ticks);
		store.data_mut().fuel_at_start = fuel;
		store.data_mut().pending = None;
		let len = i32::try_from(input.len()).map_err(|_| InvokeError::BadOutput)?;
		let result = (|| -> wasmtime::Result<i64> {
			let ptr = self.alloc.call(&mut *store, len)?;
			self.memory.write(&mut *store, ptr as u32 as usize, input)?;
			self.run.call(&mut *store, (ptr, len))
		})();
		let packed = result.map_err(|e| classify(e, store, &self.limits, self.deadline_ticks))?;
		let (ptr, len) = ((packed as u64 >> 32) as usize, (packed as u64 & 0xffff_ffff) as usize);
		let output = self
			.memory
			.data(&*store)
			.get(ptr..ptr.checked_add(len).ok_or(InvokeError::BadOutput)?)
			.ok_or(InvokeError::BadOutput)?
			.to_vec();
		let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
		Ok(Invocation { output, fuel_used })
	}
}

/// Turns a wasmtime error into the typed error of the call.
fn classify(
	error: wasmtime::Error,
	store: &Store<HostState>,
	limits: &Limits,
	deadline_ticks: u64,
) -> InvokeError {
	if store.data().limiter.denied {
		return InvokeError::MemoryLimit(limits.max_memory_pages);
	}
	match error.downcast_ref::<Trap>() {
		Some(Trap::OutOfFuel) => InvokeError::OutOfFuel(limits.max_fuel_per_call),
		Some(Trap::Interrupt) => {
			InvokeError::Timeout(EPOCH_TICK * u32::try_from(deadline_ticks).unwrap_or(u32::MAX))
		}
		Some(trap) => InvokeError::Trap(trap.to_string()),
		None => InvokeError::Trap(format!("{error:#}")),
	}
}

/// Runs the active release of `actor` for `tea:message/send` from a store at `depth`.
pub(crate) fn message(
	runtime: &Arc<Inner>,
	actor: &str,
	payload: &[u8],
	depth: u32,
) -> Result<Vec<u8>, HostError> {
	if depth >= runtime.config.max_message_depth {
		return Err(HostError::BudgetExceeded);
	}
	let cid = runtime.grants.active(actor).ok_or(HostError::NotFound)?;
	let mut session = Session::new(runtime.clone(), &cid, depth + 1).map_err(|e| {
		tracing::warn!(target: "tea::runtime", actor, "message target failed to start: {e}");
		HostError::ProviderFailed
	})?;
	session.call(payload).map(|i| i.output).map_err(|e| {
		tracing::warn!(target: "tea::runtime", actor, "message target failed: {e}");
		HostError::ProviderFailed
	})
}
