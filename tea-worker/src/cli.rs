//! Command line of `tea-worker`.

use std::{
	path::{Path, PathBuf},
	sync::Arc,
	time::Duration,
};
use tea_primitives::{code, ContentId};
use tea_worker::hex0x;
use tea_worker::{
	chain::{grants::ChainGrants, ChainClient},
	error::WorkerError,
	grants::{GrantSource, LocalGrants, ManifestJson, SignedManifestJson},
	providers::{Blob, KeyValue, Log, Provider, Random},
	runtime::{MiniRuntime, RuntimeConfig},
	store::ContentStore,
};

/// tea-worker: runs trusted WebAssembly actors for the TEA chain.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Cli {
	/// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `tea::chain=debug`.
	#[arg(long, global = true, env = "TEA_LOG", default_value = "warn")]
	pub log: String,

	/// Log lines as text, or as one JSON object per line (for log collectors).
	#[arg(long, global = true, env = "TEA_LOG_FORMAT", value_enum, default_value_t)]
	pub log_format: tea_worker::logs::Format,

	#[command(subcommand)]
	pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
	/// Connect to a tea-node and print its chain, runtime version and latest finalized block.
	Status(StatusArgs),
	/// Developer tools: pack, sign, inspect and run actors locally.
	#[command(subcommand)]
	Actor(ActorCommand),
	/// The node's TPM: identity, measurement, quotes (JSON on stdout).
	#[command(subcommand)]
	Tpm(TpmCommand),
	/// Run the node: register, attest (admission, heartbeats, appeals), answer reviewers,
	/// serve on committees; `/metrics` and `/health`. One JSON line per event on stdout.
	Run(tea_worker::daemon::config::Flags),
	/// Measure the daemon, then run it: logs the SHA-256 of the runtime binary and of its
	/// configuration into the TPM's event log before either runs, then executes that very
	/// file as `tea-worker run` with the same options. Under an attestation policy a node
	/// attests only when launched this way.
	Launch(LaunchArgs),
	/// The daemon's configuration.
	#[command(subcommand)]
	Config(ConfigCommand),
	/// Committee tools.
	#[command(subcommand)]
	Committee(CommitteeCommand),
	/// The libp2p identity.
	#[command(subcommand)]
	P2p(P2pCommand),
	/// Check a proof-of-trust receipt (the JSON answer of a client task, or its `receipt`
	/// hex): its signature, its input and output, and what the chain said at its block (the
	/// node registered and serving, the attestation it names its latest accepted one, the
	/// receipt key bound by that attestation's evidence, the release one it could run).
	/// Prints the receipt as JSON; exits 1 with the reason if it does not verify.
	Verify(VerifyArgs),
	/// Client tasks: run an actor on a worker and verify its receipt.
	#[command(subcommand)]
	Task(TaskCommand),
}

/// `tea-worker verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
	/// The receipt: a JSON file with `receipt` (and `output`, `input` as 0x-hex, if known),
	/// or a file holding the receipt's 0x-hex.
	pub receipt: PathBuf,
	/// The input file the receipt should name (else the receipt file's `input`, if any).
	#[arg(long)]
	pub input: Option<PathBuf>,
	/// A tea-node RPC endpoint (it must still have the state of the receipt's block).
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	pub chain: String,
	/// Seconds to wait for the node.
	#[arg(long, default_value_t = 10)]
	pub timeout: u64,
}

