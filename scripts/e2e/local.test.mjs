// `--chain local`: Alice, Bob and Charlie validate on loopback and finalize blocks together.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startNode, connect, waitFinalized, stopAll, teaNode, tempDir } from './lib.mjs';

const apis = [];
after(async () => {
  await Promise.all(apis.map((a) => a.disconnect().catch(() => {})));
  await stopAll();
});

test('three validators author and finalize the same chain', async () => {
  const keyDir = tempDir('keys');
  const keyFile = join(keyDir, 'alice.key');
  const gen = teaNode(['key', 'generate-node-key', '--file', keyFile]);
  assert.equal(gen.status, 0, gen.stderr);
  const insp = teaNode(['key', 'inspect-node-key', '--file', keyFile]);
  assert.equal(insp.status, 0, insp.stderr);
  const alicePeer = insp.stdout.trim();
  assert.match(alicePeer, /^12D3KooW/);

  const alice = await startNode('alice', ['--chain', 'local', '--alice', '--node-key-file', keyFile]);
  const boot = `/ip4/127.0.0.1/tcp/${alice.p2pPort}/p2p/${alicePeer}`;
  const bob = await startNode('bob', ['--chain', 'local', '--bob', '--bootnodes', boot, '--unsafe-force-node-key-generation']);
  const charlie = await startNode('charlie', ['--chain', 'local', '--charlie', '--bootnodes', boot, '--unsafe-force-node-key-generation']);
  const nodes = [alice, bob, charlie];
  for (const n of nodes) apis.push(await connect(n));

  // Once all three are up, every node finalizes three more blocks, and they agree on them.
  const start = (await apis[0].rpc.chain.getHeader()).number.toNumber();
  const target = start + 3;
  await Promise.all(apis.map((api) => waitFinalized(api, target, 180_000)));
  const hashes = await Promise.all(apis.map((api) => api.rpc.chain.getBlockHash(target)));
  assert.equal(new Set(hashes.map((h) => h.toHex())).size, 1, `fork at #${target}: ${hashes}`);

  // All three are GRANDPA voters of the same set, and more than one of them authored blocks.
  const authorities = await apis[0].query.grandpa.authorities();
  assert.equal(authorities.length, 3);
  const peers = await Promise.all(apis.map((api) => api.rpc.system.peers()));
  for (const [i, p] of peers.entries()) assert.ok(p.length >= 1, `${nodes[i].name} has no peers`);

  const authors = new Set();
  for (let n = start + 1; n <= target; n++) {
    const header = await apis[0].rpc.chain.getHeader(await apis[0].rpc.chain.getBlockHash(n));
    const pre = header.digest.logs.find((l) => l.isPreRuntime && l.asPreRuntime[0].toString() === 'aura');
    assert.ok(pre, `block #${n} has no Aura pre-digest`);
    const slot = apis[0].registry.createType('u64', pre.asPreRuntime[1]).toBigInt();
    authors.add(slot % 3n);
  }
  assert.ok(authors.size >= 2, `only authority ${[...authors]} authored blocks ${start + 1}..${target}`);
});
