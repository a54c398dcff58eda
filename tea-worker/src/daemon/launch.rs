//! `tea-worker launch`: the measured launch of the daemon. Something that runs *before* the
//! runtime measures it, so that the runtime's own code cannot lie about what it is:
//!
//! 1. the configuration is resolved exactly as `tea-worker run` resolves it;
//! 2. a managed swtpm is started (and booted the development way);
//! 3. the runtime binary (`--exec`, default this executable) is opened once, and hashed
//!    through that descriptor; its SHA-256 (`Runtime`) and that of the configuration
//!    (`Config`, the TOML of `tea-worker config show`, which holds no secret) are logged, then
//!    extended into the log PCR (`crate::evidence`);
//! 4. the descriptor that was hashed is executed (`fexecve`) without the dynamic loader's
//!    `LD_*` variables: what runs is the file that was measured, whatever happens to the path
//!    in between (a writer of the file itself could still change it: on real hardware IMA
//!    measures what is executed). The managed swtpm stays this process's child
//!    and is handed to the daemon ([`swtpm::HANDOFF`]).
//!
//! On real hardware, Linux IMA measures the launcher itself before it runs; on a development
//! machine whoever runs the launcher is trusted (see the README's trust model).

use super::{config::Config, swtpm};
use crate::{error::WorkerError, tpm::Tpm};
use sha2::{Digest as _, Sha256};
use std::{ffi::CString, os::unix::ffi::OsStrExt as _, path::Path};
use tea_primitives::evidence::EventKind;

/// The SHA-256 of a configuration as the launcher measures it.
pub fn config_digest(config: &Config) -> [u8; 32] {
	Sha256::digest(config.show().as_bytes()).into()
}

/// The arguments of the `run` the launcher executes: its own, `launch` replaced by `run` and
/// its own option `--exec` left out.
pub fn run_arguments(args: &[std::ffi::OsString]) -> Vec<std::ffi::OsString> {
	let mut out = Vec::with_capacity(args.len());
	let mut replaced = false;
	let mut skip = false;
	for arg in args {
		if skip {
			skip = false;
			continue;
		}
		if !replaced && arg == "launch" {
			out.push("run".into());
			replaced = true;
		} else if replaced && arg == "--exec" {
			skip = true;
		} else if !(replaced && arg.as_bytes().starts_with(b"--exec=")) {
			out.push(arg.clone());
		}
	}
	out
}

/// The arguments of the launcher a daemon relaunches into build `exec`: its own, `run`
/// replaced by `launch --exec <exec>` (the inverse of [`run_arguments`]).
pub fn launch_arguments(args: &[std::ffi::OsString], exec: &Path) -> Vec<std::ffi::OsString> {
	let mut out = Vec::with_capacity(args.len() + 2);
	let mut replaced = false;
	for arg in args {
		if !replaced && arg == "run" {
			out.extend(["launch".into(), "--exec".into(), exec.as_os_str().to_owned()]);
			replaced = true;
		} else {
			out.push(arg.clone());
		}
	}
	out
}

/// Measures and executes the daemon (never returns unless it fails). A managed swtpm that a
/// daemon relaunching hands over ([`swtpm::HANDOFF`]) is taken over, not started again: the
/// TPM cycle, and the event log, go on.
pub fn launch(config: &Config, exec: Option<&Path>) -> Result<(), WorkerError> {
	let config_error = |e: super::config::ConfigError| WorkerError::Config(e.0);
	std::fs::create_dir_all(&config.data_dir).map_err(|source| WorkerError::Io {
		path: config.data_dir.display().to_string(),
		source,
	})?;
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
	let path = exec.unwrap_or(Path::new("/proc/self/exe"));
	let io = |source| WorkerError::Io { path: path.display().to_string(), source };
	let binary = std::fs::File::open(path).map_err(io)?;
	let runtime = crate::tpm::digest_of(&binary).map_err(io)?;
	{
		let mut tpm = Tpm::open(&tcti)?;
		let opened = tpm.open_log(&config.data_dir.join("evidence.redb"), config.log_pcr)?;
		if opened == crate::evidence::Opened::Unprovable {
			return Err(crate::tpm::TpmError::Log(crate::evidence::LogError::Unprovable {
				pcr: config.log_pcr,
			})
			.into());
		}
		tpm.measure(EventKind::Runtime, &runtime)?;
		tpm.measure(EventKind::Config, &config_digest(config))?;
		// The TPM connection and the log's database close here: an exec runs no destructor.
	}
	tracing::info!(target: "tea::daemon", runtime = %crate::hex0x(&runtime), "measured; executing it");
	let args: Vec<_> = std::env::args_os().collect();
	let error = execute(&binary, &run_arguments(&args), managed.map(swtpm::ManagedSwtpm::hand_off));
	Err(WorkerError::Io { path: path.display().to_string(), source: error })
}

