//! `tea-node`: the validator node of the TEA chain.

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() {
	if let Err(e) = command::run() {
		// One clear line, no backtrace: the messages say what to do.
		match e {
			sc_cli::Error::Input(msg) => eprintln!("error: {msg}"),
			other => eprintln!("error: {other}"),
		}
		std::process::exit(1);
	}
}
