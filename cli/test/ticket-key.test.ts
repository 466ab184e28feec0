/**
 * `secsess-keygen ticket-key`: creating, rotating and listing ticket-key files through the
 * built bin. Keys never reach stdout or stderr: only their names (checked against the
 * library's `ticketKeyName` of the keys read back from the file).
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { readTicketKeyFile, ticketKeyName } from '@secsess/sdk';
import { makeTempDir } from '../../keys/test/helpers/tools.js';
import { assertBuilt, lines, runCli } from './helpers/cli.js';
import type { CliResult } from './helpers/cli.js';

let dir!: string;
let cleanup!: () => Promise<void>;
test.before(async () => {
  assertBuilt();
  ({ dir, cleanup } = await makeTempDir('secsess-cli-tkeys-'));
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (name = 'tickets.keys'): string => join(dir, `${counter++}-${name}`);

interface KeyDoc {
  file: string;
  keys: { name: string; issuing: boolean; new: boolean }[];
  dropped: string[];
}

/** The file's keys, as base64 lines and as names. */
async function keysOf(path: string): Promise<{ lines: string[]; names: string[] }> {
  const keys = await readTicketKeyFile(path);
  return { lines: keys.map((k) => k.toString('base64')), names: keys.map((k) => ticketKeyName(k)) };
}

/** Asserts that no key of `path` appears in the run's output. */
async function noKeyPrinted(t: ExecutionContext, result: CliResult, path: string): Promise<void> {
  for (const line of (await keysOf(path)).lines) {
    t.false(result.stdout.includes(line.slice(0, 20)), 'key on stdout');
    t.false(result.stderr.includes(line.slice(0, 20)), 'key on stderr');
  }
}

test('creates a 0600 file of one key in a new 0700 directory and prints its name only', async (t) => {
  const parent = fresh('dir');
  const path = join(parent, 'tickets.keys');
  const result = await runCli(['ticket-key', '-f', path]);
  t.is(result.code, 0, result.stderr);
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.is((await stat(parent)).mode & 0o777, 0o700);
  const { names } = await keysOf(path);
  t.is(names.length, 1);
  t.deepEqual(lines(result.stdout), [
    `wrote ${path} (mode 0600): 1 ticket key`,
    `${names[0]}  issues tickets (new)`,
  ]);
  t.is(result.stderr, '');
  await noKeyPrinted(t, result, path);
});

test('refuses to replace an existing file without --force, and replaces it with --force', async (t) => {
  const path = fresh();
  t.is((await runCli(['ticket-key', '--file', path])).code, 0);
  const before = await readFile(path);
  const refused = await runCli(['ticket-key', '-f', path]);
  t.is(refused.code, 1);
  t.deepEqual(lines(refused.stderr), [
    `secsess-keygen: ${path} already exists; pass --force to overwrite it [ERR_KEY_FILE_EXISTS]`,
  ]);
  t.deepEqual(await readFile(path), before);
  const forced = await runCli(['ticket-key', '-f', path, '--force']);
  t.is(forced.code, 0, forced.stderr);
  const { lines: after } = await keysOf(path);
  t.is(after.length, 1);
  t.false(before.toString().includes(after[0]!));
});

test('--rotate puts a new key first and keeps the 2 previous ones by default', async (t) => {
  const path = fresh();
  t.is((await runCli(['ticket-key', '-f', path])).code, 0);
  const history = [(await keysOf(path)).names[0]!];
  for (let i = 0; i < 4; i++) {
    const result = await runCli(['ticket-key', '--rotate', '-f', path]);
    t.is(result.code, 0, result.stderr);
    const { names } = await keysOf(path);
    history.unshift(names[0]!);
    t.deepEqual(names, history.slice(0, 3));
    t.is(lines(result.stdout)[1], `${names[0]}  issues tickets (new)`);
    await noKeyPrinted(t, result, path);
  }
  t.is((await stat(path)).mode & 0o777, 0o600);
});

test('--rotate --json reports names, the issuing key and the dropped names; --keep N keeps N', async (t) => {
  const path = fresh();
  t.is((await runCli(['ticket-key', '-f', path])).code, 0);
  for (let i = 0; i < 3; i++)
    t.is((await runCli(['ticket-key', '--rotate', '--keep', '5', '-f', path])).code, 0);
  const before = (await keysOf(path)).names;
  t.is(before.length, 4);
  const result = await runCli(['ticket-key', '--rotate', '--keep', '1', '-f', path, '--json']);
  t.is(result.code, 0, result.stderr);
  const doc = JSON.parse(result.stdout) as KeyDoc;
  const after = (await keysOf(path)).names;
  t.deepEqual(after.slice(1), before.slice(0, 1));
  t.deepEqual(doc, {
    file: path,
    keys: [
      { name: after[0], issuing: true, new: true },
      { name: before[0], issuing: false, new: false },
    ],
    dropped: before.slice(1),
  });
  t.is(result.stderr, '');
  await noKeyPrinted(t, result, path);
  const zero = await runCli(['ticket-key', '--rotate', '--keep', '0', '-f', path]);
  t.is(zero.code, 0, zero.stderr);
  t.is((await keysOf(path)).names.length, 1);
});

