/**
 * A fleet behind a real HAProxy (Debian's `haproxy`): TCP mode, round robin over TWO `secsess
 * serve --accept-proxy 127.0.0.1` processes sharing one server key and one ticket-key file
 * (`secsess-keygen ticket-key`, given to both with `--ticket-keys`), each sent the client's
 * address by HAProxy in a PROXY header — v2 (`send-proxy-v2`), and v1 (`send-proxy`) in a
 * second run — with HAProxy's own health check (a secsess key probe). SDK clients sharing ONE
 * `TicketStore` connect through HAProxy, one after the other, each offering the ticket the
 * previous session left in the store: both processes serve some; every session after the
 * first resumes, on whichever process it lands, tickets issued by either process resuming on
 * the other; each process logs every client by its own address and port (the client socket's
 * local port, as HAProxy saw it), never HAProxy's, and says `resumed` as the client does; and
 * each passes that client on to its backend in its own PROXY v2 header (`--proxy-protocol`),
 * whose destination is the address the client connected to: HAProxy's front. HAProxy's own
 * log (tcplog) names one connection per session, to the process that logged it.
 *
 * The contrast: two processes with DIFFERENT ticket-key files. A ticket one issued is refused
 * by the other, which goes on with a full handshake on the same connection (resumed=no on both
 * sides, one connection through HAProxy), and the session works as any other. Last, README
 * "Running a fleet" is checked to quote the HAProxy configuration and serve's flags run here.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PublicKey } from '@secsess/keys';
import { Client, ProxyHeaderParser, TicketStore } from '@secsess/sdk';
import type { ProxyHeader } from '@secsess/sdk';
import { assertBuilt as assertKeygenBuilt, runCli } from './helpers/cli.js';
import { fleetConfig, startHaproxy } from './helpers/haproxy.js';
import type { Haproxy, SendProxy } from './helpers/haproxy.js';
import { assertSecsessBuilt, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { startServe } from './helpers/secsess-bin.js';
import type { LogEvent, SecsessProc, TunnelKeys } from './helpers/secsess-bin.js';

test.before(() => {
  assertSecsessBuilt();
  assertKeygenBuilt();
});

const real = realTest(['haproxy'], true);

/** Sessions through HAProxy per run, at least: three for each of the two processes. */
const CLIENTS = 6;
/**
 * At most: the run goes on past CLIENTS until a ticket of each process has been offered to the
 * other (round robin alternates, so CLIENTS is already enough unless HAProxy balances oddly).
 */
const MAX_CLIENTS = 20;

/**
 * The service behind `serve --proxy-protocol`: reads the PROXY v2 header serve sends first and
 * answers with its addresses as JSON, then ends.
 */
