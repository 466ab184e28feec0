/**
 * `secsess serve --metrics`: the endpoint serves valid Prometheus text (parsed strictly here)
 * whose values follow a real session, a failed handshake and the server's own counts; it is
 * loopback only unless --metrics-public, and not with --workers. The AEAD backends are an
 * info gauge, `secsess_crypto_backend_info{cipher,backend} 1` (SECSESS_CRYPTO=node honoured).
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PublicKey } from '@secsess/keys';
import { Client, cryptoBackends } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import { lines, runCli } from './helpers/cli.js';
import { programPath } from './helpers/programs.js';
import { parsePrometheus, sampleValue } from './helpers/prometheus.js';
import type { Family } from './helpers/prometheus.js';
import { realTest } from './helpers/real-test.js';
import { connectArgs, serveArgs, tunnelFixture, TUNNEL_BIN } from './helpers/tunnel.js';
import { METRICS_LIMITS } from '../src/tunnel/metrics.js';
import type { Tunnel } from './helpers/tunnel.js';

const fx = tunnelFixture('metrics');
const real = realTest(['curl'], true);

/** `curl -sS URL` as a user would: [HTTP status, body]. */
function curl(url: string): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    execFile(
      programPath('curl'),
      ['-sS', '--max-time', '20', '-w', '\n%{http_code}', url],
      { encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`curl ${url}: ${stderr || error.message}`));
          return;
        }
        const at = stdout.lastIndexOf('\n');
        resolve([Number(stdout.slice(at + 1)), stdout.slice(0, at)]);
      },
    );
  });
}

/** Scrapes `url` and parses what it got (throws on any line out of the format). */
async function scrape(t: ExecutionContext, url: string): Promise<Map<string, Family>> {
  const [status, body] = await curl(url);
  t.is(status, 200);
  return parsePrometheus(body);
}

