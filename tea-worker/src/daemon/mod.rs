//! `tea-worker run`: one long-running process that is a TEA node.
//!
//! On start it opens its data dir, its TPM (a managed swtpm with `tpm = "swtpm"`), its libp2p
//! identity and endpoint and its `/metrics` + `/health` endpoint, then follows the chain:
//! - **node duty** ([`NodeDuty`]): registers the node unless the chain has it, submits the
//!   admission quote while it is an unattested candidate, answers its own reviewers' credential
//!   challenges, keeps heartbeats, appeals a quarantine;
//! - **committee duty** ([`Member`]): examines the candidates it is drawn to review and votes;
//! - **blobs** ([`crate::p2p::blob`]): serves the blobs its content store holds to registered
//!   peers;
//! - **rollouts** ([`Releases`]): fetches the releases it may run (active, or rolling in its
//!   tier) from peers into its content store and compiles them, so the next invocation runs
//!   them;
//! - **local callers** ([`api`]): runs actors for callers on this host through the
//!   [`Executor`], under the grants of the latest finalized block;
//! - **builds** ([`Builds`]): when the chain wants the node on another worker build (a
//!   measurement rollout whose tier is open for it), fetches it by CID from peers and
//!   relaunches into it through the launcher ([`Stopped::Relaunch`], [`launch::relaunch`]),
//!   which measures it before it runs; the managed swtpm and its event log go on.
//!
//! Every extrinsic is stored signed in the persisted outbox (`<data_dir>/outbox.redb`) before
//! it is sent, and followed until the chain settles it, also across restarts
//! ([`crate::chain::outbox`]).
//!
//! One owner per stateful subsystem: the TPM on its own thread ([`TpmHandle`]), one libp2p
//! Swarm for the life of the process ([`Network`]), one signer of the operator's extrinsics
//! ([`Signer`]). A lost chain connection is re-established with backoff while the TPM and the
//! endpoint stay up; SIGINT/SIGTERM let in-flight submissions finish (bounded) and close the
//! TPM.
//!
//! stdout carries one JSON object per line: `{"started": …}` once, then `{"submitted"}` when a
//! pool took an extrinsic, and `{"registered"}`, `{"announced"}`, `{"attested"}` and
//! `{"voted"}` and `{"reported"}` (refusals) as they are finalized, `{"fetched"}` per release
//! fetched from a peer, and `{"loaded"}` (or `{"loadFailed"}`) per release compiled;
//! `{"buildFetched"}`, `{"buildUnavailable"}`, `{"buildStuck"}` and `{"relaunching"}` for
//! builds.

pub mod api;
pub mod client_api;
pub mod config;
pub mod launch;
pub mod swtpm;

use crate::hex0x;
use crate::{
	chain::{
		acks::AckQueue,
		builds::{BuildEvent, Builds},
		committee::Member,
		duty::{Done, NodeDuty},
		grants::ChainGrants,
		outbox::Outbox,
		releases::{Releases, Rollout},
		signer::Signer,
		ChainClient,
	},
	committee::{answer_on, Gate},
	error::WorkerError,
	p2p::{self, Network},
	providers::{Blob, KeyValue, Log, Provider, Random},
	runtime::{MiniRuntime, RuntimeConfig},
	tasks::Executor,
	tpm::TpmHandle,
};
use config::{Config, ConfigError};
use sp_core::H256;
use std::{
	sync::{Arc, Mutex},
	time::Duration,
};
use tea_primitives::evidence::EventKind;

const LOG_TARGET: &str = "tea::daemon";

/// Longest pause between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long in-flight submissions may take to finish once asked to stop.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Largest input of one local invocation.
const MAX_INPUT: usize = 1 << 20;
/// Largest blob an actor reads through `tea:blob`.
const MAX_BLOB_READ: u64 = 16 << 20;

fn emit(json: serde_json::Value) {
	use std::io::Write;
	let mut out = std::io::stdout().lock();
	let _ = writeln!(out, "{json}");
	let _ = out.flush();
}

