/**
 * Datagrams (`npm run bench -- --only dgram`). Two kinds of rows:
 *
 *   dgram-N-sent / -received   messages/s of N-byte messages (16 and 1200) one way over
 *                              loopback UDP: secsess DatagramSession → a DatagramServer in a
 *                              child process, beside raw node:dgram → a plain socket in the
 *                              same child, interleaved in the same run. The sender keeps at
 *                              most 64 KiB handed to the socket and not yet sent (the same
 *                              rule for both); `received` counts what the child delivered in
 *                              that time (UDP drops what a slower receiver cannot take).
 *   dgram-N-seal / -seal+open  µs per datagram in process: DatagramOutbound.encode(), and
 *                              encode + DatagramInbound.decode(), beside CommSec's published
 *                              figures (send 2 µs at 16 B, send + receive 10 µs) and the same
 *                              record built the obvious way with node:crypto.
 *
 *   node --import=tsx --conditions=source bench/dgram.ts [--quick]      (this group alone)
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DatagramClient, DatagramServer, PrivateKey, Symmetric } from '@secsess/sdk';
import type { DatagramSession } from '@secsess/sdk';
import { datagramContexts } from '@secsess/sdk/core';
import { COMMSEC } from './records.js';
import { medianOrNull, printTable, timeUsEach } from './util.js';
import type { Row } from './util.js';

const SIZES = [16, 1200] as const;
/**
 * A 1200-byte message needs a record of 1283 bytes (CBC suite): the sender allows datagrams
 * up to Ethernet's 1472-byte UDP payload (the default 1200 fits messages of up to 1116).
 */
const MAX_DATAGRAM = 1472;
/** Bytes handed to the socket and not yet sent, at most, for either sender. */
const IN_FLIGHT = 64 * 1024;

const KEY_FILE = fileURLToPath(new URL('../sdk/test/fixtures/server-2048.key', import.meta.url));
const serverKey = (): PrivateKey => PrivateKey.fromString(readFileSync(KEY_FILE, 'utf8'));

export async function benchDatagrams(options: { quick: boolean }): Promise<Row[]> {
  return [...(await networkRows(options)), ...inProcessRows(options)];
}

// ---- in process ----

/** The §D4 record (CBC suite) built with node:crypto in the most direct way. */
function baselineSeal(key: Buffer, macKey: Buffer, header: Buffer, inner: Buffer): Buffer {
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key, iv);
  const ct = Buffer.concat([c.update(inner), c.final()]);
  const tag = createHmac('sha256', macKey).update(header).update(iv).update(ct).digest();
  return Buffer.concat([header, iv, ct, tag]);
}

function baselineOpen(key: Buffer, macKey: Buffer, packet: Buffer): Buffer {
  const end = packet.length - 32;
  const tag = createHmac('sha256', macKey).update(packet.subarray(0, end)).digest();
  if (!timingSafeEqual(tag, packet.subarray(end))) throw new Error('bad tag');
  const d = createDecipheriv('aes-256-cbc', key, packet.subarray(19, 35));
  return Buffer.concat([d.update(packet.subarray(35, end)), d.final()]);
}

function inProcessRows(options: { quick: boolean }): Row[] {
  const reps = options.quick ? 3 : 9;
  const n = options.quick ? 4000 : 20000;
  const rows: Row[] = [];
  for (const gcm of [false, true]) {
    for (const size of SIZES) {
      const secret = randomBytes(32);
      const set = gcm ? { symmetric: Symmetric.AES256GCM } : {};
      const message = randomBytes(size);
      // One context per timed function: each direction's seq and window move on their own.
      const sealer = datagramContexts(secret, 'client', { set }).outbound;
      const out = datagramContexts(secret, 'client', { set }).outbound;
      const inbound = datagramContexts(secret, 'server', { set }).inbound;
      const key = randomBytes(32);
      const macKey = randomBytes(32);
      const header = randomBytes(19);
      const inner = Buffer.concat([Buffer.of(1), message]);
      const fns = [() => sealer.encode(message), () => inbound.decode(out.encode(message))];
      if (!gcm) {
        fns.push(
          () => baselineSeal(key, macKey, header, inner),
          () => baselineOpen(key, macKey, baselineSeal(key, macKey, header, inner)),
        );
      }
      // Interleaved batches, so load on a shared machine hits every function alike.
      const [seal, sealOpen, bSeal, bBoth] = timeUsEach(fns, n, reps);
      const name = `dgram${gcm ? '-gcm' : ''}-${size}`;
      const commsec = (table: Record<number, number>): Record<string, number | null> =>
        size === 16 && !gcm ? { CommSec: table[16] ?? null } : {};
      const node = (v: number | undefined): Record<string, number> =>
        v === undefined ? {} : { 'node:crypto': v };
      rows.push(
        {
          scenario: `${name}-seal`,
          unit: 'µs',
          secsess: seal!,
          peers: { ...commsec(COMMSEC.send), ...node(bSeal) },
        },
        {
          scenario: `${name}-seal+open`,
          unit: 'µs',
          secsess: sealOpen!,
          peers: { ...commsec(COMMSEC.sendReceive), ...node(bBoth) },
        },
      );
    }
  }
  return rows;
}

