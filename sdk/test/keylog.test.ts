/**
 * SECSESS_KEYLOG_FILE (README "Key log", PROTOCOL.md "Key log format"): peers run as child
 * processes (the variable is read per session from their environment) through a TCP relay
 * in this test that records the bytes; the logged secrets must decrypt the recorded records
 * with keys derived here by node:crypto alone (§4, §5), both roles must log the same lines,
 * and without the variable nothing is written and nothing is said.
 */
import { spawn } from 'node:child_process';
import { createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';

const PEER = fileURLToPath(new URL('fixtures/keylog-peer.ts', import.meta.url));
const ENV = 'SECSESS_KEYLOG_FILE';

/** The loader flags this test runs under (tsx, source conditions), for the child to use too. */
function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

interface Child {
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  readonly line: Promise<string>;
  end(): void;
}

/** Runs keylog-peer.ts with `args`; `keylog` is the variable's value (undefined: unset). */
function peer(t: ExecutionContext, args: string[], keylog: string | undefined): Child {
  const env = { ...process.env };
  delete env[ENV];
  if (keylog !== undefined) env[ENV] = keylog;
  const child = spawn(process.execPath, [...loaderArgs(), PEER, ...args], { env, stdio: 'pipe' });
  t.teardown(() => child.kill());
  let resolveLine: (line: string) => void;
  const line = new Promise<string>((resolve) => (resolveLine = resolve));
  const out: Child = {
    stdout: '',
    stderr: '',
    exited: once(child, 'exit').then(([code]) => code as number | null),
    line,
    end: () => child.stdin.end(),
  };
  child.stdout.on('data', (d: Buffer) => {
    out.stdout += d.toString();
    if (out.stdout.includes('\n')) resolveLine(out.stdout.split('\n')[0]!);
  });
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  void out.exited.then(() => resolveLine(''));
  return out;
}

interface Captured {
  readonly c2s: Buffer[];
  readonly s2c: Buffer[];
  closed: Promise<unknown>;
}

/** A relay to 127.0.0.1:`port` that records the bytes of each connection, both ways. */
async function recordingRelay(
  t: ExecutionContext,
  port: number,
): Promise<{ port: number; connections: Captured[] }> {
  const connections: Captured[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    const captured: Captured = {
      c2s: [],
      s2c: [],
      closed: Promise.all([once(inbound, 'close'), once(outbound, 'close')]),
    };
    connections.push(captured);
    inbound.on('data', (d: Buffer) => captured.c2s.push(d));
    outbound.on('data', (d: Buffer) => captured.s2c.push(d));
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    relay.close();
  });
  return { port: (relay.address() as { port: number }).port, connections };
}

/** The frames of one direction: type and whole frame. */
function frames(chunks: Buffer[]): { type: number; frame: Buffer }[] {
  const bytes = Buffer.concat(chunks);
  const out: { type: number; frame: Buffer }[] = [];
  for (let at = 0; at + 4 <= bytes.length;) {
    const length = bytes.readUIntBE(at + 1, 3);
    out.push({ type: bytes[at]!, frame: bytes.subarray(at, at + 4 + length) });
    at += 4 + length;
  }
  return out;
}

const HASHES: Record<number, [string, number]> = { 1: ['sha256', 32], 2: ['sha384', 48], 3: ['sha512', 64] };
const CIPHERS: Record<number, [string, number]> = {
  1: ['aes-128-cbc', 16],
  2: ['aes-256-cbc', 32],
  3: ['aes-256-gcm', 32],
};

interface Suite {
  readonly hash: string;
  readonly hashLength: number;
  readonly cipher: string;
  readonly keyLength: number;
}

/** The suite of a ClientHello or ResumeHello frame (preamble 5, then asymmetric, symmetric, hash). */
function helloSuite(hello: Buffer): Suite {
  const [hash, hashLength] = HASHES[hello[4 + 5 + 2]!]!;
  const [cipher, keyLength] = CIPHERS[hello[4 + 5 + 1]!]!;
  return { hash, hashLength, cipher, keyLength };
}

/** The hello's client_random: after preamble (5), suite (3) and flags (1). */
const clientRandom = (hello: Buffer): string => hello.subarray(4 + 9, 4 + 9 + 32).toString('hex');

function expand(suite: Suite, secret: Buffer, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync(suite.hash, secret, Buffer.alloc(0), Buffer.from(label, 'ascii'), length));
}

