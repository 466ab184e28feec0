/**
 * Whole ChaCha20-Poly1305 sessions across AEAD backends, over real sockets on 127.0.0.1: the
 * server runs in a child process forced onto node:crypto (`SECSESS_CRYPTO=node`,
 * fixtures/aead-peer.ts), this process seals and opens with its native backend
 * (@secsess/native where it was built, else sodium-native). Every message goes out sealed by one backend and comes back (echoed)
 * sealed by the other: stream (Server/Client, messages fragmented across records) and
 * datagram (DatagramServer/DatagramClient).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Client, DatagramClient, Hash, Symmetric, cryptoBackends } from '../src/index.js';
import type { DatagramSession } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { numbered } from './helpers/net.js';
import { loaderArgs } from './helpers/server-process.js';

const PEER = fileURLToPath(new URL('fixtures/aead-peer.ts', import.meta.url));
const { publicKey } = fixtureKeys();

interface PeerReport {
  readonly tcp: number;
  readonly udp: number;
  readonly backends: Record<string, string>;
  readonly stream: unknown;
  readonly dgram: unknown;
}

/** The child server on node:crypto; its report line. */
async function nodeCryptoServer(): Promise<{
  child: ChildProcess;
  report: PeerReport;
  stderr: () => string;
}> {
  const child = spawn(process.execPath, [...loaderArgs(), PEER, 'server'], {
    env: { ...process.env, SECSESS_CRYPTO: 'node' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line'),
    once(child, 'exit').then(() => {
      throw new Error(`the peer exited: ${stderr}`);
    }),
  ])) as [string];
  return { child, report: JSON.parse(line) as PeerReport, stderr: () => stderr };
}

const NODE_ONLY = { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'node:crypto' };

test.before(() => {
  // This side must be a native one (unless the whole run forces node:crypto).
  if (process.env['SECSESS_CRYPTO'] !== 'node' && cryptoBackends()['chacha20-poly1305'] === 'node:crypto')
    throw new Error('no native AEAD backend loaded in the test process');
});

test('a ChaCha20-Poly1305 stream session between a native backend and node:crypto, both directions, messages across records', async (t) => {
  const { child, report, stderr } = await nodeCryptoServer();
  t.teardown(() => child.kill());
  t.deepEqual(report.backends, NODE_ONLY, 'the child honours SECSESS_CRYPTO=node');
  t.deepEqual(report.stream, { aead: NODE_ONLY }, "the child's server.metrics() says so");
  t.deepEqual(report.dgram, { aead: NODE_ONLY }, "the child's DatagramServer.metrics() says so");
  for (const hash of [Hash.SHA256, Hash.SHA512]) {
    const session = await Client.create(publicKey, { symmetric: Symmetric.CHACHA20POLY1305, hash }).connect(
      `127.0.0.1:${report.tcp}`,
    );
    t.is(session.suite?.symmetric, Symmetric.CHACHA20POLY1305);
    t.is(session.suite?.hash, hash);
    for (const size of [0, 1, 100, 16_383, 16_384, 70_000, 300_000]) {
      const message = numbered(size, size);
      await session.write(message);
      t.true((await session.read())?.equals(message), `${hash}: ${size} bytes`);
    }
    // Many small messages in flight at once: batched and pipelined records.
    const burst = Array.from({ length: 200 }, (_, i) => numbered(i, 16 + (i % 50)));
    await Promise.all(burst.map((m) => session.write(m)));
    for (const m of burst) t.true((await session.read())?.equals(m));
    await session.close();
    t.is(session.closeCode, 1000);
  }
  child.stdin!.end();
  const [code] = await once(child, 'exit');
  t.is(code, 0, stderr());
});

/** Sends `message` until its echo comes back (a datagram may be lost, even on loopback). */
async function roundTrip(session: DatagramSession, message: Buffer): Promise<boolean> {
  let done = false;
  const echoed = new Promise<void>((resolve) => {
    const listener = (m: Buffer): void => {
      if (!m.equals(message)) return;
      session.off('message', listener);
      resolve();
    };
    session.on('message', listener);
  });
  void echoed.then(() => (done = true));
  for (let i = 0; i < 100 && !done; i++) {
    session.send(message);
    await Promise.race([echoed, sleep(100)]);
  }
  return done;
}

test('a ChaCha20-Poly1305 datagram session between a native backend and node:crypto, both directions', async (t) => {
  const { child, report, stderr } = await nodeCryptoServer();
  t.teardown(() => child.kill());
  for (const hash of [Hash.SHA256, Hash.SHA384]) {
    const session = await DatagramClient.create(publicKey, {
      symmetric: Symmetric.CHACHA20POLY1305,
      hash,
    }).connect(`127.0.0.1:${report.udp}`);
    t.is(session.suite.symmetric, Symmetric.CHACHA20POLY1305);
    const sizes = [0, 1, 64, 500, session.maxMessageSize];
    for (const size of sizes)
      t.true(await roundTrip(session, numbered(size, size)), `${hash}: ${size} bytes`);
    t.true(session.counters.recordsReceived >= sizes.length, 'records opened here');
    session.close(1000, 'done');
  }
  child.stdin!.end();
  const [code] = await once(child, 'exit');
  t.is(code, 0, stderr());
});
