//! A private swtpm under the data dir (`tpm = "swtpm"`): manufactured once by `swtpm_setup`
//! (with an RSA 2048 EK certificate from a development CA when `dev_ca` is set, as a TPM vendor
//! would leave it in NV), then started on free loopback ports each time the worker starts, and
//! "booted" the development way (PCRs 0-7, `crate::tpm::dev_boot`). It dies with the worker,
//! even on `kill -9` (`PR_SET_PDEATHSIG`); `tea-worker launch` starts it and hands it to the
//! daemon it executes ([`ManagedSwtpm::hand_off`], [`ManagedSwtpm::adopt`]).

use super::config::ConfigError;
use std::{
	net::{TcpListener, TcpStream},
	path::{Path, PathBuf},
	process::{Command, Stdio},
	time::{Duration, Instant},
};

/// The variable through which `tea-worker launch` hands its managed swtpm to the daemon it
/// executes: `<pid>:<TCTI>`.
pub const HANDOFF: &str = "TEA_SWTPM_HANDOFF";

/// A running managed swtpm, a child of this process (by pid: it stays one across the
/// launcher's exec), stopped on drop.
pub struct ManagedSwtpm {
	pid: libc::pid_t,
	/// Its TCTI string.
	pub tcti: String,
}

impl ManagedSwtpm {
	/// Its exit status if it exited (reaped), `None` while it runs.
	fn exited(&self) -> Option<libc::c_int> {
		let mut status = 0;
		// SAFETY: waiting for our own child by pid, without blocking.
		match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
			0 => None,
			_ => Some(status),
		}
	}

	/// Hands this swtpm to the program this process executes next: the value of [`HANDOFF`].
	/// Nothing stops it here any more.
	pub fn hand_off(self) -> String {
		let value = format!("{}:{}", self.pid, self.tcti);
		std::mem::forget(self);
		value
	}

	/// Takes over the swtpm that `tea-worker launch` handed to this process (the value of
	/// [`HANDOFF`]): it must be a running child of this process.
	pub fn adopt(value: &str) -> Result<Self, ConfigError> {
		let bad = || ConfigError(format!("{HANDOFF}={value:?}: not a swtpm this process started"));
		let (pid, tcti) = value.split_once(':').ok_or_else(bad)?;
		let pid: libc::pid_t = pid.parse().map_err(|_| bad())?;
		// A swtpm: stopping it on drop signals that pid, so nothing else may pass for one.
		let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
		let is_swtpm = exe.as_ref().and_then(|e| e.file_name()).is_some_and(|n| n == "swtpm");
		if pid <= 0 || !tcti.starts_with("swtpm:") || !is_swtpm {
			return Err(bad());
		}
		let swtpm = Self { pid, tcti: tcti.into() };
		if swtpm.exited().is_some() {
			std::mem::forget(swtpm);
			return Err(bad());
		}
		Ok(swtpm)
	}
}

impl Drop for ManagedSwtpm {
	/// An orderly TPM2_Shutdown (otherwise the next start counts as a possible dictionary
	/// attack), then SIGTERM (swtpm saves its state and exits), SIGKILL after two seconds.
	fn drop(&mut self) {
		tpm2_tool("tpm2_shutdown", &[], &self.tcti);
		// SAFETY: signalling our own child by pid.
		unsafe { libc::kill(self.pid, libc::SIGTERM) };
		let started = Instant::now();
		while started.elapsed() < Duration::from_secs(2) {
			if self.exited().is_some() {
				return;
			}
			std::thread::sleep(Duration::from_millis(20));
		}
		let mut status = 0;
		// SAFETY: as above; then reap it.
		unsafe {
			libc::kill(self.pid, libc::SIGKILL);
			libc::waitpid(self.pid, &mut status, 0);
		}
	}
}

/// The CA's `swtpm_setup` configuration, written on first use (`swtpm_localca` creates the CA's
/// keys the first time it signs).
fn ca_setup_conf(ca: &Path) -> Result<PathBuf, ConfigError> {
	let fail = |e: std::io::Error| ConfigError(format!("`dev_ca` {}: {e}", ca.display()));
	let state = ca.join("ca");
	std::fs::create_dir_all(&state).map_err(fail)?;
	let localca = ca.join("localca.conf");
	let setup = ca.join("setup.conf");
	if !setup.exists() {
		let d = state.display();
		std::fs::write(
			&localca,
			format!(
				"statedir = {d}\nsigningkey = {d}/signkey.pem\nissuercert = {d}/issuercert.pem\n\
				 certserial = {d}/certserial\n"
			),
		)
		.map_err(fail)?;
		std::fs::write(
			&setup,
			format!(
				"create_certs_tool = swtpm_localca\ncreate_certs_tool_config = {}\n\
				 create_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n",
				localca.display()
			),
		)
		.map_err(fail)?;
	}
	Ok(setup)
}

