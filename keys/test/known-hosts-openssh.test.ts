import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KnownHosts, TrustError, TrustErrorCode } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { KnownHostsTable } from '../src/known-hosts-table.js';
import { PublicKey as SourcePublicKey } from '../src/public-key.js';
import { makeTempDir, runTool, sshKeygen } from './helpers/tools.js';
import { ed25519Line, rsaPublicKeys } from './helpers/trust.js';

let dir!: string;
let cleanup: (() => Promise<void>) | undefined;
let a!: PublicKey;
let b!: PublicKey;
let c!: PublicKey;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-known-hosts-openssh-'));
  [a, b, c] = (await rsaPublicKeys(3)) as [PublicKey, PublicKey, PublicKey];
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
async function fileWith(lines: string[]): Promise<string> {
  const path = join(dir, `case-${counter++}`, 'known_hosts');
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return path;
}

async function expectTrustError(
  t: ExecutionContext,
  promise: Promise<unknown>,
  code: TrustErrorCode,
): Promise<TrustError> {
  const error = await t.throwsAsync(promise, { instanceOf: TrustError });
  if (!(error instanceof TrustError)) throw new Error('expected a TrustError');
  t.is(error.code, code, error.message);
  return error;
}

/** The line numbers `ssh-keygen -F NAME -f FILE` reports for `name`. */
async function sshKeygenFind(path: string, name: string): Promise<number[]> {
  const result = await runTool('ssh-keygen', ['-F', name, '-f', path]);
  return [...result.stdout.matchAll(/found: line (\d+)/g)].map((match) => Number(match[1]));
}

test('OpenSSH host forms: a bare host is port 22, lists name each host, IPv6 bare or bracketed', async (t) => {
  const path = await fileWith([
    `plain.example ${a.toOpenSSH()}`,
    `list.example,10.0.0.7,[list.example]:7000 ${b.toOpenSSH()}`,
    `::1 ${c.toOpenSSH()}`,
    `[2001:db8::1]:7000,[bracket22.example]:22 ${a.toOpenSSH()}`,
  ]);
  const knownHosts = await KnownHosts.open(path);
  t.deepEqual(knownHosts.problems, []);
  for (const [host, port, key, line] of [
    ['plain.example', 22, a, 1],
    ['PLAIN.example', 22, a, 1],
    ['list.example', 22, b, 2],
    ['10.0.0.7', 22, b, 2],
    ['list.example', 7000, b, 2],
    ['::1', 22, c, 3],
    ['0:0::1', 22, c, 3],
    ['2001:db8::1', 7000, a, 4],
    ['bracket22.example', 22, a, 4],
  ] as const) {
    t.deepEqual(knownHosts.check(host, port, key), { status: 'match', line }, `${host}:${port}`);
    t.like(knownHosts.check(host, port, c === key ? a : c), { status: 'changed', line });
  }
  t.is(knownHosts.check('plain.example', 7000, a).status, 'unknown', 'a bare host is port 22 only');
  t.deepEqual(
    knownHosts.list().map(({ host, port, line }) => `${host}:${port}@${line}`),
    [
      'plain.example:22@1',
      'list.example:22@2',
      '10.0.0.7:22@2',
      'list.example:7000@2',
      '::1:22@3',
      '2001:db8::1:7000@4',
      'bracket22.example:22@4',
    ],
  );
  // ssh-keygen finds the same lines for the names OpenSSH itself looks up.
  for (const [name, host, port] of [
    ['plain.example', 'plain.example', 22],
    ['10.0.0.7', '10.0.0.7', 22],
    ['[list.example]:7000', 'list.example', 7000],
    ['::1', '::1', 22],
    ['[2001:db8::1]:7000', '2001:db8::1', 7000],
  ] as const) {
    t.deepEqual(
      knownHosts.lookup(host, port).map((entry) => entry.line),
      await sshKeygenFind(path, name),
      name,
    );
  }
});

