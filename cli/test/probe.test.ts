import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { KeyPair } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { Server } from '@secsess/sdk';
import { assertBuilt, runCli } from './helpers/cli.js';
import { refusedPort } from './helpers/refused-port.js';

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
  t.regex(text.stderr, /^warning: probing proves nothing by itself/m);
  t.regex(text.stderr, /unauthenticated/);
  const json = await runCli(['probe', `127.0.0.1:${port}`, '--json']);
  t.is(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { fingerprint: string; openssh: string; port: number };
  t.is(doc.fingerprint, publicKey.fingerprint());
  t.is(doc.port, port);
  t.true(doc.openssh.startsWith('ssh-rsa AAAA'));
});

test.serial('probe --trust without --fingerprint is refused (exit 2) and records nothing', async (t) => {
  const knownHosts = join(home, 'kh-no-fingerprint');
  const result = await runCli(['probe', `127.0.0.1:${port}`, '--trust', '--known-hosts', knownHosts]);
  t.is(result.code, 2, result.stdout);
  t.regex(result.stderr, /--trust needs --fingerprint SHA256:.*proves nothing.*\[ERR_USAGE\]/);
  t.is(result.stdout, '');
  t.false(existsSync(knownHosts), 'no known_hosts file was written');
});

test.serial('probe --trust with a fingerprint the server does not have is refused (exit 1)', async (t) => {
  const knownHosts = join(home, 'kh-mismatch');
  const other = (await KeyPair.generateRSA({ bits: 2048 })).publicKey.fingerprint();
  const result = await runCli([
    'probe',
    `127.0.0.1:${port}`,
    '--trust',
    '--fingerprint',
    other,
    '--known-hosts',
    knownHosts,
  ]);
  t.is(result.code, 1, result.stdout);
  const errorLines = result.stderr.trim().split('\n');
  t.is(errorLines.length, 1, result.stderr);
  t.regex(errorLines[0] ?? '', /\[ERR_FINGERPRINT_MISMATCH\]$/);
  t.true(result.stderr.includes(other) && result.stderr.includes(publicKey.fingerprint()), result.stderr);
  t.false(existsSync(knownHosts), 'no known_hosts file was written');
  // Without --trust, --fingerprint alone checks the key the same way.
  const check = await runCli(['probe', `127.0.0.1:${port}`, '--fingerprint', other, '--json']);
  t.is(check.code, 1);
  t.like(JSON.parse(check.stdout), { error: { code: 'ERR_FINGERPRINT_MISMATCH' } });
});

test.serial(
  'probe --fingerprint rejects text that is not a SHA256 fingerprint as a usage error',
  async (t) => {
    for (const bad of ['SHA256:short', 'MD5:aa:bb', publicKey.fingerprint().slice(7)]) {
      const result = await runCli(['probe', `127.0.0.1:${port}`, '--fingerprint', bad]);
      t.is(result.code, 2, bad);
      t.regex(result.stderr, /--fingerprint must look like SHA256:/);
    }
  },
);

test.serial('probe --trust --fingerprint records the key in known_hosts once, and still warns', async (t) => {
  const knownHosts = join(home, 'kh');
  const fingerprint = publicKey.fingerprint();
  const args = [
    'probe',
    `127.0.0.1:${port}`,
    '--trust',
    '--fingerprint',
    fingerprint,
    '--known-hosts',
    knownHosts,
  ];
  const first = await runCli(args);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /matches --fingerprint/);
  t.regex(first.stdout, /trusted: line 1 of/);
  t.regex(first.stderr, /^warning: probing proves nothing by itself/m);
  const again = await runCli(args);
  t.regex(again.stdout, /already trusted: line 1 of/);
  const file = await readFile(knownHosts, 'utf8');
  t.is(file.trim().split('\n').length, 1);
  t.true(file.startsWith(`[127.0.0.1]:${port} ssh-rsa `));
  // ssh-keygen prints the same fingerprint with its base64 padding stripped; a padded copy matches too.
  const json = await runCli(['probe', `127.0.0.1:${port}`, '--fingerprint', `${fingerprint}=`, '--json']);
  t.is(json.code, 0, json.stderr);
  t.like(JSON.parse(json.stdout), { fingerprint, fingerprintMatches: true });
  t.regex(json.stderr, /proves nothing/);
});

test.serial('probe of a port where nothing listens fails with exit 1 and a coded message', async (t) => {
  const deadPort = await refusedPort();
  const result = await runCli(['probe', `127.0.0.1:${deadPort}`, '--timeout', '5000']);
  t.is(result.code, 1);
  t.regex(result.stderr, /ERR_TRANSPORT/);
});

test.serial('probe rejects a target without a port as a usage error', async (t) => {
  const result = await runCli(['probe', 'localhost']);
  t.is(result.code, 2);
});
