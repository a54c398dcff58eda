// Helpers for the end-to-end tests: start real tea-node / tea-worker processes on free
// loopback ports with temporary base paths, wait for chain progress, and stop every process
// by PID at the end, even when a test fails.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiPromise, WsProvider } from '@polkadot/api';

const targetDir = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/tea-target');
export const BIN = process.env.TEA_BIN ?? join(targetDir, 'debug');
export const TEA_NODE = join(BIN, 'tea-node');
export const TEA_WORKER = join(BIN, 'tea-worker');

const children = new Set();
const tempDirs = new Set();

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
// Last line of defence: never leave a node behind, whatever way the test process ends.
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `tea-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/**
 * Starts a tea-node. Returns { child, ws, rpcPort, p2pPort, promPort, log, stop() }.
 * `args` are extra CLI arguments (e.g. ['--dev'] or ['--chain', 'local', '--alice']).
 */
export async function startNode(name, args) {
  const [rpcPort, p2pPort, promPort] = [await freePort(), await freePort(), await freePort()];
  const base = tempDir(name);
  const log = join(base, 'node.log');
  const argv = [
    ...args,
    '--base-path', base,
    '--rpc-port', String(rpcPort),
    '--prometheus-port', String(promPort),
    '--no-telemetry', '--no-mdns',
    '--listen-addr', `/ip4/127.0.0.1/tcp/${p2pPort}`,
  ];
  const spawnNode = () => {
    const out = createWriteStream(log, { flags: 'a' });
    const child = spawn(TEA_NODE, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    children.add(child);
    return child;
  };
  const node = {
    name, child: spawnNode(), base, log, rpcPort, p2pPort, promPort,
    ws: `ws://127.0.0.1:${rpcPort}`,
    stop: () => stop(node.child),
    /** Stops the node (SIGTERM) and starts it again on the same base path and ports. */
    restart: async () => { await stop(node.child); node.child = spawnNode(); },
    logTail: (n = 40) => {
      try { return readFileSync(log, 'utf8').split('\n').slice(-n).join('\n'); } catch { return ''; }
    },
  };
  return node;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) { children.delete(child); return; }
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { } }, 10_000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

export async function stopAll() {
  await Promise.all([...children].map(stop));
  killAll();
}

/** Connects @polkadot/api, retrying while the node starts (its runtime is compiled first). */
export async function connect(node, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (node.child.exitCode !== null) {
      throw new Error(`${node.name} exited with ${node.child.exitCode}:\n${node.logTail()}`);
    }
    if (await rpcAlive(node.rpcPort)) {
      const provider = new WsProvider(node.ws, false);
      await provider.connect();
      return ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
    }
    if (Date.now() > deadline) throw new Error(`${node.name}: RPC not up in ${timeoutMs} ms:\n${node.logTail()}`);
    await sleep(500);
  }
}

async function rpcAlive(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 1, jsonrpc: '2.0', method: 'system_health', params: [] }),
    });
    return res.ok;
  } catch { return false; }
}

