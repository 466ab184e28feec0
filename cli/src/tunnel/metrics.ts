/**
 * `secsess serve --metrics HOST:PORT`: Prometheus text at `GET /metrics` (404 elsewhere),
 * from a prom-client registry whose metrics read the server's `server.metrics()` snapshot
 * when scraped (one snapshot a scrape), beside prom-client's default process metrics. The
 * address must be loopback unless `--metrics-public` (the numbers tell an observer how busy
 * the server is, and who is refused). With `--workers`, the primary serves the sum of its
 * workers' registries (prom-client's AggregatorRegistry asks each over the cluster's IPC at
 * every scrape; a replaced worker's counts go with it). The bound address is logged
 * (`metrics` line, `url=http://HOST:PORT/metrics`), so port 0 works. prom-client is loaded
 * only then: every other `secsess` run (a ProxyCommand's `connect` above all) starts without
 * the ~80 ms its loading takes.
 *
 * The HTTP server is bounded (cli/README.md "--metrics"): it shares the process's descriptors
 * with the tunnel, so idle or slow connections to it must not starve the tunnel's accept
 * (EMFILE). A host name is resolved once: the address checked is the one listened on.
 */
import cluster from 'node:cluster';
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server, ServerMetrics } from '@secsess/sdk';
import type * as Prom from 'prom-client';
import type { MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import { parseHostPort } from '../commands/host-port.js';
import type { HostPort } from '../commands/host-port.js';
import { isLoopback } from './address.js';
import type { TunnelLog } from './conn-log.js';

/** The one path served. */
export const METRICS_PATH = '/metrics';

/**
 * Bounds of the endpoint (cli/README.md says them): at most 16 connections at once (more are
 * dropped on accept), 5 s to send a request, 1 s idle between keep-alive requests, 30 s of
 * silence on a socket, small request heads. A Prometheus scrape needs one connection and a
 * few hundred bytes of request.
 */
export const METRICS_LIMITS = {
  maxConnections: 16,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 5000,
  keepAliveTimeoutMs: 1000,
  socketTimeoutMs: 30_000,
  maxHeaderSize: 8192,
  maxHeadersCount: 32,
} as const;

/** Adds `--metrics HOST:PORT` and `--metrics-public` to `serve`'s options. */
export function metricsOption<T>(yargs: Argv<T>) {
  return yargs
    .option('metrics', {
      type: 'string',
      requiresArg: true,
      describe: `serve Prometheus metrics at http://HOST:PORT${METRICS_PATH} (loopback unless --metrics-public; port 0: any)`,
    })
    .option('metrics-public', {
      type: 'boolean',
      default: false,
      describe: 'allow a --metrics host that is not loopback',
    })
    .check((argv) => {
      if (argv.metrics !== undefined) parseHostPort(argv.metrics, { allowPortZero: true });
      return true;
    });
}

/** A running metrics endpoint. */
export interface MetricsEndpoint {
  /** `http://HOST:PORT/metrics`, with the bound port. */
  readonly url: string;
  close(): Promise<void>;
}

/** What `--metrics` and `--metrics-public` say. */
export interface MetricsArgs {
  metrics?: string | undefined;
  'metrics-public': boolean;
  workers?: number | undefined;
}

/** Where to listen: the address checked (an IP literal), and the `--metrics` text for messages. */
interface MetricsAddress extends HostPort {
  readonly given: string;
}

/**
 * The `--metrics` address, refused (ERR_UNSAFE_METRICS) if not loopback without
 * `--metrics-public`. A name is resolved here, once: every address it has must be loopback,
 * and the first (what `listen(port, name)` would take) is the one listened on, so a second
 * resolution cannot give another.
 */
async function metricsAddress(args: MetricsArgs & { metrics: string }): Promise<MetricsAddress> {
  const address = parseHostPort(args.metrics, { allowPortZero: true });
  const given = args.metrics;
  let addresses: string[];
  try {
    addresses =
      isIP(address.host) !== 0
        ? [address.host]
        : (await lookup(address.host, { all: true })).map((a) => a.address);
  } catch (err) {
    if (!args['metrics-public']) throw unsafe(address.host);
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CliError(CliErrorCode.METRICS, `--metrics ${given}: cannot listen (${code})`, { cause: err });
  }
  if (!args['metrics-public'] && !(addresses.length > 0 && addresses.every((a) => isLoopback(a)))) {
    throw unsafe(address.host);
  }
  if (addresses[0] === undefined) {
    throw new CliError(CliErrorCode.METRICS, `--metrics ${given}: cannot listen (no address)`);
  }
  return { host: addresses[0], port: address.port, given };
}

function unsafe(host: string): CliError {
  return new CliError(
    CliErrorCode.UNSAFE_METRICS,
    `--metrics ${host} is not a loopback address: anyone who reaches it would see how busy ` +
      'the server is and why connections fail; serve metrics on 127.0.0.1, ::1 or localhost, or ' +
      'pass --metrics-public if the network to it is trusted',
  );
}

/**
 * Starts the endpoint of `--metrics` for `server` (already listening) and logs its `metrics`
 * line; null without `--metrics`. On failure (a non-loopback host without `--metrics-public`:
 * ERR_UNSAFE_METRICS; an address that cannot be bound: ERR_METRICS) the server is stopped.
 * In a worker of `--workers`, the registry is only offered to the primary (no endpoint).
 */
export async function startMetrics(
  args: MetricsArgs,
  server: Server,
  log: TunnelLog,
  channels?: () => ChannelCounts,
): Promise<MetricsEndpoint | null> {
  if (args.metrics === undefined) return null;
  try {
    const prom = await import('prom-client');
    const registry = metricsRegistry(prom, () => server.metrics(), channels);
    if (args.workers !== undefined && cluster.isWorker) {
      // Made first: it answers the primary's requests from now on, from this registry.
      new prom.AggregatorRegistry();
      prom.AggregatorRegistry.setRegistries([registry]);
      return null;
    }
    const endpoint = await listen(await metricsAddress({ ...args, metrics: args.metrics }), registry);
    log.metrics(endpoint.url);
    return endpoint;
  } catch (err) {
    await server.stop({ drain: 0 });
    throw err;
  }
}

/**
 * `serve --workers N --metrics`: the primary's endpoint, the sum of its workers' metrics,
 * started before they are forked (an address refused or in use fails the command first); null
 * without --metrics, at once.
 */
export function startPrimaryMetrics(args: MetricsArgs, log: TunnelLog): Promise<MetricsEndpoint> | null {
  const metrics = args.metrics;
  if (metrics === undefined) return null;
  return (async () => {
    const address = await metricsAddress({ ...args, metrics });
    const prom = await import('prom-client');
    const aggregator = new prom.AggregatorRegistry();
    const endpoint = await listen(address, {
      contentType: aggregator.contentType,
      metrics: () => aggregator.clusterMetrics(),
    });
    log.metrics(endpoint.url);
    return endpoint;
  })();
}

/** What the endpoint serves: a registry, or the cluster's sum. */
interface Exposition {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Listens on `address` (checked, an IP literal), answering GET /metrics from `registry`. */
async function listen(address: MetricsAddress, registry: Exposition): Promise<MetricsEndpoint> {
  const limits = METRICS_LIMITS;
  const http = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often the two timeouts above are checked (default 30 s).
      connectionsCheckingInterval: 1000,
    },
    (req, res) => void answer(req, res, registry),
  );
  http.maxConnections = limits.maxConnections;
  http.keepAliveTimeout = limits.keepAliveTimeoutMs;
  http.maxHeadersCount = limits.maxHeadersCount;
  // No 'timeout' listener: a socket silent this long is destroyed.
  http.setTimeout(limits.socketTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new CliError(
          CliErrorCode.METRICS,
          `--metrics ${address.given}: cannot listen (${err.code ?? err.message})`,
          {
            cause: err,
          },
        ),
      ),
    );
    http.listen(address.port, address.host, () => resolve());
  });
  // The secsess server keeps the process alive; a scrape in progress must not.
  http.unref();
  const bound = http.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, registry: Exposition): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== METRICS_PATH) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
    return;
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : text);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
  }
}

