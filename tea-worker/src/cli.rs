//! Command line of `tea-worker`.

use std::{
	path::{Path, PathBuf},
	sync::Arc,
	time::Duration,
};
use tea_primitives::{code, ContentId};
use tea_worker::{
	chain::ChainClient,
	error::WorkerError,
	grants::{LocalGrants, ManifestJson, SignedManifestJson},
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
	/// Run an actor locally under the grants of its signed manifest.
	Run {
		/// A .wasm file or the CID of a stored blob.
		actor: String,
		/// Input passed to the actor.
		#[arg(default_value = "")]
		input: String,
		/// The signed manifest of the release.
		#[arg(long)]
		manifest: PathBuf,
		/// Block number to evaluate grant expiry at.
		#[arg(long, default_value_t = 0)]
		block: u32,
		/// Wall-clock limit in milliseconds.
		#[arg(long, default_value_t = 2000)]
		timeout_ms: u64,
		#[command(flatten)]
		data: DataDir,
	},
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
pub fn actor(command: ActorCommand) -> Result<(), WorkerError> {
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
		ActorCommand::Run { actor, input, manifest, block, timeout_ms, data } => {
			let (cid, store) = resolve(&actor, &data)?;
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