/** Waits until the node has finalized at least block `n`; returns the finalized number. */
export async function waitFinalized(api, n, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const head = await api.rpc.chain.getFinalizedHead();
    const header = await api.rpc.chain.getHeader(head);
    const num = header.number.toNumber();
    if (num >= n) return num;
    if (Date.now() > deadline) throw new Error(`finalized only #${num} of #${n} in ${timeoutMs} ms`);
    await sleep(1000);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs tea-worker synchronously; returns { status, stdout, stderr }. */
export function worker(args, timeoutMs = 60_000) {
  const res = spawnSync(TEA_WORKER, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Runs tea-node synchronously (for subcommands and bad-input checks). */
export function teaNode(args, timeoutMs = 120_000) {
  const res = spawnSync(TEA_NODE, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Sends `tx` signed by `signer`; resolves with the block's events of this extrinsic, rejects
 * with `pallet.Error` text on a dispatch error. */
export async function send(api, tx, signer) {
  // The genesis and worker daemons sign with the same dev accounts: a transaction sent from
  // here can race one of theirs for a nonce (the pool refuses it with 1014 or as outdated, or
  // drops it once theirs wins). Sent again, it takes the next nonce. A dispatch error (an
  // included transaction that failed: `pallet.Error`) is never sent again.
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendOnce(api, tx, signer);
    } catch (e) {
      const pool = /1014|Priority is too low|1010|outdated|^Error: pool: /i.test(`${e}`);
      if (attempt >= 3 || !pool) throw e;
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

function sendOnce(api, tx, signer, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    let unsub;
    const done = (f, x) => { clearTimeout(timer); if (unsub) unsub(); f(x); };
    const timer = setTimeout(() => done(reject, new Error(`not in a block within ${timeoutMs} ms`)), timeoutMs);
    tx.signAndSend(signer, (result) => {
      if (result.dispatchError) {
        const e = result.dispatchError;
        let text = e.toString();
        if (e.isModule) {
          const meta = api.registry.findMetaError(e.asModule);
          text = `${meta.section}.${meta.name}`;
        }
        done(reject, new Error(text));
      } else if (result.status.isInBlock) {
        done(resolve, result.events.map(({ event }) => event));
      } else if (result.status.isInvalid || result.status.isDropped || result.status.isUsurped) {
        done(reject, new Error(`pool: ${result.status.type}`));
      }
    }).then((u) => { unsub = u; }, (e) => done(reject, e));
  });
}

/** Resolves with the first event `section.method` for which `filter(event)` holds. */
export function nextEvent(api, section, method, filter = () => true, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    let unsub;
    const timer = setTimeout(() => {
      if (unsub) unsub();
      reject(new Error(`no ${section}.${method} event within ${timeoutMs} ms`));
    }, timeoutMs);
    api.query.system.events((records) => {
      for (const { event } of records) {
        if (event.section === section && event.method === method && filter(event)) {
          clearTimeout(timer);
          if (unsub) unsub();
          resolve(event);
          return;
        }
      }
    }).then((u) => { unsub = u; }, reject);
  });
}

/** Submits `tx` unsigned (no account, no fee); resolves with the events of its block, rejects if
 * the pool refuses it or it fails. */
export function sendUnsigned(api, tx) {
  return new Promise((resolve, reject) => {
    let unsub;
    tx.send((result) => {
      if (result.dispatchError) {
        if (unsub) unsub();
        reject(new Error(result.dispatchError.toString()));
      } else if (result.status.isInBlock) {
        if (unsub) unsub();
        resolve({ events: result.events.map(({ event }) => event), block: result.status.asInBlock });
      }
    }).then((u) => { unsub = u; }, reject);
  });
}

/** A council motion as DAO members make it in polkadot.js apps (Governance → Council →
 * Motions): `proposer` proposes `call` needing `threshold` ayes, everyone in `ayes` votes aye
 * (the proposer must vote too), and `closer` closes it. Resolves with the events of the close,
 * rejects if the motion did not execute successfully. */
export async function motion(api, call, proposer, ayes, closer, threshold = 2) {
  const length = call.method.encodedLength;
  const proposed = (await send(api, api.tx.council.propose(threshold, call, length), proposer))
    .find((e) => e.section === 'council' && e.method === 'Proposed');
  if (!proposed) throw new Error('no council.Proposed event');
  const [, index, hash] = proposed.data;
  for (const voter of ayes) await send(api, api.tx.council.vote(hash, index, true), voter);
  const weight = { refTime: 1_000_000_000_000n, proofSize: 1_000_000n };
  const closed = await send(api, api.tx.council.close(hash, index, weight, length), closer);
  const executed = closed.find((e) => e.section === 'council' && e.method === 'Executed');
  if (!executed) throw new Error(`motion not executed: ${closed.map((e) => `${e.section}.${e.method}`)}`);
  if (executed.data[1].isErr) {
    const e = executed.data[1].asErr;
    const meta = e.isModule ? api.registry.findMetaError(e.asModule) : null;
    throw new Error(`motion failed: ${meta ? `${meta.section}.${meta.name}` : e.toString()}`);
  }
  return closed;
}

/** A local CA (swtpm_localca: root and issuing CA, created on first use), the development
 * stand-in for a TPM vendor's EK CA. `issuerCert` is the certificate whose key governance
 * allowlists. */
export function localCa(name) {
  const dir = tempDir(`ca-${name}`);
  const ca = join(dir, 'ca');
  mkdirSync(ca);
  writeFileSync(join(dir, 'localca.conf'), `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\n`
    + `issuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`);
  writeFileSync(join(dir, 'setup.conf'), 'create_certs_tool = swtpm_localca\n'
    + `create_certs_tool_config = ${join(dir, 'localca.conf')}\n`
    + 'create_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n');
  return { setupConf: join(dir, 'setup.conf'), issuerCert: join(ca, 'issuercert.pem') };
}

/** Starts a long-running `tea-worker` (stopped by `stopAll`); resolves with the child and its
 * first stdout line parsed as JSON once it prints one. Later JSON lines arrive through
 * `lines` (an array) and `nextLine()`. */
export async function startWorker(name, args, timeoutMs = 60_000) {
  const child = spawn(TEA_WORKER, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TEA_LOG: process.env.TEA_LOG ?? 'info' } });
  children.add(child);
  // TEA_E2E_LOGS=DIR keeps every worker's log there (temporary directories are removed).
  const logDir = process.env.TEA_E2E_LOGS ?? tempDir(`worker-${name}`);
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, process.env.TEA_E2E_LOGS ? `${name}.log` : 'worker.log'));
  child.stderr.pipe(log);
  let stderrTail = '';
  child.stderr.on('data', (d) => { stderrTail = (stderrTail + d).slice(-4000); });
  const lines = [];
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const json = JSON.parse(line);
      lines.push(json);
    }
  });
  const nextLine = (i, ms = timeoutMs) => new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (lines.length > i) return resolve(lines[i]);
      if (child.exitCode !== null) return reject(new Error(`tea-worker ${name} exited ${child.exitCode}: ${stderrTail}`));
      if (Date.now() - started > ms) return reject(new Error(`tea-worker ${name}: no output line ${i} within ${ms} ms: ${stderrTail}`));
      setTimeout(tick, 100);
    };
    tick();
  });
  return { child, lines, nextLine, stderr: () => stderrTail };
}

