/**
 * The tunnels the `tunnel` group compares, each a pair of processes on loopback — an entry
 * the client connects to and an exit that connects to the service — started per service:
 *
 *   direct   no tunnel: the client connects to the service itself
 *   node-relay  two node processes relaying plain TCP with the command's buffer discipline
 *            and no crypto (bench/node-relay.mjs: reads into a shared buffer, chunks
 *            copied into reused buffers): the floor of any tunnel built as two Node event
 *            loops, secsess's shape
 *   spiped   `spiped -e` → `spiped -d` (a 32-byte shared key file; defaults otherwise)
 *   stunnel  stunnel client → stunnel server, TLS with the bench's self-signed RSA-2048
 *            certificate (the client verifies it), TCP_NODELAY on every socket
 *   secsess  `secsess connect --listen` → `secsess serve`, the built bin with its defaults
 *            (`BENCH_TUNNEL_SYMMETRIC=aes-256-gcm` in the environment: connect's `--symmetric`, for A/B runs)
 *            (AES-256-GCM), pinned to the bench's RSA-2048 server key
 *            — every connection a channel of one session (PROTOCOL.md §6b), the default
 *   secsess-no-channels  the same with `connect --no-channels`: a session (and a handshake,
 *            or a resumption) for each connection, as before channels; redis rows only
 *   secsess-serve-2-workers  the same with `serve --workers 2` (node:cluster: a primary and
 *            two serving processes; connect stays one process); redis rows only
 *
 * A tunnel whose program is missing is reported as the reason and left out.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  findProgram,
  hostPort,
  spawnProc,
  startOnFreePort,
  waitForPort,
} from '../cli/test/helpers/programs.js';
import type { Proc } from '../cli/test/helpers/programs.js';
import { logEvents, SECSESS_BUNDLE, startSecsess } from '../cli/test/helpers/secsess-bin.js';
import type { BenchFiles } from './kinds.js';

export const TUNNELS = ['secsess', 'direct', 'node-relay', 'spiped', 'stunnel'] as const;
/** Run in the redis rows only (many connections; a single copy would not use the second worker). */
export const WORKERS_TUNNEL = 'secsess-serve-2-workers';
export const NO_CHANNELS_TUNNEL = 'secsess-no-channels';
export type TunnelKind = (typeof TUNNELS)[number] | typeof WORKERS_TUNNEL | typeof NO_CHANNELS_TUNNEL;

const HOST = '127.0.0.1';

/** A tunnel to one service: the port clients connect to, and how to stop its processes. */
export interface Tunnel {
  readonly port: number;
  /** Its processes (none for `direct`). */
  readonly pids: readonly number[];
  /** Output of its processes (for a failure's report). */
  output(): string;
  stop(): Promise<void>;
}

/** Why `kind` cannot run here, or null. */
export function tunnelUnavailable(kind: TunnelKind, files: BenchFiles): string | null {
  switch (kind) {
    case 'direct':
    case 'node-relay':
      return null;
    case 'spiped':
      return findProgram('spiped') ? null : 'spiped is not installed';
    case 'stunnel':
      if (!stunnelPath()) return 'stunnel (stunnel4) is not installed';
      return files.tls ? null : (files.tlsError ?? 'no TLS certificate');
    case 'secsess':
    case WORKERS_TUNNEL:
    case NO_CHANNELS_TUNNEL:
      return existsSync(SECSESS_BUNDLE) ? null : `${SECSESS_BUNDLE} is missing (the build makes it)`;
  }
}

function stunnelPath(): string | null {
  return findProgram('stunnel4') ?? findProgram('stunnel');
}

/** Starts a tunnel of `kind` to `targetPort` on 127.0.0.1. */
export async function openTunnel(kind: TunnelKind, files: BenchFiles, targetPort: number): Promise<Tunnel> {
  switch (kind) {
    case 'direct':
      return { port: targetPort, pids: [], output: () => '', stop: async () => {} };
    case 'node-relay':
      return relayTunnel(targetPort);
    case 'spiped':
      return spipedTunnel(files, targetPort);
    case 'stunnel':
      return stunnelTunnel(files, targetPort);
    case 'secsess':
      return secsessTunnel(files, targetPort);
    case WORKERS_TUNNEL:
      return secsessTunnel(files, targetPort, 2);
    case NO_CHANNELS_TUNNEL:
      return secsessTunnel(files, targetPort, undefined, ['--no-channels']);
  }
}