async function headerEcho(t: ExecutionContext): Promise<number> {
  const server = createServer((socket: Socket) => {
    const parser = new ProxyHeaderParser();
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (parser.header) return;
      try {
        if (parser.push(chunk) < 0) return;
      } catch (err) {
        socket.end(JSON.stringify({ error: (err as Error).message }));
        return;
      }
      socket.end(JSON.stringify(parser.header));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** A new ticket-key file of one key in `dir`, made as an operator would: `secsess-keygen ticket-key -f`. */
async function ticketKeyFile(t: ExecutionContext, dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const made = await runCli(['ticket-key', '-f', path]);
  t.is(made.code, 0, made.stderr);
  return path;
}

/** One session through HAProxy, as the client and the serve process that logged it saw it. */
interface Visit {
  /** The client socket's local port: its `peer` in serve's conn line. */
  readonly port: number;
  /** Which serve process (0 or 1) logged the session. */
  readonly served: number;
  /** The client's `session.resumed`. */
  readonly resumed: boolean;
  /** Tickets in the shared store before the session connected. */
  readonly held: number;
  readonly line: LogEvent;
}

/** The `conn` line of `peer` and the process that wrote it, waiting for it (bounded). */
async function connLineOf(
  serves: readonly SecsessProc[],
  peer: string,
): Promise<{ served: number; line: LogEvent }> {
  for (let i = 0; i < 600; i++) {
    for (const [served, serve] of serves.entries()) {
      const line = serve.events().find((e) => e.event === 'conn' && e['peer'] === peer);
      if (line) return { served, line };
    }
    await sleep(50);
  }
  throw new Error(`no conn line for ${peer}:\n${serves.map((s) => s.output()).join('\n---\n')}`);
}

/**
 * What each serve process gets besides `--listen`, `--key` and `--forward`, and README "Running
 * a fleet" quotes (its test checks the flags): the balancer trusted for PROXY headers, the
 * client list, the ticket-key file. The tests add `--proxy-protocol` for their backend.
 */
function fleetServeArgs(authorizedKeys: string, ticketKeys: string): string[] {
  return ['--accept-proxy', '127.0.0.1', '--authorized-keys', authorizedKeys, '--ticket-keys', ticketKeys];
}

/** The two serve processes (same server key; ticket keys as given) and HAProxy in front. */
async function startFleet(
  t: ExecutionContext,
  dir: string,
  keys: TunnelKeys,
  ticketKeys: readonly [string, string],
  sendProxy: SendProxy,
): Promise<{ serves: SecsessProc[]; haproxy: Haproxy }> {
  const backend = await headerEcho(t);
  const serves: SecsessProc[] = [];
  for (const file of ticketKeys) {
    const args = [...fleetServeArgs(keys.authorizedKeys, file), '--proxy-protocol'];
    serves.push(await started(t, startServe(keys, `127.0.0.1:${backend}`, args)));
  }
  const haproxy = await started(
    t,
    startHaproxy(
      dir,
      serves.map((s) => s.address),
      sendProxy,
    ),
  );
  return { serves, haproxy };
}

/**
 * Sessions through HAProxy, one at a time, every client with the one `store`: at least
 * CLIENTS, then on (up to MAX_CLIENTS) until the session after one served by each process has
 * landed on the other. Each asks the backend who it is (the PROXY header serve sent it) and
 * checks the answer names the client's own address and HAProxy's front.
 */
async function visits(
  t: ExecutionContext,
  keys: TunnelKeys,
  serves: readonly SecsessProc[],
  haproxy: Haproxy,
): Promise<Visit[]> {
  const store = new TicketStore();
  const done: Visit[] = [];
  const crossed = (from: number, to: number): boolean =>
    done.some((v, i) => i > 0 && done[i - 1]!.served === from && v.served === to);
  while (done.length < MAX_CLIENTS && (done.length < CLIENTS || !crossed(0, 1) || !crossed(1, 0))) {
    const held = store.size;
    const client = Client.create(keys.serverPub, {}, { clientKey: keys.clientKey, resumption: store });
    const session = await client.connect(`127.0.0.1:${haproxy.port}`);
    const port = session.localPort!;
    await session.write('who am I?');
    const chunks: Buffer[] = [];
    for await (const message of session) chunks.push(message);
    const header = JSON.parse(Buffer.concat(chunks).toString()) as ProxyHeader;
    t.deepEqual(
      header.addresses,
      {
        source: { address: '127.0.0.1', port, family: 'IPv4' },
        destination: { address: '127.0.0.1', port: haproxy.port, family: 'IPv4' },
      },
      `client ${done.length}: the backend learns the client and HAProxy's front, through both hops`,
    );
    await session.close();
    const { served, line } = await connLineOf(serves, `127.0.0.1:${port}`);
    done.push({ port, served, resumed: session.resumed, held, line });
  }
  return done;
}

/** What every run asserts: the client's address everywhere, both processes serving, no refusal. */
async function commonChecks(
  t: ExecutionContext,
  keys: TunnelKeys,
  serves: readonly SecsessProc[],
  haproxy: Haproxy,
  done: readonly Visit[],
): Promise<void> {
  const fingerprint = (await PublicKey.load(keys.clientPub)).fingerprint();
  for (const [i, visit] of done.entries()) {
    t.like(visit.line, { close: 1000, fingerprint }, `session ${i}`);
    t.is(visit.line['resumed'], visit.resumed, `session ${i}: serve's conn line and the client agree`);
    t.is(visit.held, i === 0 ? 0 : 1, `session ${i}: the store held the previous session's ticket only`);
  }
  for (const [i, serve] of serves.entries()) {
    const own = serve.events().filter((e) => e.event === 'conn');
    t.true(own.length > 0, `serve ${i + 1} served some sessions (round robin)`);
    t.deepEqual(
      serve.events().filter((e) => e.event === 'refused'),
      [],
      `serve ${i + 1}: no connection refused (the health checks are key probes; a refused ticket is no refusal)`,
    );
  }
  t.deepEqual(
    serves
      .flatMap((serve) => serve.events().filter((e) => e.event === 'conn'))
      .map((line) => line['peer'])
      .sort(),
    done.map((visit) => `127.0.0.1:${visit.port}`).sort(),
    "every conn line names a client's own address:port, none HAProxy's",
  );
  // HAProxy's own log (option tcplog, a line as each connection ends): from the first
  // session on, exactly one connection per session, from the client's port, to the server
  // whose serve process logged it (before it: the readiness probe). A refused ticket costs
  // no second connection, and nothing connects behind the client's back.
  await haproxy.proc.waitFor(
    new RegExp(`^127\\.0\\.0\\.1:${done.at(-1)!.port} `, 'm'),
    "HAProxy's log line of the last session",
  );
  const logged = [
    ...haproxy.proc.output().matchAll(/^127\.0\.0\.1:(\d+) \[[^\]]+\] secsess secsess_fleet\/s(\d) /gm),
  ].map((m) => ({ port: Number(m[1]), served: Number(m[2]) - 1 }));
  t.deepEqual(
    logged.slice(logged.findIndex((c) => c.port === done[0]!.port)),
    done.map((v) => ({ port: v.port, served: v.served })),
    `HAProxy logged one connection per session, to the process that logged it:\n${haproxy.proc.output()}`,
  );
}

/** Which process issued the ticket each session offered (null: none offered) and which served it. */
function handovers(done: readonly Visit[]): { issuer: number | null; served: number; resumed: boolean }[] {
  return done.map((v, i) => ({
    issuer: i === 0 ? null : done[i - 1]!.served,
    served: v.served,
    resumed: v.resumed,
  }));
}

async function fleet(t: ExecutionContext, sendProxy: SendProxy): Promise<void> {
  const { dir, keys } = await tunnelFiles(t);
  const tickets = await ticketKeyFile(t, dir, 'tickets.keys');
  const { serves, haproxy } = await startFleet(t, dir, keys, [tickets, tickets], sendProxy);
  const done = await visits(t, keys, serves, haproxy);
  await commonChecks(t, keys, serves, haproxy, done);
  const handed = handovers(done);
  t.deepEqual(
    handed.map((h) => h.resumed),
    handed.map((h) => h.issuer !== null),
    'the first session is a full handshake; every later one resumes, wherever it lands',
  );
  for (const served of [0, 1]) {
    t.true(
      handed.some((h) => h.resumed && h.served === served),
      `serve ${served + 1} resumed sessions`,
    );
  }
  for (const [from, to] of [
    [0, 1],
    [1, 0],
  ] as const) {
    t.true(
      handed.some((h) => h.issuer === from && h.served === to && h.resumed),
      `a ticket issued by serve ${from + 1} resumed on serve ${to + 1}: ${JSON.stringify(handed)}`,
    );
  }
}

real(
  'HAProxy send-proxy-v2 across two serve processes sharing a ticket-key file: clients resume on either, each logs and forwards the real client',
  (t) => fleet(t, 'send-proxy-v2'),
);

real(
  'HAProxy send-proxy (v1) across two serve processes sharing a ticket-key file: clients resume on either, each logs and forwards the real client',
  (t) => fleet(t, 'send-proxy'),
);

real(
  'HAProxy send-proxy-v2 across two serve processes with different ticket-key files: a ticket of one is refused by the other, a full handshake on the same connection follows, the session works',
  async (t) => {
    const { dir, keys } = await tunnelFiles(t);
    const files = [
      await ticketKeyFile(t, dir, 'tickets-1.keys'),
      await ticketKeyFile(t, dir, 'tickets-2.keys'),
    ] as const;
    const { serves, haproxy } = await startFleet(t, dir, keys, files, 'send-proxy-v2');
    const done = await visits(t, keys, serves, haproxy);
    await commonChecks(t, keys, serves, haproxy, done);
    const handed = handovers(done);
    t.deepEqual(
      handed.map((h) => h.resumed),
      handed.map((h) => h.issuer === h.served),
      'a session resumes only on the process whose ticket it offers',
    );
    for (const [from, to] of [
      [0, 1],
      [1, 0],
    ] as const) {
      t.true(
        handed.some((h) => h.issuer === from && h.served === to && !h.resumed),
        `a ticket issued by serve ${from + 1} was offered to serve ${to + 1}, refused, and a full handshake followed: ${JSON.stringify(handed)}`,
      );
    }
  },
);

test('README "Running a fleet" quotes the HAProxy configuration these tests run, and serve with their flags', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const quoted = fleetConfig({
    front: '0.0.0.0:7000',
    servers: ['10.0.0.11:7000', '10.0.0.12:7000'],
    sendProxy: 'send-proxy-v2',
  });
  t.true(readme.includes(`\`\`\`\n${quoted}\`\`\``), `README.md should hold:\n${quoted}`);
  const serve = /^```\n(secsess serve --listen 10\.0\.0\.11:7000 [^`]*)```$/m.exec(readme)?.[1] ?? '';
  for (const flag of fleetServeArgs('FILE', 'FILE').filter((arg) => arg.startsWith('--'))) {
    t.regex(serve, new RegExp(` ${flag} \\S`), `README's serve command should give ${flag}:\n${serve}`);
  }
});
