// `scripts/run` end to end, as a new user runs it: a dev chain, the three genesis nodes' daemons
// and three workers with managed swtpms; the workers must be Active within 3 minutes of the
// command, their /metrics must answer, and Ctrl-C must leave no process behind.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { tempDir, freePort } from './lib.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
let run;

after(() => {
  if (run && run.exitCode === null) process.kill(-run.pid, 'SIGKILL');
});

/** A base port whose next `n` ports are free, below Linux's ephemeral range (32768-60999), so
 * that no outbound connection or swtpm of the network takes one of them meanwhile. */
async function freeRange(n) {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const probes = spawnSync('bash', ['-c', `for p in $(seq ${base} ${base + n - 1}); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && exit 1; done; exit 0`]);
    if (probes.status === 0) return base;
  }
}

test('scripts/run: three workers reach Active within 3 minutes, /metrics answers, Ctrl-C stops everything', async () => {
  const base = join(tempDir('run'), 'net');
  const env = {
    ...process.env,
    TEA_BASE_PATH: base,
    TEA_RPC_PORT: String(await freePort()),
    TEA_P2P_PORT: String(await freePort()),
    TEA_PROMETHEUS_PORT: String(await freePort()),
    ...await (async () => { const b = await freeRange(15); return { TEA_METRICS_PORT: String(b), TEA_API_PORT: String(b + 6), TEA_TASKS_PORT: String(b + 12) }; })(),
    TEA_WORKER_P2P_PORT: String(await freeRange(3)),
    TEA_ACTIVE_TIMEOUT: '240',
    // The same build environment as scripts/test's, so that scripts/run's build is a no-op.
    TEA_SPEC_BUMP_WASM: '1',
  };
  const started = Date.now();
  // Its own process group, so that Ctrl-C reaches the script as a terminal would send it.
  run = spawn(join(ROOT, 'scripts/run'), [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  run.stdout.on('data', (d) => { out += d; });
  run.stderr.on('data', (d) => { out += d; });
  const activeAfter = await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.match(/all 3 workers are Active after (\d+) s/);
      if (m) { clearInterval(timer); resolve(Date.now() - started); }
      if (/not all workers are Active/.test(out) || run.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`scripts/run: ${out.slice(-3000)}`));
      }
    }, 500);
  });
  console.log(`# scripts/run: workers Active ${Math.round(activeAfter / 1000)} s after the command`);
  assert.ok(activeAfter < 180_000, `Active after ${activeAfter} ms:\n${out}`);

  // The printed endpoints work: the chain agrees, every daemon's /metrics answers.
  assert.match(out, new RegExp(`ws://127.0.0.1:${env.TEA_RPC_PORT}`));
  const api = await ApiPromise.create({ provider: new WsProvider(`ws://127.0.0.1:${env.TEA_RPC_PORT}`), noInitWarn: true });
  const workers = [...out.matchAll(/worker-(Dave|Eve|Ferdie)\s+(0x[0-9a-f]{64})\s+(http:\S+)\s+(http:\S+)/g)];
  assert.equal(workers.length, 3, out);
  for (const [, name, id, metrics, invoke] of workers) {
    // The local invocation API answers: nothing is released on this fresh chain yet.
    const listed = await (await fetch(`${invoke}/actors`)).json();
    assert.deepEqual(listed, { releases: [] }, name);
    const info = (await api.query.nodes.nodes(id)).unwrap();
    assert.ok(info.state.isActive, `${name}: ${info.state}`);
    // The daemon reads finalized state once per block: allow it a few blocks.
    let text = '';
    for (let i = 0; i < 20 && !/tea_worker_node_state\{state="active"\} 1/.test(text); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1000));
      text = await (await fetch(metrics)).text();
    }
    assert.match(text, /tea_worker_node_state\{state="active"\} 1/, name);
  }
  // Each worker's client task API answers with the node a request must name and its receipt key.
  const tasks = [...out.matchAll(/worker-(Dave|Eve|Ferdie)\s+(http:\S+\/v1)$/gm)];
  assert.equal(tasks.length, 3, out);
  for (const [, name, url] of tasks) {
    const info = await (await fetch(`${url}/node`)).json();
    const id = workers.find(([, n]) => n === name)[2];
    assert.equal(info.nodeId, id, name);
    assert.match(info.receiptKey, /^0x[0-9a-f]{64}$/, name);
  }
  const genesis = [...out.matchAll(/genesis-(Alice|Bob|Charlie)\s+(0x[0-9a-f]{64})\s+(http:\S+)/g)];
  assert.equal(genesis.length, 3, out);
  for (const [, name, , metrics] of genesis) {
    const text = await (await fetch(metrics)).text();
    assert.match(text, /tea_worker_votes_total\{approve="true"\} [1-9]/, `${name} voted`);
  }
  await api.disconnect();

  // Ctrl-C: everything stops, nothing is left running under the network's directory.
  const exited = new Promise((r) => run.once('exit', (code, signal) => r({ code, signal })));
  process.kill(-run.pid, 'SIGINT');
  await exited;
  await new Promise((r) => setTimeout(r, 1000));
  const left = spawnSync('pgrep', ['-af', base], { encoding: 'utf8' }).stdout.trim();
  assert.equal(left, '', `processes left behind:\n${left}`);
});