/// The issuing certificate of a development CA directory (what governance allowlists),
/// creating the CA first if needed: swtpm_localca makes its keys when it first certifies an
/// EK, so a throwaway swtpm state is manufactured once.
pub fn dev_ca_certificate(ca: &Path) -> Result<PathBuf, ConfigError> {
	let cert = ca.join("ca/issuercert.pem");
	if !cert.exists() {
		let seed = tempfile::tempdir()
			.map_err(|e| ConfigError(format!("`dev_ca`: temporary directory: {e}")))?;
		manufacture(seed.path(), Some(ca))?;
	}
	Ok(cert)
}

/// Manufactures (once) and starts the swtpm whose state is `dir`.
pub fn start(dir: &Path, dev_ca: Option<&Path>) -> Result<ManagedSwtpm, ConfigError> {
	std::fs::create_dir_all(dir)
		.map_err(|e| ConfigError(format!("swtpm state directory {}: {e}", dir.display())))?;
	if !dir.join("tpm2-00.permall").exists() {
		// Manufactured aside and moved into place: a worker killed during swtpm_setup leaves
		// no half-made TPM (one without its EK certificate, say) that would pass for done.
		let partial = dir.with_extension("partial");
		let io = |e: std::io::Error| ConfigError(format!("swtpm state {}: {e}", dir.display()));
		let _ = std::fs::remove_dir_all(&partial);
		std::fs::create_dir_all(&partial).map_err(io)?;
		manufacture(&partial, dev_ca)?;
		std::fs::remove_dir_all(dir).map_err(io)?;
		std::fs::rename(&partial, dir).map_err(io)?;
	}
	spawn(dir)
}

/// `swtpm_setup`: an RSA 2048 EK, certified by `dev_ca` if given.
fn manufacture(dir: &Path, dev_ca: Option<&Path>) -> Result<(), ConfigError> {
	let fail = |what: &str, e: &dyn std::fmt::Display| ConfigError(format!("swtpm {what}: {e}"));
	let mut setup = Command::new("swtpm_setup");
	setup.args(["--tpm2", "--createek", "--overwrite", "--tpmstate"]).arg(dir);
	// Several workers may share one CA: one manufactures at a time.
	let _lock = match dev_ca {
		Some(ca) => {
			let conf = ca_setup_conf(ca)?;
			let lock = std::fs::File::create(ca.join(".lock")).map_err(|e| fail("CA lock", &e))?;
			lock.lock().map_err(|e| fail("CA lock", &e))?;
			setup.arg("--create-ek-cert").arg("--config").arg(conf);
			Some(lock)
		}
		None => None,
	};
	let out = setup.output().map_err(|e| {
		fail("swtpm_setup", &format!("{e}: install swtpm-tools (scripts/setup.sh)"))
	})?;
	if !out.status.success() {
		let _ = std::fs::remove_file(dir.join("tpm2-00.permall"));
		return Err(fail(
			"swtpm_setup",
			&String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; "),
		));
	}
	Ok(())
}

/// Starts the swtpm whose state `dir` was manufactured; tried again on other ports if it
/// exits at once (a port taken between choosing and binding it).
fn spawn(dir: &Path) -> Result<ManagedSwtpm, ConfigError> {
	let mut tries = 0;
	loop {
		match spawn_once(dir) {
			Ok(swtpm) => return Ok(swtpm),
			Err(e) if tries < 2 => {
				tries += 1;
				tracing::warn!(target: "tea::daemon", error = %e, "swtpm did not start; trying other ports");
			}
			Err(e) => return Err(e),
		}
	}
}

