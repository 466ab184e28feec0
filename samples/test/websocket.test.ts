/**
 * The WebSocket sample (samples/websocket/): secsess over WebSocket messages on the sans-IO
 * core, over real sockets on 127.0.0.1. The server and client run built (`npm run build`
 * first); the in-test clients drive the same SecureWebSocket adapter from source.
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
import { WebSocket } from 'ws';
import { KeyPair } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import type { SessionError } from '@secsess/sdk/core';
import { SecureWebSocket } from '../websocket/secure-websocket.js';

const DIST = fileURLToPath(new URL('../dist/websocket/', import.meta.url));
const SERVER = join(DIST, 'server.js');
const CLIENT = join(DIST, 'client.js');

test.before(() => {
  if (!existsSync(SERVER) || !existsSync(CLIENT)) {
    throw new Error('samples/dist is missing: run `npm run build` before these tests');
  }
});

interface Keys {
  readonly key: string;
  readonly pub: string;
  readonly publicKey: PublicKey;
}

async function keyFiles(t: ExecutionContext, name: string): Promise<Keys> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-ws-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  await pair.save(join(dir, name));
  return { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`), publicKey: pair.publicKey };
}

/** Starts the built sample server; `lines` collects what it prints after its header. */
async function startServer(
  t: ExecutionContext,
  key: string,
): Promise<{ url: string; lines: string[]; child: ChildProcess }> {
  const child = spawn(process.execPath, [SERVER, '--key', key], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const header = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (lines.length === 2) resolve(lines[0]!);
    });
  });
  const url = /^listening on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(await header)?.[1];
  if (!url) throw new Error(`unexpected server output ${JSON.stringify(lines)}`);
  return { url, lines, child };
}

async function run(
  script: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** Resolves once `done()` holds, checking every 20 ms (bounded). */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1500 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}

/** An in-test client: a SecureWebSocket over a real WebSocket, recording what happens. */
async function connect(url: string, serverKey: PublicKey) {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const session = new SecureWebSocket(ws, { role: 'client', connection: { serverKey } });
  const state = {
    ws,
    session,
    messages: [] as string[],
    error: null as SessionError | null,
    closed: null as number | null,
  };
  session.on('message', (m) => state.messages.push(String(m)));
  session.on('error', (err) => (state.error = err));
  session.on('close', (code) => (state.closed = code));
  await until(() => state.messages.length > 0 || state.closed !== null, 'the greeting');
  return state;
}

test('the built WebSocket client and server exchange messages both ways and close with 1000; --help works', async (t) => {
  const keys = await keyFiles(t, 'server');
  const server = await startServer(t, keys.key);
  const result = await run(CLIENT, ['--url', server.url, '--pub', keys.pub, '--rounds', '20']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^welcome, session 1$/m);
  t.regex(result.stdout, /^round trips: 20, all echoes intact$/m);
  t.regex(result.stdout, /^closed 1000$/m);
  await until(() => server.lines.includes('closed 1 1000'), 'the server to log the close');
  t.true(server.lines.includes('open 1'));

  const help = await run(CLIENT, ['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: client --url/);
  t.is((await run(SERVER, ['--port', 'x'])).code, 2);

  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null]);
});

test('a tampered record ends that WebSocket session with ERR_RECORD_AUTH; the other session keeps working', async (t) => {
  const keys = await keyFiles(t, 'server');
  const server = await startServer(t, keys.key);
  const good = await connect(server.url, keys.publicKey);
  const bad = await connect(server.url, keys.publicKey);
  t.deepEqual(good.messages, ['welcome, session 1']);
  t.deepEqual(bad.messages, ['welcome, session 2']);

  // Flip the last byte (the tag) of the next record `bad` sends.
  const send = bad.ws.send.bind(bad.ws);
  bad.ws.send = ((data: Buffer, ...rest: never[]) => {
    const tampered = Buffer.from(data);
    tampered[tampered.length - 1]! ^= 0x01;
    send(tampered, ...rest);
  }) as typeof bad.ws.send;
  bad.session.send('tampered in flight');
  await until(() => bad.closed !== null, 'the tampered session to end');
  await until(() => server.lines.includes('failed 2 ERR_RECORD_AUTH'), 'the server to log the failure');
  t.is(bad.closed, 1006);
  t.is(bad.error?.code, 'ERR_RECORD_AUTH');
  t.deepEqual(bad.messages, ['welcome, session 2'], 'nothing of the tampered record is delivered');

  good.session.send('still here');
  await until(() => good.messages.length === 2, 'the echo');
  t.is(good.messages[1], 'still here');
  good.session.close();
  await until(() => good.closed !== null, 'the close');
  t.is(good.closed, 1000);
  t.is(good.error, null);

  // A client holding another server key is refused with a coded error, and the server goes on.
  const other = await keyFiles(t, 'other');
  const refused = await run(CLIENT, ['--url', server.url, '--pub', other.pub]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /ERR_SERVER_KEY_MISMATCH/);
  const again = await run(CLIENT, ['--url', server.url, '--pub', keys.pub, '--rounds', '3']);
  t.is(again.code, 0, again.stderr);
});