/**
 * The registry: the secsess metrics (README "Metrics" lists them) and prom-client's default
 * process metrics. Every collect() of one scrape reads the same snapshot.
 */
/** serve's channels (PROTOCOL.md §6b), for `secsess_channels_*`: open now, and totals. */
export interface ChannelCounts {
  readonly open: number;
  readonly opened: number;
  readonly refused: number;
}

export function metricsRegistry(
  prom: PromClient,
  read: () => ServerMetrics,
  channels: () => ChannelCounts = () => ({ open: 0, opened: 0, refused: 0 }),
): Registry {
  const { Counter, Gauge } = prom;
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  let snapshot: ServerMetrics | null = null;
  const current = (): ServerMetrics => {
    if (snapshot === null) {
      snapshot = read();
      // A scrape calls every collect() in one go: the next scrape reads anew.
      queueMicrotask(() => (snapshot = null));
    }
    return snapshot;
  };
  const registers = [registry];
  const gauge = (name: string, help: string, value: (m: ServerMetrics) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value(current()));
      },
    });
  };
  /** A counter without labels, set from the snapshot at each scrape. */
  const total = (name: string, help: string, value: (m: ServerMetrics) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value(current()));
      },
    });
  };
  /** A counter with one label, set from `values` (label value → count) at each scrape. */
  const counter = (
    name: string,
    help: string,
    label: string,
    values: (m: ServerMetrics) => Readonly<Record<string, number>>,
  ): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [key, count] of Object.entries(values(current()))) this.inc({ [label]: key }, count);
      },
    });
  };
  gauge('secsess_sessions_open', 'Established sessions not yet closed.', (m) => m.sessions.open);
  total(
    'secsess_sessions_opened_total',
    'Sessions established (resumed ones included).',
    (m) => m.sessions.opened,
  );
  total(
    'secsess_sessions_resumed_total',
    'Sessions resumed from a ticket (no RSA).',
    (m) => m.sessions.resumed,
  );
  total('secsess_sessions_closed_total', 'Established sessions that have closed.', (m) => m.sessions.closed);
  gauge('secsess_handshakes_in_progress', 'Connections in their handshake.', (m) => m.handshakes.inProgress);
  counter('secsess_handshakes_total', 'Handshakes ended, by outcome.', 'outcome', (m) => ({
    succeeded: m.handshakes.succeeded,
    failed: m.handshakes.failed,
    probe: m.handshakes.probes,
  }));
  counter(
    'secsess_handshake_failures_total',
    'Failed handshakes by error code (refusals and probes apart).',
    'code',
    (m) => m.handshakes.failedByCode,
  );
  counter(
    'secsess_refused_total',
    'Connections and hellos refused by a load limit.',
    'limit',
    (m) => m.refused,
  );
  counter(
    'secsess_bytes_total',
    'Transport bytes of all sessions, handshakes included.',
    'direction',
    (m) => ({
      sent: m.bytes.sent,
      received: m.bytes.received,
    }),
  );
  counter('secsess_records_total', 'Records of all sessions.', 'direction', (m) => ({
    sent: m.records.sent,
    received: m.records.received,
  }));
  gauge(
    'secsess_rsa_queue_depth',
    'RSA operations queued for or running in the worker pool.',
    (m) => m.rsa.queued,
  );
  counter('secsess_rsa_operations_total', 'RSA operations, by where they ran.', 'kind', (m) => ({
    decrypt: m.rsa.decrypts,
    verify: m.rsa.verifies,
    main_thread: m.rsa.mainThread,
  }));
  // The tunnel's own: channels of channel sessions (each also a backend connection).
  gauge(
    'secsess_channels_open',
    'Channels open now (each joined to a backend connection).',
    () => channels().open,
  );
  total(
    'secsess_channels_opened_total',
    'Channels clients opened that were admitted.',
    () => channels().opened,
  );
  total(
    'secsess_channels_refused_total',
    'Channels refused before a backend was tried (--max-conns, draining).',
    () => channels().refused,
  );
  // An info metric: one series per AEAD cipher, its backend as a label. With --workers the
  // primary takes the largest value (1), not the sum of the workers'.
  new Gauge({
    name: 'secsess_crypto_backend_info',
    help: 'Which implementation seals and opens each AEAD record cipher (always 1).',
    labelNames: ['cipher', 'backend'],
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const [cipher, backend] of Object.entries(current().crypto.aead)) this.set({ cipher, backend }, 1);
    },
  });
  registry.registerMetric(
    snapshotHistogram(
      'secsess_handshake_duration_seconds',
      'Successful handshakes, from the connection to the session handed on (authorization included).',
      () => current().handshakeSeconds,
    ),
  );
  return registry;
}