/** Opens one Record frame with traffic secret `secret` at `seq` (PROTOCOL.md §4, §5), by node:crypto alone. */
function openRecord(
  suite: Suite,
  secret: Buffer,
  seq: number,
  frame: Buffer,
): { type: number; payload: Buffer } {
  const key = expand(suite, secret, 'secsess v1 key', suite.keyLength);
  const header = Buffer.alloc(12);
  header.writeBigUInt64BE(BigInt(seq));
  frame.copy(header, 8, 0, 4);
  const body = frame.subarray(4);
  let plain: Buffer;
  if (suite.cipher.endsWith('gcm')) {
    const nonce = expand(suite, secret, 'secsess v1 iv', 12);
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= header[i]!;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(header);
    decipher.setAuthTag(body.subarray(body.length - 16));
    plain = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  } else {
    const mac = expand(suite, secret, 'secsess v1 mac', suite.hashLength);
    const ivAndCiphertext = body.subarray(0, body.length - suite.hashLength);
    const tag = createHmac(suite.hash, mac).update(header).update(ivAndCiphertext).digest();
    if (!timingSafeEqual(tag, body.subarray(body.length - suite.hashLength))) throw new Error('tag mismatch');
    const decipher = createDecipheriv(suite.cipher, key, ivAndCiphertext.subarray(0, 16));
    plain = Buffer.concat([decipher.update(ivAndCiphertext.subarray(16)), decipher.final()]);
  }
  if (plain.readBigUInt64BE(0) !== BigInt(seq)) throw new Error('inner seq');
  return { type: plain[8]!, payload: plain.subarray(13, 13 + plain.readUInt32BE(9)) };
}

/** Every record of one direction opened with its logged secret (following KeyUpdate: next T). */
function openAll(suite: Suite, secretHex: string, direction: Buffer[]): { type: number; payload: Buffer }[] {
  let secret: Buffer = Buffer.from(secretHex, 'hex');
  const records = frames(direction).filter((f) => f.type === 0x17);
  return records.map(({ frame }, seq) => {
    const record = openRecord(suite, secret, seq, frame);
    if (record.type === 0x07) secret = expand(suite, secret, 'secsess v1 update', suite.hashLength);
    return record;
  });
}