/// `tea-worker task ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
	/// Run an actor on a worker's client task API, print its output (0x-hex) and verify the
	/// receipt against the chain; `--out` keeps the answer (with the input) for `verify`;
	/// `--ack` then acknowledges the verified receipt, so that it earns the worker points.
	Run {
		/// The worker's client task API, as `tea-worker run` prints it (`http://HOST:PORT/v1`
		/// or `http://HOST:PORT`).
		#[arg(long)]
		worker: String,
		/// The actor's name, or a release CID.
		#[arg(long)]
		actor: String,
		/// The input file (empty input without it).
		#[arg(long)]
		input: Option<PathBuf>,
		/// The client account's secret URI (e.g. `//Eve` on dev chains, or a mnemonic).
		#[arg(long, env = "TEA_CLIENT_KEY", hide_env_values = true)]
		key: String,
		/// A tea-node RPC endpoint to verify the receipt against.
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		chain: String,
		/// Blocks the request stays valid.
		#[arg(long, default_value_t = 20)]
		valid_for: u32,
		/// Where to write the answer as JSON (the receipt, output and input).
		#[arg(long)]
		out: Option<PathBuf>,
		/// Seconds to wait for the worker and the node.
		#[arg(long, default_value_t = 30)]
		timeout: u64,
		/// Once the receipt verified, sign it as accepted and hand it back to the worker, which
		/// sends it on chain for work points (`POST /v1/acks`).
		#[arg(long)]
		ack: bool,
	},
}

/// The receipt in `text` (a JSON answer or bare hex), and the input and output it carries.
fn read_receipt(
	text: &str,
) -> Result<(tea_worker::receipts::ChainSignedReceipt, Option<Vec<u8>>, Option<Vec<u8>>), WorkerError>
{
	let bad = |e: String| WorkerError::Usage(format!("the receipt file: {e}"));
	let (hex_receipt, input, output) = match serde_json::from_str::<serde_json::Value>(text) {
		Ok(json) if json.is_object() => {
			let field = |name: &str| -> Result<Option<Vec<u8>>, WorkerError> {
				json.get(name)
					.and_then(|v| v.as_str())
					.map(|t| tea_worker::unhex0x(t).map_err(|e| bad(format!("`{name}`: {e}"))))
					.transpose()
			};
			let receipt = json
				.get("receipt")
				.and_then(|v| v.as_str())
				.ok_or_else(|| bad("no `receipt`".into()))?
				.to_owned();
			(receipt, field("input")?, field("output")?)
		}
		_ => (text.trim().trim_matches('"').to_owned(), None, None),
	};
	let receipt =
		tea_worker::receipts::decode_receipt(&hex_receipt).map_err(|e| bad(e.to_string()))?;
	Ok((receipt, input, output))
}

/// The receipt as JSON, for people and scripts.
fn receipt_json(signed: &tea_worker::receipts::ChainSignedReceipt) -> serde_json::Value {
	let r = &signed.receipt;
	serde_json::json!({
		"node": hex0x(&r.node),
		"actor": String::from_utf8_lossy(&r.actor),
		"version": r.version,
		"cid": r.cid.to_text(),
		"input": hex0x(&r.input),
		"output": hex0x(&r.output),
		"fuelUsed": r.fuel_used,
		"client": r.client.to_string(),
		"nonce": r.nonce,
		"block": r.block,
		"blockHash": hex0x(r.block_hash.as_bytes()),
		"attestation": r.attestation,
		"key": hex0x(&r.key),
	})
}

/// `tea-worker verify`.
pub async fn verify(args: VerifyArgs) -> Result<(), WorkerError> {
	let text = std::fs::read_to_string(&args.receipt)
		.map_err(|source| WorkerError::Io { path: args.receipt.display().to_string(), source })?;
	let (receipt, carried_input, output) = read_receipt(&text)?;
	let input = match &args.input {
		Some(path) => Some(read(path)?),
		None => carried_input,
	};
	let client = ChainClient::connect(&args.chain, Duration::from_secs(args.timeout)).await?;
	tea_worker::receipts::verify(&client, &receipt, input.as_deref(), output.as_deref())
		.await
		.map_err(|e| WorkerError::Rejected(e.to_string()))?;
	println!("{}", serde_json::json!({ "verified": receipt_json(&receipt) }));
	Ok(())
}

