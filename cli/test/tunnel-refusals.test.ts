/**
 * What `secsess` refuses, with which code: non-loopback targets and listeners (safe by
 * default), a server with another key, an unknown host under strict trust, a client the
 * server does not authorize — each while another tunnel keeps working.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AuthorizedKeys, PrivateKey, PublicKey } from '@secsess/keys';
import { lines, runCli } from './helpers/cli.js';
import { connectArgs, exchange, readAll, serveArgs, tunnelFixture, TUNNEL_BIN } from './helpers/tunnel.js';
import type { Tunnel } from './helpers/tunnel.js';
import { defaultSymmetric } from '../src/tunnel/options.js';

const fx = tunnelFixture('refusals');
let serve!: Tunnel;
let servePort!: number;

test.serial.before(async () => {
  // Only the client key of fx.keys is authorized.
  const authorized = join(fx.dir, 'authorized_keys');
  await AuthorizedKeys.add(authorized, await PublicKey.load(fx.keys.clientPub));
  serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--authorized-keys', authorized]));
  servePort = await serve.port();
});

/** Runs `secsess ...args` to its end (stdin closed at once). */
function secsess(args: string[], input = '') {
  return runCli(args, { input, bin: TUNNEL_BIN });
}

/** `secsess connect 127.0.0.1:SERVE_PORT ...trust` on stdin/stdout, with `key` if given. */
function connectOnce(trust: string[], key?: string) {
  return secsess([
    'connect',
    `127.0.0.1:${servePort}`,
    ...trust,
    ...(key === undefined ? [] : ['--key', key]),
  ]);
}

/** The one stderr line of a failed run ends with `[code]`. */
function assertCoded(t: ExecutionContext, stderr: string, code: string): void {
  const errorLines = lines(stderr);
  t.is(errorLines.length, 1, stderr);
  t.regex(errorLines[0]!, new RegExp(`^secsess: .+ \\[${code}\\]$`));
}

test('serve refuses a --forward host that is not loopback unless --unsafe-target (exit 1)', async (t) => {
  const result = await secsess(
    serveArgs(fx.keys.serverKey, 80).map((a) => a.replace('127.0.0.1:80', '192.0.2.1:80')),
  );
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_UNSAFE_TARGET');
  t.regex(result.stderr, /--unsafe-target/);
});

test('serve on a non-loopback --listen needs --authorized-keys or --allow-any-client (exit 1)', async (t) => {
  const publicArgs = (extra: string[]) =>
    serveArgs(fx.keys.serverKey, fx.echo.port, extra).map((a) => (a === '127.0.0.1:0' ? '0.0.0.0:0' : a));
  const result = await secsess(publicArgs([]));
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_UNSAFE_ANY_CLIENT');
  t.regex(result.stderr, /--allow-any-client/);
  const anyone = fx.start(publicArgs(['--allow-any-client']));
  t.regex(await anyone.line(/listening/), /address=0\.0\.0\.0:\d+/);
  const listed = fx.start(publicArgs(['--authorized-keys', join(fx.dir, 'authorized_keys')]));
  t.regex(await listed.line(/listening/), /address=0\.0\.0\.0:\d+/);
  t.is(await anyone.stop(), 0);
  t.is(await listed.stop(), 0);
});

test('connect refuses a --listen host that is not loopback unless --unsafe-listen (exit 1)', async (t) => {
  for (const host of ['0.0.0.0:0', '[::]:0']) {
    const result = await secsess(connectArgs(servePort, fx.keys.serverPub, [], host));
    t.is(result.code, 1, host);
    assertCoded(t, result.stderr, 'ERR_UNSAFE_LISTEN');
    t.regex(result.stderr, /--unsafe-listen/);
  }
});

