/**
 * Several real processes writing one store at once. Children are released together
 * (helpers/children.ts), so their lock attempts and appends overlap.
 */
import { hostname } from 'node:os';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { AuthorizedKeys, KnownHosts, lockPathOf } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { runTogether } from './helpers/children.js';
import { makeTempDir } from './helpers/tools.js';
import { rsaPublicKeys } from './helpers/trust.js';

let dir!: string;
let cleanup: (() => Promise<void>) | undefined;
let keys!: PublicKey[];
let keyFiles!: string[];
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-concurrency-'));
  keys = await rsaPublicKeys(4);
  keyFiles = await Promise.all(
    keys.map(async (key, index) => {
      const path = join(dir, `key-${index}.pub`);
      await key.save(path, { format: 'openssh' });
      return path;
    }),
  );
});
test.after.always(async () => {
  await cleanup?.();
});

const WRITERS = 8;
const HOSTS_EACH = 5;

test('8 processes adding hosts to one known_hosts: every line exactly once, whole, no duplicates', async (t) => {
  const path = join(dir, 'many', 'known_hosts');
  const results = await runTogether(
    Array.from({ length: WRITERS }, (_, writer) => [
      'known-hosts',
      path,
      keyFiles[writer % keyFiles.length] ?? '',
      `w${writer}`,
      String(HOSTS_EACH),
    ]),
  );
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  t.is(lines.pop(), '', 'ends with a newline');
  const expected = new Set<string>();
  for (let writer = 0; writer < WRITERS; writer++) {
    const key = keys[writer % keys.length] as PublicKey;
    for (let i = 0; i < HOSTS_EACH; i++) {
      expected.add(`[w${writer}-${i}.test]:${7000 + i} ${key.toOpenSSH(`w${writer} ${i}`)}`);
    }
  }
  // Every child also added common.test:7000 with its own key: only the first may win.
  const common = lines.filter((line) => line.startsWith('[common.test]:7000 '));
  t.is(common.length, 1);
  t.is(lines.length, expected.size + 1);
  t.is(new Set(lines).size, lines.length, 'no duplicate lines');
  for (const line of lines.filter((line) => !line.startsWith('[common.test]'))) {
    t.true(expected.has(line), `unexpected line: ${line.slice(0, 80)}`);
  }
  const knownHosts = await KnownHosts.open(path);
  t.deepEqual(knownHosts.problems, []);
  t.is(knownHosts.list().length, expected.size + 1);
  // Children whose key differs from the winner's got ERR_HOST_KEY_CHANGED for common.test.
  const winner = knownHosts.lookup('common.test', 7000)[0]?.key;
  results.forEach((result, writer) => {
    const mine = keys[writer % keys.length] as PublicKey;
    if (winner?.equals(mine)) t.truthy(result.ok, JSON.stringify(result));
    else t.is(result.code, 'ERR_HOST_KEY_CHANGED', JSON.stringify(result));
  });
  t.false((await readdir(join(dir, 'many'))).includes('known_hosts.lock'));
});

for (const racers of [2, 4]) {
  test(`${racers} processes trusting one host:port on first use with different keys: one wins, the others get ERR_HOST_KEY_CHANGED`, async (t) => {
    const path = join(dir, `race-${racers}`, 'known_hosts');
    const results = await runTogether(
      Array.from({ length: racers }, (_, index) => [
        'tofu',
        path,
        keyFiles[index] ?? '',
        'race.test',
        '7443',
      ]),
    );
    const winners = results.filter((result) => result.ok !== undefined);
    t.is(winners.length, 1, JSON.stringify(results));
    t.like(winners[0]?.ok, { learned: true, line: 1 });
    const losers = results.filter((result) => result.ok === undefined);
    t.deepEqual(
      losers.map((result) => result.code),
      Array.from({ length: racers - 1 }, () => 'ERR_HOST_KEY_CHANGED'),
    );
    const winnerIndex = results.findIndex((result) => result.ok !== undefined);
    t.is(await readFile(path, 'utf8'), `[race.test]:7443 ${keys[winnerIndex]?.toOpenSSH()}\n`);
    for (const loser of losers) t.true(loser.message?.includes(keys[winnerIndex]?.fingerprint() ?? '\0'));
  });
}

test('4 processes authorizing the same keys at once: each key appears exactly once', async (t) => {
  const path = join(dir, 'authorized', 'authorized_keys');
  const results = await runTogether(Array.from({ length: 4 }, () => ['authorize', path, ...keyFiles]));
  t.is(results.filter((result) => result.ok === undefined).length, 0, JSON.stringify(results));
  const text = await readFile(path, 'utf8');
  t.deepEqual(text.split('\n').sort(), ['', ...keys.map((key) => key.toOpenSSH())].sort());
  const authorized = await AuthorizedKeys.load(path);
  t.is(authorized.size, keys.length);
  t.deepEqual(authorized.skipped, []);
});

test('6 processes doing read-modify-write under withFileLock lose no update, starting from a stale lock', async (t) => {
  const path = join(dir, 'counter');
  await writeFile(path, '0');
  // Left by a process that died (2^22 + 1 is above Linux's largest pid): the children race to
  // break it, and the lock must still let only one of them in at a time.
  await writeFile(lockPathOf(path), JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), time: '' }));
  const times = 10;
  const counters = 6;
  const results = await runTogether(Array.from({ length: counters }, () => ['count', path, String(times)]));
  t.is(results.filter((result) => result.ok === undefined).length, 0, JSON.stringify(results));
  t.is(await readFile(path, 'utf8'), String(counters * times));
  t.deepEqual(
    (await readdir(dir)).filter((name) => name.startsWith('counter.')),
    [],
    'no lock or stale file left',
  );
});