/// Relaunches this daemon into the build `binary` (never returns unless it fails): executes
/// the launcher of the running build, measured when it was launched, with this daemon's
/// options; it measures `binary` and executes it. `handoff` is the managed swtpm handed over
/// ([`swtpm::ManagedSwtpm::hand_off`]). Call it on the main thread, which started the swtpm:
/// its parent-death signal fires when that thread ends.
pub fn relaunch(binary: &Path, handoff: Option<String>) -> WorkerError {
	let exe = "/proc/self/exe";
	let launcher = match std::fs::File::open(exe) {
		Ok(file) => file,
		Err(source) => return WorkerError::Io { path: exe.into(), source },
	};
	let args: Vec<_> = std::env::args_os().collect();
	tracing::info!(target: "tea::daemon", build = %binary.display(), "relaunching through the launcher");
	let source = execute(&launcher, &launch_arguments(&args, binary), handoff);
	WorkerError::Io { path: exe.into(), source }
}

/// Executes the open file `program` with `args`, this process's environment without the
/// dynamic loader's `LD_*` variables, and [`swtpm::HANDOFF`] set to `handoff` (unset
/// without); returns only the error.
fn execute(
	program: &std::fs::File,
	args: &[std::ffi::OsString],
	handoff: Option<String>,
) -> std::io::Error {
	let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
	let argv: Vec<CString> =
		match args.iter().map(|a| CString::new(a.as_bytes().to_vec())).collect() {
			Ok(argv) => argv,
			Err(e) => return invalid(format!("an argument holds a NUL byte: {e}")),
		};
	let env: Result<Vec<CString>, _> = std::env::vars_os()
		// Nothing that makes the dynamic loader run other code than the binary measured.
		.filter(|(k, _)| k != swtpm::HANDOFF && !k.as_bytes().starts_with(b"LD_"))
		.map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()))
		.chain(handoff.map(|h| CString::new(format!("{}={h}", swtpm::HANDOFF))))
		.collect();
	let env = match env {
		Ok(env) => env,
		Err(e) => return invalid(format!("a variable holds a NUL byte: {e}")),
	};
	let pointers = |list: &[CString]| {
		list.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect::<Vec<_>>()
	};
	let (argv_p, env_p) = (pointers(&argv), pointers(&env));
	use std::os::fd::AsRawFd as _;
	// SAFETY: both arrays are NUL-terminated arrays of pointers to NUL-terminated strings
	// that outlive the call; `program` is an open descriptor.
	unsafe { libc::fexecve(program.as_raw_fd(), argv_p.as_ptr(), env_p.as_ptr()) };
	std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_relaunch_runs_the_launcher_with_the_daemons_arguments_and_the_new_build() {
		let args = |list: &[&str]| list.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
		let daemon =
			args(&["tea-worker", "--log", "info", "run", "--chain", "ws://a", "--data-dir", "run"]);
		let launcher = launch_arguments(&daemon, Path::new("/d/builds/0xab"));
		assert_eq!(
			launcher,
			args(&[
				"tea-worker",
				"--log",
				"info",
				"launch",
				"--exec",
				"/d/builds/0xab",
				"--chain",
				"ws://a",
				"--data-dir",
				"run"
			])
		);
		// And the launcher gives the new build the daemon's own arguments back.
		assert_eq!(run_arguments(&launcher), daemon);
	}

	#[test]
	fn the_daemon_gets_the_launchers_arguments_as_run() {
		let args = |list: &[&str]| list.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
		assert_eq!(
			run_arguments(&args(&[
				"tea-worker",
				"--log",
				"info",
				"launch",
				"--exec",
				"/tmp/x",
				"--chain",
				"ws://a",
				"--exec=/y",
				"--data-dir",
				"launch"
			])),
			args(&[
				"tea-worker",
				"--log",
				"info",
				"run",
				"--chain",
				"ws://a",
				"--data-dir",
				"launch"
			])
		);
	}
}
