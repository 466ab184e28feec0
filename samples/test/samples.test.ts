/**
 * The built samples as processes: `npm run demo` (samples/dist/demo.js) and the ping-pong
 * server and client. These run the compiled JavaScript, so `npm run build` comes first
 * (`npm test` does it).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyPair } from '@secsess/keys';
import { Client } from '@secsess/sdk';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const DEMO = join(DIST, 'demo.js');
const SERVER = join(DIST, 'ping-pong', 'server.js');
const CLIENT = join(DIST, 'ping-pong', 'client.js');

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a built script with plain node (no tsx: what users run). */
async function run(script: string, args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-samples-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function keyPairFiles(dir: string, name: string): Promise<{ key: string; pub: string }> {
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  await pair.privateKey.save(key);
  await pair.publicKey.save(pub);
  return { key, pub };
}

/** Starts the sample server and reads its two header lines. */
async function startServer(
  t: ExecutionContext,
  key: string,
): Promise<{ child: ChildProcess; port: number; fingerprint: string }> {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--key', key], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const header: string[] = [];
  for await (const line of lines) {
    header.push(line);
    if (header.length === 2) break;
  }
  child.stdout!.resume();
  const listening = /^listening on 127\.0\.0\.1:(\d+)$/.exec(header[0] ?? '');
  const fingerprint = /^fingerprint (SHA256:[A-Za-z0-9+/]{43})$/.exec(header[1] ?? '');
  if (!listening || !fingerprint) throw new Error(`unexpected server output ${JSON.stringify(header)}`);
  return { child, port: Number(listening[1]), fingerprint: fingerprint[1]! };
}

test.before(() => {
  if (!existsSync(DEMO) || !existsSync(SERVER) || !existsSync(CLIENT)) {
    throw new Error('samples/dist is missing: run `npm run build` before these tests');
  }
});

test('the demo makes keys with secsess-keygen, runs the ping-pong and stops the server', async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, 'keys');
  const result = await run(DEMO, ['--keys', keys, '--rounds', '20']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^keys: generating an RSA-2048 pair with secsess-keygen/m);
  t.regex(result.stdout, /^client: round trips: 20 of 1024 bytes, all echoes intact$/m);
  t.regex(result.stdout, /^client: time per round trip: \d+\.\d{3} ms$/m);
  t.regex(result.stdout, /^server: stopped \(exit 0\)$/m);
  t.regex(result.stdout, /^server fingerprint: SHA256:/m);
  t.regex(result.stdout, /^demo: ok$/m);
  t.is((await stat(join(keys, 'server.key'))).mode & 0o777, 0o600);
  // A second run reuses the keys.
  const again = await run(DEMO, ['--keys', keys, '--rounds', '5']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^keys: using /m);
});

test('the sample server echoes concurrent sample clients and exits 0 on SIGTERM', async (t) => {
  const dir = await tempDir(t);
  const { key, pub } = await keyPairFiles(dir, 'server');
  const server = await startServer(t, key);
  const clients = await Promise.all(
    [1, 2, 3].map(() =>
      run(CLIENT, ['--port', String(server.port), '--pub', pub, '--rounds', '25', '--size', '4096']),
    ),
  );
  for (const c of clients) {
    t.is(c.code, 0, c.stderr);
    t.regex(c.stdout, /^round trips: 25 of 4096 bytes, all echoes intact$/m);
    t.true(c.stdout.includes(`server ${server.fingerprint}`));
  }
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null]);
});

test('the sample server closes a session its client half-closed, once it has echoed everything', async (t) => {
  const dir = await tempDir(t);
  const { key, pub } = await keyPairFiles(dir, 'server');
  const server = await startServer(t, key);
  const session = await Client.create(pub).connect(`127.0.0.1:${server.port}`);
  await session.write('one');
  await session.write('two');
  await session.end();
  const got: string[] = [];
  try {
    for (;;) {
      const message = await session.read({ signal: AbortSignal.timeout(5000) });
      if (message === null) break;
      got.push(String(message));
    }
  } catch (err) {
    got.push((err as { code: string }).code);
  }
  t.deepEqual(got, ['one', 'two'], 'the echoes, then null: the server closed the session');
  await session.closed;
  t.is(session.closeCode, 1000);
  server.child.kill('SIGTERM');
  await once(server.child, 'exit');
});

test('the sample client exits 1 printing ERR_SERVER_KEY_MISMATCH when it trusts another key', async (t) => {
  const dir = await tempDir(t);
  const { key } = await keyPairFiles(dir, 'server');
  const { pub: otherPub } = await keyPairFiles(dir, 'other');
  const server = await startServer(t, key);
  const result = await run(CLIENT, ['--port', String(server.port), '--pub', otherPub, '--rounds', '1']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^client failed: ERR_SERVER_KEY_MISMATCH: /m);
  server.child.kill('SIGTERM');
  await once(server.child, 'exit');
});

test('the samples exit 2 with a usage line on bad arguments', async (t) => {
  const client = await run(CLIENT, ['--port', 'eighty']);
  t.is(client.code, 2);
  t.regex(client.stderr, /^usage: client /m);
  const server = await run(SERVER, ['--bogus']);
  t.is(server.code, 2);
  t.regex(server.stderr, /usage: server /);
});

test('the samples accept --help (and -h): usage and options on stdout, exit 0, nothing started', async (t) => {
  for (const [script, name] of [
    [SERVER, 'server'],
    [CLIENT, 'client'],
  ] as const) {
    for (const flag of ['--help', '-h']) {
      const result = await run(script, [flag]);
      t.is(result.code, 0, `${name} ${flag}: ${result.stderr}`);
      t.is(result.stderr, '');
      t.regex(result.stdout, new RegExp(`^usage: ${name} `));
      t.regex(result.stdout, /-h, --help/);
      t.regex(result.stdout, /Exit status: 0/);
    }
  }
});
