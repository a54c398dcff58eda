//! The daemon's configuration: a TOML file (`--config`), every key also a flag and a `TEA_*`
//! variable (flags and variables override the file; the file overrides the defaults).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A misconfiguration: one line that says what to change (the process exits with code 2).
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The daemon's settings, as the TOML file spells them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
	/// Data directory (content store, key-value database, libp2p key, managed swtpm).
	pub data_dir: Option<String>,
	/// The tea-node RPC endpoint.
	pub chain: Option<String>,
	/// The operator's secret key URI (signs registration, attestations and votes).
	pub operator: Option<String>,
	/// `swtpm` (a private swtpm under the data dir) or a TCTI (`device:/dev/tpmrm0`, …).
	pub tpm: Option<String>,
	/// With `tpm = "swtpm"`: a development CA directory (swtpm_localca) that certifies the
	/// managed swtpm's EK, as a TPM vendor would.
	pub dev_ca: Option<String>,
	/// The libp2p identity key file (default `<data_dir>/p2p.key`); `dev:<Name>` on dev chains.
	pub p2p_key: Option<String>,
	/// libp2p listen addresses.
	pub listen: Option<Vec<String>>,
	/// Known peers: `/ip4/<address>/tcp/<port>/p2p/<peer id>` (optional: committee members
	/// find candidates at the addresses they publish on chain).
	pub peers: Option<Vec<String>>,
	/// The addresses published on chain for others to reach this node (default: the listen
	/// addresses, except unspecified ones such as 0.0.0.0).
	pub announce: Option<Vec<String>>,
	/// `HOST:PORT` of `/metrics` and `/health`; empty: none.
	pub metrics: Option<String>,
	/// Loopback `HOST:PORT` of the local invocation API (`POST /v1/actors/<name>`); empty:
	/// none. Its requests are unsigned, so it never listens beyond loopback.
	pub api: Option<String>,
	/// `HOST:PORT` of the client task API (`POST /v1/tasks`: signed requests, answered with
	/// proof-of-trust receipts); empty (the default): none.
	pub tasks: Option<String>,
	/// Client tasks per second one client account may run here (twice that in a burst).
	pub client_rate: Option<u32>,
	/// On a dev chain: serve as that chain's genesis node of this name (`Alice`, `Bob`,
	/// `Charlie`): committee duty only, the node's TPM makes credentials.
	pub genesis: Option<String>,
	/// Vote against an unreachable candidate once fewer blocks than this remain.
	pub last_try: Option<u32>,
	/// Seconds an outbound libp2p request may take.
	pub request_timeout: Option<u64>,
	/// Seconds an extrinsic may take from signing to finalization.
	pub submit_timeout: Option<u64>,
	/// The PCR the node's event log is kept in (0-15; the chain's attestation policy names
	/// the same one).
	pub log_pcr: Option<u32>,
}