/** The key log's lines as [label, client_random, secret]; every line checked for shape. */
async function logLines(t: ExecutionContext, path: string): Promise<string[][]> {
  const text = await readFile(path, 'utf8');
  t.true(text.endsWith('\n'));
  return text
    .trimEnd()
    .split('\n')
    .map((line) => {
      t.regex(line, /^SECSESS_[A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]+$/);
      return line.split(' ');
    });
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-keylog-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a server child and a client child (`sessions` sessions through a recording relay). */
async function run(
  t: ExecutionContext,
  serverLog: string | undefined,
  clientLog: string | undefined,
  sessions: number,
  suite?: 'gcm',
): Promise<{ server: Child; client: Child; connections: Captured[]; resumed: boolean[] }> {
  const server = peer(t, ['server'], serverLog);
  const port = Number(await server.line);
  t.true(port > 0, server.stderr);
  const relay = await recordingRelay(t, port);
  const client = peer(
    t,
    ['client', String(relay.port), String(sessions), ...(suite ? [suite] : [])],
    clientLog,
  );
  t.is(await client.exited, 0, client.stderr);
  server.end();
  t.is(await server.exited, 0, server.stderr);
  await Promise.all(relay.connections.map((c) => c.closed));
  return { server, client, connections: relay.connections, resumed: JSON.parse(client.stdout) as boolean[] };
}

const WARNING =
  /SecsessWarning: SECSESS_KEYLOG_FILE is set: session secrets are being written to (\S+); anyone who reads it can decrypt these sessions/;

/** Checks one connection against its two logged lines: labels, client_random, decryption. */
function checkConnection(t: ExecutionContext, captured: Captured, lines: string[][], message: string): void {
  const hello = frames(captured.c2s).find((f) => f.type === 0x03 || f.type === 0x05)!.frame;
  const random = clientRandom(hello);
  const suite = helloSuite(hello);
  t.deepEqual(
    lines.map(([label, r]) => [label, r]),
    [
      ['SECSESS_C2S_TRAFFIC_SECRET_0', random],
      ['SECSESS_S2C_TRAFFIC_SECRET_0', random],
    ],
  );
  for (const [, , secret] of lines) t.is(secret!.length, suite.hashLength * 2);
  const c2s = openAll(suite, lines[0]![2]!, captured.c2s);
  const s2c = openAll(suite, lines[1]![2]!, captured.s2c);
  t.is(c2s[0]!.type, 0x11, 'ClientFinished');
  t.is(s2c[0]!.type, 0x10, 'ServerFinished');
  t.is(s2c[0]!.payload.length, suite.hashLength);
  t.true(
    c2s.some((r) => r.type === 0x01 && r.payload.toString() === message),
    'the Data record, decrypted',
  );
  t.true(
    s2c.some((r) => r.type === 0x01 && r.payload.toString() === message),
    'the echo, decrypted',
  );
  t.true(c2s.some((r) => r.type === 0x04) && s2c.some((r) => r.type === 0x04), 'both Close records');
}

for (const suite of [undefined, 'gcm'] as const) {
  test(`a TCP session (${suite ?? 'AES-256-CBC/SHA-256'}) logs both traffic secrets, the same lines on both sides, in a new 0600 file, and they decrypt the captured records`, async (t) => {
    const dir = await tempDir(t);
    const serverLog = join(dir, 'server.log');
    const clientLog = join(dir, 'client.log');
    const { server, client, connections, resumed } = await run(t, serverLog, clientLog, 1, suite);
    t.deepEqual(resumed, [false]);
    t.is(connections.length, 1);
    const lines = await logLines(t, clientLog);
    t.deepEqual(await logLines(t, serverLog), lines, 'both roles write the same lines');
    t.is(lines.length, 2);
    checkConnection(t, connections[0]!, lines, 'keylog message 0');
    for (const path of [serverLog, clientLog]) t.is(statSync(path).mode & 0o777, 0o600);
    t.is(WARNING.exec(server.stderr)?.[1], serverLog);
    t.is(WARNING.exec(client.stderr)?.[1], clientLog);
    t.is(client.stderr.match(/SECSESS_KEYLOG_FILE/g)?.length, 1, 'one warning per process');
  });
}

test('a resumed TCP session logs its own secrets (the resumed schedule) under the ResumeHello’s client_random', async (t) => {
  const dir = await tempDir(t);
  const serverLog = join(dir, 'server.log');
  const clientLog = join(dir, 'client.log');
  const { client, connections, resumed } = await run(t, serverLog, clientLog, 3);
  t.deepEqual(resumed, [false, true, true]);
  const lines = await logLines(t, clientLog);
  t.deepEqual(await logLines(t, serverLog), lines);
  t.is(lines.length, 6);
  t.is(connections.length, 3);
  for (let i = 0; i < 3; i++) {
    t.is(frames(connections[i]!.c2s)[0]!.type, i === 0 ? 0x03 : 0x05);
    checkConnection(t, connections[i]!, lines.slice(2 * i, 2 * i + 2), `keylog message ${i}`);
  }
  t.is(client.stderr.match(/SECSESS_KEYLOG_FILE/g)?.length, 1, 'one warning per process');
});

test('an existing key log file is appended to and its mode left alone', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'keys.log');
  await writeFile(path, '# earlier\n');
  await chmod(path, 0o640);
  await run(t, undefined, path, 1);
  const text = await readFile(path, 'utf8');
  t.true(text.startsWith('# earlier\nSECSESS_C2S_TRAFFIC_SECRET_0 '));
  t.is(text.split('\n').length, 4);
  t.is(statSync(path).mode & 0o777, 0o640);
});

test('unset or empty, nothing is written and nothing is said', async (t) => {
  const dir = await tempDir(t);
  for (const value of [undefined, '']) {
    const { server, client, resumed } = await run(t, value, value, 2);
    t.deepEqual(resumed, [false, true]);
    t.notRegex(server.stderr + client.stderr, /SECSESS_KEYLOG|Warning/);
  }
  t.deepEqual(await readdir(dir), []);
});

test('a key log that cannot be written warns once and the sessions go on', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'missing-dir', 'keys.log');
  const { client, resumed } = await run(t, undefined, path, 2);
  t.deepEqual(resumed, [false, true]);
  t.is(client.stderr.match(/SECSESS_KEYLOG_FAILED/g)?.length, 1, client.stderr);
  t.false(existsSync(path));
});
