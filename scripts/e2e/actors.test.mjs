// pallet-tea-actors end to end against `tea-node --dev`, driven by @polkadot/api as a developer
// and a DAO member would: publish releases with real sr25519-signed manifests, watch the dev
// validator's off-chain worker fetch them from a local HTTP gateway and vote, revoke a grant.
// The dev chain's genesis nodes run as `tea-worker run` daemons during the rollout: the ones
// whose store lacks the release fetch it from a peer by CID once it may run on them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { stringToHex, stringToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import {
  startNode, connect, stopAll, send, nextEvent, worker, tempDir, motion, TEA_WORKER, startWorker,
} from './lib.mjs';
import { actorWasm, cidBytes, cidText } from './wasm.mjs';
import * as releases from './releases.mjs';

let node;
let api;
let gateway;
let alice;
let bob;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519' });
  alice = keyring.addFromUri('//Alice');
  bob = keyring.addFromUri('//Bob');

  node = await startNode('actors', ['--dev']);
  api = await connect(node);
  // The node operator points the off-chain worker at the gateway.
  gateway = await releases.startGateway(api);
});

after(async () => {
  if (api) await api.disconnect().catch(() => {});
  await stopAll();
  if (gateway) gateway.close();
});

const text = (bytes) => Buffer.from(bytes.toU8a(true)).toString('utf8');

const signedManifest = (...args) => releases.signedManifest(api, ...args);
const publish = (...args) => releases.publish(api, ...args);
const serve = (bytes, body = bytes) => gateway.serve(bytes, body);

test('built-in providers are registered at genesis and shown with their operations', async () => {
  const kv = (await api.query.actors.providers(stringToHex('tea:keyvalue'))).unwrap();
  assert.deepEqual(kv.operations.map(text), ['get', 'put', 'delete']);
  const names = (await api.query.actors.providers.keys()).map((k) => text(k.args[0])).sort();
  assert.deepEqual(names, ['tea:blob', 'tea:keyvalue', 'tea:log', 'tea:message', 'tea:random']);
  assert.equal((await api.query.actors.requiredApprovals()).toNumber(), 1);
});

test('a release with a signed manifest is fetched by CID, checked and validated off-chain', async () => {
  await send(api, api.tx.actors.registerActor(stringToHex('counter')), alice);
  const code = actorWasm([['tea:keyvalue', 'get']], 1);
  serve(code);
  const validated = nextEvent(api, 'actors', 'ReleaseValidated', (e) => text(e.data[0]) === 'counter');
  const events = await publish(alice, 'counter', 1, code, [['tea:keyvalue', ['get']]]);
  const published = events.find((e) => e.section === 'actors' && e.method === 'ReleasePublished');
  assert.ok(published, 'ReleasePublished event');
  assert.equal(u8aToHex(published.data[2].toU8a(true)), u8aToHex(cidBytes(code)));

  await validated;
  assert.ok(gateway.requests.includes(`/ipfs/${cidText(code)}`), `gateway saw ${gateway.requests}`);
  const release = (await api.query.actors.releases(stringToHex('counter'), 1)).unwrap();
  assert.equal(release.status.type, 'Validated');
  assert.equal(release.approvals.length, 1);
  assert.equal((await api.query.actors.pendingValidation()).length, 0);
});

test('an import the manifest does not grant gets the release rejected with the reason', async () => {
  // Granted tea:keyvalue/get, imports tea:keyvalue/put as well.
  const code = actorWasm([['tea:keyvalue', 'get'], ['tea:keyvalue', 'put']], 2);
  serve(code);
  const rejected = nextEvent(api, 'actors', 'ReleaseRejected', (e) => text(e.data[0]) === 'counter' && e.data[1].toNumber() === 2);
  await publish(alice, 'counter', 2, code, [['tea:keyvalue', ['get']]]);
  const event = await rejected;
  const reason = event.data[3];
  assert.equal(reason.type, 'UngrantedImport');
  assert.equal(text(reason.asUngrantedImport.provider), 'tea:keyvalue');
  assert.equal(text(reason.asUngrantedImport.operation), 'put');
  const release = (await api.query.actors.releases(stringToHex('counter'), 2)).unwrap();
  assert.equal(release.status.type, 'Rejected');
});

