/**
 * What one hostile host can make a server spend on RSA, and what a legitimate client feels
 * meanwhile: the figures SECURITY.md quotes for the handshake rate limit. Not a test (no
 * pass/fail); run it on a quiet machine:
 *
 *   node --import=tsx --conditions=source sdk/test/measure/handshake-flood.ts [SECONDS]
 *
 * For the server without the rate limit (`handshakeRate: 0`, the old behaviour) and with
 * the defaults, a server in a child process (fixture key, RSA-2048, 2 workers) is flooded
 * for SECONDS (default 5) by one host (127.0.1.1) on 16 connections (the per-address cap),
 * each replaying one valid ClientHello, reading the answer and hanging up: every ServerHello
 * is one RSA decryption the host forced. Meanwhile a legitimate client measures the echo
 * round trip of an established session (16 bytes, as bench/latency.ts) and the time of
 * full handshakes, each from its own source address (127.0.2.x), idle and under the flood.
 * The flood runs in a third process, so that the measuring client's event loop is its own.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, secureDuplex } from '../../src/index.js';
import type { Session } from '../../src/index.js';
import { SERVER_BUSY_ALERT, rawFrom, validHello } from '../helpers/attackers.js';
import { fixtureKeys } from '../helpers/keys.js';
import { loaderArgs, startServerProcess } from '../helpers/server-process.js';
import type { ProbeOptions } from '../helpers/server-process.js';

const SECONDS = Number(process.argv[process.argv[2] === '--flood' ? 4 : 2] ?? 5);
const CONNECTIONS = 16;
const ROUNDS = 500;
const HANDSHAKE_EVERY_MS = 50;

function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function roundTrips(session: Session, rounds: number, until?: () => boolean): Promise<number[]> {
  const message = Buffer.alloc(16, 0x61);
  const times: number[] = [];
  for (let i = 0; i < rounds && !(until?.() ?? false); i++) {
    const t0 = performance.now();
    await session.write(message);
    await session.read();
    times.push(performance.now() - t0);
  }
  return times;
}

let nextSource = 0;
/** One full handshake from a fresh source address; ms from connect to open session. */
async function handshake(port: number): Promise<number> {
  const localAddress = `127.0.2.${1 + (nextSource++ % 250)}`;
  const t0 = performance.now();
  const socket = await rawFrom(port, { localAddress });
  const session = await secureDuplex(socket, { role: 'client', serverKey: fixtureKeys().publicKey });
  const ms = performance.now() - t0;
  await session.close();
  return ms;
}

async function handshakes(port: number, until: () => boolean, max: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < max && !until(); i++) {
    times.push(await handshake(port));
    await sleep(HANDSHAKE_EVERY_MS);
  }
  return times;
}

async function answer(socket: Socket, hello: Buffer): Promise<'hello' | 'busy' | 'other'> {
  const reply = once(socket, 'data') as Promise<[Buffer]>;
  const closed = once(socket, 'close').then(() => [Buffer.alloc(0)] as [Buffer]);
  socket.write(hello);
  const [data] = await Promise.race([reply, closed]);
  socket.destroy();
  if (data.subarray(0, 6).equals(SERVER_BUSY_ALERT)) return 'busy';
  return data[0] === 0x04 ? 'hello' : 'other';
}

type Counts = Record<'hello' | 'busy' | 'other', number>;

/** The hostile host (in its own process): CONNECTIONS loops of connect, hello, answer, hang up. */
async function flood(port: number): Promise<Counts> {
  const hello = validHello();
  const counts: Counts = { hello: 0, busy: 0, other: 0 };
  const deadline = performance.now() + SECONDS * 1000;
  const attacker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      counts[await answer(await rawFrom(port, { localAddress: '127.0.1.1' }), hello)]++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, attacker));
  return counts;
}

function floodProcess(port: number): Promise<Counts> {
  const child = fork(new URL(import.meta.url).pathname, ['--flood', String(port), String(SECONDS)], {
    execArgv: loaderArgs(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as Counts));
    child.once('exit', (code) => reject(new Error(`flood process exited (${code})`)));
  });
}

async function run(label: string, options: ProbeOptions): Promise<void> {
  const server = await startServerProcess({ workers: 2, ...options });
  try {
    const session = await Client.create(fixtureKeys().publicKey).connect(server.endpoint);
    await roundTrips(session, ROUNDS); // warm-up
    const idleRtt = await roundTrips(session, ROUNDS);
    const idleHs = await handshakes(server.port, () => false, 20);

    let over = false;
    const started = performance.now();
    const counting = floodProcess(server.port).finally(() => (over = true));
    const [rtt, hs] = await Promise.all([
      roundTrips(session, 1_000_000, () => over),
      handshakes(server.port, () => over, 10_000),
    ]);
    const counts = await counting;
    const seconds = (performance.now() - started) / 1000;
    await session.close();
    const stats = await server.stop();
    const ms = (v: number): string => v.toFixed(2);
    console.log(
      `${label}: one host forced ${(counts.hello / seconds).toFixed(0)} RSA decryptions/s ` +
        `(${counts.hello} in ${seconds.toFixed(1)} s; ${counts.busy} hellos refused: ${JSON.stringify(stats.refused)}); ` +
        `legitimate echo RTT p50 ${ms(percentile(idleRtt, 50))} → ${ms(percentile(rtt, 50))} ms ` +
        `(p99 ${ms(percentile(idleRtt, 99))} → ${ms(percentile(rtt, 99))}); ` +
        `legitimate handshake p50 ${ms(percentile(idleHs, 50))} → ${ms(percentile(hs, 50))} ms ` +
        `(p99 ${ms(percentile(idleHs, 99))} → ${ms(percentile(hs, 99))}, ${hs.length} handshakes)`,
    );
  } finally {
    server.kill();
  }
}

if (process.argv[2] === '--flood') {
  const counts = await flood(Number(process.argv[3]));
  process.send!(counts, () => process.exit(0));
} else {
  await run('without the rate limit (handshakeRate: 0)', { handshakeRate: 0 });
  await run('with the defaults', {});
}
