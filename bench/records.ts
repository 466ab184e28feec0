/**
 * In-process costs, no sockets: the raw primitives (node:crypto here beside `openssl speed`
 * run in the same bench), one record sealed or opened by the record layer, one message sent
 * (and received) through the sans-IO connection alone and in bursts of 64, and one whole
 * handshake. References beside our figures:
 *
 *   - CommSec's published figures for the C# library this one modernises: send 2 µs (16 B)
 *     and 38 µs (2 KiB); send + receive 10 µs (16 B) and 76 µs (2 KiB);
 *   - node:crypto: the same record built the obvious way (createCipheriv + createHmac per record);
 *   - floor: the least node:crypto work such a record can cost (bench/floor.ts);
 *   - openssl: the record's bytes at the single-core `openssl speed` rate (a floor no
 *     per-call API reaches for small records).
 *
 *   node --import=tsx --conditions=source bench/records.ts [--quick]
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PrivateKey } from '@secsess/keys';
import { ClientConnection, ServerConnection, resolveSuite } from '../sdk/src/protocol/index.js';
import type { ConnectionHandler } from '../sdk/src/protocol/index.js';
import type { AlgorithmSet } from '../sdk/src/protocol/suite.js';
import { RecordSealer } from '../sdk/src/protocol/record-layer.js';
import { RecordOpener } from '../sdk/src/protocol/record-opener.js';
import { secureRandom } from '../sdk/src/protocol/crypto.js';
import { FloorRecords } from './floor.js';
import { chachaRows } from './records-chacha.js';
import { etmCeiling, opensslSpeed } from './openssl-speed.js';
import type { OpensslSpeed } from './openssl-speed.js';
import { log, printTable, timeUs, timeUsEach } from './util.js';
import type { Row } from './util.js';

/** CommSec's published per-message figures, µs. */
export const COMMSEC = {
  send: { 16: 2, 2048: 38 } as Record<number, number>,
  sendReceive: { 16: 10, 2048: 76 } as Record<number, number>,
};

const SIZES = [16, 2048, 65536];
const BURST = 64;
/** Block size of the throughput rows, the largest record payload. */
const BLOCK = 65536;

const serverKey = (): PrivateKey =>
  PrivateKey.fromString(
    readFileSync(fileURLToPath(new URL('../sdk/test/fixtures/server-2048.key', import.meta.url)), 'utf8'),
  );

function baselineSeal(key: Buffer, macKey: Buffer, payload: Buffer): Buffer {
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key, iv);
  const ct = Buffer.concat([c.update(payload), c.final()]);
  const tag = createHmac('sha256', macKey).update(iv).update(ct).digest();
  return Buffer.concat([iv, ct, tag]);
}

function baselineOpen(key: Buffer, macKey: Buffer, rec: Buffer): Buffer {
  const tag = createHmac('sha256', macKey)
    .update(rec.subarray(0, rec.length - 32))
    .digest();
  if (!timingSafeEqual(tag, rec.subarray(rec.length - 32))) throw new Error('bad tag');
  const d = createDecipheriv('aes-256-cbc', key, rec.subarray(0, 16));
  return Buffer.concat([d.update(rec.subarray(16, rec.length - 32)), d.final()]);
}

function baselineGcmSeal(key: Buffer, payload: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(payload), c.final()]);
  return Buffer.concat([iv, ct, c.getAuthTag()]);
}

function baselineGcmOpen(key: Buffer, rec: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, rec.subarray(0, 12));
  d.setAuthTag(rec.subarray(rec.length - 16));
  return Buffer.concat([d.update(rec.subarray(12, rec.length - 16)), d.final()]);
}

export async function benchRecords(options: { quick: boolean }): Promise<Row[]> {
  const speed = await opensslSpeed(BLOCK, log);
  return [
    ...primitiveRows(options, speed),
    ...recordRows(options, 'AES-256-CBC', speed),
    ...messageRows(options),
    ...recordRows(options, 'AES-256-GCM', speed),
    ...(await chachaRows(options)),
    handshakeRow(options),
  ];
}

/** Calls per timed batch so that a batch handles about `bytes` bytes (at least 50 calls). */
function callsFor(options: { quick: boolean }, size: number): number {
  return Math.max(50, Math.floor((options.quick ? 2e6 : 8e6) / (size + 200) / 4));
}

