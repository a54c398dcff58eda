//! `tea-worker run` and `tea-worker config show` as an operator uses them, on the real binary:
//! configuration errors are one line and exit code 2; the effective configuration hides the
//! operator's secret; a managed swtpm is manufactured under the data dir and stops with the
//! daemon; a daemon without a chain keeps retrying and stops on SIGTERM.

use std::{
	io::{BufRead, BufReader},
	process::{Command, Stdio},
	time::{Duration, Instant},
};

fn worker(args: &[&str]) -> std::process::Output {
	Command::new(env!("CARGO_BIN_EXE_tea-worker"))
		.args(args)
		.env_remove("TEA_OPERATOR_KEY")
		.env_remove("TEA_CONFIG")
		.output()
		.unwrap()
}

#[test]
fn misconfigurations_are_one_line_and_exit_code_2() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("worker.toml");
	std::fs::write(&config, "operator = \"//Dave\"\nlisten = [\"not an address\"]\n").unwrap();
	let cases: [(Vec<&str>, &str); 4] = [
		(vec!["run", "--tpm", "swtpm"], "`operator`: missing"),
		(vec!["run", "--config", config.to_str().unwrap()], "`listen`"),
		(vec!["run", "--operator", "//Dave", "--tpm", "bogus:x"], "`tpm`"),
		(vec!["config", "show", "--config", "/nonexistent.toml"], "cannot read /nonexistent.toml"),
	];
	for (args, wanted) in cases {
		let out = worker(&args);
		let stderr = String::from_utf8_lossy(&out.stderr);
		assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
		assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
		assert!(stderr.contains(wanted), "{args:?}: {stderr}");
	}
}

#[test]
fn config_show_prints_the_effective_configuration_without_the_secret() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("worker.toml");
	std::fs::write(
		&config,
		"operator = \"//Dave\"\nchain = \"ws://127.0.0.1:1\"\ntpm = \"swtpm\"\n",
	)
	.unwrap();
	let out = Command::new(env!("CARGO_BIN_EXE_tea-worker"))
		.args(["config", "show", "--config", config.to_str().unwrap(), "--metrics", ""])
		.env("TEA_LAST_TRY", "7")
		.output()
		.unwrap();
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	let shown = String::from_utf8_lossy(&out.stdout);
	assert!(shown.contains("chain = \"ws://127.0.0.1:1\""), "{shown}");
	assert!(shown.contains("last_try = 7"), "the variable overrides the default: {shown}");
	assert!(shown.contains("metrics = \"\""), "the flag overrides the default: {shown}");
	assert!(!shown.contains("//Dave"), "{shown}");
}