/// `tea-worker task ...`.
pub async fn task(command: TaskCommand) -> Result<(), WorkerError> {
	match command {
		TaskCommand::Run { worker, actor, input, key, chain, valid_for, out, timeout, ack } => {
			use sp_core::Pair;
			let pair = sp_core::sr25519::Pair::from_string(&key, None)
				.map_err(|e| WorkerError::Usage(format!("--key: not a secret URI: {e:?}")))?;
			let input = match &input {
				Some(path) => read(path)?,
				None => Vec::new(),
			};
			let target = match ContentId::parse(&actor) {
				Ok(cid) => tea_primitives::receipt::TaskTarget::Release(cid),
				Err(_) => tea_primitives::receipt::TaskTarget::Actor(
					actor.as_bytes().to_vec().try_into().map_err(|_| {
						WorkerError::Usage(format!("--actor {actor:?}: names are at most 64 bytes"))
					})?,
				),
			};
			let base = worker.trim_end_matches('/').trim_end_matches("/v1").to_owned();
			let timeout = Duration::from_secs(timeout);
			let run =
				tea_worker::receipts::run_remote(&base, &pair, target, &input, valid_for, timeout)
					.await
					.map_err(WorkerError::Rejected)?;
			let mut answer = run.answer.clone();
			answer["input"] = serde_json::Value::String(hex0x(&input));
			if let Some(path) = &out {
				std::fs::write(
					path,
					format!(
						"{answer}
"
					),
				)
				.map_err(|source| WorkerError::Io { path: path.display().to_string(), source })?;
			}
			let client = ChainClient::connect(&chain, timeout).await?;
			tea_worker::receipts::verify(&client, &run.receipt, Some(&input), Some(&run.output))
				.await
				.map_err(|e| WorkerError::Rejected(e.to_string()))?;
			let mut printed = serde_json::json!({
				"output": hex0x(&run.output),
				"verified": receipt_json(&run.receipt),
			});
			if ack {
				// Only what verified is acknowledged.
				printed["acknowledged"] =
					tea_worker::receipts::acknowledge_remote(&base, &pair, &run.receipt, timeout)
						.await
						.map_err(WorkerError::Rejected)?;
			}
			println!("{printed}");
		}
	}
	Ok(())
}

/// `tea-worker launch` options: those of `run`, and the binary to run.
#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
	/// The options of `tea-worker run`.
	#[command(flatten)]
	pub flags: tea_worker::daemon::config::Flags,
	/// The runtime binary to measure and execute (default: this one).
	#[arg(long)]
	pub exec: Option<PathBuf>,
	/// The SHA-256 (0x-hex) the binary must have: another file is refused before anything
	/// is measured.
	#[arg(long, value_parser = tea_worker::daemon::launch::parse_digest)]
	pub expect: Option<[u8; 32]>,
}

/// `tea-worker p2p ...`.
#[derive(Debug, clap::Subcommand)]
pub enum P2pCommand {
	/// Print the peer id of a libp2p key file, creating the key (mode 0600) if the file does
	/// not exist: `{peerId, peerIdBytes}` (what `nodes.register` and `--peer …/p2p/<id>` take).
	Key {
		/// The key file (a daemon's default is `<data_dir>/p2p.key`).
		file: PathBuf,
	},
}

/// `tea-worker config ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
	/// Print the effective configuration (file, then `TEA_*` variables and flags) as TOML,
	/// the operator's secret replaced by its account.
	Show(tea_worker::daemon::config::Flags),
}

/// `tea-worker committee ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CommitteeCommand {
	/// Print the allowlist entry (`upgrades.addCaKey`) of a TPM vendor CA certificate (PEM or
	/// DER): `{caKey, keyHash}`.
	CaKey {
		/// The CA certificate file.
		cert: PathBuf,
	},
	/// Create (if needed) a development TPM vendor CA in DIR (swtpm_localca), the one a
	/// managed swtpm's EK is certified by with `dev_ca = DIR`; print its allowlist entry:
	/// `{caKey, keyHash, certificate}`.
	DevCa {
		/// The CA directory.
		dir: PathBuf,
	},
}

