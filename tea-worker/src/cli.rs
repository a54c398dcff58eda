//! Command line of `tea-worker`.

use crate::{chain::ChainClient, error::WorkerError};
use std::time::Duration;

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