test('a --forward or --listen name that does not resolve: exit 1 with ERR_RESOLVE, not a loopback refusal', async (t) => {
  // .invalid never resolves (RFC 6761): no network needed.
  const serve = await secsess(
    serveArgs(fx.keys.serverKey, 80).map((a) => a.replace('127.0.0.1:80', 'nosuchhost.invalid:80')),
  );
  t.is(serve.code, 1);
  assertCoded(t, serve.stderr, 'ERR_RESOLVE');
  t.regex(serve.stderr, /--forward nosuchhost\.invalid: cannot resolve the name/);
  const connect = await secsess(connectArgs(servePort, fx.keys.serverPub, [], 'nosuchhost.invalid:0'));
  t.is(connect.code, 1);
  assertCoded(t, connect.stderr, 'ERR_RESOLVE');
  t.regex(connect.stderr, /--listen nosuchhost\.invalid: cannot resolve the name/);
});

test('localhost and ::1 count as loopback', async (t) => {
  const tunnel = fx.start(connectArgs(servePort, fx.keys.serverPub, [], 'localhost:0'));
  t.true((await tunnel.port()) > 0);
  const v6 = fx.start(connectArgs(servePort, fx.keys.serverPub, [], '[::1]:0'));
  t.regex(await v6.line(/listening/), /address=\[::1\]:\d+/);
});