/** Two processes, exit first; if the entry fails the exit is stopped. */
async function pair(
  exit: () => Promise<Proc & { port: number }>,
  entry: (exitPort: number) => Promise<Proc & { port: number }>,
): Promise<Tunnel> {
  const out = await exit();
  let inn: Proc & { port: number };
  try {
    inn = await entry(out.port);
  } catch (err) {
    await out.stop();
    throw err;
  }
  return {
    port: inn.port,
    pids: [inn.child.pid, out.child.pid].filter((pid): pid is number => pid !== undefined),
    output: () => `${inn.name}:\n${inn.output()}\n${out.name}:\n${out.output()}`,
    stop: async () => {
      await Promise.all([inn.stop(), out.stop()]);
    },
  };
}

/** A program listening on a free port it is told, ready once the port accepts connections. */
async function onFreePort(start: (port: number) => Proc): Promise<Proc & { port: number }> {
  const { proc, port } = await startOnFreePort(HOST, start, (p, port) => waitForPort(HOST, port, p));
  return { ...proc, port };
}

/** The relay (bench/node-relay.mjs, over the built sdk): argv = listen port, target port. */
const RELAY = fileURLToPath(new URL('./node-relay.mjs', import.meta.url));

function relayTunnel(targetPort: number): Promise<Tunnel> {
  const relay = (port: number, target: number): Proc =>
    spawnProc(process.execPath, [RELAY, String(port), String(target)]);
  return pair(
    () => onFreePort((port) => relay(port, targetPort)),
    (exitPort) => onFreePort((port) => relay(port, exitPort)),
  );
}

let spipedKey: string | null = null;

function spipedTunnel(files: BenchFiles, targetPort: number): Promise<Tunnel> {
  const spiped = findProgram('spiped')!;
  if (spipedKey === null) {
    spipedKey = join(files.dir, 'spiped.key');
    writeFileSync(spipedKey, randomBytes(32), { mode: 0o600 });
  }
  const key = spipedKey;
  const at = (port: number): string => `[${HOST}]:${port}`;
  return pair(
    () =>
      onFreePort((port) => spawnProc(spiped, ['-F', '-d', '-s', at(port), '-t', at(targetPort), '-k', key])),
    (exitPort) =>
      onFreePort((port) => spawnProc(spiped, ['-F', '-e', '-s', at(port), '-t', at(exitPort), '-k', key])),
  );
}

let stunnelConfigs = 0;

function stunnelTunnel(files: BenchFiles, targetPort: number): Promise<Tunnel> {
  const stunnel = stunnelPath()!;
  const tls = files.tls![2048];
  const config = (lines: readonly string[]): string => {
    const path = join(files.dir, `stunnel-${stunnelConfigs++}.conf`);
    const global = ['foreground = yes', 'pid =', 'debug = 4', 'syslog = no'];
    const sockets = ['socket = l:TCP_NODELAY=1', 'socket = r:TCP_NODELAY=1'];
    writeFileSync(path, [...global, ...lines, ...sockets, ''].join('\n'));
    return path;
  };
  return pair(
    () =>
      onFreePort((port) =>
        spawnProc(stunnel, [
          config([
            '[exit]',
            `accept = ${hostPort(HOST, port)}`,
            `connect = ${hostPort(HOST, targetPort)}`,
            `cert = ${tls.cert}`,
            `key = ${tls.key}`,
          ]),
        ]),
      ),
    (exitPort) =>
      onFreePort((port) =>
        spawnProc(stunnel, [
          config([
            '[entry]',
            'client = yes',
            `accept = ${hostPort(HOST, port)}`,
            `connect = ${hostPort(HOST, exitPort)}`,
            `CAfile = ${tls.cert}`,
            'verifyPeer = yes',
          ]),
        ]),
      ),
  );
}

async function secsessTunnel(
  files: BenchFiles,
  targetPort: number,
  workers?: number,
  connectArgs: readonly string[] = [],
): Promise<Tunnel> {
  const { key, pub } = files.rsa[2048];
  return pair(
    async () => {
      const serve = await startSecsess([
        'serve',
        '--listen',
        hostPort(HOST, 0),
        '--key',
        key,
        '--forward',
        hostPort(HOST, targetPort),
        ...(workers === undefined ? [] : ['--workers', String(workers)]),
      ]);
      // Every worker listening (each writes its own line), not only the first.
      if (workers !== undefined)
        await serve.waitUntil(
          (text) =>
            logEvents(text).filter((e) => e.event === 'listening').length >= workers ? true : undefined,
          `${workers} listening lines`,
        );
      return serve;
    },
    (exitPort) =>
      startSecsess([
        'connect',
        '--listen',
        hostPort(HOST, 0),
        '--to',
        hostPort(HOST, exitPort),
        '--server-pub',
        pub,
        ...(process.env.BENCH_TUNNEL_SYMMETRIC ? ['--symmetric', process.env.BENCH_TUNNEL_SYMMETRIC] : []),
        ...connectArgs,
      ]),
  );
}
