// Helpers for end-to-end tests that publish actor releases: a local HTTP gateway the dev
// validator's off-chain worker fetches release code from, and developer-signed manifests as
// `actors.publishRelease` takes them.

import { createServer } from 'node:http';
import { stringToHex, stringToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { freePort, send } from './lib.mjs';
import { cidBytes, cidText } from './wasm.mjs';

/**
 * Starts a gateway on loopback and points `api`'s node's off-chain worker at it (as a node
 * operator does). Returns { serve(bytes, body = bytes), requests, close() }: `serve` makes
 * `/ipfs/<cid of bytes>` answer `body`; `requests` lists every path asked for.
 */
export async function startGateway(api) {
  const served = new Map(); // path -> bytes
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req.url);
    const body = served.get(req.url);
    if (!body) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(body));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  await api.rpc.offchain.localStorageSet('PERSISTENT', stringToHex('tea::gateway'), stringToHex(`http://127.0.0.1:${port}`));
  return {
    serve: (bytes, body = bytes) => served.set(`/ipfs/${cidText(bytes)}`, body),
    requests,
    close: () => server.close(),
  };
}

/** The developer's signed manifest for `bytes`, as `publishRelease` takes it. */
export function signedManifest(api, signer, actor, version, bytes, grants) {
  const type = api.tx.actors.publishRelease.meta.args[0].type.toString();
  const manifest = api.createType(type, {
    developer: signer.address,
    actor: stringToHex(actor),
    version,
    cid: u8aToHex(cidBytes(bytes)),
    grants: grants.map(([provider, operations]) => ({
      provider: stringToHex(provider),
      operations: operations.map(stringToHex),
      limits: { maxMemoryPages: 16, maxFuelPerCall: 1_000_000 },
      expiresAt: null,
    })),
  });
  const payload = u8aConcat(stringToU8a('tea/manifest/v1'), manifest.toU8a());
  return { manifest, signature: { Sr25519: u8aToHex(signer.sign(payload)) } };
}

/** Publishes release `version` of `actor` (code `bytes`, `grants` as [provider, [ops]]). */
export function publish(api, signer, actor, version, bytes, grants) {
  const { manifest, signature } = signedManifest(api, signer, actor, version, bytes, grants);
  return send(api, api.tx.actors.publishRelease(manifest, signature, bytes.length), signer);
}
