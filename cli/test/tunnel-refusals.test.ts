/**
 * What `secsess` refuses, with which code: non-loopback targets and listeners (safe by
 * default), a server with another key, an unknown host under strict trust, a client the
 * server does not authorize — each while another tunnel keeps working.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AuthorizedKeys, PublicKey } from '@secsess/keys';
import { assertBuilt, lines, runCli } from './helpers/cli.js';
import { echoServer, exchange, makeKeys, readAll, Tunnel, TUNNEL_BIN } from './helpers/tunnel.js';

let dir!: string;
let keys!: Awaited<ReturnType<typeof makeKeys>>;
let other!: Awaited<ReturnType<typeof makeKeys>>;
let echo!: { server: Server; port: number };
let serve!: Tunnel;
let servePort!: number;
const tunnels: Tunnel[] = [];

test.before(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'secsess-tunnel-refusals-'));
  process.env['SECSESS_HOME'] = join(dir, 'home');
  keys = await makeKeys(join(dir, 'keys'));
  other = await makeKeys(join(dir, 'other'));
  echo = await echoServer();
  // Only the client key of `keys` is authorized.
  const authorized = join(dir, 'authorized_keys');
  await AuthorizedKeys.add(authorized, await PublicKey.load(keys.clientPub));
  serve = start([
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--key',
    keys.serverKey,
    '--forward',
    `127.0.0.1:${echo.port}`,
    '--authorized-keys',
    authorized,
  ]);
  servePort = await serve.port();
});
test.after.always(async () => {
  await Promise.all(tunnels.map((t) => t.stop('SIGKILL')));
  echo?.server.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function start(args: string[]): Tunnel {
  const tunnel = new Tunnel(args);
  tunnels.push(tunnel);
  return tunnel;
}

/** Runs `secsess ...args` to its end (stdin closed at once). */
function secsess(args: string[], input = '') {
  return runCli(args, { input, bin: TUNNEL_BIN });
}

/** The one stderr line of a failed run ends with `[code]`. */
function assertCoded(t: ExecutionContext, stderr: string, code: string): void {
  const errorLines = lines(stderr);
  t.is(errorLines.length, 1, stderr);
  t.regex(errorLines[0]!, new RegExp(`^secsess: .+ \\[${code}\\]$`));
}

test('serve refuses a --forward host that is not loopback unless --unsafe-target (exit 1)', async (t) => {
  const result = await secsess([
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--key',
    keys.serverKey,
    '--forward',
    '192.0.2.1:80',
  ]);
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_UNSAFE_TARGET');
  t.regex(result.stderr, /--unsafe-target/);
});

test('connect refuses a --listen host that is not loopback unless --unsafe-listen (exit 1)', async (t) => {
  for (const host of ['0.0.0.0:0', '[::]:0']) {
    const result = await secsess([
      'connect',
      '--listen',
      host,
      '--to',
      `127.0.0.1:${servePort}`,
      '--server-pub',
      keys.serverPub,
    ]);
    t.is(result.code, 1, host);
    assertCoded(t, result.stderr, 'ERR_UNSAFE_LISTEN');
    t.regex(result.stderr, /--unsafe-listen/);
  }
});

test('localhost and ::1 count as loopback', async (t) => {
  const tunnel = start([
    'connect',
    '--listen',
    'localhost:0',
    '--to',
    `127.0.0.1:${servePort}`,
    '--server-pub',
    keys.serverPub,
  ]);
  t.true((await tunnel.port()) > 0);
  const v6 = start([
    'connect',
    '--listen',
    '[::1]:0',
    '--to',
    `127.0.0.1:${servePort}`,
    '--server-pub',
    keys.serverPub,
  ]);
  t.regex(await v6.line(/listening/), /address=\[::1\]:\d+/);
});

test.serial('a server with another key: connect stdio exits 1 with ERR_SERVER_KEY_MISMATCH', async (t) => {
  const result = await secsess([
    'connect',
    `127.0.0.1:${servePort}`,
    '--server-pub',
    other.serverPub,
    '--key',
    keys.clientKey,
  ]);
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_SERVER_KEY_MISMATCH');
  t.is(result.stdout, '');
});

test.serial('an unknown host under --trust strict: exit 1 with ERR_HOST_UNKNOWN', async (t) => {
  const result = await secsess([
    'connect',
    `127.0.0.1:${servePort}`,
    '--trust',
    'strict',
    '--known-hosts',
    join(dir, 'empty_known_hosts'),
    '--key',
    keys.clientKey,
  ]);
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_HOST_UNKNOWN');
});

