// Governance and status for `scripts/run`'s dev network, through @polkadot/api:
//   node devnet.mjs allow WS MEASUREMENT CA_KEY   sudo (Alice): allow this tea-worker build's
//                                                 measurement and the dev CA's key (idempotent)
//   node devnet.mjs watch WS SECONDS NAME=NODE_ID ...
//                                                 print every state change of those nodes; exit
//                                                 0 once all are Active, 1 after SECONDS
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

const [command, ws, ...rest] = process.argv.slice(2);
const api = await ApiPromise.create({ provider: new WsProvider(ws), noInitWarn: true });
await cryptoWaitReady();

function stateName(state) {
  if (state === null) return 'unregistered';
  const json = state.toJSON();
  const [name, detail] = Object.entries(json)[0];
  if (name === 'candidate') return detail.attested ? 'candidate (admitted by its committee)' : 'candidate';
  if (name === 'quarantined') return `quarantined (${JSON.stringify(detail.offence)})`;
  return name;
}

if (command === 'allow') {
  const [measurement, caKey] = rest;
  const calls = [];
  if ((await api.query.upgrades.measurements(measurement)).isNone) calls.push(api.tx.upgrades.allowMeasurement(measurement));
  const known = (await api.query.upgrades.caKeys.entries()).some(([, v]) => v.unwrap().toHex() === caKey);
  if (!known) calls.push(api.tx.upgrades.addCaKey(caKey));
  if (calls.length > 0) {
    const alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
    await new Promise((resolve, reject) => {
      api.tx.sudo.sudo(api.tx.utility.batchAll(calls)).signAndSend(alice, ({ status, dispatchError, events }) => {
        if (dispatchError) return reject(new Error(dispatchError.toString()));
        if (status.isInBlock) {
          const failed = events.find(({ event }) => event.section === 'sudo' && event.method === 'Sudid' && event.data[0].isErr);
          return failed ? reject(new Error(`sudo failed: ${failed.event.data[0].toString()}`)) : resolve();
        }
      }).catch(reject);
    });
  }
  console.log(`measurement ${measurement} and dev CA key allowed`);
} else if (command === 'watch') {
  const [seconds, ...pairs] = rest;
  const nodes = pairs.map((p) => p.split('='));
  const started = Date.now();
  const last = new Map();
  const done = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Number(seconds) * 1000);
    api.rpc.chain.subscribeFinalizedHeads(async (header) => {
      const at = await api.at(header.hash);
      let active = 0;
      for (const [name, id] of nodes) {
        const info = await at.query.nodes.nodes(id);
        const state = stateName(info.isSome ? info.unwrap().state : null);
        if (last.get(name) !== state) {
          console.log(`  #${header.number.toNumber()} +${Math.round((Date.now() - started) / 1000)} s  ${name}: ${state}`);
          last.set(name, state);
        }
        if (state === 'active') active += 1;
      }
      if (active === nodes.length) { clearTimeout(timer); resolve(true); }
    });
  });
  console.log(done
    ? `all ${nodes.length} workers are Active after ${Math.round((Date.now() - started) / 1000)} s`
    : `not all workers are Active after ${seconds} s`);
  await api.disconnect();
  process.exit(done ? 0 : 1);
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
await api.disconnect();
