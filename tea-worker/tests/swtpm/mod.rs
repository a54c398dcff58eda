//! Software TPMs for tests: each test starts its own swtpm on a free loopback port with its own
//! state directory (installed by `scripts/setup.sh`), optionally provisioned by `swtpm_setup`
//! with an EK certificate from a local CA (`swtpm_localca`, the development stand-in for a TPM
//! vendor's CA).
#![allow(dead_code)]

use std::{
	net::{TcpListener, TcpStream},
	path::Path,
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// A running swtpm, killed on drop.
pub struct Swtpm {
	child: Child,
	/// Its TCTI string.
	pub tcti: String,
	_state: tempfile::TempDir,
}

impl Drop for Swtpm {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A free port whose successor is free too: the swtpm TCTI expects the control port at
/// `port + 1`.
fn free_port_pair() -> (u16, u16) {
	loop {
		let port = free_port();
		if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
			return (port, port + 1);
		}
	}
}

pub fn swtpm() -> Swtpm {
	start(tempfile::tempdir().unwrap())
}

fn start(state: tempfile::TempDir) -> Swtpm {
	let (port, ctrl) = free_port_pair();
	let child = Command::new("swtpm")
		.args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
		.arg("--server")
		.arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
		.arg("--ctrl")
		.arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
		.arg("--tpmstate")
		.arg(format!("dir={}", state.path().display()))
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.expect("swtpm is installed (scripts/setup.sh)");
	let started = Instant::now();
	while TcpStream::connect(("127.0.0.1", port)).is_err() {
		assert!(started.elapsed() < Duration::from_secs(10), "swtpm did not start");
		std::thread::sleep(Duration::from_millis(20));
	}
	Swtpm { child, tcti: format!("swtpm:host=127.0.0.1,port={port}"), _state: state }
}

/// A local CA (swtpm_localca's root and issuing CA, created on first use).
pub struct LocalCa {
	dir: tempfile::TempDir,
}

impl LocalCa {
	pub fn new() -> Self {
		let dir = tempfile::tempdir().unwrap();
		let ca = dir.path().join("ca");
		std::fs::create_dir(&ca).unwrap();
		let d = ca.display();
		std::fs::write(
			dir.path().join("localca.conf"),
			format!(
				"statedir = {d}\nsigningkey = {d}/signkey.pem\nissuercert = {d}/issuercert.pem\n\
				 certserial = {d}/certserial\n"
			),
		)
		.unwrap();
		std::fs::write(
			dir.path().join("setup.conf"),
			format!(
				"create_certs_tool = swtpm_localca\ncreate_certs_tool_config = {}\n\
				 create_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n",
				dir.path().join("localca.conf").display()
			),
		)
		.unwrap();
		Self { dir }
	}

	/// A swtpm whose RSA 2048 EK this CA certified (written to NV by swtpm_setup).
	pub fn swtpm(&self) -> Swtpm {
		let state = tempfile::tempdir().unwrap();
		manufacture(state.path(), &self.dir.path().join("setup.conf"));
		start(state)
	}

	/// The issuing CA's certificate (PEM): what governance allowlists the key of.
	pub fn issuer_cert(&self) -> std::path::PathBuf {
		self.dir.path().join("ca/issuercert.pem")
	}
}

fn manufacture(state: &Path, config: &Path) {
	let out = Command::new("swtpm_setup")
		.args(["--tpm2", "--createek", "--create-ek-cert", "--overwrite", "--tpmstate"])
		.arg(state)
		.arg("--config")
		.arg(config)
		.output()
		.expect("swtpm_setup is installed (scripts/setup.sh)");
	assert!(out.status.success(), "swtpm_setup: {}", String::from_utf8_lossy(&out.stderr));
}