test.serial(
  'a client the server does not authorize: exit 1 with ERR_NOT_AUTHORIZED, logged refused by serve',
  async (t) => {
    const result = await secsess([
      'connect',
      `127.0.0.1:${servePort}`,
      '--server-pub',
      keys.serverPub,
      '--key',
      other.clientKey,
    ]);
    t.is(result.code, 1);
    assertCoded(t, result.stderr, 'ERR_NOT_AUTHORIZED');
    await serve.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_NOT_AUTHORIZED$/);
    // No key at all is refused the same way.
    const anonymous = await secsess(['connect', `127.0.0.1:${servePort}`, '--server-pub', keys.serverPub]);
    assertCoded(t, anonymous.stderr, 'ERR_NOT_AUTHORIZED');
  },
);

test.serial(
  'connect --listen resets a local connection whose handshake fails and logs refused with the code, while another tunnel keeps working',
  async (t) => {
    const wrong = start([
      'connect',
      '--listen',
      '127.0.0.1:0',
      '--to',
      `127.0.0.1:${servePort}`,
      '--server-pub',
      other.serverPub,
      '--key',
      keys.clientKey,
    ]);
    const good = start([
      'connect',
      '--listen',
      '127.0.0.1:0',
      '--to',
      `127.0.0.1:${servePort}`,
      '--server-pub',
      keys.serverPub,
      '--key',
      keys.clientKey,
    ]);
    const [wrongPort, goodPort] = await Promise.all([wrong.port(), good.port()]);
    const local = connect({ host: '127.0.0.1', port: wrongPort });
    const error = await t.throwsAsync(readAll(local));
    t.is((error as NodeJS.ErrnoException).code, 'ECONNRESET');
    await wrong.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_SERVER_KEY_MISMATCH$/);
    const data = randomBytes(100_000);
    t.true((await exchange(goodPort, data)).equals(data));
  },
);

test('usage errors exit 2 with the command named in the hint', async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ['serve', '--listen', '127.0.0.1:0', '--key', 'k'],
      /give one of --forward HOST:PORT or --stdio \[ERR_USAGE\]/,
    ],
    [
      ['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--forward', 'x:1', '--once'],
      /--once goes with --stdio/,
    ],
    [['connect', '--listen', '127.0.0.1:0', '--server-pub', 'p'], /--listen needs --to HOST:PORT/],
    [['connect', '127.0.0.1:1'], /give one of --server-pub FILE .* or --trust strict\|tofu/],
    [['connect', '127.0.0.1:1', '--server-pub', 'p', '--trust', 'tofu'], /give one of --server-pub/],
    [['connect', 'nowhere', '--server-pub', 'p'], /has no port/],
    [
      ['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--stdio', '--log-format', 'xml'],
      /--log-format "xml" is not one of "text", "json"/,
    ],
    [
      ['connect', '127.0.0.1:1', '--server-pub', 'p', '--symmetric', 'des'],
      /--symmetric "des" is not one of/,
    ],
    [
      ['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--stdio', '--max-conns', '0'],
      /--max-conns must be a whole number/,
    ],
    [['frobnicate'], /unexpected argument "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    const result = await secsess(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
    t.regex(result.stderr, /^secsess: .*\[ERR_USAGE\]$/m);
    t.regex(
      result.stderr,
      new RegExp(`^see: secsess${args[0] === 'frobnicate' ? '' : ` ${args[0]}`} --help$`, 'm'),
    );
  }
});

test('--help of each command lists its flags and examples', async (t) => {
  const serveHelp = await secsess(['serve', '--help']);
  t.is(serveHelp.code, 0);
  for (const flag of [
    '--listen',
    '--key',
    '--forward',
    '--stdio',
    '--once',
    '--authorized-keys',
    '--unsafe-target',
    '--max-conns',
    '--drain-timeout',
    '--proxy-protocol',
    '--log-format',
    '--symmetric',
  ]) {
    t.true(serveHelp.stdout.includes(flag), flag);
  }
  const connectHelp = await secsess(['connect', '--help']);
  for (const flag of [
    '--listen',
    '--to',
    '--server-pub',
    '--trust',
    '--known-hosts',
    '--key',
    '--unsafe-listen',
    '--max-conns',
    '--log-format',
    '--symmetric',
  ]) {
    t.true(connectHelp.stdout.includes(flag), flag);
  }
  t.regex(connectHelp.stdout, /default:\s+"aes-256-gcm"/);
  t.regex(connectHelp.stdout, /^\s+# ssh through secsess$/m);
});