test('bytes that do not hash to the CID get the release rejected', async () => {
  const code = actorWasm([], 3);
  const evil = actorWasm([], 4);
  serve(code, evil);
  const rejected = nextEvent(api, 'actors', 'ReleaseRejected', (e) => e.data[1].toNumber() === 3);
  await publish(alice, 'counter', 3, code, []);
  assert.equal((await rejected).data[3].type, 'HashMismatch');
});

test('bad manifests are refused with specific errors and change nothing', async () => {
  const code = actorWasm([], 5);
  const before = (await api.query.actors.actors(stringToHex('counter'))).unwrap().releases.toNumber();
  // Signed by Bob, claims Alice as developer.
  const { manifest } = signedManifest(alice, 'counter', 9, code, []);
  const payload = u8aConcat(stringToU8a('tea/manifest/v1'), manifest.toU8a());
  const forged = { Sr25519: u8aToHex(bob.sign(payload)) };
  await assert.rejects(send(api, api.tx.actors.publishRelease(manifest, forged, code.length), alice), /actors\.BadSignature/);
  await assert.rejects(publish(alice, 'counter', 1, code, []), /actors\.VersionNotIncreasing/);
  await assert.rejects(publish(alice, 'counter', 9, code, [['tea:shell', ['exec']]]), /actors\.UnknownProvider/);
  await assert.rejects(publish(alice, 'counter', 9, code, [['tea:keyvalue', ['drop']]]), /actors\.UnknownOperation/);
  await assert.rejects(publish(bob, 'counter', 9, code, []), /actors\.NotActorOwner/);
  const after = (await api.query.actors.actors(stringToHex('counter'))).unwrap().releases.toNumber();
  assert.equal(after, before);
});

test('the developer revokes a grant; storage and the event say so', async () => {
  const events = await send(api, api.tx.actors.revokeGrant(stringToHex('counter'), 1, stringToHex('tea:keyvalue')), alice);
  const revoked = events.find((e) => e.section === 'actors' && e.method === 'GrantRevoked');
  assert.ok(revoked, 'GrantRevoked event');
  assert.equal(revoked.data[3].isTrue, false, 'not by governance');
  const release = (await api.query.actors.releases(stringToHex('counter'), 1)).unwrap();
  assert.ok(release.grants[0].revokedAt.isSome);
  await assert.rejects(
    send(api, api.tx.actors.revokeGrant(stringToHex('counter'), 1, stringToHex('tea:keyvalue')), alice),
    /actors\.GrantAlreadyRevoked/,
  );
  // Governance (sudo on the dev chain) revokes the whole release.
  const sudoEvents = await send(api, api.tx.sudo.sudo(api.tx.actors.revokeRelease(stringToHex('counter'), 1)), alice);
  assert.ok(sudoEvents.some((e) => e.section === 'actors' && e.method === 'ReleaseRevoked'));
});

test('a manifest signed by `tea-worker actor sign` verifies on chain (the worker and the pallet agree)', async () => {
  const dir = tempDir('sign');
  const code = actorWasm([['tea:log', 'write']], 9);
  const file = join(dir, 'logger.wasm');
  writeFileSync(file, code);
  const pack = worker(['actor', 'pack', file, '--data-dir', dir]);
  assert.equal(pack.status, 0, pack.stderr);
  const cid = pack.stdout.trim();
  assert.equal(cid, cidText(code));

  const manifestFile = join(dir, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify({
    actor: 'logger',
    version: 1,
    cid,
    grants: [{ provider: 'tea:log', operations: ['write'], limits: { maxMemoryPages: 16, maxFuelPerCall: 1000000 }, expiresAt: null }],
  }));
  const sign = worker(['actor', 'sign', '--manifest', manifestFile, '--key', '//Bob']);
  assert.equal(sign.status, 0, sign.stderr);
  const signed = JSON.parse(sign.stdout);
  assert.equal(signed.manifest.developer, bob.address);

  await send(api, api.tx.actors.registerActor(stringToHex('logger')), bob);
  const type = api.tx.actors.publishRelease.meta.args[0].type.toString();
  const manifest = api.createType(type, {
    developer: signed.manifest.developer,
    actor: stringToHex(signed.manifest.actor),
    version: signed.manifest.version,
    cid: u8aToHex(cidBytes(code)),
    grants: signed.manifest.grants.map((g) => ({
      provider: stringToHex(g.provider),
      operations: g.operations.map(stringToHex),
      limits: g.limits,
      expiresAt: g.expiresAt,
    })),
  });
  serve(code);
  const validated = nextEvent(api, 'actors', 'ReleaseValidated', (e) => text(e.data[0]) === 'logger');
  const events = await send(api, api.tx.actors.publishRelease(manifest, { Sr25519: signed.signature }, code.length), bob);
  assert.ok(events.some((e) => e.section === 'actors' && e.method === 'ReleasePublished'));
  await validated;
});

