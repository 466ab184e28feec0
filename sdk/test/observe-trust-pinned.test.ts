/**
 * `secsess:trust` for a pinned key the server does not hold (`refused`, `pinned`, the pinned
 * key's fingerprint), over TCP and UDP on 127.0.0.1; and the one word for a refusal that is
 * no trust decision (`error`).
 */
import diagnostics from 'node:diagnostics_channel';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CHANNELS, Client, DatagramClient, ErrorCode } from '../src/index.js';
import type { TrustMessage } from '../src/index.js';
import { refusalReason } from '../src/observe/publish.js';
import { startDatagramServer } from './helpers/dgram.js';
import { fixtureKeys } from './helpers/keys.js';
import { startServer } from './helpers/net.js';

const serverKeys = fixtureKeys('server-2048');
const otherKeys = fixtureKeys('other-2048');

function trustMessages(t: ExecutionContext): TrustMessage[] {
  const seen: TrustMessage[] = [];
  const listener = (m: unknown): void => void seen.push(m as TrustMessage);
  diagnostics.subscribe(CHANNELS.trust, listener);
  t.teardown(() => diagnostics.unsubscribe(CHANNELS.trust, listener));
  return seen;
}

test.serial(
  'a stream client pinned to a key the server does not hold publishes refused, pinned',
  async (t) => {
    const { server, endpoint } = await startServer({}, serverKeys);
    t.teardown(() => server.stop());
    const seen = trustMessages(t);
    await t.throwsAsync(Client.create(otherKeys.publicKey).connect(endpoint), {
      code: ErrorCode.SERVER_KEY_MISMATCH,
    });
    t.deepEqual(seen, [
      {
        role: 'client',
        transport: 'stream',
        remote: endpoint,
        fingerprint: otherKeys.publicKey.fingerprint(),
        decision: 'refused',
        reason: 'pinned',
      },
    ]);
  },
);

test.serial(
  'a datagram client pinned to a key the server does not hold publishes refused, pinned',
  async (t) => {
    const server = await startDatagramServer(t, '127.0.0.1', {}, serverKeys);
    server.on('session', () => {});
    const endpoint = `127.0.0.1:${server.address!.port}`;
    const seen = trustMessages(t);
    await t.throwsAsync(DatagramClient.create(otherKeys.publicKey).connect(endpoint), {
      code: ErrorCode.SERVER_KEY_MISMATCH,
    });
    t.deepEqual(
      seen.map((m) => `${m.role} ${m.transport} ${m.remote} ${m.decision} ${m.reason} ${m.fingerprint}`),
      [`client datagram ${endpoint} refused pinned ${otherKeys.publicKey.fingerprint()}`],
    );
  },
);

test('a refusal that is no trust decision is the reason `error`, whatever its code', (t) => {
  t.is(refusalReason(Object.assign(new Error('x'), { code: 'ERR_LOCK_TIMEOUT' })), 'error');
  t.is(refusalReason(new Error('x')), 'error');
  t.is(refusalReason({ code: 'ERR_HOST_KEY_CHANGED' }), 'changed');
});
