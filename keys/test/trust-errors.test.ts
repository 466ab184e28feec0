/**
 * The error classes and codes of the trust stores, and the default file locations. This file
 * sets SECSESS_HOME (each ava test file runs in its own process), so it never sees the real home.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  defaultAuthorizedKeysPath,
  defaultKnownHostsPath,
  KnownHosts,
  LockError,
  LockErrorCode,
  SECSESS_HOME_ENV,
  secsessHome,
  SecsessError,
  TrustError,
  TrustErrorCode,
  verifyHostKey,
} from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { rsaPublicKeys } from './helpers/trust.js';

let home!: string;
let a!: PublicKey;
let b!: PublicKey;
test.before(async () => {
  home = await mkdtemp(join(tmpdir(), 'secsess-home-'));
  process.env[SECSESS_HOME_ENV] = home;
  [a, b] = (await rsaPublicKeys(2)) as [PublicKey, PublicKey];
});
test.after.always(async () => {
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

test('the trust codes are stable strings', (t) => {
  t.deepEqual(TrustErrorCode, {
    HOST_UNKNOWN: 'ERR_HOST_UNKNOWN',
    HOST_KEY_CHANGED: 'ERR_HOST_KEY_CHANGED',
    HOST_KEY_REVOKED: 'ERR_HOST_KEY_REVOKED',
  });
  t.deepEqual(LockErrorCode, { TIMEOUT: 'ERR_LOCK_TIMEOUT' });
});

test('TrustError and LockError are SecsessErrors with names and fields', (t) => {
  const trust = new TrustError(TrustErrorCode.HOST_KEY_CHANGED, 'm', {
    host: 'h',
    port: 1,
    offered: 'SHA256:x',
    expected: 'SHA256:y',
    path: '/k',
    line: 3,
  });
  t.true(trust instanceof SecsessError);
  t.is(trust.name, 'TrustError');
  t.like(trust, {
    code: 'ERR_HOST_KEY_CHANGED',
    host: 'h',
    port: 1,
    offered: 'SHA256:x',
    expected: 'SHA256:y',
    path: '/k',
    line: 3,
  });
  const lock = new LockError(LockErrorCode.TIMEOUT, 'm', { path: '/k', lockPath: '/k.lock' });
  t.true(lock instanceof SecsessError);
  t.is(lock.name, 'LockError');
  t.like(lock, { code: 'ERR_LOCK_TIMEOUT', path: '/k', lockPath: '/k.lock' });
});

test('default files live in $SECSESS_HOME, or ~/.secsess when it is unset or empty', (t) => {
  t.is(secsessHome(), home);
  t.is(defaultKnownHostsPath(), join(home, 'known_hosts'));
  t.is(defaultAuthorizedKeysPath(), join(home, 'authorized_keys'));
  process.env[SECSESS_HOME_ENV] = '';
  try {
    t.is(secsessHome(), join(homedir(), '.secsess'));
    t.is(defaultKnownHostsPath(), join(homedir(), '.secsess', 'known_hosts'));
    t.is(defaultAuthorizedKeysPath(), join(homedir(), '.secsess', 'authorized_keys'));
  } finally {
    process.env[SECSESS_HOME_ENV] = home;
  }
});

test('with the default file, the suggested commands need no --known-hosts', async (t) => {
  const knownHosts = await KnownHosts.open();
  t.is(knownHosts.path, join(home, 'known_hosts'));
  const unknown = await t.throwsAsync(verifyHostKey(knownHosts.path, 'h.example', 9, a, 'strict'), {
    code: 'ERR_HOST_UNKNOWN',
  });
  t.true(unknown?.message.endsWith('`secsess-keygen trust add h.example:9 KEYFILE`'), unknown?.message);
  t.like(await knownHosts.verify('h.example', 9, a, 'tofu'), { learned: true });
  const changed = await t.throwsAsync(knownHosts.verify('h.example', 9, b, 'strict'), {
    code: 'ERR_HOST_KEY_CHANGED',
  });
  t.true(changed?.message.includes('run `secsess-keygen trust remove h.example:9`,'), changed?.message);
});
