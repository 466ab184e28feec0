/**
 * In-process record and handshake costs (issue 3), beside a plain node:crypto baseline
 * measured in the same run: the minimum a CBC + HMAC record or an RSA-OAEP + X25519
 * handshake can cost through node:crypto.
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
import { RecordOpener, RecordSealer } from '../sdk/src/protocol/record-layer.js';
import { secureRandom } from '../sdk/src/protocol/crypto.js';
import { median, printTable } from './util.js';
import type { Row } from './util.js';

const SIZES = [16, 2048, 16384, 65536];

/** µs per call of fn, median over `reps` timed batches of `n` calls each. */
function timeUs(fn: () => void, n: number, reps: number): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
  }
  return median(samples);
}

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
  const rows: Row[] = [];
  for (const symmetric of ['AES-256-CBC', 'AES-256-GCM'] as const) {
    rows.push(...recordRows(options, symmetric));
  }
  rows.push(handshakeRow(options));
  return rows;
}

function recordRows(options: { quick: boolean }, symmetric: 'AES-256-CBC' | 'AES-256-GCM'): Row[] {
  const suite = resolveSuite({ symmetric });
  const gcm = symmetric === 'AES-256-GCM';
  const tag = gcm ? '-gcm' : '';
  const rows: Row[] = [];
  const reps = options.quick ? 3 : 7;
  const key = randomBytes(32);
  const macKey = randomBytes(32);
  for (const size of SIZES) {
    const n = Math.max(50, Math.floor((options.quick ? 2e6 : 8e6) / (size + 200) / 4));
    const payload = randomBytes(size);
    const secret = randomBytes(32);
    const sealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const seal = timeUs(() => sealer.seal(0x01, payload), n, reps);
    // Open a fresh stream of records in order (the opener's sequence must match).
    const opener = new RecordOpener(suite, Buffer.from(secret));
    const feedSealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const frames = Array.from({ length: n * (reps + 1) + 200 }, () => feedSealer.seal(0x01, payload));
    let i = 0;
    const open = timeUs(() => opener.open(frames[i++]!), n, reps);
    const bSeal = gcm
      ? timeUs(() => baselineGcmSeal(key, payload), n, reps)
      : timeUs(() => baselineSeal(key, macKey, payload), n, reps);
    const rec = gcm ? baselineGcmSeal(key, payload) : baselineSeal(key, macKey, payload);
    const bOpen = gcm
      ? timeUs(() => baselineGcmOpen(key, rec), n, reps)
      : timeUs(() => baselineOpen(key, macKey, rec), n, reps);
    const peers = (v: number) => ({ 'node:crypto': v });
    rows.push({ scenario: `record${tag}-${size}-seal`, unit: 'µs', secsess: seal, peers: peers(bSeal) });
    rows.push({ scenario: `record${tag}-${size}-open`, unit: 'µs', secsess: open, peers: peers(bOpen) });
  }
  return rows;
}

function handshakeRow(options: { quick: boolean }): Row {
  const reps = options.quick ? 3 : 7;
  const serverKey = PrivateKey.fromString(
    readFileSync(fileURLToPath(new URL('../sdk/test/fixtures/server-2048.key', import.meta.url)), 'utf8'),
  );
  const handshake = (): void => {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const noop = { established() {}, message() {}, peerClosed() {} };
    const client = new ClientConnection(
      { ...noop, send: (d) => toServer.push(d) },
      { serverKey: serverKey.publicKey },
    );
    const server = new ServerConnection({ ...noop, send: (d) => toClient.push(d) }, { keys: [serverKey] });
    client.start();
    server.receive(toServer.shift()!);
    client.receive(Buffer.concat(toClient.splice(0)));
    server.receive(toServer.shift()!);
    if (server.state !== 'open') throw new Error('handshake failed');
  };
  const baselineHandshake = (): void => {
    const secret = randomBytes(64);
    const opts = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
    const ct = publicEncrypt({ key: serverKey.publicKey.keyObject, ...opts }, secret);
    privateDecrypt({ key: serverKey.keyObject, ...opts }, ct);
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
    secsess: timeUs(handshake, hn, reps),
    peers: { 'node:crypto': timeUs(baselineHandshake, hn, reps) },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable(await benchRecords({ quick: process.argv.includes('--quick') }));
}