/// `tea-worker run` / `tea-worker config show` options: each is also a `TEA_*` variable.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Flags {
	/// The TOML configuration file.
	#[arg(long, env = "TEA_CONFIG")]
	pub config: Option<PathBuf>,
	/// Data directory.
	#[arg(long, env = "TEA_DATA_DIR")]
	pub data_dir: Option<String>,
	/// The tea-node RPC endpoint.
	#[arg(long, env = "TEA_CHAIN")]
	pub chain: Option<String>,
	/// The operator's secret key URI, e.g. `//Dave` or a mnemonic.
	#[arg(long, env = "TEA_OPERATOR_KEY", hide_env_values = true)]
	pub operator: Option<String>,
	/// `swtpm` or a TCTI.
	#[arg(long, env = "TEA_TPM")]
	pub tpm: Option<String>,
	/// Development CA directory for the managed swtpm's EK certificate.
	#[arg(long, env = "TEA_DEV_CA")]
	pub dev_ca: Option<String>,
	/// The libp2p identity key file.
	#[arg(long, env = "TEA_P2P_KEY")]
	pub p2p_key: Option<String>,
	/// A libp2p listen address; repeat for more.
	#[arg(long, env = "TEA_LISTEN", value_delimiter = ',')]
	pub listen: Vec<String>,
	/// A known peer; repeat for more.
	#[arg(long, env = "TEA_PEERS", value_delimiter = ',')]
	pub peer: Vec<String>,
	/// An address to publish on chain for others to reach this node; repeat for more.
	#[arg(long, env = "TEA_ANNOUNCE", value_delimiter = ',')]
	pub announce: Vec<String>,
	/// `HOST:PORT` of `/metrics` and `/health` (empty: none).
	#[arg(long, env = "TEA_METRICS")]
	pub metrics: Option<String>,
	/// Loopback `HOST:PORT` of the local invocation API (empty: none).
	#[arg(long, env = "TEA_API")]
	pub api: Option<String>,
	/// `HOST:PORT` of the client task API (empty: none).
	#[arg(long, env = "TEA_TASKS")]
	pub tasks: Option<String>,
	/// Client tasks per second per client account.
	#[arg(long, env = "TEA_CLIENT_RATE")]
	pub client_rate: Option<u32>,
	/// Serve as the dev chain's genesis node of this name.
	#[arg(long, env = "TEA_GENESIS")]
	pub genesis: Option<String>,
	/// Blocks before a review's deadline at which an unreachable candidate is voted against.
	#[arg(long, env = "TEA_LAST_TRY")]
	pub last_try: Option<u32>,
	/// Seconds an outbound libp2p request may take.
	#[arg(long, env = "TEA_REQUEST_TIMEOUT")]
	pub request_timeout: Option<u64>,
	/// Seconds an extrinsic may take until finalized.
	#[arg(long, env = "TEA_SUBMIT_TIMEOUT")]
	pub submit_timeout: Option<u64>,
	/// The PCR the event log is kept in (0-15, as the chain's policy names it).
	#[arg(long, env = "TEA_LOG_PCR")]
	pub log_pcr: Option<u32>,
}

/// The effective configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
	/// Data directory.
	pub data_dir: PathBuf,
	/// RPC endpoint.
	pub chain: String,
	/// The operator's secret URI.
	pub operator: String,
	/// `swtpm` or a TCTI.
	pub tpm: String,
	/// Development CA directory.
	pub dev_ca: Option<PathBuf>,
	/// libp2p key file or `dev:<Name>`.
	pub p2p_key: String,
	/// Listen addresses.
	pub listen: Vec<libp2p::Multiaddr>,
	/// Known peers.
	pub peers: Vec<libp2p::Multiaddr>,
	/// Addresses to publish (`None`: the listen addresses).
	pub announce: Option<Vec<libp2p::Multiaddr>>,
	/// Metrics address.
	pub metrics: Option<std::net::SocketAddr>,
	/// Local invocation API address (loopback).
	pub api: Option<std::net::SocketAddr>,
	/// Client task API address.
	pub tasks: Option<std::net::SocketAddr>,
	/// Client tasks per second per client.
	pub client_rate: u32,
	/// Genesis node name.
	pub genesis: Option<String>,
	/// Last-try blocks.
	pub last_try: u32,
	/// libp2p request timeout (s).
	pub request_timeout: u64,
	/// Submission timeout (s).
	pub submit_timeout: u64,
	/// The event log's PCR.
	pub log_pcr: u8,
}

/// The dev chain's genesis node names.
pub const GENESIS_NAMES: [&str; 3] = ["Alice", "Bob", "Charlie"];

fn expand_home(path: &str) -> PathBuf {
	match path.strip_prefix("~/") {
		Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
		None => PathBuf::from(path),
	}
}

impl Flags {
	/// The file (if any) overlaid with these flags.
	fn merged(&self) -> Result<File, ConfigError> {
		let mut file = match &self.config {
			Some(path) => read_file(path)?,
			None => File::default(),
		};
		let set = |slot: &mut Option<String>, flag: &Option<String>| {
			if flag.is_some() {
				slot.clone_from(flag);
			}
		};
		set(&mut file.data_dir, &self.data_dir);
		set(&mut file.chain, &self.chain);
		set(&mut file.operator, &self.operator);
		set(&mut file.tpm, &self.tpm);
		set(&mut file.dev_ca, &self.dev_ca);
		set(&mut file.p2p_key, &self.p2p_key);
		set(&mut file.metrics, &self.metrics);
		set(&mut file.api, &self.api);
		set(&mut file.tasks, &self.tasks);
		file.client_rate = self.client_rate.or(file.client_rate);
		set(&mut file.genesis, &self.genesis);
		if !self.listen.is_empty() {
			file.listen = Some(self.listen.clone());
		}
		if !self.peer.is_empty() {
			file.peers = Some(self.peer.clone());
		}
		if !self.announce.is_empty() {
			file.announce = Some(self.announce.clone());
		}
		file.last_try = self.last_try.or(file.last_try);
		file.request_timeout = self.request_timeout.or(file.request_timeout);
		file.submit_timeout = self.submit_timeout.or(file.submit_timeout);
		file.log_pcr = self.log_pcr.or(file.log_pcr);
		Ok(file)
	}

