/**
 * The tunnel's pure parts, without processes: the PROXY v2 header's bytes (as `serve
 * --proxy-protocol` writes them with the SDK's encodeProxyHeader), the loopback
 * policy, ADDR parsing, the systemd environment, the log lines' two formats, the parser.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { buildTunnelParser, tunnelCommandOf } from '@secsess/cli';
import { encodeProxyHeader as proxyHeader } from '@secsess/sdk';
import {
  checkLoopback,
  checkProxiedClients,
  hostIsLoopback,
  isLoopback,
  parseListen,
} from '../src/tunnel/address.js';
import { TunnelLog } from '../src/tunnel/conn-log.js';
import type { LogFormat, Side } from '../src/tunnel/conn-log.js';
import { openBackend } from '../src/tunnel/backend.js';
import { listenModeDefaults } from '../src/tunnel/options.js';
import { systemdListenFd } from '../src/tunnel/systemd.js';
import { refusedPort } from './helpers/refused-port.js';

const SIGNATURE = '0d0a0d0a000d0a515549540a';

test('PROXY v2 over IPv4: signature, PROXY command, TCP4, 12-byte block, addresses then ports', (t) => {
  const header = proxyHeader({ address: '192.0.2.10', port: 51234 }, { address: '127.0.0.1', port: 7000 });
  t.is(header.toString('hex'), `${SIGNATURE}2111000cc000020a7f000001c8221b58`);
});

test('PROXY v2 over IPv6: TCP6, 36-byte block', (t) => {
  const header = proxyHeader({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 });
  t.is(
    header.toString('hex'),
    `${SIGNATURE}21210024` +
      '20010db8000000000000000000000001' +
      '00000000000000000000000000000001' +
      '00010002',
  );
});

test('PROXY v2: IPv4-mapped addresses are written as IPv4; a mixed pair as IPv6', (t) => {
  const mapped = proxyHeader(
    { address: '::ffff:127.0.0.2', port: 9 },
    { address: '::ffff:127.0.0.1', port: 10 },
  );
  t.is(mapped.toString('hex'), `${SIGNATURE}2111000c7f0000027f0000010009000a`);
  const mixed = proxyHeader({ address: '127.0.0.2', port: 9 }, { address: '::1', port: 10 });
  t.is(mixed[13], 0x21);
  t.is(mixed.subarray(16, 32).toString('hex'), '00000000000000000000ffff7f000002');
  t.is(mixed.length, 16 + 36);
  t.throws(() => proxyHeader({ address: 'example.com', port: 1 }, { address: '::1', port: 2 }), {
    instanceOf: TypeError,
  });
});

test('loopback: 127.0.0.0/8 and ::1 (in any spelling, mapped too), nothing else', (t) => {
  for (const address of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
    t.true(isLoopback(address), address);
  }
  for (const address of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.0.2.1',
    '::ffff:10.0.0.1',
    'fe80::1',
    'localhost',
  ]) {
    t.false(isLoopback(address), address);
  }
});

test('loopback names: localhost resolves to loopback only; an unresolvable name is ERR_RESOLVE, not a refusal', async (t) => {
  t.true(await hostIsLoopback('localhost', '--forward'));
  t.true(await hostIsLoopback('127.0.0.1', '--forward'));
  // .invalid never resolves (RFC 6761): no network needed.
  await t.throwsAsync(hostIsLoopback('no-such-host.invalid', '--forward'), {
    code: 'ERR_RESOLVE',
    message: /^--forward no-such-host\.invalid: cannot resolve the name \(\w+\)/,
  });
  await t.throwsAsync(checkLoopback('no-such-host.invalid', 'listen', false), { code: 'ERR_RESOLVE' });
  await t.notThrowsAsync(checkLoopback('192.0.2.1', 'forward', true));
  await t.throwsAsync(checkLoopback('192.0.2.1', 'forward', false), { code: 'ERR_UNSAFE_TARGET' });
  await t.throwsAsync(checkLoopback('0.0.0.0', 'listen', false), { code: 'ERR_UNSAFE_LISTEN' });
});

test('ADDR: host:port, [v6]:port, port 0, and the word systemd', (t) => {
  t.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.deepEqual(parseListen('[::1]:7000'), { host: '::1', port: 7000 });
  t.is(parseListen('systemd'), 'systemd');
  t.throws(() => parseListen('::1:7000'), { message: /brackets/ });
  t.throws(() => parseListen('host:65536'), { message: /from 0 to 65535/ });
});

test('systemd: fd 3 when LISTEN_PID is this process and LISTEN_FDS ≥ 1; the variables are unset', (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '4242', LISTEN_FDNAMES: 'x', OTHER: 'kept' };
  t.is(systemdListenFd(env, 4242), 3);
  t.deepEqual(env, { OTHER: 'kept' });
  t.throws(() => systemdListenFd({}, 1), { code: 'ERR_LISTEN_FDS', message: /no socket was passed/ });
  t.throws(() => systemdListenFd({ LISTEN_FDS: '1', LISTEN_PID: '7' }, 8), {
    code: 'ERR_LISTEN_FDS',
    message: /not this process/,
  });
  t.throws(() => systemdListenFd({ LISTEN_FDS: '0', LISTEN_PID: '8' }, 8), { code: 'ERR_LISTEN_FDS' });
});

function logged(format: LogFormat, side: Side, write: (log: TunnelLog) => void): string[] {
  const lines: string[] = [];
  write(new TunnelLog(format, side, { write: (text) => lines.push(String(text).replace(/\n$/, '')) }));
  return lines;
}

test('text log lines: key=value, - for no fingerprint, reason quoted, ms for the duration', (t) => {
  const conn = { peer: '[::1]:5000', up: 10, down: 20, durationMs: 7 };
  const resumed = { ...conn, resumed: true };
  t.deepEqual(
    logged('text', 'serve', (log) => {
      log.listening('0.0.0.0:7000', '127.0.0.1:6379');
      log.conn({ ...conn, fingerprint: null, resumed: false, close: 1000, reason: '' });
      log.conn({ ...resumed, fingerprint: 'SHA256:abc', close: 4000, reason: 'backend unavailable' });
      log.refused('127.0.0.1:1', 'ERR_SERVER_BUSY', 'maxConnections');
      log.reload({ fingerprints: ['SHA256:a', 'SHA256:b'], added: null, removed: null });
      log.reload({
        fingerprints: ['SHA256:a'],
        added: 1,
        removed: 0,
        ticketKeys: ['0a1b2c3d4e5f6071', 'ffeeddccbbaa9988'],
      });
      log.reload({ error: 'ERR_KEY_FORMAT', message: 'bad "key"' });
      log.draining(2);
      log.stopped();
    }),
    [
      'secsess: listening address=0.0.0.0:7000 forward=127.0.0.1:6379',
      'secsess: conn peer=[::1]:5000 client=- resumed=no up=10 down=20 ms=7 close=1000',
      'secsess: conn peer=[::1]:5000 client=SHA256:abc resumed=yes up=10 down=20 ms=7 close=4000 reason="backend unavailable"',
      'secsess: refused peer=127.0.0.1:1 code=ERR_SERVER_BUSY limit=maxConnections',
      'secsess: reload fingerprints=SHA256:a,SHA256:b added=- removed=-',
      'secsess: reload fingerprints=SHA256:a added=1 removed=0 tickets=0a1b2c3d4e5f6071,ffeeddccbbaa9988',
      'secsess: reload error=ERR_KEY_FORMAT message="bad \\"key\\""',
      'secsess: draining sessions=2',
      'secsess: stopped',
    ],
  );
  const [line] = logged('text', 'connect', (log) =>
    log.conn({ ...resumed, fingerprint: 'SHA256:s', close: 'ERR_TRUNCATED', reason: 'cut' }),
  );
  t.is(
    line,
    'secsess: conn peer=[::1]:5000 server=SHA256:s resumed=yes up=10 down=20 ms=7 close=ERR_TRUNCATED reason=cut',
  );
});

test('JSON log lines: time, event and side first, then the fields; close a number or a code', (t) => {
  const lines = logged('json', 'connect', (log) => {
    log.listening('127.0.0.1:1', '127.0.0.1:2');
    log.conn({
      peer: 'p',
      fingerprint: null,
      resumed: true,
      up: 1,
      down: 2,
      durationMs: 3,
      close: 'ERR_TIMEOUT',
      reason: 'idle',
    });
    log.reload({ fingerprints: ['SHA256:a'], added: 1, removed: 0 });
    log.reload({ fingerprints: ['SHA256:a'], added: null, removed: null, ticketKeys: ['0a1b2c3d4e5f6071'] });
  });
  const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(Object.keys(docs[0]!), ['time', 'event', 'side', 'address', 'to']);
  t.like(docs[1], {
    event: 'conn',
    side: 'connect',
    fingerprint: null,
    resumed: true,
    durationMs: 3,
    close: 'ERR_TIMEOUT',
    reason: 'idle',
  });
  t.like(docs[2], { event: 'reload', fingerprints: ['SHA256:a'], added: 1, removed: 0 });
  t.false('ticketKeys' in docs[2]!, 'no ticketKeys without --ticket-keys');
  t.deepEqual(docs[3]!['ticketKeys'], ['0a1b2c3d4e5f6071']);
});

function parse(args: string[]): Promise<{ error: Error | null | undefined; argv: Record<string, unknown> }> {
  return new Promise((resolve) => {
    void buildTunnelParser().parse(args, {}, (error, argv) => resolve({ error, argv }));
  });
}

test('parser: documented defaults of serve and connect', async (t) => {
  const serve = await parse(['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--forward', '127.0.0.1:1']);
  t.is(serve.error, null);
  t.is(tunnelCommandOf(serve.argv as { _: string[] }), 'serve');
  t.like(serve.argv, {
    'max-conns': 1024,
    'drain-timeout': 30,
    'log-format': 'text',
    'proxy-protocol': false,
    'unsafe-target': false,
    stdio: false,
    once: false,
    symmetric: undefined,
  });
  const connect = await parse(['connect', 'h:1', '--trust', 'tofu']);
  t.is(connect.error, null);
  t.is(tunnelCommandOf(connect.argv as { _: string[] }), 'connect');
  t.like(connect.argv, { target: 'h:1', trust: 'tofu', 'unsafe-listen': false });
  // Given with --listen only; left out, listenModeDefaults() fills them in.
  t.like(connect.argv, { 'max-conns': undefined, 'drain-timeout': undefined, 'log-format': undefined });
  t.deepEqual(listenModeDefaults(connect.argv), { logFormat: 'text', drainSeconds: 30, maxConns: 1024 });
  // Decided when the client is made (defaultSymmetric(): cli/test/tunnel-symmetric.test.ts).
  t.is((connect.argv as { symmetric?: string }).symmetric, undefined);
});

test('parser: --accept-proxy is repeatable, one ADDR or CIDR each; anything else a usage error', async (t) => {
  const serve = (...extra: string[]) =>
    parse(['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--stdio', ...extra]);
  t.is((await serve()).argv['accept-proxy'], undefined, 'off by default');
  const two = await serve('--accept-proxy', '127.0.0.1', '--accept-proxy', '10.0.0.0/8');
  t.is(two.error, null);
  t.deepEqual(two.argv['accept-proxy'], ['127.0.0.1', '10.0.0.0/8']);
  t.deepEqual((await serve('--accept-proxy', '2001:db8::/32')).argv['accept-proxy'], ['2001:db8::/32']);
  for (const bad of ['haproxy.example', '10.0.0.0/33', '010.0.0.1']) {
    t.is(
      String((await serve('--accept-proxy', bad)).error),
      `Error: --accept-proxy "${bad}" is not an IP address or CIDR (10.0.0.5, 10.0.0.0/8, 2001:db8::/32)`,
    );
  }
  t.truthy((await serve('--accept-proxy')).error, 'a flag without its value');
  t.regex(String((await serve('--accept-proxy', '127.0.0.1', '::1')).error), /Unknown argument: ::1/);
});

test('--accept-proxy needs --authorized-keys or --allow-any-client, even on a loopback --listen', (t) => {
  t.throws(() => checkProxiedClients(false, false), {
    code: 'ERR_UNSAFE_ANY_CLIENT',
    message: /--accept-proxy without --authorized-keys: the clients are whoever reaches the proxy/,
  });
  t.notThrows(() => checkProxiedClients(true, false));
  t.notThrows(() => checkProxiedClients(false, true));
});

test('parser: --drain-timeout is 0 to 2147483 s (what a node timer holds); beyond, a usage error', async (t) => {
  const serve = (drain: string) =>
    parse(['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--stdio', '--drain-timeout', drain]);
  t.like((await serve('2147483')).argv, { 'drain-timeout': 2147483 });
  t.is((await serve('0')).error, null);
  for (const drain of ['2147484', '1e10', '-1']) {
    t.regex(
      String((await serve(drain)).error),
      /--drain-timeout must be a number of seconds, 0 to 2147483/,
      drain,
    );
  }
});

/** A backend on every IPv4 address that closes each connection at once; its port. */
async function anyAddressBackend(t: ExecutionContext): Promise<number> {
  const backend = createServer((socket) => socket.destroy());
  backend.listen(0, '0.0.0.0');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  return (backend.address() as AddressInfo).port;
}

