//! `tea-worker launch`: the measured launch of the daemon. Something that runs *before* the
//! runtime measures it, so that the runtime's own code cannot lie about what it is:
//!
//! 1. the configuration is resolved exactly as `tea-worker run` resolves it;
//! 2. a managed swtpm is started (and booted the development way);
//! 3. the runtime binary (`--exec`, default this executable) is opened once, and hashed
//!    through that descriptor; its SHA-256 (`Runtime`) is logged and extended into the log
//!    PCR (`crate::evidence`), then that of the configuration (`Config`, the TOML of
//!    `tea-worker config show`, which holds no secret) as that binary spells it: another
//!    build is asked (`config show`, run from the measured descriptor), since builds may
//!    spell one configuration differently;
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
use std::{
	ffi::{CString, OsString},
	os::unix::ffi::OsStrExt as _,
	path::Path,
	time::Duration,
};
use tea_primitives::evidence::EventKind;

/// The SHA-256 of a configuration as the launcher measures it.
pub fn config_digest(config: &Config) -> [u8; 32] {
	Sha256::digest(config.show().as_bytes()).into()
}

/// A SHA-256 in 0x-hex (`launch --expect`).
pub fn parse_digest(text: &str) -> Result<[u8; 32], String> {
	let bytes = crate::unhex0x(text).map_err(|e| format!("not hex: {e}"))?;
	bytes.try_into().map_err(|_| "not 32 bytes".to_string())
}

/// The arguments of the `run` the launcher executes: its own, `launch` replaced by `run` and
/// its own options `--exec` and `--expect` left out.
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
		} else if replaced && (arg == "--exec" || arg == "--expect") {
			skip = true;
		} else if !(replaced
			&& (arg.as_bytes().starts_with(b"--exec=") || arg.as_bytes().starts_with(b"--expect=")))
		{
			out.push(arg.clone());
		}
	}
	out
}

/// The arguments of the `config show` by which the launcher asks the build it executes how
/// that build spells its configuration: those of [`run_arguments`], `run` replaced by
/// `config show`.
pub fn show_arguments(args: &[OsString]) -> Vec<OsString> {
	let mut out = Vec::with_capacity(args.len() + 1);
	let mut replaced = false;
	for arg in run_arguments(args) {
		if !replaced && arg == "run" {
			out.extend(["config".into(), "show".into()]);
			replaced = true;
		} else {
			out.push(arg);
		}
	}
	out
}

/// Longest configuration text a build may show.
const MAX_SHOWN: u64 = 64 * 1024;
/// How long a build may take to show its configuration.
const SHOW_TIMEOUT: Duration = Duration::from_secs(30);

/// What the build open as `binary` prints for `args` (`args[0]` is the program name, as in
/// [`show_arguments`]): run from the very descriptor that was measured, with this process's
/// environment without the dynamic loader's `LD_*` variables and without a handed-over
/// swtpm, within [`SHOW_TIMEOUT`] and [`MAX_SHOWN`] bytes. Its exit status must be success.
pub fn shown_by(binary: &std::fs::File, args: &[OsString]) -> std::io::Result<String> {
	use std::{io::Read as _, os::fd::AsRawFd as _, process::Stdio};
	let failed = |why: String| std::io::Error::other(why);
	// The descriptor is close-on-exec: the kernel resolves the path before it closes it.
	let path = format!("/proc/self/fd/{}", binary.as_raw_fd());
	let mut child = std::process::Command::new(&path)
		.args(args.get(1..).unwrap_or_default())
		.env_clear()
		.envs(
			std::env::vars_os()
				.filter(|(k, _)| k != swtpm::HANDOFF && !k.as_bytes().starts_with(b"LD_")),
		)
		.stdin(Stdio::null())
		.stdout(Stdio::piped())
		.spawn()
		.map_err(|e| failed(format!("`config show` could not start: {e}")))?;
	let stdout = child.stdout.take().expect("piped");
	let reader = std::thread::spawn(move || {
		let mut text = Vec::new();
		stdout.take(MAX_SHOWN + 1).read_to_end(&mut text).map(|_| text)
	});
	let started = std::time::Instant::now();
	let status = loop {
		if let Some(status) = child.try_wait()? {
			break status;
		}
		if started.elapsed() > SHOW_TIMEOUT {
			let _ = child.kill();
			let _ = child.wait();
			return Err(failed(format!("`config show` took over {SHOW_TIMEOUT:?}")));
		}
		std::thread::sleep(Duration::from_millis(20));
	};
	let text = reader.join().map_err(|_| failed("the reader panicked".into()))??;
	if text.len() as u64 > MAX_SHOWN {
		return Err(failed(format!("`config show` printed over {MAX_SHOWN} bytes")));
	}
	if !status.success() {
		return Err(failed(format!("`config show` failed: {status}")));
	}
	String::from_utf8(text).map_err(|_| failed("`config show` printed no UTF-8 text".into()))
}