test('the elected committee governs providers: a 2/3 motion passes, a minority and outsiders fail', async () => {
  const keyring = new Keyring({ type: 'sr25519' });
  const charlie = keyring.addFromUri('//Charlie');
  const dave = keyring.addFromUri('//Dave');
  const members = (await api.query.council.members()).map((m) => m.toString()).sort();
  assert.deepEqual(members, [alice.address, bob.address, charlie.address].sort());
  const elected = (await api.query.elections.members()).map((m) => m.who.toString()).sort();
  assert.deepEqual(elected, members, 'the council is the elected committee');

  const proposal = api.tx.actors.registerProvider(stringToHex('tea:clock'), u8aToHex(cidBytes(stringToU8a('tea:clock/v1'))), [stringToHex('now')], 1);
  const length = proposal.method.encodedLength;

  // An outsider cannot propose.
  await assert.rejects(send(api, api.tx.council.propose(2, proposal, length), dave), /council\.NotMember/);
  // A minority motion (threshold 1 executes at once with 1 of 3) is refused by the 2/3 origin.
  const minority = await send(api, api.tx.council.propose(1, proposal, length), alice);
  const executedMinority = minority.find((e) => e.section === 'council' && e.method === 'Executed');
  assert.ok(executedMinority, 'minority motion executed');
  assert.ok(executedMinority.data[1].isErr, 'and failed: 1/3 is not 2/3');
  assert.ok((await api.query.actors.providers(stringToHex('tea:clock'))).isNone);

  // Alice proposes; Alice and Bob vote aye; anyone closes: 2 of 3 ayes is two thirds.
  const proposed = (await send(api, api.tx.council.propose(2, proposal, length), alice))
    .find((e) => e.section === 'council' && e.method === 'Proposed');
  const [, index, hash] = proposed.data;
  await send(api, api.tx.council.vote(hash, index, true), alice);
  // One aye is not enough yet: closing early is refused.
  const weight = { refTime: 1_000_000_000_000n, proofSize: 1_000_000n };
  await assert.rejects(send(api, api.tx.council.close(hash, index, weight, length), charlie), /council\.TooEarly/);
  await send(api, api.tx.council.vote(hash, index, true), bob);
  const closed = await send(api, api.tx.council.close(hash, index, weight, length), charlie);
  const executed = closed.find((e) => e.section === 'council' && e.method === 'Executed');
  assert.ok(executed && executed.data[1].isOk, `motion executed: ${executed && executed.data[1].toString()}`);
  assert.ok(closed.some((e) => e.section === 'actors' && e.method === 'ProviderRegistered'));
  const clock = (await api.query.actors.providers(stringToHex('tea:clock'))).unwrap();
  assert.deepEqual(clock.operations.map(text), ['now']);
});