test('--list prints the names in order and changes nothing', async (t) => {
  const path = fresh();
  t.is((await runCli(['ticket-key', '-f', path])).code, 0);
  t.is((await runCli(['ticket-key', '--rotate', '-f', path])).code, 0);
  const before = await readFile(path);
  const { names } = await keysOf(path);
  const text = await runCli(['ticket-key', '--list', '-f', path]);
  t.is(text.code, 0, text.stderr);
  t.deepEqual(lines(text.stdout), [
    `${path}: 2 ticket keys`,
    `${names[0]}  issues tickets`,
    `${names[1]}  accepted`,
  ]);
  const json = await runCli(['ticket-key', '--list', '-f', path, '--json']);
  t.deepEqual((JSON.parse(json.stdout) as KeyDoc).keys, [
    { name: names[0], issuing: true, new: false },
    { name: names[1], issuing: false, new: false },
  ]);
  t.deepEqual(await readFile(path), before);
});

test('concurrent rotations take the lock in turn: no key is lost', async (t) => {
  const path = fresh();
  t.is((await runCli(['ticket-key', '-f', path])).code, 0);
  const first = (await keysOf(path)).names[0]!;
  const results = await Promise.all(
    Array.from({ length: 4 }, () => runCli(['ticket-key', '--rotate', '--keep', '15', '-f', path, '--json'])),
  );
  for (const result of results) t.is(result.code, 0, result.stderr);
  const made = results.map((result) => (JSON.parse(result.stdout) as KeyDoc).keys[0]!.name);
  const { names } = await keysOf(path);
  t.is(names.length, 5);
  t.deepEqual([...names].sort(), [...made, first].sort());
  t.is(names[4], first);
});

test('--rotate refuses a missing file, a group-readable file and a damaged one, changing nothing', async (t) => {
  const missing = fresh('missing.keys');
  const none = await runCli(['ticket-key', '--rotate', '-f', missing]);
  t.is(none.code, 1);
  t.regex(lines(none.stderr)[0] ?? '', /\[ERR_KEY_FILE_NOT_FOUND\]$/);
  await t.throwsAsync(stat(missing));

  const open = fresh();
  t.is((await runCli(['ticket-key', '-f', open])).code, 0);
  await chmod(open, 0o640);
  const before = await readFile(open);
  const refused = await runCli(['ticket-key', '--rotate', '-f', open]);
  t.is(refused.code, 1);
  t.deepEqual(lines(refused.stderr), [
    `secsess-keygen: ticket-key file ${open} is accessible by group or others (mode 0640); run \`chmod 600 ${open}\` [ERR_KEY_PERMISSIONS]`,
  ]);
  t.deepEqual(await readFile(open), before);

  const damaged = fresh();
  const secret = 'c2VjcmV0IHRoYXQgaXMgbm90IGEga2V5';
  await writeFile(damaged, `# keys\n${Buffer.alloc(32, 1).toString('base64')}\n${secret}\n`, { mode: 0o600 });
  const bad = await runCli(['ticket-key', '--rotate', '-f', damaged, '--json']);
  t.is(bad.code, 1);
  t.deepEqual(JSON.parse(bad.stdout), {
    error: {
      code: 'ERR_KEY_FORMAT',
      message: `ticket-key file ${damaged}: line 3 is not a ticket key (base64 of 32 bytes)`,
    },
  });
  t.false(bad.stderr.includes(secret));
});

test('usage errors exit 2 and write nothing', async (t) => {
  const path = fresh();
  const cases: [string[], string][] = [
    [['ticket-key'], 'missing --file'],
    [['ticket-key', '-f', path, '--keep', '1'], '--keep needs --rotate'],
    [['ticket-key', '-f', path, '--rotate', '--keep', '16'], '--keep must be an integer from 0 to 15'],
    [['ticket-key', '-f', path, '--rotate', '--keep', '-1'], '--keep must be an integer from 0 to 15'],
    [['ticket-key', '-f', path, '--rotate', '--list'], '--rotate and --list cannot be used together'],
    [['ticket-key', '-f', path, '--rotate', '--force'], '--rotate and --force cannot be used together'],
    [['ticket-key', '-f', path, '--list', '--force'], '--list and --force cannot be used together'],
    [['ticket-key', '-f', '-'], '--file needs the path of the ticket-key file'],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    t.is(result.code, 2, args.join(' '));
    t.deepEqual(lines(result.stderr), [
      `secsess-keygen: ${message} [ERR_USAGE]`,
      'see: secsess-keygen ticket-key --help',
    ]);
  }
  await t.throwsAsync(stat(path));
});