test('backend connections: a loopback peer is kept with or without --unsafe-target; a refusal is null', async (t) => {
  const port = await anyAddressBackend(t);
  for (const loopbackOnly of [true, false]) {
    const local = await openBackend({ host: '127.0.0.1', port }, loopbackOnly);
    t.is(local?.remoteAddress, '127.0.0.1', `loopbackOnly ${loopbackOnly}`);
    local?.destroy();
  }
  t.is(await openBackend({ host: '127.0.0.1', port: await refusedPort() }, true), null);
});

// The check is of the address the connection reached, not of the name given: what a --forward
// name re-resolved to another host since the start would meet. Given here as an IP literal
// (openBackend resolves with the system resolver, which a test cannot point elsewhere).
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === 'IPv4');
(external === undefined ? test.skip : test)(
  'backend connections: a peer whose address is not loopback is dropped unless --unsafe-target (skipped without a non-loopback IPv4 interface)',
  async (t) => {
    const host = external!.address;
    const port = await anyAddressBackend(t);
    t.is(await openBackend({ host, port }, true), null);
    const unsafe = await openBackend({ host, port }, false);
    t.is(unsafe?.remoteAddress, host);
    unsafe?.destroy();
  },
);

test('log lines: peer-controlled text outside printable ASCII is escaped as \\uXXXX, in both formats', (t) => {
  const reason = 'a\u0085b\u009b[31mc\u2028d\u202ee\u00e9\n';
  const escaped = 'a\\u0085b\\u009b[31mc\\u2028d\\u202ee\\u00e9\\n';
  const conn = {
    peer: '127.0.0.1:1',
    up: 0,
    down: 0,
    durationMs: 1,
    fingerprint: null,
    resumed: false,
    close: 4000,
    reason,
  };
  const [text] = logged('text', 'serve', (log) => log.conn(conn));
  t.is(
    text,
    `secsess: conn peer=127.0.0.1:1 client=- resumed=no up=0 down=0 ms=1 close=4000 reason="${escaped}"`,
  );
  const [json] = logged('json', 'serve', (log) => log.conn(conn));
  t.regex(json!, /^[\x20-\x7e]+$/);
  t.true(json!.includes(`"reason":"${escaped}"`));
  t.is((JSON.parse(json!) as { reason: string }).reason, reason);
});
