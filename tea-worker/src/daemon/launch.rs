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

/// Measures and executes the daemon (never returns unless it fails).
pub fn launch(config: &Config, exec: Option<&Path>) -> Result<(), WorkerError> {
	let config_error = |e: super::config::ConfigError| WorkerError::Config(e.0);
	std::fs::create_dir_all(&config.data_dir).map_err(|source| WorkerError::Io {
		path: config.data_dir.display().to_string(),
		source,
	})?;
	let managed = match config.tpm.as_str() {
		"swtpm" => Some(
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
	let argv: Vec<CString> = run_arguments(&args)
		.into_iter()
		.map(|a| CString::new(a.as_bytes().to_vec()))
		.collect::<Result<_, _>>()
		.map_err(|e| WorkerError::Usage(format!("an argument holds a NUL byte: {e}")))?;
	let mut env: Vec<CString> = std::env::vars_os()
		// Nothing that makes the dynamic loader run other code than the binary measured.
		.filter(|(k, _)| k != swtpm::HANDOFF && !k.as_bytes().starts_with(b"LD_"))
		.map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()))
		.collect::<Result<_, _>>()
		.map_err(|e| WorkerError::Usage(format!("a variable holds a NUL byte: {e}")))?;
	if let Some(managed) = managed {
		let handoff = format!("{}={}", swtpm::HANDOFF, managed.hand_off());
		env.push(CString::new(handoff).expect("no NUL in a pid and a TCTI"));
	}
	let pointers = |list: &[CString]| {
		list.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect::<Vec<_>>()
	};
	let (argv_p, env_p) = (pointers(&argv), pointers(&env));
	use std::os::fd::AsRawFd as _;
	// SAFETY: both arrays are NUL-terminated arrays of pointers to NUL-terminated strings
	// that outlive the call; `binary` is an open descriptor of the file that was hashed.
	unsafe { libc::fexecve(binary.as_raw_fd(), argv_p.as_ptr(), env_p.as_ptr()) };
	Err(WorkerError::Io {
		path: path.display().to_string(),
		source: std::io::Error::last_os_error(),
	})
}

#[cfg(test)]
mod tests {
	use super::*;

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