test('a council motion approves a validated release with a rollout plan and its first tier opens', async () => {
  const keyring = new Keyring({ type: 'sr25519' });
  const charlie = keyring.addFromUri('//Charlie');
  await send(api, api.tx.actors.registerActor(stringToHex('analytics')), bob);
  // Its `tea_run` writes an (empty) log line through its grant, then returns 7 zero bytes.
  const code = actorWasm([['tea:log', 'write']], 7, { callFirst: true });
  serve(code);
  const validated = nextEvent(api, 'actors', 'ReleaseValidated', (e) => text(e.data[0]) === 'analytics');
  await publish(bob, 'analytics', 1, code, [['tea:log', ['write']]]);
  await validated;

  // What a DAO member fills in on the apps UI's "propose motion" form. The dev chain's tiers
  // hold its three genesis nodes, which have no worker behind them to prove the upgrade: each
  // misses its deadline, and a 100% failure threshold lets the rollout complete regardless.
  const plan = { tiers: [{ share: 20, wait: 2 }, { share: 80, wait: 3 }], maxFailure: 100 };
  const approve = api.tx.upgrades.approveRelease(stringToHex('analytics'), 1, plan);
  // Tiers that do not sum to 100% are refused (a direct call shows the error; the origin
  // check comes first, so it goes through sudo on the dev chain).
  const bad = api.tx.upgrades.approveRelease(stringToHex('analytics'), 1, { ...plan, tiers: [{ share: 20, wait: 2 }] });
  const sudid = (await send(api, api.tx.sudo.sudo(bad), alice)).find((e) => e.section === 'sudo' && e.method === 'Sudid');
  const error = api.registry.findMetaError(sudid.data[0].asErr.asModule);
  assert.equal(`${error.section}.${error.name}`, 'upgrades.SharesNot100');

  // The dev chain's three genesis nodes as `tea-worker run` daemons: only Alice's store holds
  // the release; the others fetch it from a peer once it may run on them (rolling in their
  // tier, then active), at the addresses the nodes published on chain.
  for (const name of ['Alice', 'Bob', 'Charlie']) {
    const dataDir = tempDir(`genesis-${name}`);
    if (name === 'Alice') {
      const file = join(dataDir, 'analytics.wasm');
      writeFileSync(file, code);
      const packed = worker(['actor', 'pack', file, '--data-dir', dataDir]);
      assert.equal(packed.stdout.trim(), cidText(code), packed.stderr);
    }
    const d = await startWorker(`genesis-${name}`, ['run', '--chain', node.ws, '--data-dir', dataDir,
      '--genesis', name, '--tpm', 'swtpm', '--metrics', '127.0.0.1:0', '--api', '127.0.0.1:0'], 120_000);
    const { started } = await d.nextLine(0, 120_000);
    genesis[name] = { ...d, dataDir, started };
  }
  // Each publishes where it listens before the rollout starts.
  for (const d of Object.values(genesis)) {
    await lineOf(d, (l) => l.announced, 1, 60_000);
  }

  // Alice proposes; Bob and Charlie vote aye; Alice closes.
  const closed = await motion(api, approve, alice, [bob, charlie], alice);
  const started = closed.find((e) => e.section === 'upgrades' && e.method === 'RolloutStarted');
  assert.ok(started, `rollout started: ${closed.map((e) => `${e.section}.${e.method}`)}`);
  const rollout = started.data[0].toNumber();
  const opened = closed.find((e) => e.section === 'upgrades' && e.method === 'TierOpened');
  assert.ok(opened, 'the first tier opened');
  assert.equal(opened.data[0].toNumber(), rollout);
  assert.equal(opened.data[1].toNumber(), 0);
  const stored = (await api.query.upgrades.rollouts(rollout)).unwrap();
  assert.equal(stored.state.type, 'Running');
  assert.equal(stored.state.asRunning.tier.toNumber(), 0);
  assert.equal(stored.state.asRunning.deadline.toNumber(), opened.data[3].toNumber());
  assert.deepEqual(stored.tiers.map((t) => t.tier.share.toNumber()), [20, 80]);
  const release = (await api.query.actors.releases(stringToHex('analytics'), 1)).unwrap();
  assert.equal(release.status.type, 'Rolling');
  // A second rollout of the same actor is refused while this one is live.
  await assert.rejects(motion(api, approve, alice, [alice, bob], charlie), /upgrades\.ReleaseNotValidated/);
  analytics = { code, rollout };
});

let analytics;
/** The genesis nodes' daemons, by name. */
const genesis = {};

/** The first line at or after `from` of daemon `w` that `pick` accepts. */
async function lineOf(w, pick, from = 1, ms = 150_000) {
  for (let i = from; ; i++) {
    const line = await w.nextLine(i, ms);
    if (pick(line)) return line;
  }
}

/** POSTs `input` to daemon `d`'s local invocation API at `path`; resolves with status and JSON. */
async function invoke(d, path, input = 'hello') {
  const r = await fetch(`${d.started.api}${path}`, { method: 'POST', body: input });
  return { status: r.status, body: await r.json() };
}

/** Whether node `nodeId` may run analytics v1 at block `number` by the chain's state there:
 * it is Active, or Rolling (or in its grace period) with an open tier at or past the node's. */
async function mayRunAt(number, rollout, nodeId) {
  const at = await api.at(await api.rpc.chain.getBlockHash(number));
  const release = (await at.query.actors.releases(stringToHex('analytics'), 1)).unwrap();
  if (release.status.isActive) return true;
  if (!release.status.isRolling) return false;
  const state = (await at.query.upgrades.rollouts(rollout)).unwrap().state;
  const open = state.isRunning ? state.asRunning.tier.toNumber() : state.isFrozen ? state.asFrozen.tier.toNumber()
    : state.isGrace || state.isCompleted ? Infinity : -1;
  const assignment = await at.query.upgrades.assignments(rollout, nodeId);
  return assignment.isSome && assignment.unwrap().tier.toNumber() <= open;
}

