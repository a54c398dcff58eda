//! `tea-worker`: the TEA companion daemon.
//!
//! `main` only parses options, sets up logging and hands off to the subsystem that serves the
//! chosen subcommand. The subsystems live in the library (`store`, `grants`, `runtime`,
//! `providers`, `chain`, `tpm`, `p2p`, `committee`).

mod cli;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
	let cli = Cli::parse();
	tea_worker::logs::init(&cli.log, cli.log_format);

	let result = match cli.command {
		Command::Status(args) => cli::status(args).await,
		Command::Actor(command) => cli::actor(command).await,
		Command::Tpm(command) => cli::tpm(command),
		Command::Run(flags) => cli::run(flags).await,
		Command::Launch(args) => cli::launch(args),
		Command::Config(command) => cli::config(command),
		Command::Committee(command) => cli::committee(command),
		Command::P2p(command) => cli::p2p(command),
		Command::Verify(args) => cli::verify(args).await,
		Command::Task(command) => cli::task(command).await,
	};
	match result {
		Ok(()) => ExitCode::SUCCESS,
		Err(e @ tea_worker::error::WorkerError::Config(_)) => {
			eprintln!("error: {e}");
			ExitCode::from(2)
		}
		Err(e) => {
			// One clear line that says what went wrong and what to do.
			eprintln!("error: {e}");
			ExitCode::FAILURE
		}
	}
}