	/// The effective, checked configuration.
	pub fn resolve(&self) -> Result<Config, ConfigError> {
		let file = self.merged()?;
		let bad = |key: &str, why: String| ConfigError(format!("`{key}`: {why}"));
		let genesis = file.genesis.clone();
		if let Some(name) = &genesis {
			if !GENESIS_NAMES.contains(&name.as_str()) {
				return Err(bad("genesis", format!("{name:?} is not one of Alice, Bob, Charlie")));
			}
		}
		let data_dir = expand_home(file.data_dir.as_deref().unwrap_or("~/.local/share/tea-worker"));
		let operator = match (&file.operator, &genesis) {
			(Some(op), _) => op.clone(),
			(None, Some(name)) => format!("//{name}"),
			(None, None) => {
				return Err(bad("operator", "missing: the operator's secret key URI signs the node's extrinsics (e.g. --operator //Dave)".into()))
			}
		};
		operator_key(&operator).map_err(|e| bad("operator", e))?;
		let chain = file.chain.clone().unwrap_or_else(|| "ws://127.0.0.1:9944".into());
		let tpm = file.tpm.clone().unwrap_or_else(|| "device:/dev/tpmrm0".into());
		if tpm != "swtpm" {
			<tss_esapi::TctiNameConf as std::str::FromStr>::from_str(&tpm).map_err(|_| {
				bad(
					"tpm",
					format!("{tpm:?} is neither `swtpm` nor a TCTI such as device:/dev/tpmrm0"),
				)
			})?;
		}
		let dev_ca = file.dev_ca.as_deref().map(expand_home);
		if dev_ca.is_some() && tpm != "swtpm" {
			return Err(bad(
				"dev_ca",
				"only a managed swtpm (tpm = \"swtpm\") gets a development EK certificate".into(),
			));
		}
		let p2p_key = match (&file.p2p_key, &genesis) {
			(Some(key), _) => key.clone(),
			(None, Some(name)) => format!("dev:{name}"),
			(None, None) => data_dir.join("p2p.key").display().to_string(),
		};
		// The transport is TCP over IPv4/IPv6 (no DNS): anything else could never be dialled,
		// and an undialable candidate would be voted against. Peers carry their peer id: a
		// bare address would be dialled for every candidate, reaching the wrong peers.
		let addrs = |key: &str, list: &[String], peer: bool| {
			list.iter()
				.map(|a| {
					let addr = a
						.parse::<libp2p::Multiaddr>()
						.map_err(|e| bad(key, format!("{a:?} is not a multiaddr: {e}")))?;
					let peer_id = crate::p2p::peer_of(&addr).is_some();
					(crate::p2p::tcp_address(&addr) && (peer_id || !peer))
						.then_some(addr)
						.ok_or_else(|| {
							bad(
								key,
								format!(
									"{a:?}: expected /ip4/<address>/tcp/<port>{} (or /ip6/…)",
									if peer { "/p2p/<peer id>" } else { "" }
								),
							)
						})
				})
				.collect::<Result<Vec<_>, _>>()
		};
		let listen = addrs(
			"listen",
			file.listen.as_deref().unwrap_or(&["/ip4/127.0.0.1/tcp/0".into()]),
			false,
		)?;
		let peers = addrs("peers", file.peers.as_deref().unwrap_or_default(), true)?;
		let announce = file.announce.as_deref().map(|a| addrs("announce", a, false)).transpose()?;
		if announce.as_ref().is_some_and(|a| a.len() > 4) {
			return Err(bad("announce", "at most 4 addresses are published".into()));
		}
		let metrics = match file.metrics.as_deref().unwrap_or("127.0.0.1:9616") {
			"" => None,
			addr => Some(
				addr.parse()
					.map_err(|e| bad("metrics", format!("{addr:?} is not HOST:PORT: {e}")))?,
			),
		};
		let api = match file.api.as_deref().unwrap_or("127.0.0.1:9690") {
			"" => None,
			addr => {
				let parsed: std::net::SocketAddr = addr
					.parse()
					.map_err(|e| bad("api", format!("{addr:?} is not HOST:PORT: {e}")))?;
				if !parsed.ip().is_loopback() {
					return Err(bad(
						"api",
						format!("{addr:?} is not a loopback address: the local invocation API takes unsigned requests, so it listens on 127.0.0.1 or [::1] only"),
					));
				}
				Some(parsed)
			}
		};
		let tasks = match file.tasks.as_deref().unwrap_or("") {
			"" => None,
			addr => Some(
				addr.parse()
					.map_err(|e| bad("tasks", format!("{addr:?} is not HOST:PORT: {e}")))?,
			),
		};
		let positive = |key: &str, v: u64| {
			if v == 0 {
				Err(bad(key, "must be at least 1".into()))
			} else {
				Ok(v)
			}
		};
		let log_pcr = file.log_pcr.unwrap_or(crate::evidence::DEFAULT_LOG_PCR.into());
		let log_pcr = u8::try_from(log_pcr)
			.ok()
			.filter(|pcr| (8..=tea_primitives::evidence::MAX_POLICY_PCR).contains(pcr))
			.ok_or_else(|| {
				bad(
					"log_pcr",
					format!(
						"{log_pcr}: must be one of 8-15 (0-7 hold the firmware's measurements, \
						 16-23 can be reset by any program)"
					),
				)
			})?;
		Ok(Config {
			data_dir,
			chain,
			operator,
			tpm,
			dev_ca,
			p2p_key,
			listen,
			peers,
			announce,
			metrics,
			api,
			tasks,
			client_rate: positive("client_rate", file.client_rate.unwrap_or(1000).into())? as u32,
			genesis,
			last_try: file.last_try.unwrap_or(3),
			request_timeout: positive("request_timeout", file.request_timeout.unwrap_or(10))?,
			submit_timeout: positive("submit_timeout", file.submit_timeout.unwrap_or(60))?,
			log_pcr,
		})
	}
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
	let text = std::fs::read_to_string(path)
		.map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
	toml::from_str(&text)
		.map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message().trim_end())))
}

