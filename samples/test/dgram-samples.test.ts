/**
 * The datagram samples as processes (samples/dgram-server.ts, samples/dgram-client.ts),
 * built (`npm run build` first, as `npm test` does): the echo over UDP on 127.0.0.1 and
 * ::1, through a hostile relay that duplicates and flips bits, and the exit statuses.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyPair, PublicKey } from '@secsess/keys';
import { DatagramClient } from '@secsess/sdk';
import { faults, startUdpProxy } from '../../sdk/test/helpers/udp-proxy.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const SERVER = join(DIST, 'dgram-server.js');
const CLIENT = join(DIST, 'dgram-client.js');
const LAST_LINE = /^sent (\d+), received (\d+), duplicates (\d+), corrupted (\d+)$/;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(script: string, args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function lastLine(stdout: string): string {
  return stdout.trimEnd().split('\n').at(-1) ?? '';
}

async function keyFiles(t: ExecutionContext, name = 'server'): Promise<{ key: string; pub: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-dgram-samples-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  await pair.privateKey.save(key);
  await pair.publicKey.save(pub);
  return { key, pub };
}

/** Starts the sample server on `host` port 0 and reads its two header lines. */
async function startServer(
  t: ExecutionContext,
  key: string,
  host = '127.0.0.1',
): Promise<{ child: ChildProcess; port: number; fingerprint: string }> {
  const child = spawn(process.execPath, [SERVER, '--host', host, '--port', '0', '--key', key], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const header: string[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    header.push(line);
    if (header.length === 2) break;
  }
  child.stdout!.resume();
  const shown = host.includes(':') ? `\\[${host}\\]` : host.replace(/\./g, '\\.');
  const listening = new RegExp(`^listening on ${shown}:(\\d+)$`).exec(header[0] ?? '');
  const fingerprint = /^fingerprint (SHA256:[A-Za-z0-9+/]{43})$/.exec(header[1] ?? '');
  if (!listening || !fingerprint) throw new Error(`unexpected server output ${JSON.stringify(header)}`);
  return { child, port: Number(listening[1]), fingerprint: fingerprint[1]! };
}

async function stop(child: ChildProcess): Promise<[number | null, string | null]> {
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  child.kill('SIGTERM');
  return exited;
}

test.before(() => {
  if (!existsSync(SERVER) || !existsSync(CLIENT)) {
    throw new Error('samples/dist is missing: run `npm run build` before these tests');
  }
});

for (const host of ['127.0.0.1', '::1']) {
  test(`the datagram client's echoes come back whole and once over ${host}; the server exits 0 on SIGTERM`, async (t) => {
    const { key, pub } = await keyFiles(t);
    const server = await startServer(t, key, host);
    const result = await run(CLIENT, [
      ...['--host', host, '--port', String(server.port), '--pub', pub],
      ...['--count', '200', '--size', '1000', '--interval', '1'],
    ]);
    t.is(result.code, 0, result.stderr);
    t.true(result.stdout.includes(`server ${server.fingerprint}`));
    const last = LAST_LINE.exec(lastLine(result.stdout));
    t.truthy(last, result.stdout);
    t.is(last![1], '200');
    // Loopback may lose a datagram under load; it may not duplicate or corrupt one.
    t.true(Number(last![2]) > 0 && Number(last![2]) <= 200);
    t.is(last![3], '0');
    t.is(last![4], '0');
    t.deepEqual(await stop(server.child), [0, null]);
  });
}

test('through a relay that duplicates, flips bits and drops, no echo is duplicated or corrupted', async (t) => {
  const { key, pub } = await keyFiles(t);
  const server = await startServer(t, key);
  // Records only (0x47): handshake datagrams pass untouched so the run does not hang on them.
  const tamper = faults({ duplicate: 0.3, flip: 0.1, loss: 0.05 }, 14, (d) => d.data[0] !== 0x47);
  const proxy = await startUdpProxy({ target: { address: '127.0.0.1', port: server.port }, tamper });
  t.teardown(() => proxy.close());
  const result = await run(CLIENT, [
    ...['--port', String(proxy.port), '--pub', pub],
    ...['--count', '300', '--size', '64', '--interval', '1'],
  ]);
  t.is(result.code, 0, result.stderr);
  const last = LAST_LINE.exec(lastLine(result.stdout));
  t.truthy(last, result.stdout);
  t.is(last![1], '300');
  t.true(Number(last![2]) > 0 && Number(last![2]) < 300, `received ${last![2]}`);
  t.is(last![3], '0');
  t.is(last![4], '0');
  t.true(tamper.log.c2s.duplicated + tamper.log.s2c.duplicated > 0);
  t.true(tamper.log.c2s.flipped + tamper.log.s2c.flipped > 0);
  await stop(server.child);
});

test('the datagram client exits 1 with a coded error when it trusts another key', async (t) => {
  const { key } = await keyFiles(t);
  const { pub: otherPub } = await keyFiles(t, 'other');
  const server = await startServer(t, key);
  const result = await run(CLIENT, ['--port', String(server.port), '--pub', otherPub, '--count', '1']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^dgram-client failed: ERR_[A-Z_]+: /m);
  t.notRegex(result.stdout, /^sent /m);
  await stop(server.child);
});

test('the datagram samples exit 2 with their usage on bad arguments, 0 on --help', async (t) => {
  for (const args of [
    ['--port', 'eighty', '--pub', 'x'],
    ['--pub', 'x'],
    ['--port', '1', '--pub', 'x', '--size', '3'],
  ]) {
    const result = await run(CLIENT, args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /usage: dgram-client /);
  }
  const server = await run(SERVER, ['--bogus']);
  t.is(server.code, 2);
  t.regex(server.stderr, /usage: dgram-server /);
  for (const [script, name] of [
    [SERVER, 'dgram-server'],
    [CLIENT, 'dgram-client'],
  ] as const) {
    const help = await run(script, ['--help']);
    t.is(help.code, 0);
    t.regex(help.stdout, new RegExp(`^usage: ${name} `));
    t.regex(help.stdout, /Exit status: 0/);
  }
});

test('a message larger than the server can echo is not echoed, and the server keeps serving', async (t) => {
  const { key, pub } = await keyFiles(t);
  const server = await startServer(t, key);
  const serverKey = await PublicKey.load(pub);
  // This client allows itself 1400-byte datagrams; the server's limit is 1200 (1118-byte messages).
  const big = await DatagramClient.create(serverKey, {}, { maxDatagramSize: 1400 }).connect(
    `127.0.0.1:${server.port}`,
  );
  t.teardown(() => big.destroy());
  t.true(big.send(Buffer.alloc(1300)));
  // A well-behaved client afterwards still gets its echoes: the server did not die.
  const result = await run(CLIENT, ['--port', String(server.port), '--pub', pub, '--count', '20']);
  t.is(result.code, 0, result.stderr);
  t.regex(lastLine(result.stdout), /^sent 20, received [1-9]\d*, duplicates 0, corrupted 0$/);
  t.is(server.child.exitCode, null, 'the server is still running');
  t.deepEqual(await stop(server.child), [0, null]);
});