/// `tea-worker tpm ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TpmCommand {
	/// Print the node's TPM identity (creating its attestation key on first use):
	/// `{nodeId, ekPublic, ekCertificate, attestationKey}`.
	Identity {
		/// TCTI of the TPM, e.g. `swtpm:host=127.0.0.1,port=2321` or `device:/dev/tpmrm0`.
		#[arg(long, env = "TEA_TPM")]
		tpm: String,
		/// The libp2p identity key file (created on first use): adds `peerId` (base58) and
		/// `peerIdBytes` (what `nodes.register` takes).
		#[arg(long, env = "TEA_P2P_KEY")]
		p2p_key: Option<PathBuf>,
	},
	/// Quote the measured PCRs over `nonce` (the chain's challenge) and check the quote with
	/// the runtime's verifier: `{attest, signature, pcrs, measurement}`.
	Quote {
		/// TCTI of the TPM.
		#[arg(long, env = "TEA_TPM")]
		tpm: String,
		/// The challenge, hex (`0x` optional).
		#[arg(long)]
		nonce: String,
		/// The PCRs to quote, ascending (default: the development policy's).
		#[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4,5,6,7,13")]
		pcrs: Vec<u8>,
	},
	/// Print the measurement of a tea-worker build (what governance allowlists with
	/// `upgrades.allowMeasurement` or rolls out with `upgrades.rollOutMeasurement`): the
	/// SHA-256 of the binary, and the content ID peers serve the build under (`actor pack`
	/// stores it): `{measurement, cid}`.
	Measurement {
		/// The binary (default: this one).
		file: Option<PathBuf>,
	},
	/// Boot a development TPM: extend PCRs 0-7 with the public development values the dev
	/// chains' policy expects (a managed swtpm does it at every start). Nothing if done.
	DevBoot {
		/// TCTI of the TPM.
		#[arg(long, env = "TEA_TPM")]
		tpm: String,
	},
}

/// `tea-worker tpm ...`.
pub fn tpm(command: TpmCommand) -> Result<(), WorkerError> {
	use tea_worker::tpm::Tpm;
	let json = match command {
		TpmCommand::Identity { tpm, p2p_key } => {
			let tpm = Tpm::open(&tpm)?;
			let id = tpm.identity();
			let mut json = serde_json::json!({
				"nodeId": hex0x(&id.node_id),
				"ekPublic": hex0x(&id.ek_public),
				"ekCertificate": hex0x(&id.ek_certificate),
				"attestationKey": hex0x(&id.attestation_key),
			});
			if let Some(path) = p2p_key {
				let peer = tea_worker::p2p::load_or_create_key(&path)?.public().to_peer_id();
				json["peerId"] = peer.to_string().into();
				json["peerIdBytes"] = hex0x(&peer.to_bytes()).into();
			}
			json
		}
		TpmCommand::Quote { tpm, nonce, pcrs } => {
			let nonce = tea_worker::unhex0x(&nonce)
				.map_err(|e| WorkerError::Usage(format!("--nonce is not hex: {e}")))?;
			if !pcrs.windows(2).all(|w| w[0] < w[1]) {
				return Err(WorkerError::Usage(format!(
					"--pcrs {pcrs:?}: list them ascending, once each"
				)));
			}
			let quote = Tpm::open(&tpm)?.quote_pcrs(&nonce, &pcrs)?;
			serde_json::json!({
				"attest": hex0x(&quote.attest),
				"signature": hex0x(&quote.signature),
				"pcrs": quote.pcrs.iter().map(|(i, v)| serde_json::json!([i, hex0x(v)])).collect::<Vec<_>>(),
				"measurement": hex0x(&quote.measurement),
			})
		}
		TpmCommand::Measurement { file } => {
			let digest = match file {
				Some(file) => {
					std::fs::File::open(&file).and_then(tea_worker::tpm::digest_of).map_err(
						|source| WorkerError::Io { path: file.display().to_string(), source },
					)?
				}
				None => tea_worker::tpm::runtime_digest()?,
			};
			let cid = tea_worker::chain::builds::build_cid(&sp_core::H256(digest));
			serde_json::json!({ "measurement": hex0x(&digest), "cid": cid.to_text() })
		}
		TpmCommand::DevBoot { tpm } => {
			tea_worker::tpm::dev_boot(&tpm)?;
			serde_json::json!({ "booted": true })
		}
	};
	println!("{json}");
	Ok(())
}