/// An sr25519 key from a secret URI (`//Alice`, a mnemonic, …).
pub fn operator_key(uri: &str) -> Result<subxt_signer::sr25519::Keypair, String> {
	let uri =
		uri.parse::<subxt_signer::SecretUri>().map_err(|e| format!("not a secret URI: {e}"))?;
	subxt_signer::sr25519::Keypair::from_uri(&uri).map_err(|e| e.to_string())
}

impl Config {
	/// The configuration as TOML, the operator's secret replaced by its account.
	pub fn show(&self) -> String {
		let account = operator_key(&self.operator)
			.map(|k| subxt::utils::AccountId32::from(k.public_key()).to_string())
			.unwrap_or_default();
		let file = File {
			data_dir: Some(self.data_dir.display().to_string()),
			chain: Some(self.chain.clone()),
			operator: Some(format!("<secret of {account}>")),
			tpm: Some(self.tpm.clone()),
			dev_ca: self.dev_ca.as_ref().map(|p| p.display().to_string()),
			p2p_key: Some(self.p2p_key.clone()),
			listen: Some(self.listen.iter().map(ToString::to_string).collect()),
			peers: Some(self.peers.iter().map(ToString::to_string).collect()),
			announce: self.announce.as_ref().map(|a| a.iter().map(ToString::to_string).collect()),
			metrics: Some(self.metrics.map(|a| a.to_string()).unwrap_or_default()),
			api: Some(self.api.map(|a| a.to_string()).unwrap_or_default()),
			tasks: Some(self.tasks.map(|a| a.to_string()).unwrap_or_default()),
			client_rate: Some(self.client_rate),
			genesis: self.genesis.clone(),
			last_try: Some(self.last_try),
			request_timeout: Some(self.request_timeout),
			submit_timeout: Some(self.submit_timeout),
			log_pcr: Some(self.log_pcr.into()),
		};
		toml::to_string(&file).expect("plain values serialize")
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("worker.toml");
		std::fs::write(&path, text).unwrap();
		(dir, path)
	}

