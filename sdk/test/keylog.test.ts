/**
 * SECSESS_KEYLOG_FILE (README "Key log", PROTOCOL.md "Key log format"): peers run as child
 * processes (the variable is read per session from their environment) through a TCP relay
 * in this test that records the bytes; the logged secrets must decrypt the recorded records
 * with keys derived here by node:crypto alone (§4, §5), both roles must log the same lines,
 * and without the variable nothing is written and nothing is said. Serial: each test runs
 * two or three node children, which all at once would crowd a small machine's cores.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  clientRandom,
  frames,
  helloOfPacket,
  helloSuite,
  openDatagram,
  openStream,
  recordOfServerHello,
} from './helpers/keylog-reader.js';
import type { Opened } from './helpers/keylog-reader.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { Datagram } from './helpers/udp-proxy.js';

const PEER = fileURLToPath(new URL('fixtures/keylog-peer.ts', import.meta.url));
const ENV = 'SECSESS_KEYLOG_FILE';

/** The loader flags this test runs under (tsx, source conditions), for the child to use too. */
function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

interface Child {
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  readonly line: Promise<string>;
  end(): void;
}

/** Runs keylog-peer.ts with `args`; `keylog` is the variable's value (undefined: unset). */
function peer(t: ExecutionContext, args: string[], keylog: string | undefined): Child {
  const env = { ...process.env };
  delete env[ENV];
  if (keylog !== undefined) env[ENV] = keylog;
  const child = spawn(process.execPath, [...loaderArgs(), PEER, ...args], { env, stdio: 'pipe' });
  t.teardown(() => child.kill());
  let resolveLine: (line: string) => void;
  const line = new Promise<string>((resolve) => (resolveLine = resolve));
  const out: Child = {
    stdout: '',
    stderr: '',
    exited: once(child, 'exit').then(([code]) => code as number | null),
    line,
    end: () => child.stdin.end(),
  };
  child.stdout.on('data', (d: Buffer) => {
    out.stdout += d.toString();
    if (out.stdout.includes('\n')) resolveLine(out.stdout.split('\n')[0]!);
  });
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  void out.exited.then(() => resolveLine(''));
  return out;
}

interface Captured {
  readonly c2s: Buffer[];
  readonly s2c: Buffer[];
  closed: Promise<unknown>;
}

/**
 * A relay that records the bytes of each connection, both ways: to 127.0.0.1:`port`, or
 * connection `i` (from 0) to `port(i)`.
 */
async function recordingRelay(
  t: ExecutionContext,
  port: number | ((index: number) => number),
): Promise<{ port: number; connections: Captured[] }> {
  const connections: Captured[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = connect(typeof port === 'number' ? port : port(connections.length), '127.0.0.1');
    const captured: Captured = {
      c2s: [],
      s2c: [],
      closed: Promise.all([once(inbound, 'close'), once(outbound, 'close')]),
    };
    connections.push(captured);
    inbound.on('data', (d: Buffer) => captured.c2s.push(d));
    outbound.on('data', (d: Buffer) => captured.s2c.push(d));
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    relay.close();
  });
  return { port: (relay.address() as { port: number }).port, connections };
}