/// `tea-worker run`.
pub async fn run(flags: tea_worker::daemon::config::Flags) -> Result<(), WorkerError> {
	let config = flags.resolve().map_err(|e| WorkerError::Config(e.to_string()))?;
	match tea_worker::daemon::run(config).await? {
		tea_worker::daemon::Stopped::Signalled => Ok(()),
		// On the main thread (`#[tokio::main]` polls this future there), which started the
		// managed swtpm.
		tea_worker::daemon::Stopped::Relaunch { binary, measurement, handoff } => {
			Err(tea_worker::daemon::launch::relaunch(&binary, &measurement.0, handoff))
		}
	}
}

/// `tea-worker launch`: on this (the main) thread, so that the managed swtpm's parent-death
/// signal follows the daemon it executes.
pub fn launch(args: LaunchArgs) -> Result<(), WorkerError> {
	let config = args.flags.resolve().map_err(|e| WorkerError::Config(e.to_string()))?;
	tea_worker::daemon::launch::launch(&config, args.exec.as_deref(), args.expect)
}

/// `tea-worker config ...`.
pub fn config(command: ConfigCommand) -> Result<(), WorkerError> {
	let ConfigCommand::Show(flags) = command;
	let config = flags.resolve().map_err(|e| WorkerError::Config(e.to_string()))?;
	print!("{}", config.show());
	Ok(())
}

/// `tea-worker p2p ...`.
pub fn p2p(command: P2pCommand) -> Result<(), WorkerError> {
	let P2pCommand::Key { file } = command;
	if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
		std::fs::create_dir_all(dir)
			.map_err(|source| WorkerError::Io { path: dir.display().to_string(), source })?;
	}
	let peer = tea_worker::p2p::load_or_create_key(&file)?.public().to_peer_id();
	println!(
		"{}",
		serde_json::json!({ "peerId": peer.to_string(), "peerIdBytes": hex0x(&peer.to_bytes()) })
	);
	Ok(())
}

/// `tea-worker committee ...`.
pub fn committee(command: CommitteeCommand) -> Result<(), WorkerError> {
	let cert = match command {
		CommitteeCommand::CaKey { cert } => cert,
		CommitteeCommand::DevCa { dir } => {
			let cert = tea_worker::daemon::swtpm::dev_ca_certificate(&dir)
				.map_err(|e| WorkerError::Config(e.0))?;
			let key = tea_worker::committee::ekcert::ca_key_of(&read(&cert)?)
				.map_err(|e| WorkerError::Usage(format!("{}: {e:?}", cert.display())))?;
			let hash = pallet_tea_upgrades::ca_key_hash(&key).0;
			println!(
				"{}",
				serde_json::json!({
					"caKey": hex0x(&key),
					"keyHash": hex0x(&hash),
					"certificate": cert.display().to_string(),
				})
			);
			return Ok(());
		}
	};
	let key = tea_worker::committee::ekcert::ca_key_of(&read(&cert)?).map_err(|e| {
		WorkerError::Usage(format!(
			"{} is not a PEM or DER X.509 certificate: {e:?}",
			cert.display()
		))
	})?;
	let hash = pallet_tea_upgrades::ca_key_hash(&key).0;
	println!("{}", serde_json::json!({ "caKey": hex0x(&key), "keyHash": hex0x(&hash) }));
	Ok(())
}

/// Options of `tea-worker status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
	/// WebSocket RPC endpoint of a tea-node.
	#[arg(long, env = "TEA_CHAIN", default_value = "ws://127.0.0.1:9944")]
	pub chain: String,

	/// Give up connecting after this many seconds.
	#[arg(long, default_value_t = 10)]
	pub timeout: u64,

	/// Print one JSON object instead of text.
	#[arg(long)]
	pub json: bool,
}