test('hashed names from ssh-keygen -H are found for their host and port, and for nothing else', async (t) => {
  const path = await fileWith([
    `hashed.example ${a.toOpenSSH()}`,
    `[hashed.example]:7000,10.1.2.3 ${b.toOpenSSH()}`,
  ]);
  await sshKeygen('-H', '-f', path);
  const text = await readFile(path, 'utf8');
  t.false(text.includes('hashed.example'), 'ssh-keygen hashed every name');
  t.regex(text, /^\|1\|/);
  const knownHosts = await KnownHosts.open(path);
  t.deepEqual(knownHosts.problems, []);
  t.is(knownHosts.check('hashed.example', 22, a).status, 'match');
  t.is(knownHosts.check('HASHED.example', 7000, b).status, 'match');
  t.is(knownHosts.check('10.1.2.3', 22, b).status, 'match');
  t.like(knownHosts.check('hashed.example', 22, b), { status: 'changed' });
  t.is(knownHosts.check('hashed.example', 7001, a).status, 'unknown');
  t.is(knownHosts.check('other.example', 22, a).status, 'unknown');
  await expectTrustError(
    t,
    knownHosts.verify('hashed.example', 7000, c, 'tofu'),
    TrustErrorCode.HOST_KEY_CHANGED,
  );
  for (const [name, host, port] of [
    ['hashed.example', 'hashed.example', 22],
    ['[hashed.example]:7000', 'hashed.example', 7000],
    ['10.1.2.3', '10.1.2.3', 22],
  ] as const) {
    t.deepEqual(
      knownHosts.lookup(host, port).map((entry) => entry.line),
      await sshKeygenFind(path, name),
      name,
    );
  }
  t.deepEqual(knownHosts.list(), [], 'hashed hosts cannot be listed');
  t.is(await knownHosts.remove('hashed.example', 7000), 1, 'ssh-keygen -H wrote one line per name');
  const after = await KnownHosts.open(path);
  t.is(after.check('hashed.example', 7000, b).status, 'unknown');
  t.is(after.check('hashed.example', 22, a).status, 'match');
  t.is(after.check('10.1.2.3', 22, b).status, 'match');
});

test('@revoked: the key is refused with ERR_HOST_KEY_REVOKED for every host, even where a line trusts it', async (t) => {
  const path = await fileWith([
    `[server.example]:7000 ${a.toOpenSSH()}`,
    `[server.example]:7000 ${b.toOpenSSH()}`,
    `@revoked * ${a.toOpenSSH('leaked')}`,
    `@revoked [elsewhere.example]:1 ${ed25519Line()}`,
  ]);
  const knownHosts = await KnownHosts.open(path);
  t.deepEqual(knownHosts.check('server.example', 7000, a), { status: 'revoked', line: 3 });
  t.deepEqual(knownHosts.check('server.example', 7000, b), { status: 'match', line: 2 });
  t.deepEqual(knownHosts.check('unknown.example', 1, a), { status: 'revoked', line: 3 });
  for (const mode of ['strict', 'tofu'] as const) {
    const error = await expectTrustError(
      t,
      knownHosts.verify('server.example', 7000, a, mode),
      TrustErrorCode.HOST_KEY_REVOKED,
    );
    t.is(error.line, 3);
    t.is(error.offered, a.fingerprint());
    t.true(error.message.includes(`line 3 of ${path}`), error.message);
    t.true(error.message.includes('@revoked'), error.message);
    await expectTrustError(t, knownHosts.verify('new.example', 1, a, mode), TrustErrorCode.HOST_KEY_REVOKED);
  }
  await expectTrustError(t, knownHosts.add('new.example', 1, a), TrustErrorCode.HOST_KEY_REVOKED);
  t.false((await readFile(path, 'utf8')).includes('new.example'), 'a revoked key is never learned');
  t.deepEqual(
    knownHosts.lookup('server.example', 7000).map((entry) => entry.line),
    [2],
    'lookup leaves revoked keys out',
  );
  t.deepEqual(
    knownHosts.list().map(({ line, revoked }) => ({ line, revoked })),
    [
      { line: 1, revoked: true },
      { line: 2, revoked: false },
    ],
  );
  t.deepEqual(
    knownHosts.problems.map((problem) => problem.line),
    [4],
  );
  t.is(await knownHosts.remove('server.example', 7000), 2);
  const after = await KnownHosts.open(path);
  t.is(after.check('server.example', 7000, a).status, 'revoked', 'remove keeps the @revoked line');
});

test('@cert-authority lines, and other key types under patterns, trust nothing and block nothing', async (t) => {
  const path = await fileWith([
    `@cert-authority *.example,[ca.example]:7000 ${a.toOpenSSH()}`,
    `* ${ed25519Line()}`,
  ]);
  const knownHosts = await KnownHosts.open(path);
  t.is(knownHosts.check('ca.example', 7000, a).status, 'unknown');
  t.is(knownHosts.check('x.example', 22, b).status, 'unknown');
  t.deepEqual(knownHosts.problems, [
    {
      line: 1,
      reason: '@cert-authority line: secsess has no certificates, so it never trusts a key through it',
    },
    {
      line: 2,
      reason: 'ssh-ed25519 key for *: secsess uses only ssh-rsa keys; the line is kept but never matches',
    },
  ]);
  await expectTrustError(t, knownHosts.verify('ca.example', 7000, a, 'strict'), TrustErrorCode.HOST_UNKNOWN);
  t.like(await knownHosts.verify('ca.example', 7000, b, 'tofu'), { learned: true, line: 3 });
  t.is(await knownHosts.remove('ca.example', 7000), 1, 'only the learned line names the host');
  t.is((await readFile(path, 'utf8')).split('\n').length, 3);
});