/** The key log's lines as [label, client_random, secret]; every line checked for shape. */
async function logLines(t: ExecutionContext, path: string): Promise<string[][]> {
  const text = await readFile(path, 'utf8');
  t.true(text.endsWith('\n'));
  return text
    .trimEnd()
    .split('\n')
    .map((line) => {
      t.regex(line, /^SECSESS_[A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]+$/);
      return line.split(' ');
    });
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-keylog-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Run {
  readonly server: Child;
  readonly client: Child;
  /** The TCP connections through the relay, each direction's bytes. */
  readonly connections: Captured[];
  /** The UDP datagrams through the proxy. */
  readonly datagrams: Datagram[];
}

/**
 * Runs keylog-peer.ts's server (`serverArgs`) and then its client (`clientArgs(tcp, udp)`,
 * given the ports of the recording TCP relay and UDP proxy in front of the server), each
 * with its own key log setting; waits for both to exit and every relayed connection to end.
 */
async function run(
  t: ExecutionContext,
  serverLog: string | undefined,
  clientLog: string | undefined,
  serverArgs: string[],
  clientArgs: (tcp: number, udp: number) => string[],
): Promise<Run> {
  const server = peer(t, ['server', ...serverArgs], serverLog);
  const [tcpPort, udpPort] = (await server.line).split(' ').map(Number);
  t.true(tcpPort! > 0 && udpPort! > 0, server.stderr);
  const relay = await recordingRelay(t, tcpPort!);
  const proxy = await startUdpProxy({ target: { address: '127.0.0.1', port: udpPort! } });
  t.teardown(() => proxy.close());
  const client = peer(t, clientArgs(relay.port, proxy.port), clientLog);
  t.is(await client.exited, 0, client.stderr);
  server.end();
  t.is(await server.exited, 0, server.stderr);
  await Promise.all(relay.connections.map((c) => c.closed));
  return { server, client, connections: relay.connections, datagrams: proxy.captured };
}

/** `n` stream sessions (2… resumed), with `suite`; checks what the client says it resumed. */
async function runStream(
  t: ExecutionContext,
  serverLog: string | undefined,
  clientLog: string | undefined,
  n: number,
  suite?: 'gcm',
): Promise<Run> {
  const out = await run(t, serverLog, clientLog, [], (tcp) => [
    'client',
    String(tcp),
    String(n),
    ...(suite ? [suite] : []),
  ]);
  t.deepEqual(JSON.parse(out.client.stdout), [false, ...Array<boolean>(n - 1).fill(true)]);
  return out;
}

const WARNING =
  /SecsessWarning: SECSESS_KEYLOG_FILE is set: session secrets are being written to (\S+); anyone who reads it can decrypt these sessions/;

/** The stream lines of one connection: labels, client_random, and its records opened with them. */
function openConnection(
  t: ExecutionContext,
  captured: Captured,
  lines: string[][],
): { c2s: Opened[]; s2c: Opened[]; random: string } {
  // The hello the ServerHello answered: after a ResumeRefused, the ClientHello that followed.
  const hello = frames(captured.c2s)
    .filter((f) => f.type === 0x03 || f.type === 0x05)
    .at(-1)!.frame;
  const random = clientRandom(hello);
  const suite = helloSuite(hello);
  t.deepEqual(
    lines.map(([label, r]) => [label, r]),
    [
      ['SECSESS_C2S_TRAFFIC_SECRET_0', random],
      ['SECSESS_S2C_TRAFFIC_SECRET_0', random],
    ],
  );
  for (const [, , secret] of lines) t.is(secret!.length, suite.hashLength * 2);
  const c2s = openStream(suite, lines[0]![2]!, captured.c2s);
  const s2c = openStream(suite, lines[1]![2]!, captured.s2c);
  t.is(c2s[0]!.type, 0x11, 'ClientFinished');
  t.is(s2c[0]!.type, 0x10, 'ServerFinished');
  t.is(s2c[0]!.payload.length, suite.hashLength);
  return { c2s, s2c, random };
}

const hasData = (records: Opened[], message: string): boolean =>
  records.some((r) => r.type === 0x01 && r.payload.toString() === message);

/** One connection's records opened with its lines: the message both ways, both Close records. */
function checkConnection(t: ExecutionContext, captured: Captured, lines: string[][], message: string): void {
  const { c2s, s2c } = openConnection(t, captured, lines);
  t.true(hasData(c2s, message), 'the Data record, decrypted');
  t.true(hasData(s2c, message), 'the echo, decrypted');
  t.true(c2s.some((r) => r.type === 0x04) && s2c.some((r) => r.type === 0x04), 'both Close records');
}

/** Every datagram Record packet of `direction` opened with its direction's logged secret. */
function openRecords(
  datagrams: Datagram[],
  direction: 'c2s' | 's2c',
  suite: ReturnType<typeof helloSuite>,
  secret: string,
): Opened[] {
  return datagrams
    .filter((d) => d.direction === direction && d.data[0] === 0x47)
    .map((d) => openDatagram(suite, secret, d.data));
}

async function logFiles(t: ExecutionContext): Promise<{ serverLog: string; clientLog: string }> {
  const dir = await tempDir(t);
  return { serverLog: join(dir, 'server.log'), clientLog: join(dir, 'client.log') };
}

for (const suite of [undefined, 'gcm'] as const) {
  test.serial(
    `a TCP session (${suite ?? 'AES-256-CBC/SHA-256'}) logs both traffic secrets, the same lines on both sides, in a new 0600 file, and they decrypt the captured records`,
    async (t) => {
      const { serverLog, clientLog } = await logFiles(t);
      const { server, client, connections } = await runStream(t, serverLog, clientLog, 1, suite);
      t.is(connections.length, 1);
      const lines = await logLines(t, clientLog);
      t.deepEqual(await logLines(t, serverLog), lines, 'both roles write the same lines');
      t.is(lines.length, 2);
      checkConnection(t, connections[0]!, lines, 'keylog message 0');
      for (const path of [serverLog, clientLog]) t.is(statSync(path).mode & 0o777, 0o600);
      t.is(WARNING.exec(server.stderr)?.[1], serverLog);
      t.is(WARNING.exec(client.stderr)?.[1], clientLog);
      t.is(client.stderr.match(/SECSESS_KEYLOG_FILE/g)?.length, 1, 'one warning per process');
    },
  );
}

test.serial(
  'a resumed TCP session logs its own secrets (the resumed schedule) under the ResumeHello’s client_random',
  async (t) => {
    const { serverLog, clientLog } = await logFiles(t);
    const { client, connections } = await runStream(t, serverLog, clientLog, 3);
    const lines = await logLines(t, clientLog);
    t.deepEqual(await logLines(t, serverLog), lines);
    t.is(lines.length, 6);
    t.is(connections.length, 3);
    for (let i = 0; i < 3; i++) {
      t.is(
        frames(connections[i]!.c2s)[0]!.type,
        i === 0 ? 0x03 : 0x05,
        i === 0 ? 'ClientHello' : 'ResumeHello',
      );
      checkConnection(t, connections[i]!, lines.slice(2 * i, 2 * i + 2), `keylog message ${i}`);
    }
    t.is(client.stderr.match(/SECSESS_KEYLOG_FILE/g)?.length, 1, 'one warning per process');
  },
);

for (const suite of [undefined, 'gcm'] as const) {
  test.serial(
    `a datagram session (${suite ?? 'AES-256-CBC/SHA-256'}) logs its epoch-0 secrets under the Hello's client_random, and they open the captured records`,
    async (t) => {
      const { serverLog, clientLog } = await logFiles(t);
      const { datagrams } = await run(t, serverLog, clientLog, [], (_, udp) => [
        'dgram-client',
        String(udp),
        ...(suite ? [suite] : []),
      ]);
      const lines = await logLines(t, clientLog);
      t.deepEqual(await logLines(t, serverLog), lines, 'both roles write the same lines');
      const hellos = datagrams
        .filter((d) => d.direction === 'c2s' && d.data[0] === 0x43)
        .map((d) => helloOfPacket(d.data));
      const hello = hellos.find((h) => clientRandom(h) === lines[0]![1])!;
      t.truthy(hello, 'the client_random of a Hello the client sent');
      t.deepEqual(
        lines.map(([label, random]) => [label, random]),
        [
          ['SECSESS_DGRAM_C2S_SECRET_0', clientRandom(hello)],
          ['SECSESS_DGRAM_S2C_SECRET_0', clientRandom(hello)],
        ],
      );
      const dgramSuite = helloSuite(hello);
      const serverHello = datagrams.find((d) => d.direction === 's2c' && d.data[0] === 0x44)!.data;
      const finished = openDatagram(dgramSuite, lines[1]![2]!, recordOfServerHello(serverHello));
      t.is(finished.type, 0x10, 'ServerFinished');
      const c2s = openRecords(datagrams, 'c2s', dgramSuite, lines[0]![2]!);
      const s2c = openRecords(datagrams, 's2c', dgramSuite, lines[1]![2]!);
      t.is(c2s[0]!.type, 0x11, 'ClientFinished');
      t.true(
        s2c.some((r) => r.type === 0x12),
        'HandshakeDone',
      );
      t.true(hasData(c2s, 'keylog datagram') && hasData(s2c, 'keylog datagram'), 'the message both ways');
      t.true(
        c2s.some((r) => r.type === 0x04 && r.payload.subarray(2).toString() === 'done'),
        'the Close',
      );
    },
  );
}

test.serial(
  "a stream session's datagram channel logs its secrets under the stream session's client_random",
  async (t) => {
    const { serverLog, clientLog } = await logFiles(t);
    const { connections, datagrams } = await run(t, serverLog, clientLog, ['channel'], (tcp, udp) => [
      'channel-client',
      String(tcp),
      String(udp),
    ]);
    const lines = await logLines(t, clientLog);
    t.deepEqual(await logLines(t, serverLog), lines, 'both roles write the same lines');
    t.is(lines.length, 4);
    const { random } = openConnection(t, connections[0]!, lines.slice(0, 2));
    t.deepEqual(
      lines.slice(2).map(([label, r]) => [label, r]),
      [
        ['SECSESS_CHANNEL_C2S_SECRET_0', random],
        ['SECSESS_CHANNEL_S2C_SECRET_0', random],
      ],
    );
    const suite = helloSuite(frames(connections[0]!.c2s)[0]!.frame);
    const c2s = openRecords(datagrams, 'c2s', suite, lines[2]![2]!);
    const s2c = openRecords(datagrams, 's2c', suite, lines[3]![2]!);
    t.is(c2s[0]!.type, 0x05, 'the first Ping');
    t.true(
      s2c.some((r) => r.type === 0x06),
      'a Pong',
    );
    t.true(hasData(c2s, 'keylog channel') && hasData(s2c, 'keylog channel'), 'the message both ways');
  },
);

test.serial(
  'a refused ticket logs the full handshake that follows on the same connection, under its ClientHello’s client_random',
  async (t) => {
    const { serverLog, clientLog } = await logFiles(t);
    const otherLog = join(dirname(serverLog), 'other.log');
    // Two servers with the same key and their own ticket keys: the ticket from the first is
    // refused by the second, which the relay gives the second connection.
    const servers = [peer(t, ['server'], serverLog), peer(t, ['server'], otherLog)];
    const ports = await Promise.all(servers.map(async (s) => Number((await s.line).split(' ')[0])));
    const relay = await recordingRelay(t, (i) => ports[i]!);
    const client = peer(t, ['client', String(relay.port), '2'], clientLog);
    t.is(await client.exited, 0, client.stderr);
    t.deepEqual(JSON.parse(client.stdout), [false, false]);
    for (const s of servers) s.end();
    await Promise.all([...servers.map((s) => s.exited), ...relay.connections.map((c) => c.closed)]);
    const [first, second] = relay.connections as [Captured, Captured];
    t.deepEqual(
      frames(second.c2s)
        .map((f) => f.type)
        .slice(0, 2),
      [0x05, 0x03],
      'ResumeHello, then ClientHello',
    );
    t.is(frames(second.s2c)[0]!.type, 0x06, 'ResumeRefused');
    const lines = await logLines(t, clientLog);
    t.is(lines.length, 4);
    t.deepEqual(await logLines(t, serverLog), lines.slice(0, 2));
    t.deepEqual(await logLines(t, otherLog), lines.slice(2));
    checkConnection(t, first, lines.slice(0, 2), 'keylog message 0');
    checkConnection(t, second, lines.slice(2), 'keylog message 1');
    t.not(lines[2]![1], clientRandom(frames(second.c2s)[0]!.frame), 'not the ResumeHello’s');
  },
);

test.serial('both peers logging to one file write whole lines: each line twice, none torn', async (t) => {
  const { serverLog: path } = await logFiles(t);
  await runStream(t, path, path, 3);
  const lines = (await logLines(t, path)).map((l) => l.join(' '));
  t.is(lines.length, 12);
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  t.deepEqual([...counts.values()], [2, 2, 2, 2, 2, 2]);
});

test.serial(
  'an existing 0600 key log file is appended to; one others may read is refused, the sessions go on',
  async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'keys.log');
    await writeFile(path, '# earlier\n', { mode: 0o600 });
    await runStream(t, undefined, path, 1);
    const text = await readFile(path, 'utf8');
    t.true(text.startsWith('# earlier\nSECSESS_C2S_TRAFFIC_SECRET_0 '));
    t.is(text.split('\n').length, 4);
    t.is(statSync(path).mode & 0o777, 0o600);
    // Made readable to others (or planted so by another user): no secret goes there.
    const shared = join(dir, 'shared.log');
    await writeFile(shared, '# earlier\n');
    await chmod(shared, 0o644);
    const { client } = await runStream(t, undefined, shared, 2);
    t.is(client.stderr.match(/SECSESS_KEYLOG_UNSAFE/g)?.length, 1, client.stderr);
    t.regex(
      client.stderr,
      /not writing session secrets to \S+shared\.log: its mode 0644 lets group or others read it/,
    );
    t.notRegex(client.stderr, WARNING);
    t.is(await readFile(shared, 'utf8'), '# earlier\n');
    t.is(statSync(shared).mode & 0o777, 0o644);
  },
);

test.serial('unset or empty, nothing is logged and nothing is said', async (t) => {
  for (const value of [undefined, '']) {
    const stream = await runStream(t, value, value, 2);
    const dgram = await run(t, value, value, ['channel'], (tcp, udp) => [
      'channel-client',
      String(tcp),
      String(udp),
    ]);
    for (const { server, client } of [stream, dgram]) {
      t.notRegex(server.stderr + client.stderr, /SECSESS_KEYLOG|Warning/);
    }
  }
});

test.serial('a key log that cannot be written warns once and the sessions go on', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'missing-dir', 'keys.log');
  const { client } = await runStream(t, undefined, path, 2);
  t.is(client.stderr.match(/SECSESS_KEYLOG_FAILED/g)?.length, 1, client.stderr);
  t.false(existsSync(path));
});