/// Where the worker keeps its blobs and databases.
#[derive(Debug, clap::Args)]
pub struct DataDir {
	/// Data directory (content store, key-value database).
	#[arg(long, env = "TEA_DATA_DIR", default_value = "~/.local/share/tea-worker")]
	pub data_dir: String,
}

impl DataDir {
	fn path(&self) -> PathBuf {
		match self.data_dir.strip_prefix("~/") {
			Some(rest) => {
				std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest)
			}
			None => PathBuf::from(&self.data_dir),
		}
	}
}

#[derive(Debug, clap::Subcommand)]
pub enum ActorCommand {
	/// Store a Wasm file in the content store and print its CID.
	Pack {
		/// The actor's .wasm file.
		file: PathBuf,
		#[command(flatten)]
		data: DataDir,
	},
	/// Sign a manifest (JSON) with the developer's key; prints the signed manifest (JSON).
	Sign {
		/// Manifest JSON: {"actor", "version", "cid", "grants": [...]}.
		#[arg(long)]
		manifest: PathBuf,
		/// The developer's secret key URI, e.g. `//Alice` or a mnemonic.
		#[arg(long, env = "TEA_DEVELOPER_KEY")]
		key: String,
		/// Write to this file instead of stdout.
		#[arg(long)]
		out: Option<PathBuf>,
	},
	/// Show an actor's size, imports and required capabilities (vs a manifest's grants).
	Inspect {
		/// A .wasm file or the CID of a stored blob.
		actor: String,
		/// A signed manifest whose grants to compare against.
		#[arg(long)]
		manifest: Option<PathBuf>,
		#[command(flatten)]
		data: DataDir,
	},
	/// Follow the chain's finalized blocks and print, whenever it changes, whether this actor
	/// may run here and why not; stop once it reaches the state asked for with `--until`.
	Watch {
		/// A .wasm file or the CID of a stored blob.
		actor: String,
		/// A tea-node RPC endpoint.
		#[arg(long)]
		chain: String,
		/// This worker's node id (0x-hex, 32 bytes), for releases that are rolling out.
		#[arg(long)]
		node_id: Option<String>,
		/// Stop when the actor is `runnable` or `refused`; without it, follow until Ctrl-C.
		#[arg(long)]
		until: Option<WatchUntil>,
		/// Give up after this many seconds (default: never).
		#[arg(long)]
		timeout: Option<u64>,
		#[command(flatten)]
		data: DataDir,
	},
	/// Run an actor locally, under the grants of its signed manifest (`--manifest`) or as the
	/// chain approved it (`--chain`: the release must be active, or rolling out with this
	/// node's tier open).
	Run {
		/// A .wasm file or the CID of a stored blob.
		actor: String,
		/// Input passed to the actor.
		#[arg(default_value = "")]
		input: String,
		/// The signed manifest of the release.
		#[arg(long, required_unless_present = "chain", conflicts_with = "chain")]
		manifest: Option<PathBuf>,
		/// A tea-node RPC endpoint whose finalized state decides what may run.
		#[arg(long)]
		chain: Option<String>,
		/// This worker's node id (0x-hex, 32 bytes), for releases that are rolling out.
		#[arg(long, requires = "chain")]
		node_id: Option<String>,
		/// Block number to evaluate grant expiry at (with --manifest; --chain uses the
		/// finalized block).
		#[arg(long, default_value_t = 0, conflicts_with = "chain")]
		block: u32,
		/// Wall-clock limit in milliseconds.
		#[arg(long, default_value_t = 2000)]
		timeout_ms: u64,
		#[command(flatten)]
		data: DataDir,
	},
}

/// A node id: `0x` and 64 hex digits.
fn parse_node_id(text: &str) -> Result<sp_core::H256, WorkerError> {
	let bytes = tea_worker::unhex0x(text).ok().filter(|b| b.len() == 32).ok_or_else(|| {
		WorkerError::Usage(format!("--node-id {text:?} is not 0x and 64 hex digits"))
	})?;
	Ok(sp_core::H256::from_slice(&bytes))
}