/// How the daemon ended.
#[derive(Debug)]
pub enum Stopped {
	/// Asked to (SIGINT or SIGTERM): its managed swtpm is stopped.
	Signalled,
	/// To run another build: call [`launch::relaunch`] on the main thread, which executes
	/// the launcher on `binary`.
	Relaunch {
		/// The build to measure and execute.
		binary: std::path::PathBuf,
		/// Its SHA-256: the launcher refuses another file.
		measurement: H256,
		/// The managed swtpm, handed over ([`swtpm::HANDOFF`]).
		handoff: Option<String>,
	},
}

/// Runs the daemon until SIGINT or SIGTERM, or until it relaunches into another build.
pub async fn run(config: Config) -> Result<Stopped, WorkerError> {
	let config_error = |e: ConfigError| WorkerError::Config(e.0);
	std::fs::create_dir_all(&config.data_dir).map_err(|source| WorkerError::Io {
		path: config.data_dir.display().to_string(),
		source,
	})?;
	// The outbox first: it refuses a second worker on this data dir before anything starts.
	let outbox = Outbox::open(&config.data_dir.join("outbox.redb"))
		.map_err(|e| WorkerError::Config(e.to_string()))?;
	// Entries that do not decode (a file from another version) would stall the duties.
	let stored = outbox.entries().map_err(|e| {
		WorkerError::Config(format!("{e}: move the file aside if its submissions are settled"))
	})?;
	crate::metrics::outbox_stored(stored.len());
	let outbox = Arc::new(outbox);
	let signer = Arc::new(Signer::new(
		config::operator_key(&config.operator)
			.map_err(|e| WorkerError::Config(format!("`operator`: {e}")))?,
		Duration::from_secs(config.submit_timeout),
		outbox.clone(),
	));

	// The TPM, on its own thread.
	// Started from this thread (the main thread, which `block_on` polls this future on): the
	// swtpm's parent-death signal fires when the thread that spawned it ends, so it must not
	// be a pool thread. Blocking here is fine: nothing else runs yet.
	// `tea-worker launch` started it and measured this daemon: it is this process's child.
	let handed = std::env::var(swtpm::HANDOFF).ok();
	let managed = match (config.tpm.as_str(), handed) {
		("swtpm", Some(handed)) => Some(swtpm::ManagedSwtpm::adopt(&handed).map_err(config_error)?),
		("swtpm", None) => Some(
			swtpm::start(&config.data_dir.join("swtpm"), config.dev_ca.as_deref())
				.map_err(config_error)?,
		),
		_ => None,
	};
	let tcti = managed.as_ref().map_or(config.tpm.clone(), |m| m.tcti.clone());
	// The event log of the log PCR, kept by the TPM owner (see `crate::evidence`).
	let log = (config.data_dir.join("evidence.redb"), config.log_pcr);
	let (tpm, opened) =
		tokio::task::spawn_blocking(move || TpmHandle::open_with_log(&tcti, Some(log)))
			.await
			.map_err(|e| WorkerError::Config(e.to_string()))??;
	match opened {
		Some(crate::evidence::Opened::Unprovable) => tracing::error!(
			target: LOG_TARGET,
			pcr = config.log_pcr,
			"{}",
			crate::evidence::LogError::Unprovable { pcr: config.log_pcr }
		),
		found => {
			tracing::info!(target: LOG_TARGET, pcr = config.log_pcr, ?found, "event log opened")
		}
	}
	// Whether `tea-worker launch` measured this very binary and configuration last: under an
	// attestation policy a node quotes only then (the chain would believe its log).
	let measurement = crate::tpm::runtime_digest()?;
	let config_digest = launch::config_digest(&config);
	let not_launched = tpm
		.run(move |tpm| {
			Ok(tpm.log().and_then(|log| log.launched(&measurement, &config_digest).err()))
		})
		.await?;
	if let Some(why) = &not_launched {
		tracing::warn!(target: LOG_TARGET, "{why}");
	}
	// Until the node duty reads the chain's bound and base, actor loads of an attesting node
	// count against the runtime's bound from nothing proven (a genesis node never quotes).
	if config.genesis.is_none() {
		tpm.run(|tpm| tpm.set_chain(None, crate::evidence::DEFAULT_MAX_ENTRIES)).await?;
	}
	let node = match &config.genesis {
		Some(name) => pallet_tea_nodes::node_id(format!("dev EK {name}").as_bytes()),
		None => H256(tpm.identity().node_id),
	};

	// The libp2p endpoint, for the life of the process.
	let key = p2p::load_or_create_key(std::path::Path::new(&config.p2p_key))
		.map_err(|e| WorkerError::Config(format!("`p2p_key`: {e}")))?;
	let gate = Arc::new(Mutex::new(Gate::closed()));
	let admit: p2p::Admit = {
		let gate = gate.clone();
		Box::new(move |peer| {
			let admitted =
				gate.lock().expect("not poisoned").admit(peer, std::time::Instant::now());
			if admitted.is_err() {
				crate::metrics::refusal("p2p_later");
			}
			admitted
		})
	};
	let limits = p2p::Limits {
		request_timeout: Duration::from_secs(config.request_timeout),
		..Default::default()
	};
	let (network, mut inbound) = Network::start(key, &config.listen, limits, admit)
		.await
		.map_err(|e| WorkerError::Config(format!("`listen`: {e}")))?;
	// Blobs it holds (verified release code) go to registered peers that ask.
	let store = Arc::new(
		crate::store::ContentStore::open(&config.data_dir)
			.map_err(|e| WorkerError::Config(format!("`data_dir`: {e}")))?,
	);
	network.serve_blobs(store.clone()).await.map_err(|e| WorkerError::Config(e.to_string()))?;

	// The mini-runtime, running what the chain lets this node run.
	let kv = KeyValue::open(&config.data_dir.join("kv.redb")).map_err(|e| {
		WorkerError::Config(format!("`data_dir`: cannot open the key-value database: {e}"))
	})?;
	let providers: Vec<Arc<dyn Provider>> = vec![
		Arc::new(kv),
		Arc::new(Log::default()),
		Arc::new(Random),
		Arc::new(Blob::new(store.clone(), MAX_BLOB_READ)),
	];
	// The providers' code is part of this binary; the log records which ones it enables.
	let names: Vec<&'static str> = providers.iter().map(|p| p.name()).collect();
	for name in names.iter().copied() {
		let measured = tpm.run(move |tpm| tpm.measure(EventKind::Provider, name.as_bytes())).await;
		if let Err(e) = measured {
			tracing::error!(target: LOG_TARGET, error = %e, "providers not measured");
			break;
		}
	}
	// The receipt key: made now, extended before any task is answered; a receipt verifies
	// only once a quote the chain accepted carries it (`tea_primitives::receipt`). A node that
	// does not attest (a genesis node, or one not started by `tea-worker launch`) binds none.
	let receipt_key = crate::receipts::ReceiptKey::generate();
	let mut key_logged = false;
	if config.genesis.is_none() && not_launched.is_none() {
		let public = receipt_key.public();
		match tpm.run(move |tpm| tpm.measure(EventKind::ReceiptKey, &public)).await {
			Ok(_) => key_logged = true,
			Err(e) => {
				tracing::error!(target: LOG_TARGET, error = %e, "receipt key not measured: receipts will not verify")
			}
		}
	}
	let grants = ChainGrants::empty(Some(node));
	let measure: Arc<dyn crate::runtime::Measure> = Arc::new(tpm.clone());
	let runtime = MiniRuntime::measured(
		RuntimeConfig::default(),
		store.clone(),
		grants.clone(),
		providers,
		Some(measure),
	)
	.map_err(WorkerError::Config)?;
	let security = runtime.security_log().clone();
	let executor = Arc::new(Executor::new(runtime, grants.clone(), store.clone(), MAX_INPUT));
	let api =
		match config.api {
			Some(addr) => Some(api::serve(addr, executor.clone()).await.map_err(|e| {
				WorkerError::Config(format!("`api`: cannot listen on {addr}: {e}"))
			})?),
			None => None,
		};
	let receipt_public = receipt_key.public();
	let client_tasks = Arc::new(crate::receipts::ClientTasks::new(
		executor.clone(),
		receipt_key,
		node.0,
		config.client_rate,
	));
	// Acknowledged receipts wait in the outbox's database for the node duty's batches.
	let acks = Arc::new(AckQueue::new(outbox, node.0, signer.account().0.into()));
	let tasks_api = match config.tasks {
		Some(addr) => {
			Some(client_api::serve(addr, client_tasks, acks.clone()).await.map_err(|e| {
				WorkerError::Config(format!("`tasks`: cannot listen on {addr}: {e}"))
			})?)
		}
		None => None,
	};
	{
		let tpm = tpm.clone();
		tokio::spawn(async move {
			while let Some(p2p::Inbound { peer, request, reply }) = inbound.recv().await {
				let response = answer_on(&tpm, request).await;
				tracing::info!(target: LOG_TARGET, %peer, ?response, "committee challenge answered");
				let _ = reply.send(response);
			}
		});
	}

	// /metrics and /health.
	let standing: Arc<Mutex<Option<(u32, String)>>> = Default::default();
	let connected = Arc::new(std::sync::atomic::AtomicBool::new(false));
	let metrics = match config.metrics {
		Some(addr) => {
			let (standing, connected) = (standing.clone(), connected.clone());
			let health: crate::metrics::Health = Arc::new(move || {
				let up = connected.load(std::sync::atomic::Ordering::Relaxed);
				let standing = standing.lock().expect("not poisoned").clone();
				let json = serde_json::json!({
					"chain": up,
					"finalized": standing.as_ref().map(|s| s.0),
					"state": standing.map(|s| s.1),
				});
				(up, json)
			});
			let bound = crate::metrics::serve(addr, health).await.map_err(|e| {
				WorkerError::Config(format!("`metrics`: cannot listen on {addr}: {e}"))
			})?;
			Some(bound)
		}
		None => None,
	};

	// SIGINT and SIGTERM are handled from here on, before anyone learns the daemon started (a
	// signal between the two would kill it with the default action, review of CI run 14).
	let (stop_tx, stop) = tokio::sync::watch::channel(false);
	{
		use tokio::signal::unix::{signal, SignalKind};
		let handler = |kind| {
			signal(kind).map_err(|e| WorkerError::Config(format!("cannot handle signals: {e}")))
		};
		let (mut term, mut int) =
			(handler(SignalKind::terminate())?, handler(SignalKind::interrupt())?);
		tokio::spawn(async move {
			tokio::select! {
				_ = int.recv() => {}
				_ = term.recv() => {}
			}
			tracing::info!(target: LOG_TARGET, "stopping: finishing in-flight submissions (again to stop at once)");
			let _ = stop_tx.send(true);
			tokio::select! {
				_ = int.recv() => {}
				_ = term.recv() => {}
			}
			tracing::warn!(target: LOG_TARGET, "stopped at once");
			std::process::exit(130);
		});
	}
	let peer = network.peer_id();
	emit(serde_json::json!({
		"started": {
			"nodeId": hex0x(&node.0),
			"peerId": peer.to_string(),
			"listen": network.listening().iter().map(ToString::to_string).collect::<Vec<_>>(),
			"operator": signer.account().to_string(),
			"metrics": metrics.map(|a| format!("http://{a}/metrics")),
			"api": api.map(|a| format!("http://{a}/v1")),
			"tasks": tasks_api.map(|a| format!("http://{a}/v1")),
			"receiptKey": hex0x(&receipt_public),
			"genesis": config.genesis,
			"ekCertificate": !tpm.identity().ek_certificate.is_empty(),
		}
	}));

	let extra_peers: Vec<_> = config.peers.iter().filter_map(p2p::peer_of).collect();
	let mut duty = NodeDuty::new(
		node,
		config.genesis.is_none(),
		tpm.clone(),
		signer.clone(),
		peer.to_bytes(),
		gate,
		Some(network.clone()),
		extra_peers,
		standing,
	);
	// What the mini-runtime refuses is reported on chain against the release.
	duty.log_pcr = config.log_pcr;
	duty.not_launched = not_launched;
	duty.runtime = Some(measurement);
	duty.providers = names.iter().map(|n| n.to_string()).collect();
	duty.receipt_key = key_logged.then_some(receipt_public);
	duty.refusals = Some(security);
	duty.acks = Some(acks);
	duty.announce = config
		.announce
		.clone()
		.unwrap_or_else(|| p2p::to_publish(network.listening()))
		.iter()
		.map(|a| a.to_vec())
		.collect();
	// Genesis nodes attest nothing: they follow no build.
	let mut builds = config.genesis.is_none().then(|| {
		Builds::new(
			node,
			H256(measurement),
			store.clone(),
			network.clone(),
			config.data_dir.join(launch::BUILDS),
			duty.not_launched.clone().map_or(Ok(()), Err),
		)
	});
	let mut releases = Releases::new(
		node,
		store,
		network.clone(),
		RuntimeConfig::default().max_code_size,
		executor,
	);
	let mut member = Member::new(node, signer.clone(), tpm.clone(), network, config.peers.clone());
	let mut backoff = Duration::from_secs(1);
	let mut checked = false;
	let mut first_genesis = None;
	let mut relaunch = None;
	loop {
		if *stop.borrow() {
			break;
		}
		let client = match ChainClient::connect(&config.chain, Duration::from_secs(10)).await {
			Ok(client) => Arc::new(client),
			Err(e) => {
				tracing::warn!(target: LOG_TARGET, error = %e, retry_in = ?backoff, "chain not reachable");
				let mut stop = stop.clone();
				tokio::select! {
					_ = tokio::time::sleep(backoff) => {}
					_ = stop.changed() => {}
				}
				backoff = (backoff * 2).min(MAX_BACKOFF);
				continue;
			}
		};
		// The chain must stay the one first connected to (the same genesis), and well-known dev
		// keys are for dev chains only.
		let genesis = client.genesis_hash();
		if let Some(first) = first_genesis {
			if first != genesis {
				return Err(WorkerError::Config(format!(
					"the node at {} now serves another chain (genesis {genesis:?}, was {first:?})",
					config.chain
				)));
			}
		}
		if !checked {
			let kind = match crate::chain::chain_type(&client).await {
				Ok(kind) => kind,
				Err(e) => {
					tracing::warn!(target: LOG_TARGET, error = %e, "chain type not read; trying again");
					tokio::time::sleep(backoff).await;
					continue;
				}
			};
			let dev = matches!(kind.as_str(), "Development" | "Local");
			if !dev && (config.genesis.is_some() || config.p2p_key.starts_with("dev:")) {
				return Err(WorkerError::Config(format!(
					"the chain at {} is {kind}: well-known development keys (`genesis`, `p2p_key = \"dev:…\"`) are for Development and Local chains only",
					config.chain
				)));
			}
			checked = true;
			first_genesis = Some(genesis);
		}
		backoff = Duration::from_secs(1);
		signer.reset().await;
		connected.store(true, std::sync::atomic::Ordering::Relaxed);
		tracing::info!(target: LOG_TARGET, chain = %config.chain, "following the chain");
		let lost = {
			let mut on_done = |done: &Done| match done {
				Done::Registered { events } => emit(serde_json::json!({ "registered": events })),
				Done::Announced { events } => emit(serde_json::json!({ "announced": events })),
				Done::Reported { events } => emit(serde_json::json!({ "reported": events })),
				Done::Receipts { sent, refused, dropped, events } => {
					if *sent > 0 || !dropped.is_empty() {
						let dropped: serde_json::Map<String, serde_json::Value> =
							dropped.iter().map(|(why, n)| (why.to_string(), (*n).into())).collect();
						emit(serde_json::json!({ "receipts": {
							"sent": sent,
							"refused": refused,
							"dropped": dropped,
							"events": events,
						}}))
					}
				}
				Done::Attested(a) => emit(serde_json::json!({
					"attested": format!("{:?}", a.purpose),
					"anchor": a.anchor,
					"events": a.events,
				})),
			};
			let mut on_vote = |v: &crate::chain::committee::Verdict| {
				emit(serde_json::json!({
					"voted": hex0x(&v.node.0),
					"approve": v.approve,
					"reason": v.reason,
					"block": hex0x(&v.block.0),
				}))
			};
			let mut on_rollout = |r: &Rollout| match r {
				Rollout::Fetched(f) => emit(serde_json::json!({
					"fetched": f.cid.to_text(),
					"from": f.from.map(|p| p.to_string()),
					"size": f.size,
				})),
				Rollout::Loaded { actor, version, cid } => emit(serde_json::json!({
					"loaded": cid.to_text(),
					"actor": actor,
					"version": version,
				})),
				Rollout::LoadFailed { actor, version, cid, reason } => emit(serde_json::json!({
					"loadFailed": cid.to_text(),
					"actor": actor,
					"version": version,
					"reason": reason,
				})),
			};
			let mut on_build = |b: &BuildEvent| match b {
				BuildEvent::Fetched { measurement, from, size } => emit(serde_json::json!({
					"buildFetched": hex0x(&measurement.0),
					"from": from.map(|p| p.to_string()),
					"size": size,
				})),
				BuildEvent::Unavailable { measurement, reason } => {
					tracing::warn!(target: LOG_TARGET, build = %hex0x(&measurement.0), %reason, "build not ready; trying again later");
					emit(
						serde_json::json!({ "buildUnavailable": hex0x(&measurement.0), "reason": reason }),
					)
				}
				BuildEvent::Stuck { measurement, reason } => {
					tracing::error!(target: LOG_TARGET, build = %hex0x(&measurement.0), %reason, "the chain wants this node on another build, and it cannot relaunch");
					emit(
						serde_json::json!({ "buildStuck": hex0x(&measurement.0), "reason": reason }),
					)
				}
				BuildEvent::Relaunch { measurement, path } => emit(serde_json::json!({
					"relaunching": hex0x(&measurement.0),
					"path": path.display().to_string(),
				})),
			};
			let node_duty = duty.follow(&client, &stop, &mut on_done);
			let committee = member.follow(&client, config.last_try, &stop, &mut on_vote);
			let rollouts = releases.follow(&client, &stop, &mut on_rollout);
			let build = async {
				match builds.as_mut() {
					Some(builds) => builds.follow(&client, &stop, &mut on_build).await,
					None => {
						let _ = stop.clone().wait_for(|stop| *stop).await;
						Ok(None)
					}
				}
			};
			// A duty cancelled here resumes from its outbox entry after a reconnection or
			// the relaunch.
			tokio::select! {
				r = node_duty => r.map(|()| None),
				r = committee => r.map(|()| None),
				r = rollouts => r.map(|()| None),
				r = build => r,
			}
		};
		connected.store(false, std::sync::atomic::Ordering::Relaxed);
		crate::metrics::disconnected();
		match lost {
			Ok(binary) => {
				relaunch = binary;
				break;
			}
			Err(e) => {
				tracing::warn!(target: LOG_TARGET, error = %e, "lost the chain; reconnecting")
			}
		}
	}
	// Votes still in flight run on their own tasks: give them time to land.
	let started = std::time::Instant::now();
	while crate::metrics::in_flight_now() > 0 && started.elapsed() < STOP_GRACE {
		tokio::time::sleep(Duration::from_millis(100)).await;
	}
	// Jobs in flight finish, then the TPM connection closes, then its swtpm stops (or is
	// handed to the launcher of the next build).
	tpm.close();
	if let Some((measurement, binary)) = relaunch {
		tracing::info!(target: LOG_TARGET, build = %binary.display(), "stopped to relaunch");
		return Ok(Stopped::Relaunch {
			binary,
			measurement,
			handoff: managed.map(swtpm::ManagedSwtpm::hand_off),
		});
	}
	drop(managed);
	tracing::info!(target: LOG_TARGET, "stopped");
	Ok(Stopped::Signalled)
}