test('a host may have several keys (rotation): each is trusted; add({ alongside }) records another', async (t) => {
  const path = await fileWith([`[rotating.example]:7000 ${a.toOpenSSH('old')}`]);
  const knownHosts = await KnownHosts.open(path);
  await expectTrustError(
    t,
    knownHosts.add('rotating.example', 7000, b, 'new'),
    TrustErrorCode.HOST_KEY_CHANGED,
  );
  t.deepEqual(await knownHosts.add('rotating.example', 7000, b, 'new', { alongside: true }), {
    added: true,
    line: 2,
  });
  t.deepEqual(await knownHosts.add('rotating.example', 7000, b, 'new', { alongside: true }), {
    added: false,
    line: 2,
  });
  const reread = await KnownHosts.open(path);
  t.deepEqual(reread.check('rotating.example', 7000, a), { status: 'match', line: 1 });
  t.deepEqual(reread.check('rotating.example', 7000, b), { status: 'match', line: 2 });
  t.like(reread.check('rotating.example', 7000, c), { status: 'changed', line: 1 });
  t.deepEqual(
    reread.lookup('rotating.example', 7000).map((entry) => entry.comment),
    ['old', 'new'],
  );
  await t.throwsAsync(reread.add('rotating.example', 7000, c, undefined, { alongside: 'yes' as never }), {
    instanceOf: TypeError,
  });
  // alongside never overrides a line that cannot be used.
  const broken = await fileWith([`[broken.example]:1 ${a.toOpenSSH().slice(0, 200)}`]);
  const brokenHosts = await KnownHosts.open(broken);
  await expectTrustError(
    t,
    brokenHosts.add('broken.example', 1, b, undefined, { alongside: true }),
    TrustErrorCode.HOST_KEY_CHANGED,
  );
});

test('the OpenSSH forms cut at any byte never trust a key they do not wholly hold, nor lose a revocation they hold', (t) => {
  const salt = randomBytes(20);
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('hashed.example').digest('base64')}`;
  const lines = [
    `list.example,[list.example]:7000 ${a.toOpenSSH('list')}`,
    `${hashed} ${b.toOpenSSH('hashed')}`,
    `[rot.example]:7000 ${a.toOpenSSH('old')}`,
    `[rot.example]:7000 ${b.toOpenSSH('new')}`,
    `@revoked * ${c.toOpenSSH('leaked')}`,
    `[rot.example]:7000 ${c.toOpenSSH('revoked')}`,
  ];
  const text = `${lines.join('\n')}\n`;
  // Where each line's key data ends in the text (the comment may be cut, the key may not).
  const keyEnds: number[] = [];
  let offset = 0;
  for (const line of lines) {
    keyEnds.push(offset + line.lastIndexOf(' '));
    offset += line.length + 1;
  }
  // The table is tested from source: its keys must be the source's PublicKey.
  const [sa, sb, sc] = [a, b, c].map((key) => SourcePublicKey.fromString(key.toOpenSSH())) as [
    SourcePublicKey,
    SourcePublicKey,
    SourcePublicKey,
  ];
  const hosts = [
    ['list.example', 22],
    ['list.example', 7000],
    ['hashed.example', 22],
    ['rot.example', 7000],
  ] as const;
  const whole = new KnownHostsTable(text);
  t.deepEqual(
    hosts.map(([host, port]) => [sa, sb, sc].map((key) => whole.check(host, port, key).status)),
    [
      ['match', 'changed', 'revoked'],
      ['match', 'changed', 'revoked'],
      ['changed', 'match', 'revoked'],
      ['match', 'match', 'revoked'],
    ],
  );
  let failures = 0;
  for (let end = 0; end <= text.length; end++) {
    const table = new KnownHostsTable(text.slice(0, end));
    for (const [host, port] of hosts) {
      for (const key of [sa, sb, sc]) {
        const result = table.check(host, port, key);
        if (result.status === 'match' && end < (keyEnds[result.line - 1] ?? Infinity)) failures++;
        if (end >= (keyEnds[4] ?? Infinity) && result.status !== 'revoked' && key === sc) failures++;
      }
    }
  }
  t.is(failures, 0);
});