/// The state `actor watch --until` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchUntil {
	/// The chain lets this worker run the actor.
	Runnable,
	/// The chain does not (any more).
	Refused,
}

/// `tea-worker status`.
pub async fn status(args: StatusArgs) -> Result<(), WorkerError> {
	let client = ChainClient::connect(&args.chain, Duration::from_secs(args.timeout)).await?;
	let status = client.status().await?;
	if args.json {
		println!("{}", status.to_json());
	} else {
		println!("{status}");
	}
	Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, WorkerError> {
	std::fs::read(path)
		.map_err(|source| WorkerError::Io { path: path.display().to_string(), source })
}

fn read_signed(path: &Path) -> Result<SignedManifestJson, WorkerError> {
	let text = String::from_utf8_lossy(&read(path)?).into_owned();
	Ok(SignedManifestJson::from_json(&text)?)
}

/// The CID of `actor` (a CID, or a file that is stored first) and the store.
fn resolve(actor: &str, data: &DataDir) -> Result<(ContentId, Arc<ContentStore>), WorkerError> {
	let store = Arc::new(ContentStore::open(&data.path())?);
	let cid = match ContentId::parse(actor) {
		Ok(cid) => cid,
		Err(_) if Path::new(actor).exists() => store.put(&read(Path::new(actor))?)?,
		Err(e) => {
			return Err(WorkerError::Usage(format!("{actor:?} is neither a file nor a CID ({e})")))
		}
	};
	Ok((cid, store))
}

/// `tea-worker actor ...`.
pub async fn actor(command: ActorCommand) -> Result<(), WorkerError> {
	match command {
		ActorCommand::Pack { file, data } => {
			let cid = ContentStore::open(&data.path())?.put(&read(&file)?)?;
			println!("{}", cid.to_text());
		}
		ActorCommand::Sign { manifest, key, out } => {
			let text = String::from_utf8_lossy(&read(&manifest)?).into_owned();
			let json: ManifestJson = serde_json::from_str(&text).map_err(|e| {
				WorkerError::Manifest(tea_worker::grants::ManifestError::Malformed(e.to_string()))
			})?;
			let signed = serde_json::to_string_pretty(&json.sign(&key)?).expect("serializable");
			match out {
				Some(path) => std::fs::write(&path, signed + "\n").map_err(|source| {
					WorkerError::Io { path: path.display().to_string(), source }
				})?,
				None => println!("{signed}"),
			}
		}
		ActorCommand::Inspect { actor, manifest, data } => {
			let (cid, store) = resolve(&actor, &data)?;
			let bytes = store.get(&cid, 64 << 20)?;
			println!("cid:     {}", cid.to_text());
			println!("size:    {} bytes", bytes.len());
			let interface = match code::inspect(&bytes) {
				Ok(interface) => interface,
				Err(reason) => {
					println!("valid:   no: {reason:?}");
					return Err(WorkerError::Usage("not a valid TEA actor".into()));
				}
			};
			println!("valid:   yes (TEA host ABI v{})", tea_primitives::abi::ABI_VERSION);
			println!("core:    {}", interface.core_imports.join(", "));
			let grants = match &manifest {
				Some(path) => Some(read_signed(path)?.verify()?.0.grants.into_inner()),
				None => None,
			};
			println!("requires:");
			let mut missing = 0;
			for (provider, operation) in &interface.provider_imports {
				let (p, o) =
					(String::from_utf8_lossy(provider), String::from_utf8_lossy(operation));
				let status = match &grants {
					None => "",
					Some(grants) => {
						let granted = grants
							.iter()
							.any(|g| g.provider == *provider && g.operations.contains(operation));
						missing += usize::from(!granted);
						if granted {
							"  granted"
						} else {
							"  NOT GRANTED"
						}
					}
				};
				println!("  {p}/{o}{status}");
			}
			if missing > 0 {
				return Err(WorkerError::Usage(format!(
					"{missing} required operation(s) are not granted by the manifest"
				)));
			}
		}
		ActorCommand::Watch { actor, chain, node_id, until, timeout, data } => {
			let (cid, _) = resolve(&actor, &data)?;
			let node = node_id.as_deref().map(parse_node_id).transpose()?;
			let client = ChainClient::connect(&chain, Duration::from_secs(30)).await?;
			let grants = ChainGrants::load(&client, node).await?;
			let mut last = None;
			let mut report = |grants: &ChainGrants| {
				let runnable = grants.release(&cid).is_some();
				let line = if runnable {
					"runnable".to_string()
				} else {
					format!(
						"refused: {}",
						grants.reason(&cid).unwrap_or_else(|| "no release has this CID".into())
					)
				};
				if last.as_ref() != Some(&line) {
					println!("#{} {line}", grants.current_block());
					last = Some(line);
				}
				match until {
					Some(WatchUntil::Runnable) => runnable,
					Some(WatchUntil::Refused) => !runnable,
					None => false,
				}
			};
			if report(&*grants) {
				return Ok(());
			}
			let Some(timeout) = timeout else {
				return Ok(grants.follow(&client, report).await?);
			};
			tokio::time::timeout(Duration::from_secs(timeout), grants.follow(&client, report))
				.await
				.map_err(|_| {
					let wanted = match until {
						Some(WatchUntil::Runnable) => " before it became runnable",
						Some(WatchUntil::Refused) => " before it was refused",
						None => "",
					};
					WorkerError::Usage(format!("stopped watching {cid} after {timeout} s{wanted}"))
				})??;
		}
		ActorCommand::Run { actor, input, manifest, chain, node_id, block, timeout_ms, data } => {
			let (cid, store) = resolve(&actor, &data)?;
			let grants: Arc<dyn GrantSource> = match (manifest, chain) {
				(Some(manifest), _) => {
					let signed = read_signed(&manifest)?;
					let grants = Arc::new(LocalGrants::new());
					let release = grants.approve_signed(&signed)?;
					if release.cid != cid {
						return Err(WorkerError::Usage(format!(
							"the manifest is for {}, not {}",
							release.cid.to_text(),
							cid.to_text()
						)));
					}
					grants.set_block(block);
					grants
				}
				(None, Some(url)) => {
					let node = node_id.as_deref().map(parse_node_id).transpose()?;
					let client = ChainClient::connect(&url, Duration::from_secs(30)).await?;
					let grants = ChainGrants::load(&client, node).await?;
					if grants.release(&cid).is_none() {
						let why = grants.reason(&cid).unwrap_or_else(|| {
							format!("no release on chain has the CID {}", cid.to_text())
						});
						return Err(WorkerError::Usage(format!("{why}; not running it")));
					}
					grants
				}
				(None, None) => unreachable!("clap requires --manifest or --chain"),
			};
			let log = Arc::new(Log::default());
			let kv = KeyValue::open(&data.path().join("kv.redb")).map_err(|e| {
				WorkerError::Usage(format!("cannot open the key-value database: {e}"))
			})?;
			let providers: Vec<Arc<dyn Provider>> = vec![
				Arc::new(kv),
				log.clone(),
				Arc::new(Random),
				Arc::new(Blob::new(store.clone(), 16 << 20)),
			];
			let config =
				RuntimeConfig { timeout: Duration::from_millis(timeout_ms), ..Default::default() };
			let runtime =
				MiniRuntime::new(config, store, grants, providers).map_err(WorkerError::Usage)?;
			let result = runtime.invoke(&cid, input.as_bytes());
			for (actor, line) in log.lines() {
				eprintln!("[{actor}] {line}");
			}
			for event in runtime.security_log().events() {
				eprintln!("security: {:?}", event.kind);
			}
			let invocation = result?;
			eprintln!("fuel used: {}", invocation.fuel_used);
			println!("{}", String::from_utf8_lossy(&invocation.output));
		}
	}
	Ok(())
}