/// The arguments of the launcher a daemon relaunches into build `exec` of SHA-256 `expect`:
/// its own, `run` replaced by `launch --exec <exec> --expect <expect>` (the inverse of
/// [`run_arguments`]).
pub fn launch_arguments(
	args: &[std::ffi::OsString],
	exec: &Path,
	expect: &[u8; 32],
) -> Vec<std::ffi::OsString> {
	let mut out = Vec::with_capacity(args.len() + 4);
	let mut replaced = false;
	for arg in args {
		if !replaced && arg == "run" {
			out.extend([
				"launch".into(),
				"--exec".into(),
				exec.as_os_str().to_owned(),
				"--expect".into(),
				crate::hex0x(expect).into(),
			]);
			replaced = true;
		} else {
			out.push(arg.clone());
		}
	}
	out
}

/// The directory under the data dir that holds the builds a node relaunches into.
pub const BUILDS: &str = "builds";

/// The file in the directory of `builds` that records why build `measurement` failed to start
/// here; while it exists the node does not relaunch into it (the operator removes it to try
/// again).
pub fn failed_record(builds: &Path, measurement: &[u8; 32]) -> std::path::PathBuf {
	builds.join(format!("{}.failed", crate::hex0x(measurement)))
}

/// Measures and executes the daemon (never returns unless it fails). A managed swtpm that a
/// daemon relaunching hands over ([`swtpm::HANDOFF`]) is taken over, not started again: the
/// TPM cycle, and the event log, go on.
///
/// A build named by `--exec` that cannot be started (not the one `expect`ed, its `config
/// show` fails, or it cannot be executed) is recorded as failed ([`failed_record`]) and this
/// build is launched instead, measured again: a node that relaunches into a build its
/// machine cannot run keeps running the one it ran, rather than stopping or looping.
pub fn launch(
	config: &Config,
	exec: Option<&Path>,
	expect: Option<[u8; 32]>,
) -> Result<(), WorkerError> {
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
	// Handed to whichever build runs; taken back (and stopped in order) if none does.
	let handoff = managed.map(swtpm::ManagedSwtpm::hand_off);
	let failed = match exec {
		Some(path) => {
			let error = measure_and_execute(config, &tcti, path, expect, handoff.clone());
			let measurement = expect.unwrap_or_else(|| {
				std::fs::File::open(path)
					.and_then(|f| crate::tpm::digest_of(&f))
					.unwrap_or_default()
			});
			tracing::error!(target: "tea::daemon", build = %path.display(), error = %error, "the build did not start; launching this one");
			let record = failed_record(&config.data_dir.join(BUILDS), &measurement);
			let _ = std::fs::create_dir_all(record.parent().unwrap_or(Path::new(".")));
			if let Err(e) = std::fs::write(&record, format!("{error}\n")) {
				tracing::warn!(target: "tea::daemon", path = %record.display(), error = %e, "the failure is not recorded");
			}
			Some(error)
		}
		None => None,
	};
	let error =
		measure_and_execute(config, &tcti, Path::new("/proc/self/exe"), None, handoff.clone());
	if let Some(Ok(swtpm)) = handoff.map(|h| swtpm::ManagedSwtpm::adopt(&h)) {
		drop(swtpm);
	}
	Err(match failed {
		Some(first) => WorkerError::Config(format!("{first}; and this build: {error}")),
		None => error,
	})
}

/// Measures the build at `path` (its SHA-256 must be `expect`, if given) and its
/// configuration into the event log, then executes it as `run` with this launcher's options;
/// returns only the error.
fn measure_and_execute(
	config: &Config,
	tcti: &str,
	path: &Path,
	expect: Option<[u8; 32]>,
	handoff: Option<String>,
) -> WorkerError {
	let io = |source| WorkerError::Io { path: path.display().to_string(), source };
	let binary = match std::fs::File::open(path) {
		Ok(binary) => binary,
		Err(e) => return io(e),
	};
	let runtime = match crate::tpm::digest_of(&binary) {
		Ok(runtime) => runtime,
		Err(e) => return io(e),
	};
	if let Some(expect) = expect.filter(|expect| *expect != runtime) {
		// Changed since it was checked: logging it would make an unknown runtime evidence.
		return WorkerError::Config(format!(
			"{} is not the build expected: its SHA-256 is {}, not {}",
			path.display(),
			crate::hex0x(&runtime),
			crate::hex0x(&expect),
		));
	}
	let args: Vec<_> = std::env::args_os().collect();
	let ours = path == Path::new("/proc/self/exe");
	let measured = (|| -> Result<(), WorkerError> {
		let mut tpm = Tpm::open(tcti)?;
		let opened = tpm.open_log(&config.data_dir.join("evidence.redb"), config.log_pcr)?;
		if opened == crate::evidence::Opened::Unprovable {
			return Err(crate::tpm::TpmError::Log(crate::evidence::LogError::Unprovable {
				pcr: config.log_pcr,
			})
			.into());
		}
		tpm.measure(EventKind::Runtime, &runtime)?;
		// Measured first, the build then shows how it spells this configuration.
		let shown = if ours {
			config.show()
		} else {
			shown_by(&binary, &show_arguments(&args)).map_err(io)?
		};
		let shown: [u8; 32] = Sha256::digest(shown.as_bytes()).into();
		tpm.measure(EventKind::Config, &shown)?;
		// The TPM connection and the log's database close here: an exec runs no destructor.
		Ok(())
	})();
	if let Err(e) = measured {
		return e;
	}
	tracing::info!(target: "tea::daemon", runtime = %crate::hex0x(&runtime), "measured; executing it");
	io(execute(&binary, &run_arguments(&args), handoff))
}