	#[test]
	fn flags_override_the_file_which_overrides_the_defaults() {
		let (_d, path) = file("operator = \"//Dave\"\nchain = \"ws://10.0.0.1:9944\"\ntpm = \"swtpm\"\nlast_try = 5\n");
		let flags = Flags {
			config: Some(path),
			chain: Some("ws://127.0.0.1:1".into()),
			..Default::default()
		};
		let config = flags.resolve().unwrap();
		assert_eq!(config.chain, "ws://127.0.0.1:1");
		assert_eq!(config.operator, "//Dave");
		assert_eq!(config.last_try, 5);
		assert_eq!(config.tpm, "swtpm");
		assert_eq!(config.metrics, Some("127.0.0.1:9616".parse().unwrap()));
		assert_eq!(config.api, Some("127.0.0.1:9690".parse().unwrap()));
		assert_eq!(config.p2p_key, config.data_dir.join("p2p.key").display().to_string());
		// What `config show` prints parses back, and hides the secret.
		let shown = config.show();
		assert!(!shown.contains("//Dave"), "{shown}");
		assert!(shown.contains("5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy"), "{shown}");
		let back: File = toml::from_str(&shown).unwrap();
		assert_eq!(back.chain.as_deref(), Some("ws://127.0.0.1:1"));
	}

	#[test]
	fn every_misconfiguration_is_one_clear_line() {
		let cases: [(&str, &str); 15] = [
			("operator = \"//Dave\"\nlog_pcr = 16", "`log_pcr`: 16: must be one of 8-15"),
			("operator = \"//Dave\"\nlog_pcr = 300", "`log_pcr`: 300: must be one of 8-15"),
			("operator = \"//Dave\"\nlog_pcr = 7", "`log_pcr`: 7: must be one of 8-15"),
			("", "`operator`: missing"),
			("operator = \"not a uri\"", "`operator`"),
			("operator = \"//Dave\"\nbogus = 1", "unknown field `bogus`"),
			("operator = \"//Dave\"\nlisten = [\"nope\"]", "`listen`: \"nope\" is not a multiaddr"),
			("operator = \"//Dave\"\nmetrics = \"x\"", "`metrics`"),
			(
				"operator = \"//Dave\"\npeers = [\"/dns4/example.org/tcp/1\"]",
				"`peers`: \"/dns4/example.org/tcp/1\": expected /ip4",
			),
			(
				"operator = \"//Dave\"\npeers = [\"/ip4/127.0.0.1/tcp/1\"]",
				"expected /ip4/<address>/tcp/<port>/p2p/<peer id>",
			),
			("operator = \"//Dave\"\ngenesis = \"Mallory\"", "`genesis`"),
			("operator = \"//Dave\"\ntpm = \"device:/dev/tpmrm0\"\ndev_ca = \"/ca\"", "`dev_ca`"),
			("operator = \"//Dave\"\nsubmit_timeout = 0", "`submit_timeout`"),
			(
				"operator = \"//Dave\"\napi = \"0.0.0.0:9690\"",
				"`api`: \"0.0.0.0:9690\" is not a loopback",
			),
			("operator = \"//Dave\"\napi = \"localhost\"", "`api`: \"localhost\" is not HOST:PORT"),
		];
		for (text, wanted) in cases {
			let (_d, path) = file(text);
			let err = Flags { config: Some(path), ..Default::default() }.resolve().unwrap_err();
			let line = err.to_string();
			assert!(line.contains(wanted), "{text:?}: {line}");
			assert!(!line.contains('\n'), "one line: {line:?}");
		}
		let err = Flags { config: Some("/nonexistent/worker.toml".into()), ..Default::default() }
			.resolve()
			.unwrap_err();
		assert!(err.to_string().contains("cannot read /nonexistent/worker.toml"), "{err}");
	}

	#[test]
	fn a_genesis_node_defaults_to_its_dev_keys() {
		let flags =
			Flags { genesis: Some("Bob".into()), tpm: Some("swtpm".into()), ..Default::default() };
		let config = flags.resolve().unwrap();
		assert_eq!(config.operator, "//Bob");
		assert_eq!(config.p2p_key, "dev:Bob");
	}
}