/** Scrapes until `done` holds (bounded), returning the last scrape. */
async function scrapeUntil(
  t: ExecutionContext,
  url: string,
  done: (m: Map<string, Family>) => boolean,
  what: string,
): Promise<Map<string, Family>> {
  for (let i = 0; i < 200; i++) {
    const m = await scrape(t, url);
    if (done(m)) return m;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting until ${what}`);
}

/** Starts serve with `--metrics 127.0.0.1:0`; resolves with it, its port and the metrics URL from its log. */
async function serveWithMetrics(
  env?: NodeJS.ProcessEnv,
): Promise<{ serve: Tunnel; port: number; url: string }> {
  const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', '127.0.0.1:0']), { env });
  const line = await serve.line(/^secsess: metrics /);
  const url = /^secsess: metrics url=(http:\/\/127\.0\.0\.1:\d+\/metrics)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`unexpected metrics line: ${line}`);
  return { serve, port: await serve.port(), url };
}

real(
  'GET /metrics: valid Prometheus text that follows a session, a failed handshake and the counters',
  async (t) => {
    const { serve, port, url } = await serveWithMetrics();
    let m = await scrape(t, url);
    t.is(m.get('secsess_sessions_open')?.type, 'gauge');
    t.is(m.get('secsess_handshake_duration_seconds')?.type, 'histogram');
    t.is(sampleValue(m, 'secsess_sessions_opened_total'), 0);
    for (const limit of [
      'maxConnections',
      'maxHandshakes',
      'maxHandshakesPerAddress',
      'maxPendingDecrypts',
      'handshakeRate',
    ])
      t.is(sampleValue(m, 'secsess_refused_total', { limit }), 0);
    t.true(m.has('process_cpu_user_seconds_total'), "prom-client's default process metrics");
    t.true([...m.keys()].some((name) => name.startsWith('nodejs_')));
    // The serve process loads what this one does (the same tree).
    t.deepEqual(backendInfo(m), cryptoBackends());

    // A real session through the tunnel: the echo comes back, then the client closes.
    const serverKey = await PublicKey.load(fx.keys.serverPub);
    const session: Session = await Client.create(serverKey).connect(`127.0.0.1:${port}`);
    await session.write('hello through the tunnel');
    t.is(String(await session.read()), 'hello through the tunnel');
    m = await scrape(t, url);
    t.is(sampleValue(m, 'secsess_sessions_open'), 1);
    await session.close();
    m = await scrapeUntil(
      t,
      url,
      (x) => sampleValue(x, 'secsess_sessions_closed_total') === 1,
      'the session closed',
    );
    t.is(sampleValue(m, 'secsess_sessions_open'), 0);
    t.is(sampleValue(m, 'secsess_sessions_opened_total'), 1);
    t.is(sampleValue(m, 'secsess_sessions_resumed_total'), 0);
    t.is(sampleValue(m, 'secsess_handshakes_total', { outcome: 'succeeded' }), 1);
    t.is(sampleValue(m, 'secsess_handshakes_total', { outcome: 'failed' }), 0);
    t.is(sampleValue(m, 'secsess_handshakes_total', { outcome: 'probe' }), 0);
    const stats = session.stats;
    t.is(sampleValue(m, 'secsess_bytes_total', { direction: 'sent' }), stats.bytesReceived);
    t.is(sampleValue(m, 'secsess_bytes_total', { direction: 'received' }), stats.bytesSent);
    t.is(sampleValue(m, 'secsess_records_total', { direction: 'sent' }), stats.recordsReceived);
    t.is(sampleValue(m, 'secsess_records_total', { direction: 'received' }), stats.recordsSent);
    t.is(sampleValue(m, 'secsess_handshake_duration_seconds_count'), 1);
    t.is(sampleValue(m, 'secsess_handshake_duration_seconds_bucket', { le: '+Inf' }), 1);
    t.true(sampleValue(m, 'secsess_handshake_duration_seconds_sum') > 0);
    t.is(sampleValue(m, 'secsess_rsa_queue_depth'), 0);
    const rsa = ['decrypt', 'verify', 'main_thread'].map((kind) =>
      sampleValue(m, 'secsess_rsa_operations_total', { kind }),
    );
    t.is(rsa[0]! + rsa[2]!, 1, 'the one decryption, by a worker or on the main thread');
    t.is(rsa[1], 0, 'no client key, nothing to verify');

    // A client that expects another server key: the handshake fails, counted by its code.
    const otherKey = await PublicKey.load(fx.other.serverPub);
    await t.throwsAsync(Client.create(otherKey).connect(`127.0.0.1:${port}`));
    const refused = await serve.line(/^secsess: refused .*code=ERR_/);
    const code = /code=(ERR_[A-Z_]+)/.exec(refused)![1]!;
    m = await scrapeUntil(
      t,
      url,
      (x) => sampleValue(x, 'secsess_handshakes_total', { outcome: 'failed' }) === 1,
      'the failure is counted',
    );
    t.is(sampleValue(m, 'secsess_handshake_failures_total', { code }), 1);
    t.is(m.get('secsess_handshake_failures_total')!.samples.length, 1);
    t.is(sampleValue(m, 'secsess_handshake_duration_seconds_count'), 1, 'only successes are timed');

    // Anything but /metrics is 404.
    const [status] = await curl(url.replace(/\/metrics$/, '/other'));
    t.is(status, 404);
    t.is(await serve.stop(), 0);
  },
);

real('secsess_channels_*: channels open now, admitted and refused, through a real connect', async (t) => {
  // --max-conns 2: two channels are admitted, a third is refused (RST busy) and counted.
  const serve = fx.start(
    serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', '127.0.0.1:0', '--max-conns', '2']),
  );
  const url = /url=(\S+)$/.exec(await serve.line(/^secsess: metrics /))![1]!;
  const client = fx.start(connectArgs(await serve.port(), fx.keys.serverPub));
  const entry = await client.port();
  let m = await scrape(t, url);
  t.is(m.get('secsess_channels_open')?.type, 'gauge');
  t.is(sampleValue(m, 'secsess_channels_open'), 0);
  t.is(sampleValue(m, 'secsess_channels_opened_total'), 0);
  const open: Socket[] = [];
  for (const text of ['one', 'two']) {
    const socket = connect(entry, '127.0.0.1');
    open.push(socket);
    socket.write(text);
    await once(socket, 'data');
  }
  m = await scrape(t, url);
  t.is(sampleValue(m, 'secsess_channels_open'), 2);
  t.is(sampleValue(m, 'secsess_channels_opened_total'), 2);
  t.is(sampleValue(m, 'secsess_sessions_open'), 1, 'one session carries both');
  const third = connect(entry, '127.0.0.1');
  // Reset by connect once serve refuses its channel (ECONNRESET here): only its close matters.
  third.on('error', () => {});
  await new Promise((resolve) => third.once('close', resolve));
  m = await scrapeUntil(t, url, (x) => sampleValue(x, 'secsess_channels_refused_total') === 1, 'the refusal');
  t.is(sampleValue(m, 'secsess_channels_opened_total'), 2);
  for (const socket of open) socket.end();
  m = await scrapeUntil(t, url, (x) => sampleValue(x, 'secsess_channels_open') === 0, 'both closed');
  t.is(sampleValue(m, 'secsess_channels_opened_total'), 2);
  t.is(await client.stop(), 0);
  t.is(await serve.stop(), 0);
});

test('--metrics refuses a host that is not loopback unless --metrics-public, and one it cannot bind', async (t) => {
  const publicArgs = (extra: string[]) =>
    serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', '0.0.0.0:0', ...extra]);
  const refused = await runCli(publicArgs([]), { bin: TUNNEL_BIN });
  t.is(refused.code, 1);
  const errorLines = lines(refused.stderr);
  t.is(errorLines.length, 1, refused.stderr);
  t.regex(
    errorLines[0]!,
    /^secsess: --metrics 0\.0\.0\.0 is not a loopback address.*\[ERR_UNSAFE_METRICS\]$/,
  );
  t.regex(refused.stderr, /--metrics-public/);
  const allowed = fx.start(publicArgs(['--metrics-public']));
  t.regex(
    await allowed.line(/^secsess: metrics /),
    /^secsess: metrics url=http:\/\/0\.0\.0\.0:\d+\/metrics$/,
  );
  await allowed.port();
  t.is(await allowed.stop(), 0);
  // An address in use: the serve stops and exits 1 with ERR_METRICS.
  const taken = await runCli(
    serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', `127.0.0.1:${fx.echo.port}`]),
    { bin: TUNNEL_BIN },
  );
  t.is(taken.code, 1);
  t.regex(lines(taken.stderr).at(-1)!, /cannot listen \(EADDRINUSE\).*\[ERR_METRICS\]$/);
});

test('serve --help lists --metrics and --metrics-public', async (t) => {
  const help = await runCli(['serve', '--help'], { bin: TUNNEL_BIN });
  t.is(help.code, 0);
  t.regex(help.stdout, /--metrics\b.*Prometheus/);
  t.regex(help.stdout, /--metrics-public\b/);
});

real("with --workers 2 the primary serves the sum of both workers' metrics", async (t) => {
  const serve = fx.start(
    serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', '127.0.0.1:0', '--workers', '2']),
  );
  const url = /url=(\S+)$/.exec(await serve.line(/^secsess: metrics /))![1]!;
  const listening = await serve.linesMatching(/^secsess: listening .* worker=\d+$/, 2);
  const port = Number(/address=127\.0\.0\.1:(\d+)/.exec(listening[0]!)![1]);
  const serverKey = await PublicKey.load(fx.keys.serverPub);
  const sessions: Session[] = [];
  for (let i = 0; i < 4; i++) {
    const session = await Client.create(serverKey).connect(`127.0.0.1:${port}`);
    await session.write(`hello ${i}`);
    t.is(String(await session.read()), `hello ${i}`);
    sessions.push(session);
  }
  let m = await scrape(t, url);
  t.is(sampleValue(m, 'secsess_sessions_open'), 4);
  for (const session of sessions) await session.close();
  m = await scrapeUntil(t, url, (x) => sampleValue(x, 'secsess_sessions_closed_total') === 4, 'all closed');
  t.is(sampleValue(m, 'secsess_sessions_opened_total'), 4);
  t.is(sampleValue(m, 'secsess_handshakes_total', { outcome: 'succeeded' }), 4);
  t.is(sampleValue(m, 'secsess_handshake_duration_seconds_count'), 4);
  const received = sessions.reduce((sum, s) => sum + s.stats.bytesReceived, 0);
  t.is(sampleValue(m, 'secsess_bytes_total', { direction: 'sent' }), received);
  t.true(m.has('process_cpu_user_seconds_total'));
  t.deepEqual(backendInfo(m), cryptoBackends(), 'an info gauge: 1 per cipher, not summed over workers');
  t.is(await serve.stop(), 0);
});

/** `secsess_crypto_backend_info` as cipher → backend; every sample must be 1, one per cipher. */
function backendInfo(m: Map<string, Family>): Record<string, string> {
  const family = m.get('secsess_crypto_backend_info');
  if (family?.type !== 'gauge') throw new Error('no secsess_crypto_backend_info gauge');
  const info: Record<string, string> = {};
  for (const s of family.samples) {
    if (s.value !== 1 || s.labels['cipher'] === undefined || s.labels['cipher'] in info)
      throw new Error(`unexpected sample ${JSON.stringify(s)}`);
    info[s.labels['cipher']] = s.labels['backend']!;
  }
  return info;
}

real('secsess_crypto_backend_info: SECSESS_CRYPTO=node puts ChaCha20-Poly1305 on node:crypto', async (t) => {
  const { serve, url } = await serveWithMetrics({ SECSESS_CRYPTO: 'node' });
  t.deepEqual(backendInfo(await scrape(t, url)), {
    'aes-256-gcm': 'node:crypto',
    'chacha20-poly1305': 'node:crypto',
  });
  t.is(await serve.stop(), 0);
});

/** Waits (bounded) until `done` holds. */
async function until(done: () => boolean, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!done()) throw new Error(`gave up waiting until ${what}`);
}

test('idle connections to --metrics cannot starve the tunnel: 16 held at most, closed after the header timeout, then a scrape works', async (t) => {
  const { serve, port, url } = await serveWithMetrics();
  const metricsPort = Number(new URL(url).port);
  // 40 connections that never send a byte (a slowloris, or a local user hoarding descriptors).
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < 40; i++) {
    const socket = connect(metricsPort, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', () => closed++);
    // Read what comes (a 408 before the endpoint closes it): 'close' follows the end read.
    socket.resume();
    sockets.push(socket);
  }
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  // Beyond maxConnections the endpoint drops them on accept.
  await until(() => closed >= 40 - METRICS_LIMITS.maxConnections, 'the extra connections are dropped');
  t.is(40 - closed, METRICS_LIMITS.maxConnections, 'the endpoint holds 16 of them, no more');
  // Meanwhile the tunnel serves real sessions.
  const serverKey = await PublicKey.load(fx.keys.serverPub);
  const session = await Client.create(serverKey).connect(`127.0.0.1:${port}`);
  await session.write('served while the metrics port is full');
  t.is(String(await session.read()), 'served while the metrics port is full');
  await session.close();
  // The endpoint closes the idle ones itself (headersTimeout), and serves a scrape again.
  await until(() => closed === 40, 'the idle connections are closed by the endpoint');
  const response = await fetch(url);
  t.is(response.status, 200);
  t.regex(await response.text(), /^secsess_sessions_opened_total 1$/m);
  t.is(await serve.stop(), 0);
});

test('--metrics localhost:0 listens on the loopback address it checked', async (t) => {
  const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--metrics', 'localhost:0']));
  t.regex(
    await serve.line(/^secsess: metrics /),
    /^secsess: metrics url=http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]):\d+\/metrics$/,
  );
  await serve.port();
  t.is(await serve.stop(), 0);
});

test("the test's Prometheus parser is strict: what it refuses", (t) => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  t.is(sampleValue(parsePrometheus(ok), 'a_total', { x: '1' }), 2);
  const histogram = (buckets: string, count: number) =>
    `# TYPE h histogram\n${buckets}h_sum 1\nh_count ${count}\n`;
  for (const [bad, why] of [
    ['a_total 2\n# TYPE a_total counter\n', /before the TYPE/],
    ['# TYPE a counter\na -1\n', /negative counter/],
    ['# TYPE a gauge\na{x=1} 2\n', /malformed labels/],
    ['# TYPE a gauge\na 2', /newline/],
    ['# TYPE a gauge\na two\n', /not a number/],
    ['# TYPE a gauge\n# a comment\na 1\n', /comment other than/],
    ['# TYPE a gauge\na 1\na 2\n', /same sample twice/],
    [histogram('h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n', 1), /not cumulative/],
    [histogram('h_bucket{le="1"} 1\n', 1), /not \+Inf/],
    [histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n', 3), /not _count/],
  ] as const) {
    t.throws(() => parsePrometheus(bad), { message: why }, bad);
  }
});