/// Relaunches this daemon into the build `binary` (never returns unless it fails): executes
/// the launcher of the running build, measured when it was launched, with this daemon's
/// options; it measures `binary` and executes it. `handoff` is the managed swtpm handed over
/// ([`swtpm::ManagedSwtpm::hand_off`]). Call it on the main thread, which started the swtpm:
/// its parent-death signal fires when that thread ends.
pub fn relaunch(binary: &Path, measurement: &[u8; 32], handoff: Option<String>) -> WorkerError {
	let exe = "/proc/self/exe";
	let launcher = match std::fs::File::open(exe) {
		Ok(file) => file,
		Err(source) => return WorkerError::Io { path: exe.into(), source },
	};
	let args: Vec<_> = std::env::args_os().collect();
	tracing::info!(target: "tea::daemon", build = %binary.display(), "relaunching through the launcher");
	let source = execute(&launcher, &launch_arguments(&args, binary, measurement), handoff);
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
		let launcher = launch_arguments(&daemon, Path::new("/d/builds/0xab"), &[0xab; 32]);
		let expect = crate::hex0x(&[0xab; 32]);
		assert_eq!(
			launcher,
			args(&[
				"tea-worker",
				"--log",
				"info",
				"launch",
				"--exec",
				"/d/builds/0xab",
				"--expect",
				&expect,
				"--chain",
				"ws://a",
				"--data-dir",
				"run"
			])
		);
		// And the launcher gives the new build the daemon's own arguments back.
		assert_eq!(run_arguments(&launcher), daemon);
		assert_eq!(parse_digest(&expect), Ok([0xab; 32]));
		assert!(parse_digest("0xab").is_err() && parse_digest("zz").is_err());
	}

	/// Review finding (session 13): the launcher measured whatever file `--exec` named when
	/// it opened it; a file changed after the daemon checked it was logged as an unknown
	/// runtime (evidence against an honest node). With `--expect` another file is refused
	/// before the TPM is opened.
	#[test]
	fn the_launcher_refuses_a_build_that_is_not_the_one_expected() {
		let dir = tempfile::tempdir().unwrap();
		let config = super::super::config::Flags {
			data_dir: Some(dir.path().display().to_string()),
			operator: Some("//Dave".into()),
			tpm: Some("device:/dev/null".into()),
			..Default::default()
		}
		.resolve()
		.unwrap();
		let err = launch(&config, Some(Path::new("/bin/echo")), Some([0xab; 32])).unwrap_err();
		assert!(err.to_string().contains("is not the build expected"), "{err}");
		// Recorded as failed (the daemon does not try it again), and this build launched
		// instead (here it cannot open its TPM either).
		let record = failed_record(&dir.path().join(BUILDS), &[0xab; 32]);
		let why = std::fs::read_to_string(record).unwrap();
		assert!(why.contains("is not the build expected"), "{why}");
		assert!(err.to_string().contains("and this build:"), "{err}");
	}

	/// Review finding (session 13): the launcher logged the configuration as *its own* build
	/// spells it, and the daemon checks its own spelling against the log, so a new build that
	/// shows the same configuration differently (a new key with its default) never attested
	/// after a relaunch. The launcher now asks the executed build, from the measured
	/// descriptor, with the daemon's options.
	#[test]
	fn the_launcher_asks_the_executed_build_how_it_shows_the_configuration() {
		let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
		let launcher = args(&[
			"tea-worker",
			"--log",
			"info",
			"launch",
			"--exec",
			"/b/0xab",
			"--chain",
			"ws://a",
		]);
		let show = show_arguments(&launcher);
		assert_eq!(
			show,
			args(&["tea-worker", "--log", "info", "config", "show", "--chain", "ws://a"])
		);
		// Another ELF stands in for the new build: what it prints for those arguments is
		// what is measured.
		let echo = std::fs::File::open("/bin/echo").unwrap();
		assert_eq!(shown_by(&echo, &show).unwrap(), "--log info config show --chain ws://a\n");
		// A build that fails, or prints too much, is no configuration.
		let failing = std::fs::File::open("/bin/false").unwrap();
		assert!(shown_by(&failing, &show).is_err());
		let yes = std::fs::File::open("/usr/bin/yes").unwrap();
		let err = shown_by(&yes, &args(&["yes"])).unwrap_err();
		assert!(err.to_string().contains("bytes"), "{err}");
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