fn spawn_once(dir: &Path) -> Result<ManagedSwtpm, ConfigError> {
	let fail = |what: &str, e: &dyn std::fmt::Display| ConfigError(format!("swtpm {what}: {e}"));
	let (port, ctrl) = free_port_pair().map_err(|e| fail("ports", &e))?;
	let mut command = Command::new("swtpm");
	command
		.args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
		.arg("--server")
		.arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
		.arg("--ctrl")
		.arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
		.arg("--tpmstate")
		.arg(format!("dir={}", dir.display()))
		.stdout(Stdio::null())
		.stderr(Stdio::null());
	// SAFETY: prctl is async-signal-safe; the closure touches no memory of the parent.
	unsafe {
		use std::os::unix::process::CommandExt;
		command.pre_exec(|| {
			if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
				return Err(std::io::Error::last_os_error());
			}
			Ok(())
		});
	}
	let child = command
		.spawn()
		.map_err(|e| fail("start", &format!("{e}: install swtpm (scripts/setup.sh)")))?;
	// Known by pid from here on (a `Child` cannot cross the launcher's exec).
	let swtpm = ManagedSwtpm {
		pid: child.id() as libc::pid_t,
		tcti: format!("swtpm:host=127.0.0.1,port={port}"),
	};
	drop(child);
	let started = Instant::now();
	while TcpStream::connect(("127.0.0.1", port)).is_err() {
		if let Some(status) = swtpm.exited() {
			std::mem::forget(swtpm);
			return Err(fail(
				"start",
				&format!("exited with {status} (is another swtpm using {}?)", dir.display()),
			));
		}
		if started.elapsed() > Duration::from_secs(10) {
			return Err(fail("start", &"did not listen within 10 s"));
		}
		std::thread::sleep(Duration::from_millis(20));
	}
	// A worker killed with SIGKILL shut its TPM down unorderly; after a few such restarts the
	// TPM's dictionary-attack protection locks the AK out ("TPM is in DA lockout mode", seen
	// after three). This TPM is the worker's own and its lockout auth is empty: clear it.
	tpm2_tool("tpm2_dictionarylockout", &["--clear-lockout"], &swtpm.tcti);
	// PCRs are zero after every start: the development boot extends PCRs 0-7 again.
	crate::tpm::dev_boot(&swtpm.tcti).map_err(|e| fail("development boot", &e))?;
	Ok(swtpm)
}

/// Runs a tpm2-tools command against `tcti`; a failure is logged, never fatal.
/// How long one tpm2-tools command may take: the swtpm serves one connection at a time, so a
/// command waits for as long as another client (e.g. a TPM handle not yet closed) holds it.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

fn tpm2_tool(tool: &str, args: &[&str], tcti: &str) {
	let spawned = Command::new(tool)
		.args(args)
		.arg("--tcti")
		.arg(tcti)
		.stdout(std::process::Stdio::null())
		.stderr(std::process::Stdio::piped())
		.spawn();
	let mut child = match spawned {
		Ok(child) => child,
		Err(e) => {
			tracing::warn!(target: "tea::daemon", tool, error = %e, "tpm2-tools not run (scripts/setup.sh installs them)");
			return;
		}
	};
	let started = Instant::now();
	let status = loop {
		match child.try_wait() {
			Ok(Some(status)) => break Some(status),
			Ok(None) if started.elapsed() < TOOL_TIMEOUT => {
				std::thread::sleep(Duration::from_millis(20))
			}
			_ => {
				let _ = child.kill();
				let _ = child.wait();
				break None;
			}
		}
	};
	match status {
		Some(status) if status.success() => {}
		Some(_) => {
			let mut stderr = String::new();
			if let Some(mut pipe) = child.stderr.take() {
				use std::io::Read;
				let _ = pipe.read_to_string(&mut stderr);
			}
			tracing::warn!(target: "tea::daemon", tool, stderr = %stderr.trim(), "tpm2-tools command failed")
		}
		None => tracing::warn!(
			target: "tea::daemon",
			tool,
			timeout = ?TOOL_TIMEOUT,
			"tpm2-tools command did not finish (another client holds the swtpm?); stopped it"
		),
	}
}

/// A free loopback port whose successor is free too (the swtpm TCTI's control port).
fn free_port_pair() -> std::io::Result<(u16, u16)> {
	for _ in 0..100 {
		let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
		if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
			return Ok((port, port + 1));
		}
	}
	Err(std::io::Error::other("no two consecutive free ports"))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn only_a_running_swtpm_child_is_adopted() {
		let own = std::process::id();
		for hostile in [
			String::new(),
			"nonsense".into(),
			"-1:swtpm:host=127.0.0.1,port=1".into(),
			// init: not a child of this process, not a swtpm
			"1:swtpm:host=127.0.0.1,port=1".into(),
			// this process: not a swtpm, and stopping it would signal the worker itself
			format!("{own}:swtpm:host=127.0.0.1,port=1"),
			format!("{own}:device:/dev/tpmrm0"),
		] {
			let err = ManagedSwtpm::adopt(&hostile).err().expect("refused");
			assert!(err.0.contains("not a swtpm this process started"), "{hostile}: {}", err.0);
		}
	}
}