// ---- over loopback UDP ----

interface Sink {
  request<T>(cmd: string): Promise<T>;
  stop(): Promise<void>;
}

/** Forks this file as the receiving child: a DatagramServer and a raw socket, counting messages. */
async function startSink(): Promise<Sink> {
  const loader = process.execArgv.filter((a) => /^--(import|conditions|loader)\b/.test(a));
  const child = fork(fileURLToPath(import.meta.url), ['dgram-sink'], {
    execArgv: loader.some((a) => a.includes('tsx')) ? loader : ['--import=tsx', ...loader],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let next = 1;
  const pending = new Map<number, (v: unknown) => void>();
  child.on('message', (m: { id: number; value: unknown }) => {
    pending.get(m.id)?.(m.value);
    pending.delete(m.id);
  });
  const request = <T>(cmd: string): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = next++;
      pending.set(id, resolve as (v: unknown) => void);
      child.send({ id, cmd });
    });
  return {
    request,
    stop: async () => {
      const exited = once(child, 'exit');
      child.send({ id: 0, cmd: 'exit' });
      await exited;
    },
  };
}

interface Sender {
  send(message: Buffer): void;
  readonly busy: boolean;
  close(): Promise<void>;
}

async function rawSender(port: number): Promise<Sender> {
  const socket: Socket = createSocket('udp4');
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let inFlight = 0;
  return {
    send(message) {
      inFlight += message.length;
      socket.send(message, () => (inFlight -= message.length));
    },
    get busy() {
      return inFlight >= IN_FLIGHT;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

async function secsessSender(port: number, key: PrivateKey): Promise<Sender> {
  const session: DatagramSession = await DatagramClient.create(key.publicKey, undefined, {
    maxDatagramSize: MAX_DATAGRAM,
  }).connect(`127.0.0.1:${port}`);
  return {
    send: (message) => void session.send(message),
    get busy() {
      return session.queuedBytes >= IN_FLIGHT;
    },
    close: async () => session.close(),
  };
}

/** Sends `size`-byte messages for `ms`; returns messages/s sent and the child's received/s. */
async function blast(sender: Sender, sink: Sink, kind: string, size: number, ms: number) {
  const message = randomBytes(size);
  const before = await sink.request<Record<string, number>>('count');
  let sent = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 64 && !sender.busy; i++) {
      sender.send(message);
      sent++;
    }
    await yieldToLoop();
  }
  const elapsed = (performance.now() - t0) / 1000;
  // What is still queued arrives within a few ms; count it with its own interval.
  await new Promise((r) => setTimeout(r, 50));
  const after = await sink.request<Record<string, number>>('count');
  return { sent: sent / elapsed, received: (after[kind]! - before[kind]!) / elapsed };
}

async function networkRows(options: { quick: boolean }): Promise<Row[]> {
  const reps = options.quick ? 2 : 5;
  const ms = options.quick ? 500 : 1500;
  const key = serverKey();
  const sink = await startSink();
  try {
    const ports = await sink.request<{ raw: number; secsess: number }>('ports');
    const rows: Row[] = [];
    for (const size of SIZES) {
      const samples = {
        secsess: { sent: [] as number[], received: [] as number[] },
        raw: { sent: [] as number[], received: [] as number[] },
      };
      const senders = { secsess: await secsessSender(ports.secsess, key), raw: await rawSender(ports.raw) };
      for (let r = 0; r < reps; r++) {
        for (const kind of ['secsess', 'raw'] as const) {
          const got = await blast(senders[kind], sink, kind, size, ms);
          samples[kind].sent.push(got.sent);
          samples[kind].received.push(got.received);
        }
      }
      await Promise.all(Object.values(senders).map((s) => s.close()));
      for (const what of ['sent', 'received'] as const) {
        rows.push({
          scenario: `dgram-${size}-${what}`,
          unit: 'msg/s',
          secsess: medianOrNull(samples.secsess[what]),
          peers: { dgram: medianOrNull(samples.raw[what]) },
        });
      }
    }
    return rows;
  } finally {
    await sink.stop();
  }
}

// ---- the child ----

async function serveSink(): Promise<void> {
  const count = { raw: 0, secsess: 0 };
  const raw = createSocket('udp4');
  raw.on('message', () => count.raw++);
  raw.bind(0, '127.0.0.1');
  await once(raw, 'listening');
  const server = DatagramServer.create('127.0.0.1:0', serverKey(), undefined, { workers: 0 });
  server.on('session', (session) => session.on('message', () => count.secsess++));
  await server.start();
  process.on('message', (m: { id: number; cmd: string }) => {
    if (m.cmd === 'exit') {
      raw.close();
      void server.stop().then(() => process.exit(0));
      return;
    }
    const value =
      m.cmd === 'ports' ? { raw: raw.address().port, secsess: server.address!.port } : { ...count };
    process.send!({ id: m.id, value });
  });
  process.on('disconnect', () => process.exit(0));
}

const main = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
if (main && process.argv[2] === 'dgram-sink') await serveSink();
else if (main) printTable(await benchDatagrams({ quick: process.argv.includes('--quick') }));