/** prom-client, loaded when `--metrics` is given. */
type PromClient = typeof Prom;
type HistogramValue = MetricValueWithName<string>;
type Metric = Parameters<Registry['registerMetric']>[0];

/**
 * A histogram whose buckets are the snapshot's (already cumulative): prom-client's Histogram
 * observes values one by one, while the server keeps bucket counts. What a registry needs of
 * a metric is its `name` and `get()` (and `getForPromString()` if it has one: it does not).
 */
function snapshotHistogram(
  name: string,
  help: string,
  read: () => ServerMetrics['handshakeSeconds'],
): Metric {
  const get = (): Promise<MetricObjectWithValues<HistogramValue>> => {
    const h = read();
    const values: HistogramValue[] = h.buckets.map((le, i) => ({
      metricName: `${name}_bucket`,
      labels: { le },
      value: h.counts[i]!,
    }));
    values.push(
      { metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.count },
      { metricName: `${name}_sum`, labels: {}, value: h.sum },
      { metricName: `${name}_count`, labels: {}, value: h.count },
    );
    // prom-client's types say `type` is a numeric enum; its registry prints the string given.
    const metric = { name, help, type: 'histogram', values, aggregator: 'sum' };
    return Promise.resolve(metric as unknown as MetricObjectWithValues<HistogramValue>);
  };
  // Typed as prom-client's classes, of which the registry uses only these members.
  return { name, help, type: 'histogram', aggregator: 'sum', get } as unknown as Metric;
}
