/**
 * NODE_DEBUG=secsess says what happened, never what was said: a real server and a real
 * client, each in its own process, log role, endpoints, suite, both key fingerprints, the
 * trust decision and the close code; the built CLI's `probe` logs its probe and the server
 * names it. No plaintext, and no long hex or base64 run but the fingerprints.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { fixtureKeys } from './helpers/keys.js';
import { loaderArgs } from './helpers/server-process.js';
import { waitUntil } from './helpers/net.js';

const PEER = fileURLToPath(new URL('./fixtures/debug-peer.ts', import.meta.url));
const SERVER_KEY = fileURLToPath(new URL('./fixtures/server-2048.key', import.meta.url));
const CLIENT_KEY = fileURLToPath(new URL('./fixtures/client-2048.key', import.meta.url));
const CLI = fileURLToPath(new URL('../../cli/dist/secsess-keygen.js', import.meta.url));
const SERVER_FP = fixtureKeys('server-2048').publicKey.fingerprint();
const CLIENT_FP = fixtureKeys('client-2048').publicKey.fingerprint();
/** What the client says: it must never reach a log, in any encoding. */
const CANARY = 'plaintext-canary-7f3a9c the secret message';

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function run(t: ExecutionContext, command: string, args: string[]): Run {
  const child = spawn(command, args, {
    env: { ...process.env, NODE_DEBUG: 'secsess' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d: Buffer) => (r.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return r;
}

function node(t: ExecutionContext, args: string[]): Run {
  return run(t, process.execPath, [...loaderArgs(), PEER, ...args]);
}

/** A temp dir (removed after the test) holding copies of the fixture keys, mode 0600 as key files must be. */
async function keyDir(t: ExecutionContext): Promise<{ dir: string; serverKey: string; clientKey: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-debug-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serverKey = join(dir, 'server.key');
  const clientKey = join(dir, 'client.key');
  await copyFile(SERVER_KEY, serverKey);
  await copyFile(CLIENT_KEY, clientKey);
  chmodSync(serverKey, 0o600);
  chmodSync(clientKey, 0o600);
  return { dir, serverKey, clientKey };
}

async function startServer(t: ExecutionContext, key: string): Promise<{ server: Run; port: number }> {
  const server = node(t, ['server', key]);
  await waitUntil(
    () => server.stdout.includes('\n') || server.child.exitCode !== null,
    'the server listens',
    3000,
  );
  if (!server.stdout.includes('\n')) throw new Error(`the server did not start: ${server.stderr}`);
  const port = (JSON.parse(server.stdout) as { port: number }).port;
  return { server, port };
}

/** Debug lines of this log (`SECSESS <pid>: …`). */
function lines(log: string): string[] {
  return log.split('\n').filter((l) => /^SECSESS \d+: /.test(l));
}

/** No secret in `log`: not the plaintext (as text, hex or base64), no long hex or base64 run but fingerprints. */
function assertNoSecrets(t: ExecutionContext, log: string, who: string): void {
  const message = Buffer.from(CANARY);
  for (const form of [CANARY, 'plaintext-canary', message.toString('hex'), message.toString('base64')]) {
    t.false(log.includes(form), `${who}: the plaintext reached the log`);
  }
  const withoutFingerprints = log.replace(/SHA256:[A-Za-z0-9+/]{43}/g, 'SHA256:…');
  t.deepEqual(withoutFingerprints.match(/[0-9a-fA-F]{24,}/g) ?? [], [], `${who}: a long hex run in the log`);
  t.deepEqual(
    withoutFingerprints.match(/[A-Za-z0-9+/=]{40,}/g) ?? [],
    [],
    `${who}: a long base64 run in the log`,
  );
}

test('a server and a client process log endpoints, suite, fingerprints, trust and close code; no secrets', async (t) => {
  const { dir, serverKey, clientKey } = await keyDir(t);
  const { server, port } = await startServer(t, serverKey);
  const client = node(t, ['client', String(port), join(dir, 'known_hosts'), clientKey, CANARY]);
  t.is(await client.exited, 0, client.stderr);
  t.deepEqual(JSON.parse(client.stdout), { echoed: true });
  await waitUntil(() => server.stderr.includes('closed, code'), 'the server logs the close', 3000);
  server.child.kill('SIGTERM');
  await server.exited;

  const s = lines(server.stderr).join('\n');
  const c = lines(client.stderr).join('\n');
  t.log(`server:\n${s}\nclient:\n${c}`);
  // The server: where it listens and with which key; the session: role, endpoints, suite, both keys; the close.
  t.regex(s, new RegExp(`server: listening on 127\\.0\\.0\\.1:${port}, keys ${esc(SERVER_FP)}`));
  t.regex(
    s,
    new RegExp(
      `server: session open, local 127\\.0\\.0\\.1:${port}, remote 127\\.0\\.0\\.1:\\d+, ` +
        `suite RSA/AES-256-CBC/SHA-256, server key ${esc(SERVER_FP)}, client key ${esc(CLIENT_FP)}`,
    ),
  );
  t.regex(s, /server: session with 127\.0\.0\.1:\d+ closed, code 4001, reason "done"/);
  // The client: what it trusts, what it decided, the session, the close.
  t.regex(
    c,
    new RegExp(
      `client: connecting to 127\\.0\\.0\\.1:${port}, trust tofu \\(.*known_hosts\\), asking for the server key`,
    ),
  );
  t.regex(c, new RegExp(`trust: 127\\.0\\.0\\.1:${port} key ${esc(SERVER_FP)} is new: tofu`));
  t.regex(
    c,
    new RegExp(`trust: 127\\.0\\.0\\.1:${port} key ${esc(SERVER_FP)} tofu-learned into .*known_hosts`),
  );
  t.regex(
    c,
    new RegExp(
      `client: session open, local 127\\.0\\.0\\.1:\\d+, remote 127\\.0\\.0\\.1:${port}, ` +
        `suite RSA/AES-256-CBC/SHA-256, server key ${esc(SERVER_FP)}, client key ${esc(CLIENT_FP)}`,
    ),
  );
  t.regex(c, /client: session with 127\.0\.0\.1:\d+ closed, code 4001/);
  assertNoSecrets(t, server.stderr, 'server');
  assertNoSecrets(t, client.stderr, 'client');
});

test('NODE_DEBUG=secsess secsess-keygen probe logs the probe, and the server names it a probe', async (t) => {
  t.true(existsSync(CLI), `build the CLI first (npm run -s build): ${CLI}`);
  const { serverKey } = await keyDir(t);
  const { server, port } = await startServer(t, serverKey);
  const probe = run(t, process.execPath, [CLI, 'probe', `127.0.0.1:${port}`]);
  t.is(await probe.exited, 0, probe.stderr);
  t.true(probe.stdout.includes(SERVER_FP));
  await waitUntil(() => server.stderr.includes('server: probe from'), 'the server logs the probe', 3000);
  server.child.kill('SIGTERM');
  await server.exited;
  const p = lines(probe.stderr).join('\n');
  const s = lines(server.stderr).join('\n');
  t.log(`probe:\n${p}\nserver:\n${s}`);
  t.regex(p, new RegExp(`probe: asking 127\\.0\\.0\\.1:${port} for its key`));
  t.regex(
    p,
    new RegExp(`probe: 127\\.0\\.0\\.1:${port} answered with key ${esc(SERVER_FP)} \\(unauthenticated\\)`),
  );
  t.regex(s, /server: probe from 127\.0\.0\.1:\d+: key request only/);
  t.notRegex(s, /handshake with .* failed/);
  assertNoSecrets(t, probe.stderr, 'probe');
  assertNoSecrets(t, server.stderr, 'server');
});

function esc(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
