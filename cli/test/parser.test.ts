import { readFile } from 'node:fs/promises';
import test from 'ava';
import { buildParser, commandOf, DEFAULT_OUT, VERSION } from '@secsess/cli';

interface Parsed {
  error: Error | null | undefined;
  argv: { _: (string | number)[]; [key: string]: unknown };
  output: string;
}

function parse(args: string[]): Promise<Parsed> {
  return new Promise((resolve) => {
    void buildParser().parse(args, {}, (error, argv, output) => resolve({ error, argv, output }));
  });
}

async function parseOk(args: string[]): Promise<Parsed['argv']> {
  const { error, argv } = await parse(args);
  if (error instanceof Error) throw error;
  return argv;
}

async function parseError(args: string[]): Promise<string> {
  const { error } = await parse(args);
  if (!(error instanceof Error)) throw new Error(`expected a usage error for ${args.join(' ')}`);
  return error.message;
}

test('no arguments means generate with the documented defaults', async (t) => {
  const argv = await parseOk([]);
  t.is(commandOf(argv), 'generate');
  t.is(argv['bits'], 3072);
  t.is(argv['out'], DEFAULT_OUT);
  t.is(DEFAULT_OUT, 'secsess');
  t.is(argv['format'], 'pem');
  t.is(argv['force'], false);
  t.is(argv['json'], false);
});

test('generate options and aliases', async (t) => {
  const argv = await parseOk([
    'generate',
    '-b',
    '4096',
    '-o',
    'keys/server',
    '--format',
    'openssh',
    '-C',
    'me',
    '--force',
    '--json',
  ]);
  t.is(commandOf(argv), 'generate');
  t.like(argv, { bits: 4096, out: 'keys/server', format: 'openssh', comment: 'me', force: true, json: true });
});

test('fingerprint, inspect and convert take their file', async (t) => {
  const fp = await parseOk(['fingerprint', 'a.pub']);
  t.is(commandOf(fp), 'fingerprint');
  t.is(fp['file'], 'a.pub');
  const inspect = await parseOk(['inspect', 'a.key', '--passphrase-file', 'pw', '--json']);
  t.is(commandOf(inspect), 'inspect');
  t.like(inspect, { file: 'a.key', 'passphrase-file': 'pw', json: true });
  const convert = await parseOk(['convert', 'a.key', '--to', 'openssh', '--public']);
  t.is(commandOf(convert), 'convert');
  t.like(convert, { input: 'a.key', to: 'openssh', public: true });
});

test('usage errors: unknown options and commands, bad choices, missing values', async (t) => {
  t.regex(await parseError(['--bogus']), /Unknown argument: bogus/);
  t.regex(await parseError(['frobnicate']), /Unknown argument: frobnicate/);
  t.regex(await parseError(['-b', '1024']), /Invalid values/);
  t.regex(await parseError(['--format', 'xml']), /Invalid values/);
  t.regex(await parseError(['inspect']), /Not enough non-option arguments/);
  t.regex(await parseError(['fingerprint', 'a', 'b']), /Unknown argument: b/);
  t.regex(await parseError(['convert', 'a.key']), /missing --to FORMAT/);
  t.like(await parseOk(['convert', 'a.key', '--public']), { input: 'a.key', public: true, to: undefined });
  t.regex(await parseError(['convert', 'a.key', '--to', 'xml']), /Invalid values/);
});

test('usage errors: conflicting options', async (t) => {
  t.regex(await parseError(['--format', 'openssh', '--passphrase-file', 'pw']), /needs --format pem/);
  t.regex(await parseError(['convert', 'a', '--to', 'der']), /-o/);
  t.regex(
    await parseError(['convert', 'a', '--to', 'openssh', '--new-passphrase-file', 'pw']),
    /--to pem or --to der/,
  );
  t.regex(
    await parseError(['convert', 'a', '--to', 'pem', '--public', '--new-passphrase-file', 'pw']),
    /--public/,
  );
  t.truthy(await parseOk(['convert', 'a', '--to', 'der', '-o', 'a.der']));
});

test('--help of every command shows its options and examples, without running it', async (t) => {
  for (const command of [[], ['generate'], ['fingerprint'], ['inspect'], ['convert']]) {
    const { error, output } = await parse([...command, '--help']);
    t.falsy(error);
    t.true(output.includes('Examples:'), `examples in ${command.join(' ') || 'top-level'} help`);
    t.true(output.includes('--json'));
  }
  const top = (await parse(['--help'])).output;
  for (const name of ['generate', 'fingerprint', 'inspect', 'convert'])
    t.true(top.includes(`secsess-keygen ${name}`));
  t.true(top.includes('2 usage error'));
  t.true((await parse(['generate', '--help'])).output.includes('default: "secsess"'));
});

test('--version prints the package version', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  t.is(VERSION, pkg.version);
  t.is((await parse(['--version'])).output, pkg.version);
});