/// Whether any process's command line mentions `needle`.
fn running(needle: &str) -> bool {
	let out = Command::new("pgrep").args(["-f", needle]).output().unwrap();
	!String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

#[test]
fn a_daemon_without_its_chain_manufactures_its_swtpm_keeps_retrying_and_stops_on_sigterm_and_the_launcher_hands_it_over(
) {
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().join("node");
	let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
	let start = |command: &str, stderr: &str| {
		Command::new(env!("CARGO_BIN_EXE_tea-worker"))
			.args([command, "--operator", "//Dave", "--tpm", "swtpm", "--metrics", "127.0.0.1:0"])
			.args(["--api", "127.0.0.1:0"])
			.arg("--data-dir")
			.arg(&data)
			.arg("--chain")
			.arg(format!("ws://{closed}"))
			.args(["--log-format", "json"])
			.env("TEA_LOG", "info")
			.stdout(Stdio::piped())
			.stderr(std::fs::File::create(dir.path().join(stderr)).unwrap())
			.spawn()
			.unwrap()
	};
	let swtpm_dir = data.join("swtpm").display().to_string();
	let mut daemon = start("run", "stderr");
	let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
	let started: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
	let started = &started["started"];
	assert!(started["nodeId"].as_str().unwrap().starts_with("0x"), "{started}");
	assert!(data.join("swtpm/tpm2-00.permall").exists(), "manufactured under the data dir");
	assert!(running(&swtpm_dir), "the managed swtpm runs");
	// No chain: /health says so while the daemon keeps retrying.
	let metrics = started["metrics"].as_str().unwrap().trim_start_matches("http://");
	let health = metrics.replace("/metrics", "/health");
	let (addr, path) = health.split_once('/').unwrap();
	let answer = http_get(addr, &format!("/{path}"));
	assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
	assert!(answer.contains("\"chain\":false"), "{answer}");
	let text = http_get(addr, "/metrics");
	assert!(text.contains("tea_worker_chain_connected 0"), "{text}");
	// The local invocation API answers; nothing may run before the chain was read.
	let api = started["api"].as_str().unwrap().trim_start_matches("http://");
	let (api_addr, _) = api.split_once('/').unwrap();
	let listed = http_get(api_addr, "/v1/actors");
	assert!(
		listed.starts_with("HTTP/1.1 200") && listed.ends_with("{\"releases\":[]}"),
		"{listed}"
	);

	unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
	let stopped = Instant::now();
	let status = daemon.wait().unwrap();
	assert!(status.success(), "{status}");
	assert!(stopped.elapsed() < Duration::from_secs(15), "{:?}", stopped.elapsed());
	std::thread::sleep(Duration::from_millis(300));
	assert!(!running(&swtpm_dir), "the swtpm stopped with the daemon");
	// --log-format json: every stderr line is a JSON object; the retries are among them.
	let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
	let lines: Vec<serde_json::Value> = log
		.lines()
		.map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
		.collect();
	assert!(
		lines.iter().any(|l| l["target"] == "tea::daemon"
			&& l["level"] == "WARN"
			&& l["message"] == "chain not reachable"
			&& l["retry_in"].is_string()),
		"{log}"
	);
	// Not started through the launcher: it says it will not attest.
	let not_launched = |l: &serde_json::Value| {
		l["message"].as_str().is_some_and(|m| m.starts_with("no launch is logged"))
	};
	assert!(lines.iter().any(not_launched), "{log}");

	// Started again on the same data dir, through the launcher: it measures the binary and
	// the configuration, starts the swtpm and executes the daemon in its own process, which
	// takes the swtpm over. The same TPM, hence the same node.
	let mut daemon = start("launch", "stderr-launched");
	let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
	let again: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
	assert_eq!(again["started"]["nodeId"], started["nodeId"]);
	assert!(running(&swtpm_dir), "the launcher's swtpm runs for the daemon");
	let log = std::fs::read_to_string(dir.path().join("stderr-launched")).unwrap();
	let lines: Vec<serde_json::Value> =
		log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
	let runtime = tea_worker::hex0x(
		&tea_worker::tpm::digest_of(std::fs::File::open(env!("CARGO_BIN_EXE_tea-worker")).unwrap())
			.unwrap(),
	);
	assert!(
		lines.iter().any(|l| l["message"] == "measured; executing it" && l["runtime"] == runtime),
		"{log}"
	);
	assert!(!lines.iter().any(not_launched), "{log}");
	// kill -9: the swtpm dies with it (the parent-death signal survived the exec).
	daemon.kill().unwrap();
	daemon.wait().unwrap();
	std::thread::sleep(Duration::from_millis(300));
	assert!(!running(&swtpm_dir), "the swtpm died with the daemon");
}

/// Review finding (session 13): a relaunch into a build that cannot start here (not an
/// executable for this machine, a `config show` that fails) ended the process, and after a
/// restart the node made the same decision again. The launcher records the failure and
/// launches its own build instead, measured, with the same swtpm.
#[test]
fn a_build_that_cannot_start_is_recorded_and_the_launcher_runs_its_own() {
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().join("node");
	let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
	// Not an executable: what a build for another machine is to this one.
	let build = dir.path().join("build");
	std::fs::write(&build, b"not an executable for this machine").unwrap();
	use std::os::unix::fs::PermissionsExt as _;
	std::fs::set_permissions(&build, std::fs::Permissions::from_mode(0o700)).unwrap();
	let digest = tea_worker::tpm::digest_of(std::fs::File::open(&build).unwrap()).unwrap();
	let mut daemon = Command::new(env!("CARGO_BIN_EXE_tea-worker"))
		.args(["launch", "--exec"])
		.arg(&build)
		.args(["--expect", &tea_worker::hex0x(&digest)])
		.args(["--operator", "//Dave", "--tpm", "swtpm", "--metrics", "", "--api", ""])
		.arg("--data-dir")
		.arg(&data)
		.arg("--chain")
		.arg(format!("ws://{closed}"))
		.args(["--log-format", "json"])
		.env("TEA_LOG", "info")
		.stdout(Stdio::piped())
		.stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
		.spawn()
		.unwrap();
	let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
	let started: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
	assert!(started["started"]["nodeId"].is_string(), "{started}");
	let record = data.join("builds").join(format!("{}.failed", tea_worker::hex0x(&digest)));
	let why = std::fs::read_to_string(&record).unwrap();
	assert!(why.contains("config show"), "{why}");
	unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
	assert!(daemon.wait().unwrap().success());
	let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
	let lines: Vec<serde_json::Value> =
		log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
	assert!(
		lines.iter().any(|l| l["message"] == "the build did not start; launching this one"),
		"{log}"
	);
	// Its own build, measured after the failed one: the daemon attests as launched.
	assert!(
		!lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("does not attest"))),
		"{log}"
	);
}

/// A plain HTTP/1.1 GET (the whole answer as text).
fn http_get(addr: &str, path: &str) -> String {
	use std::io::{Read, Write};
	let mut stream = std::net::TcpStream::connect(addr).unwrap();
	stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
	write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
	let mut answer = String::new();
	let _ = stream.read_to_string(&mut answer);
	answer
}