/** node:crypto's raw throughput on 64 KiB blocks, beside openssl speed's on the same block size. */
function primitiveRows(options: { quick: boolean }, speed: OpensslSpeed): Row[] {
  const reps = options.quick ? 3 : 7;
  const n = options.quick ? 200 : 1000;
  const key = randomBytes(32);
  const block = randomBytes(BLOCK);
  const enc = createCipheriv('aes-256-cbc', key, randomBytes(16)).setAutoPadding(false);
  const dec = createDecipheriv('aes-256-cbc', key, randomBytes(16)).setAutoPadding(false);
  const mbs = (us: number): number => BLOCK / us;
  const cbc = mbs(timeUs(() => enc.update(block), n, reps));
  const cbcDecrypt = mbs(timeUs(() => dec.update(block), n, reps));
  const hmac = mbs(timeUs(() => createHmac('sha256', key).update(block).digest(), n, reps));
  const iv = randomBytes(12);
  const gcm = mbs(
    timeUs(
      () => {
        const c = createCipheriv('aes-256-gcm', key, iv);
        c.update(block);
        c.final();
      },
      n,
      reps,
    ),
  );
  const row = (scenario: string, ours: number, theirs: number | null): Row => ({
    scenario: `${scenario} (node:crypto)`,
    unit: 'MB/s',
    secsess: ours,
    peers: { openssl: theirs },
  });
  return [
    row('aes-256-cbc-encrypt', cbc, speed.cbc),
    row('aes-256-cbc-decrypt', cbcDecrypt, speed.cbcDecrypt),
    row('hmac-sha256', hmac, speed.hmac),
    row('aes-256-gcm', gcm, speed.gcm),
    row('cbc+hmac-ceiling', etmCeiling(cbc, hmac)!, etmCeiling(speed.cbc, speed.hmac)),
  ];
}

function recordRows(
  options: { quick: boolean },
  symmetric: 'AES-256-CBC' | 'AES-256-GCM',
  speed: OpensslSpeed,
): Row[] {
  const suite = resolveSuite({ symmetric });
  const gcm = symmetric === 'AES-256-GCM';
  const tag = gcm ? '-gcm' : '';
  const rows: Row[] = [];
  const reps = options.quick ? 3 : 7;
  const key = randomBytes(32);
  const macKey = randomBytes(32);
  for (const size of SIZES) {
    const n = callsFor(options, size);
    const payload = randomBytes(size);
    const secret = randomBytes(32);
    const sealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    // Openers read fresh streams of records in order (the sequence must match): each has
    // frames enough for its warm-up and every repetition.
    const stream = (seal: () => Buffer): (() => Buffer) => {
      const frames = Array.from({ length: n * (reps + 1) + 200 }, seal);
      let i = 0;
      return () => frames[i++]!;
    };
    const opener = new RecordOpener(suite, Buffer.from(secret));
    const feedSealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const nextFrame = stream(() => feedSealer.seal(0x01, payload));
    const rec = gcm ? baselineGcmSeal(key, payload) : baselineSeal(key, macKey, payload);
    // The floor (bench/floor.ts): only the primitives' calls, CBC suite only.
    const floor = new FloorRecords();
    const floorFeed = new FloorRecords();
    const nextFloorFrame = stream(() => floorFeed.seal(payload));
    // Interleaved, so that the machine's load hits every column alike.
    const [seal, open, bSeal, bOpen, fSeal, fOpen] = timeUsEach(
      [
        () => sealer.seal(0x01, payload),
        () => opener.open(nextFrame()),
        gcm ? () => baselineGcmSeal(key, payload) : () => baselineSeal(key, macKey, payload),
        gcm ? () => baselineGcmOpen(key, rec) : () => baselineOpen(key, macKey, rec),
        ...(gcm ? [] : [() => floor.seal(payload), () => floor.open(nextFloorFrame())]),
      ],
      n,
      reps,
    ) as [number, number, number, number, number?, number?];
    const floorPeer = (v: number | null | undefined): Record<string, number | null> =>
      gcm ? {} : { floor: v ?? null };
    const bytes = size + 13;
    const at = (rate: number | null): number | null => (rate ? bytes / rate : null);
    const sum = (a: number | null, b: number | null): number | null =>
      a !== null && b !== null ? a + b : null;
    const osSeal = gcm ? at(speed.gcm) : sum(at(speed.cbc), at(speed.hmac));
    const osOpen = gcm ? at(speed.gcm) : sum(at(speed.cbcDecrypt), at(speed.hmac));
    const commsec = (table: Record<number, number>): Record<string, number | null> =>
      gcm ? {} : { CommSec: table[size] ?? null };
    rows.push({
      scenario: `record${tag}-${size}-seal`,
      unit: 'µs',
      secsess: seal,
      peers: { ...commsec(COMMSEC.send), 'node:crypto': bSeal, ...floorPeer(fSeal), openssl: osSeal },
    });
    rows.push({
      scenario: `record${tag}-${size}-open`,
      unit: 'µs',
      secsess: open,
      peers: { 'node:crypto': bOpen, ...floorPeer(fOpen), openssl: osOpen },
    });
    rows.push({
      scenario: `record${tag}-${size}-seal+open`,
      unit: 'µs',
      secsess: seal + open,
      peers: {
        ...commsec(COMMSEC.sendReceive),
        'node:crypto': bSeal + bOpen,
        ...floorPeer(sum(fSeal ?? null, fOpen ?? null)),
        openssl: sum(osSeal, osOpen),
      },
    });
  }
  return rows;
}

