import test from 'ava';
import { buildParser, commandOf } from '@secsess/cli';

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

test('trust add parses HOST:PORT into host and port, IPv6 in brackets', async (t) => {
  const { error, argv } = await parse([
    'trust',
    'add',
    '[::1]:7000',
    'k.pub',
    '--known-hosts',
    'kh',
    '-C',
    'c',
  ]);
  t.falsy(error);
  t.is(commandOf(argv), 'trust');
  t.deepEqual(argv._, ['trust', 'add']);
  t.like(argv, { target: { host: '::1', port: 7000 }, keyfile: 'k.pub', 'known-hosts': 'kh', comment: 'c' });
  const plain = await parse(['trust', 'remove', 'example.com:22']);
  t.like(plain.argv, { target: { host: 'example.com', port: 22 } });
  const bracketedName = await parse(['trust', 'remove', '[Example.com]:22']);
  t.like(bracketedName.argv, { target: { host: 'Example.com', port: 22 } });
});

test('authorize add and list parse their options', async (t) => {
  const add = await parse(['authorize', 'add', 'a.pub', '--file', 'ak', '--comment', 'me', '--json']);
  t.falsy(add.error);
  t.is(commandOf(add.argv), 'authorize');
  t.like(add.argv, { keyfile: 'a.pub', file: 'ak', comment: 'me', json: true });
  const list = await parse(['authorize', 'list']);
  t.falsy(list.error);
  t.deepEqual(list.argv._, ['authorize', 'list']);
});

test('--help of trust, authorize and their subcommands shows examples and --json', async (t) => {
  for (const command of [
    ['trust'],
    ['trust', 'add'],
    ['trust', 'remove'],
    ['trust', 'list'],
    ['authorize'],
    ['authorize', 'add'],
    ['authorize', 'list'],
  ]) {
    const { error, output } = await parse([...command, '--help']);
    t.falsy(error, command.join(' '));
    t.true(output.includes('Examples:'), `examples in ${command.join(' ')} help`);
    t.true(output.includes('--json'), command.join(' '));
  }
  const top = (await parse(['--help'])).output;
  t.true(top.includes('secsess-keygen trust'));
  t.true(top.includes('secsess-keygen authorize'));
  t.true((await parse(['trust', 'add', '--help'])).output.includes('$SECSESS_HOME/known_hosts'));
  t.true((await parse(['authorize', 'list', '--help'])).output.includes('$SECSESS_HOME/authorized_keys'));
});
