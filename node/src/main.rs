//! `tea-node`: the validator node of the TEA chain.

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() {
	if let Err(e) = command::run() {
		// One clear line, no backtrace: the messages say what to do.
		eprintln!("error: {e}");
		std::process::exit(1);
	}
}
