import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { KeyPair } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { Server } from '@secsess/sdk';
import { assertBuilt, runCli } from './helpers/cli.js';

let home!: string;
let server!: Server;
let port!: number;
let publicKey!: PublicKey;
test.before(async () => {
  assertBuilt();
  home = await mkdtemp(join(tmpdir(), 'secsess-cli-probe-'));
  // Children inherit this: no test can reach the real ~/.secsess.
  process.env['SECSESS_HOME'] = join(home, 'secsess-home');
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  publicKey = pair.publicKey;
  server = Server.create('127.0.0.1:0', pair.privateKey, undefined, { workers: 0 });
  server.on('handshakeError', () => {});
  await server.start();
  port = server.address!.port;
});
test.after.always(async () => {
  await server?.stop();
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

test.serial("probe prints the server's fingerprint and OpenSSH line, as --json too", async (t) => {
  const text = await runCli(['probe', `127.0.0.1:${port}`]);
  t.is(text.code, 0, text.stderr);
  t.true(text.stdout.startsWith(`127.0.0.1:${port} ${publicKey.fingerprint()} (RSA 2048)`), text.stdout);
  t.regex(text.stderr, /unauthenticated/);
  const json = await runCli(['probe', `127.0.0.1:${port}`, '--json']);
  t.is(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { fingerprint: string; openssh: string; port: number };
  t.is(doc.fingerprint, publicKey.fingerprint());
  t.is(doc.port, port);
  t.true(doc.openssh.startsWith('ssh-rsa AAAA'));
});

test.serial('probe --trust records the key in known_hosts once', async (t) => {
  const knownHosts = join(home, 'kh');
  const first = await runCli(['probe', `127.0.0.1:${port}`, '--trust', '--known-hosts', knownHosts]);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /trusted: line 1 of/);
  const again = await runCli(['probe', `127.0.0.1:${port}`, '--trust', '--known-hosts', knownHosts]);
  t.regex(again.stdout, /already trusted: line 1 of/);
  const file = await readFile(knownHosts, 'utf8');
  t.is(file.trim().split('\n').length, 1);
  t.true(file.startsWith(`[127.0.0.1]:${port} ssh-rsa `));
});

test.serial('probe of a port where nothing listens fails with exit 1 and a coded message', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const result = await runCli(['probe', `127.0.0.1:${deadPort}`, '--timeout', '5000']);
  t.is(result.code, 1);
  t.regex(result.stderr, /ERR_TRANSPORT/);
});

test.serial('probe rejects a target without a port as a usage error', async (t) => {
  const result = await runCli(['probe', 'localhost']);
  t.is(result.code, 2);
});
