/**
 * A fleet behind a real HAProxy (Debian's `haproxy`): TCP mode, round robin over TWO `secsess
 * serve --accept-proxy 127.0.0.1` processes sharing one server key, each sent the client's
 * address by HAProxy in a PROXY header — v2 (`send-proxy-v2`), and v1 (`send-proxy`) in a
 * second run — with HAProxy's own health check (a secsess key probe). SDK clients connect
 * through HAProxy; both processes serve some; each logs every client by its own address and
 * port (the client socket's local port, as HAProxy saw it), never HAProxy's; and each passes
 * that client on to its backend in its own PROXY v2 header (`--proxy-protocol`), whose
 * destination is the address the client connected to: HAProxy's front.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PublicKey } from '@secsess/keys';
import { Client, ProxyHeaderParser } from '@secsess/sdk';
import type { ProxyHeader } from '@secsess/sdk';
import { fleetConfig, startHaproxy } from './helpers/haproxy.js';
import type { SendProxy } from './helpers/haproxy.js';
import { assertSecsessBuilt, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { startServe } from './helpers/secsess-bin.js';
import type { LogEvent, SecsessProc } from './helpers/secsess-bin.js';

test.before(() => assertSecsessBuilt());

const real = realTest(['haproxy'], true);

/** Sessions through HAProxy per run: three for each of the two processes. */
const CLIENTS = 6;

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

/** The `conn` lines of both processes once there are `count` in all (bounded wait). */
async function connLinesOf(procs: readonly SecsessProc[], count: number): Promise<LogEvent[][]> {
  for (let i = 0; i < 1200; i++) {
    const lines = procs.map((p) => p.events().filter((e) => e.event === 'conn'));
    if (lines.flat().length >= count) return lines;
    await sleep(50);
  }
  throw new Error(`fewer than ${count} conn lines:\n${procs.map((p) => p.output()).join('\n---\n')}`);
}

async function fleet(t: ExecutionContext, sendProxy: SendProxy): Promise<void> {
  const { dir, keys } = await tunnelFiles(t);
  const backend = await headerEcho(t);
  const serveArgs = [
    '--accept-proxy',
    '127.0.0.1',
    '--authorized-keys',
    keys.authorizedKeys,
    '--proxy-protocol',
  ];
  const serves = [
    await started(t, startServe(keys, `127.0.0.1:${backend}`, serveArgs)),
    await started(t, startServe(keys, `127.0.0.1:${backend}`, serveArgs)),
  ];
  const haproxy = await started(
    t,
    startHaproxy(
      dir,
      serves.map((s) => s.address),
      sendProxy,
    ),
  );
  const ports: number[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = Client.create(keys.serverPub, {}, { clientKey: keys.clientKey });
    const session = await client.connect(`127.0.0.1:${haproxy.port}`);
    const port = session.localPort!;
    ports.push(port);
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
      `client ${i}: the backend learns the client and HAProxy's front, through both hops`,
    );
    await session.close();
  }
  const lines = await connLinesOf(serves, CLIENTS);
  const fingerprint = (await PublicKey.load(keys.clientPub)).fingerprint();
  for (const [i, own] of lines.entries()) {
    t.true(own.length > 0, `serve ${i + 1} served some sessions (round robin)`);
    for (const line of own) t.like(line, { close: 1000, fingerprint });
  }
  t.deepEqual(
    lines
      .flat()
      .map((line) => line['peer'])
      .sort(),
    ports.map((port) => `127.0.0.1:${port}`).sort(),
    "every conn line names a client's own address:port, none HAProxy's",
  );
  for (const serve of serves) {
    t.deepEqual(
      serve.events().filter((e) => e.event === 'refused'),
      [],
      'no connection refused: the health checks are key probes',
    );
  }
}

real('HAProxy send-proxy-v2 across two serve processes: each logs and forwards the real client', (t) =>
  fleet(t, 'send-proxy-v2'),
);

real('HAProxy send-proxy (v1) across two serve processes: each logs and forwards the real client', (t) =>
  fleet(t, 'send-proxy'),
);

test('README "Running a fleet" quotes the HAProxy configuration these tests run', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const quoted = fleetConfig({
    front: '0.0.0.0:7000',
    servers: ['10.0.0.11:7000', '10.0.0.12:7000'],
    sendProxy: 'send-proxy-v2',
  });
  t.true(readme.includes(`\`\`\`\n${quoted}\`\`\``), `README.md should hold:\n${quoted}`);
});