test('connect --listen on a port in use, or a systemd fd that is no socket: exit 1 with ERR_TRANSPORT', async (t) => {
  const held = createServer();
  held.listen(0, '127.0.0.1');
  await once(held, 'listening');
  t.teardown(() => held.close());
  const { port } = held.address() as AddressInfo;
  const result = await secsess(connectArgs(servePort, fx.keys.serverPub, [], `127.0.0.1:${port}`));
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_TRANSPORT');
  t.regex(result.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  // fd 3 a file, not a socket, passed as systemd would pass its socket.
  const script = [
    'import os, sys',
    "fd = os.open('/dev/null', os.O_RDONLY)",
    'if fd != 3: os.dup2(fd, 3)',
    'os.set_inheritable(3, True)',
    "os.environ['LISTEN_FDS'] = '1'",
    "os.environ['LISTEN_PID'] = str(os.getpid())",
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  const passed = fx.start(connectArgs(servePort, fx.keys.serverPub, [], 'systemd'), {
    launcher: ['python3', '-c', script],
  });
  t.is(await passed.exited, 1);
  assertCoded(t, passed.lines.join('\n'), 'ERR_TRANSPORT');
});

test.serial('a server with another key: connect stdio exits 1 with ERR_SERVER_KEY_MISMATCH', async (t) => {
  const result = await connectOnce(['--server-pub', fx.other.serverPub], fx.keys.clientKey);
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_SERVER_KEY_MISMATCH');
  t.is(result.stdout, '');
});

test.serial('an unknown host under --trust strict: exit 1 with ERR_HOST_UNKNOWN', async (t) => {
  const trust = ['--trust', 'strict', '--known-hosts', join(fx.dir, 'empty_known_hosts')];
  const result = await connectOnce(trust, fx.keys.clientKey);
  t.is(result.code, 1);
  assertCoded(t, result.stderr, 'ERR_HOST_UNKNOWN');
});

test.serial(
  'connect --key with an encrypted key: --passphrase-file opens it; without it, the error names the flag',
  async (t) => {
    const encrypted = join(fx.dir, 'client-encrypted.key');
    await (await PrivateKey.load(fx.keys.clientKey)).save(encrypted, { passphrase: 'correct horse' });
    const passphraseFile = join(fx.dir, 'client.passphrase');
    await writeFile(passphraseFile, 'correct horse\n');
    const trust = ['--server-pub', fx.keys.serverPub];
    const withFile = ['--key', encrypted, '--passphrase-file', passphraseFile];
    const through = await secsess(['connect', `127.0.0.1:${servePort}`, ...trust, ...withFile], 'through');
    t.is(through.code, 0, through.stderr);
    t.is(through.stdout, 'through');
    const without = await connectOnce(trust, encrypted);
    t.is(without.code, 1);
    assertCoded(t, without.stderr, 'ERR_KEY_ENCRYPTED');
    t.regex(without.stderr, /pass the passphrase with --passphrase-file FILE/);
    await writeFile(passphraseFile, 'wrong\n');
    const wrong = await secsess(['connect', `127.0.0.1:${servePort}`, ...trust, ...withFile]);
    assertCoded(t, wrong.stderr, 'ERR_KEY_PASSPHRASE');
  },
);

test.serial(
  'a client the server does not authorize: exit 1 with ERR_NOT_AUTHORIZED, logged refused by serve',
  async (t) => {
    const result = await connectOnce(['--server-pub', fx.keys.serverPub], fx.other.clientKey);
    t.is(result.code, 1);
    assertCoded(t, result.stderr, 'ERR_NOT_AUTHORIZED');
    await serve.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_NOT_AUTHORIZED$/);
    // No key at all is refused the same way.
    const anonymous = await connectOnce(['--server-pub', fx.keys.serverPub]);
    assertCoded(t, anonymous.stderr, 'ERR_NOT_AUTHORIZED');
  },
);

test.serial(
  'connect --listen resets a local connection whose handshake fails and logs refused with the code, while another tunnel keeps working',
  async (t) => {
    const key = ['--key', fx.keys.clientKey];
    const wrong = fx.start(connectArgs(servePort, fx.other.serverPub, key));
    const good = fx.start(connectArgs(servePort, fx.keys.serverPub, key));
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
    [['connect', '127.0.0.1:1', '--server-pub', 'p', '--no-resume'], /--no-resume goes with --listen/],
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
    // The stdio mode has no listener, no drain and no log: as --no-resume, these are errors there.
    [['connect', '127.0.0.1:1', '--server-pub', 'p', '--max-conns', '5'], /--max-conns goes with --listen/],
    [
      ['connect', '127.0.0.1:1', '--server-pub', 'p', '--drain-timeout', '30'],
      /--drain-timeout goes with --listen/,
    ],
    [
      ['connect', '127.0.0.1:1', '--server-pub', 'p', '--log-format', 'text'],
      /--log-format goes with --listen/,
    ],
    [
      ['connect', '--listen', '127.0.0.1:0', '--to', 'h:1', '--server-pub', 'p', '--max-conns', '0'],
      /--max-conns must be a whole number/,
    ],
    [
      ['connect', '--listen', '127.0.0.1:0', '--to', 'h:1', '--server-pub', 'p', '--drain-timeout', '-1'],
      /--drain-timeout must be a number of seconds/,
    ],
    // Said once, as typed: yargs also names the camelCase alias (bogusFlag).
    [
      ['connect', '127.0.0.1:1', '--server-pub', 'p', '--bogus-flag'],
      /^secsess: unknown option --bogus-flag \[ERR_USAGE\]$/m,
    ],
    [
      ['connect', '127.0.0.1:1', '--server-pub', 'p', '--passphrase-file', 'f'],
      /--passphrase-file goes with --key/,
    ],
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
  t.regex(connectHelp.stdout, /default:\s+aes-256-gcm, or chacha20-poly1305 if only\s+sodium-native loads/);
  t.regex(
    connectHelp.stdout,
    /^\s+# ssh through secsess\n\s+ssh -o ProxyCommand=.secsess connect %h:7022 --trust strict. host$/m,
  );
});

test.serial(
  'serve --symmetric accepts only that cipher: connect asks for an AEAD suite by default',
  async (t) => {
    const cbcOnly = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-cbc']));
    const port = await cbcOnly.port();
    const target = `127.0.0.1:${port}`;
    const refused = await secsess(['connect', target, '--server-pub', fx.keys.serverPub]);
    t.is(refused.code, 1);
    // With libsodium the default is chacha20-poly1305, refused, then aes-256-gcm once, refused too.
    const stderr = lines(refused.stderr);
    if (defaultSymmetric() === 'chacha20-poly1305') {
      t.is(
        stderr.shift(),
        'secsess: the server refused chacha20-poly1305 (ERR_SUITE_MISMATCH): asking for aes-256-gcm from now on; --symmetric chooses',
      );
    }
    assertCoded(t, stderr.join('\n'), 'ERR_SUITE_MISMATCH');
    await cbcOnly.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_SUITE_MISMATCH$/);
    const cbc = await secsess(
      ['connect', target, '--server-pub', fx.keys.serverPub, '--symmetric', 'aes-256-cbc'],
      'cbc',
    );
    t.is(cbc.code, 0, cbc.stderr);
    t.is(cbc.stdout, 'cbc');
  },
);