/** Runs `tea-worker args` in the background; resolves with its exit code and output. */
function watchUntil(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(TEA_WORKER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Calls `f` every 2 s until `done(result)` holds, at most 30 times; returns the last result. */
async function retry(f, done) {
  let result;
  for (let i = 0; i < 30; i++) {
    result = f();
    if (done(result)) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  return result;
}

test('tea-worker runs a release only once the chain made it active, and stops when it is revoked', async () => {
  const { code, rollout } = analytics;
  const dir = tempDir('chain-grants');
  const file = join(dir, 'analytics.wasm');
  writeFileSync(file, code);
  const run = () => worker(['actor', 'run', file, 'hello', '--chain', node.ws, '--data-dir', dir]);

  // Rolling out, and this worker has no node id: refused with the reason.
  const completed = nextEvent(api, 'upgrades', 'RolloutCompleted', (e) => e.data[0].toNumber() === rollout);
  const early = run();
  assert.notEqual(early.status, 0, early.stdout);
  assert.match(early.stderr, /release analytics v1 is rolling out/);
  const unknown = worker(['actor', 'run', file, '--chain', node.ws, '--node-id', '0x12', '--data-dir', dir]);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /--node-id "0x12" is not 0x and 64 hex digits/);
  // The canary tier's node (one of the three: ⌈3 · 20%⌉) may run it while it rolls out.
  const assigned = await api.query.upgrades.assignments.entries(rollout);
  assert.equal(assigned.length, 3, 'the three dev nodes are assigned');
  const canary = assigned.find(([, a]) => a.unwrap().tier.toNumber() === 0)[0].args[1].toHex();
  // Meanwhile every daemon's local invocation API runs analytics by name only once the chain
  // lets its node run it, by the state of the very block it ran under: the canary's first,
  // while it rolls out, then every node's once it is Active.
  const ranAt = {};
  let polling = true;
  const pollUntil = Date.now() + 300_000;
  const polled = (async () => {
    while (polling && Date.now() < pollUntil) {
      for (const [name, d] of Object.entries(genesis)) {
        const { status, body } = await invoke(d, '/actors/analytics');
        if (status === 200) {
          assert.equal(body.cid, cidText(code), JSON.stringify(body));
          assert.equal(body.version, 1);
          assert.equal(body.output, '0x00000000000000', 'what the release returns (7 bytes)');
          assert.ok(await mayRunAt(body.block, rollout, d.started.nodeId), `${name} ran it at #${body.block}, where its node may not`);
          ranAt[name] ??= body.block;
        } else {
          // Not yet allowed for this node, or allowed and still being fetched.
          assert.ok(status === 404 && body.error === 'unknown_actor' || status === 503 && body.error === 'not_fetched', `${name}: ${status} ${JSON.stringify(body)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const asCanary = await retry(
    () => worker(['actor', 'run', file, 'hello', '--chain', node.ws, '--node-id', canary, '--data-dir', dir]),
    (r) => r.status === 0);
  assert.equal(asCanary.status, 0, asCanary.stderr);

  // The dev chain's tiers (2 and 3 blocks) and grace period (2 blocks) pass; it becomes Active.
  await completed;
  const release = (await api.query.actors.releases(stringToHex('analytics'), 1)).unwrap();
  assert.equal(release.status.type, 'Active');

  // Bob's and Charlie's daemons fetched it from a peer (Alice's, or one that fetched it first),
  // verified, into their stores; Alice's had it.
  const peerIds = Object.values(genesis).map((d) => d.started.peerId);
  for (const name of ['Bob', 'Charlie']) {
    const d = genesis[name];
    const fetched = await lineOf(d, (l) => l.fetched === cidText(code), 1, 120_000);
    assert.equal(fetched.size, code.length);
    assert.ok(peerIds.includes(fetched.from) && fetched.from !== d.started.peerId, JSON.stringify(fetched));
    assert.ok(existsSync(join(d.dataDir, 'blobs', cidText(code))), `${name} stored it`);
  }
  assert.ok(!genesis.Alice.lines.some((l) => l.fetched), 'Alice had it');
  // Each compiled it as soon as it held it and may run it: the next invocation runs it.
  for (const d of Object.values(genesis)) {
    const loaded = await lineOf(d, (l) => l.loaded === cidText(code), 1, 60_000);
    assert.deepEqual([loaded.actor, loaded.version], ['analytics', 1]);
  }
  // Every daemon ran it for a local caller; stop polling (its checks held throughout).
  for (let i = 0; i < 60 && Object.keys(ranAt).length < 3; i++) await new Promise((r) => setTimeout(r, 1000));
  polling = false;
  await polled;
  assert.deepEqual(Object.keys(ranAt).sort(), ['Alice', 'Bob', 'Charlie'], JSON.stringify(ranAt));
  const canaryName = Object.keys(genesis).find((n) => genesis[n].started.nodeId === canary);
  console.log(`# first local runs by block: ${JSON.stringify(ranAt)} (canary ${canaryName})`);
  const metrics = await (await fetch(genesis.Bob.started.metrics)).text();
  assert.match(metrics, /tea_worker_release_fetches_total\{outcome="fetched"\} 1/);
  // The worker reads finalized state, a block or two behind the best block.
  const ok = await retry(run, (r) => r.status === 0);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /fuel used: \d+/);

  // The developer revokes the release's tea:log grant: the daemons refuse the actor's log call
  // from the next finalized block on (the actor still answers), and Alice's reports the
  // refusals on chain against the release, where DAO members read them.
  const reported = nextEvent(api, 'actors', 'RefusalsReported', (e) => text(e.data[1]) === 'analytics', 150_000);
  await send(api, api.tx.actors.revokeGrant(stringToHex('analytics'), 1, stringToHex('tea:log')), bob);
  let refusals = '';
  for (let i = 0; i < 40 && !/tea_worker_refusals_total\{kind="host_revoked"\} [1-9]/.test(refusals); i++) {
    const { status, body } = await invoke(genesis.Alice, '/actors/analytics');
    assert.equal(status, 200, JSON.stringify(body));
    await new Promise((r) => setTimeout(r, 1000));
    refusals = await (await fetch(genesis.Alice.started.metrics)).text();
  }
  assert.match(refusals, /tea_worker_refusals_total\{kind="host_revoked"\} [1-9]/);
  const report = await reported;
  assert.equal(report.data[0].toHex(), genesis.Alice.started.nodeId, 'reported by the node that saw it');
  assert.equal(report.data[2].toNumber(), 1);
  const counts = report.data[3];
  assert.ok(counts.revoked.toNumber() >= 1, counts.toString());
  assert.equal(counts.notGranted.toNumber() + counts.tampered.toNumber() + counts.unloadable.toNumber(), 0, counts.toString());
  const tally = (await api.query.actors.refusals(stringToHex('analytics'), 1)).unwrap();
  assert.ok(tally.counts.revoked.toNumber() >= counts.revoked.toNumber());
  assert.ok(tally.reports.toNumber() >= 1);
  await lineOf(genesis.Alice, (l) => l.reported, 1, 60_000);

  // A worker following finalized blocks sees the developer revoke the release.
  const watch = watchUntil(['actor', 'watch', file, '--chain', node.ws, '--until', 'refused', '--timeout', '120', '--data-dir', dir]);
  await new Promise((r) => setTimeout(r, 3000));
  await send(api, api.tx.actors.revokeRelease(stringToHex('analytics'), 1), bob);
  const watched = await watch;
  assert.equal(watched.code, 0, watched.stderr);
  const lines = watched.stdout.trim().split('\n');
  assert.match(lines[0], /^#\d+ runnable$/);
  assert.match(lines.at(-1), /^#\d+ refused: release analytics v1 is Revoked on chain/);
  const refused = run();
  assert.notEqual(refused.status, 0, 'refused after revocation');
  assert.match(refused.stderr, /release analytics v1 is Revoked on chain/);
  // The daemons refuse it too, with the chain's reason, once they read a finalized block that
  // shows the revocation.
  for (const [name, d] of Object.entries(genesis)) {
    let answer;
    for (let i = 0; i < 30; i++) {
      answer = await invoke(d, `/releases/${cidText(code)}`);
      if (answer.status !== 200) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(answer.status, 403, `${name}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'not_runnable');
    assert.match(answer.body.reason, /release analytics v1 is Revoked on chain/);
    const byName = await invoke(d, '/actors/analytics');
    assert.equal(byName.status, 404, `${name}: ${JSON.stringify(byName.body)}`);
    const listed = await (await fetch(`${d.started.api}/actors`)).json();
    assert.deepEqual(listed.releases, [], `${name}: nothing left to run`);
  }
});