/** Starts a software TPM (swtpm) on free loopback ports with its own state directory; resolves
 * with its TCTI string once it accepts connections and booted the development way. Stopped with the nodes by `stopAll`. With
 * `ca` (from `localCa`), the TPM is first manufactured by swtpm_setup with an RSA 2048 EK
 * certificate that CA signed, in NV as a vendor would leave it. */
export async function startSwtpm(name, ca) {
  // The swtpm TCTI expects the control port right after the server port.
  let port;
  for (;;) {
    port = await freePort();
    if (port < 65535 && await new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port + 1, '127.0.0.1', () => srv.close(() => resolve(true)));
    })) break;
  }
  const ctrl = port + 1;
  const state = tempDir(`swtpm-${name}`);
  if (ca) {
    const res = spawnSync('swtpm_setup', ['--tpm2', '--createek', '--create-ek-cert', '--overwrite',
      '--tpmstate', state, '--config', ca.setupConf], { encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) throw new Error(`swtpm_setup ${name}: ${res.stderr}`);
  }
  const child = spawn('swtpm', ['socket', '--tpm2',
    '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
    '--ctrl', `type=tcp,port=${ctrl},bindaddr=127.0.0.1`,
    '--tpmstate', `dir=${state}`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
  children.add(child);
  for (let i = 0; i < 100; i++) {
    if (await portOpen(port)) {
      // Booted the development way (PCRs 0-7), as the dev chains' policy expects.
      const tcti = `swtpm:host=127.0.0.1,port=${port}`;
      const boot = worker(['tpm', 'dev-boot', '--tpm', tcti]);
      if (boot.status !== 0) throw new Error(`tea-worker tpm dev-boot ${name}: ${boot.stderr}`);
      return tcti;
    }
    await sleep(50);
  }
  throw new Error(`swtpm ${name} did not listen on ${port}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function portOpen(port) {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
