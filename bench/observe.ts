/**
 * The observe group: what the diagnostics channels (README "Diagnostics channels") cost.
 * Server and client in this process over 127.0.0.1 (workers: 0: the RSA decryption in-line;
 * no `handshakeRate`, which would hold one address to 10 handshakes/s),
 * each scenario measured with nobody subscribed and with a no-op subscriber on every channel
 * (the five handshake tracing sub-channels included), alternating repetitions, medians.
 *
 *   observe-handshakes   handshakes/s, one after the other, each session closed (so a
 *                        subscribed run publishes trace start/end/asyncStart/asyncEnd, open,
 *                        trust and close on both sides); peer: the same with nobody subscribed
 *   observe-pingpong-16  16-byte round trips/s on one session (nothing is published per
 *                        message: this shows the per-message path does not pay either)
 *
 * secsess/peer is subscribed/unsubscribed: 1.00 means subscribing costs nothing measurable.
 */
import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PrivateKey } from '@secsess/keys';
import { CHANNELS, Client, Server } from '../sdk/src/index.js';
import type { Session } from '../sdk/src/index.js';
import { median } from './util.js';
import type { Row } from './util.js';

const key = PrivateKey.fromString(
  readFileSync(fileURLToPath(new URL('../sdk/test/fixtures/server-2048.key', import.meta.url)), 'utf8'),
);

const noop = (): void => {};
const PLAIN = [
  CHANNELS.sessionOpen,
  CHANNELS.sessionClose,
  CHANNELS.refused,
  CHANNELS.keyUpdate,
  CHANNELS.trust,
];
const TRACE = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };

/** Subscribes a no-op to every channel; returns the unsubscription. */
function subscribeAll(): () => void {
  for (const name of PLAIN) diagnostics.subscribe(name, noop);
  const tracing = diagnostics.tracingChannel(CHANNELS.handshake);
  tracing.subscribe(TRACE);
  return () => {
    for (const name of PLAIN) diagnostics.unsubscribe(name, noop);
    tracing.unsubscribe(TRACE);
  };
}

/** Runs `fn` `reps` times each way, alternating; the median rate (per second) of each. */
async function both(
  reps: number,
  fn: () => Promise<number>,
): Promise<{ subscribed: number; unsubscribed: number }> {
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < reps; i++) {
    off.push(await fn());
    const unsubscribe = subscribeAll();
    try {
      on.push(await fn());
    } finally {
      unsubscribe();
    }
  }
  return { subscribed: median(on), unsubscribed: median(off) };
}

export async function benchObserve(options: { quick: boolean }): Promise<Row[]> {
  // handshakeRate off: one address making handshakes back to back is what this measures.
  const server = Server.create('127.0.0.1:0', key, undefined, { workers: 0, handshakeRate: 0 });
  server.on('session', (session: Session) => {
    session.on('message', (m) => void session.write(m).catch(noop));
    session.on('error', noop);
  });
  await server.start();
  const endpoint = server.address!;
  const client = Client.create(key.publicKey);
  const reps = options.quick ? 5 : 9;
  try {
    const n = options.quick ? 60 : 300;
    const handshakes = await both(reps, async () => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await client.connect(endpoint);
        await client.close();
      }
      return n / ((performance.now() - t0) / 1000);
    });
    const trips = options.quick ? 3000 : 20000;
    const message = Buffer.alloc(16, 7);
    const session = await client.connect(endpoint);
    const pingpong = await both(reps, async () => {
      const t0 = performance.now();
      for (let i = 0; i < trips; i++) {
        await session.write(message);
        await session.read();
      }
      return trips / ((performance.now() - t0) / 1000);
    });
    await session.close();
    return [
      {
        scenario: 'observe-handshakes',
        unit: 'hs/s',
        secsess: handshakes.subscribed,
        peers: { unsubscribed: handshakes.unsubscribed },
      },
      {
        scenario: 'observe-pingpong-16',
        unit: 'rt/s',
        secsess: pingpong.subscribed,
        peers: { unsubscribed: pingpong.unsubscribed },
      },
    ];
  } finally {
    await server.stop();
  }
}