/** A client and a server connection, established in memory; records travel through arrays. */
export function connectedPair(
  key: PrivateKey = serverKey(),
  set?: AlgorithmSet,
): {
  client: ClientConnection;
  server: ServerConnection;
  toServer: Buffer[];
} {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const idle: Omit<ConnectionHandler, 'send'> = { established() {}, message() {}, peerClosed() {} };
  const client = new ClientConnection(
    { ...idle, send: (d) => toServer.push(d) },
    { serverKey: key.publicKey, ...(set ? { set } : {}) },
  );
  const server = new ServerConnection({ ...idle, send: (d) => toClient.push(d) }, { keys: [key] });
  client.start();
  server.receive(toServer.shift()!);
  client.receive(Buffer.concat(toClient.splice(0)));
  server.receive(toServer.shift()!);
  if (server.state !== 'open') throw new Error('handshake failed');
  return { client, server, toServer };
}

/**
 * Per-message cost through the sans-IO connection (what `session.write()` reaches once the
 * transport is taken away): one message per call, and bursts of 64 through `writeMany`
 * (how the session's writer hands over the messages written in one tick).
 */
function messageRows(options: { quick: boolean }): Row[] {
  const reps = options.quick ? 3 : 7;
  const rows: Row[] = [];
  for (const size of [16, 2048]) {
    // Two pairs: records the first client sends are dropped, so its server would be out of step.
    const { client, toServer } = connectedPair();
    const { client: client2, server, toServer: toServer2 } = connectedPair();
    const message = randomBytes(size);
    const burst = Array.from({ length: BURST }, () => message);
    const n = callsFor(options, size);
    const nb = Math.max(20, Math.floor(n / BURST));
    const drop = (): void => void toServer.splice(0);
    const deliver = (): void => {
      for (const r of toServer2.splice(0)) server.receive(r);
    };
    const send = timeUs(
      () => {
        client.write(message);
        drop();
      },
      n,
      reps,
    );
    const sendBurst =
      timeUs(
        () => {
          client.writeMany(burst);
          drop();
        },
        nb,
        reps,
      ) / BURST;
    const sendReceive = timeUs(
      () => {
        client2.write(message);
        deliver();
      },
      n,
      reps,
    );
    const sendReceiveBurst =
      timeUs(
        () => {
          client2.writeMany(burst);
          deliver();
        },
        nb,
        reps,
      ) / BURST;
    const peers = (table: Record<number, number>): Record<string, number | null> => ({
      CommSec: table[size] ?? null,
    });
    rows.push({ scenario: `message-${size}-send`, unit: 'µs', secsess: send, peers: peers(COMMSEC.send) });
    rows.push({
      scenario: `message-${size}-send-burst${BURST}`,
      unit: 'µs',
      secsess: sendBurst,
      peers: peers(COMMSEC.send),
    });
    rows.push({
      scenario: `message-${size}-send+receive`,
      unit: 'µs',
      secsess: sendReceive,
      peers: peers(COMMSEC.sendReceive),
    });
    rows.push({
      scenario: `message-${size}-send+receive-burst${BURST}`,
      unit: 'µs',
      secsess: sendReceiveBurst,
      peers: peers(COMMSEC.sendReceive),
    });
  }
  return rows;
}

function handshakeRow(options: { quick: boolean }): Row {
  const reps = options.quick ? 3 : 7;
  const key = serverKey();
  const baselineHandshake = (): void => {
    const secret = randomBytes(64);
    const opts = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
    const ct = publicEncrypt({ key: key.publicKey.keyObject, ...opts }, secret);
    privateDecrypt({ key: key.keyObject, ...opts }, ct);
    const a = generateKeyPairSync('x25519');
    const b = generateKeyPairSync('x25519');
    diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
    diffieHellman({ privateKey: b.privateKey, publicKey: a.publicKey });
    createSecretKey(secret);
  };
  const hn = options.quick ? 30 : 100;
  return {
    scenario: 'handshake-in-memory-rsa2048',
    unit: 'µs',
    secsess: timeUs(() => connectedPair(key), hn, reps),
    peers: { 'node:crypto': timeUs(baselineHandshake, hn, reps) },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable(await benchRecords({ quick: process.argv.includes('--quick') }));
}
