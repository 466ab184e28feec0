/**
 * HAProxy in front of a fleet of `secsess serve` processes: the configuration README "Running
 * a fleet" quotes (fleetConfig; the README test checks the quote is this text), and a
 * foreground haproxy (`-db`) on a free loopback port with it, for cli/test/fleet-haproxy.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeServerKey } from '@secsess/sdk';
import { programPath, READY_MS, spawnProc, startOnFreePort } from './programs.js';
import type { Proc } from './programs.js';

/** How HAProxy tells each server the client's address: PROXY v2 (binary) or v1 (text). */
export type SendProxy = 'send-proxy-v2' | 'send-proxy';

export interface FleetConfig {
  /** Where clients connect (`bind`): `0.0.0.0:7000`, `127.0.0.1:PORT`. */
  readonly front: string;
  /** The `secsess serve --accept-proxy …` processes, `host:port` each. */
  readonly servers: readonly string[];
  readonly sendProxy: SendProxy;
}

/**
 * The configuration: TCP mode (HAProxy never sees inside a session), round robin over the
 * servers, each sent a PROXY header, and a health check that is a secsess key probe — a
 * KeyRequest frame (type 0x01, length 5, preamble "sEsS" v1), which a server answers with its
 * KeyResponse (the same preamble) and reports as a `'probe'`, not an error.
 */
export function fleetConfig(config: FleetConfig): string {
  const servers = config.servers.map(
    (server, i) => `    server s${i + 1} ${server} ${config.sendProxy} check`,
  );
  return [
    'global',
    '    log stderr format raw local0 info',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option tcplog',
    '    timeout connect 5s',
    "    # above serve's keepalive (a ping after 150 s of silence): idle sessions stay up",
    '    timeout client 10m',
    '    timeout server 10m',
    '',
    'frontend secsess',
    `    bind ${config.front}`,
    '    default_backend secsess_fleet',
    '',
    'backend secsess_fleet',
    '    balance roundrobin',
    '    # health check: a secsess KeyRequest; the KeyResponse carries the preamble "sEsS" v1',
    '    option tcp-check',
    '    tcp-check send-binary 010000057345735301',
    '    tcp-check expect binary 7345735301',
    ...servers,
    '',
  ].join('\n');
}

/** A running haproxy: where clients connect. */
export interface Haproxy {
  readonly port: number;
  readonly proc: Proc;
  stop(): Promise<void>;
}

/** haproxy -db (foreground) with fleetConfig on a free 127.0.0.1 port; the config is written to `dir`. */
export async function startHaproxy(
  dir: string,
  servers: readonly string[],
  sendProxy: SendProxy,
): Promise<Haproxy> {
  const haproxy = programPath('haproxy');
  const path = join(dir, 'haproxy.cfg');
  const { proc, port } = await startOnFreePort(
    '127.0.0.1',
    (port) => {
      writeFileSync(path, fleetConfig({ front: `127.0.0.1:${port}`, servers, sendProxy }));
      return spawnProc(haproxy, ['-db', '-f', path]);
    },
    (proc, port) => fleetAnswers(port, proc),
  );
  return { port, proc, stop: async () => void (await proc.stop()) };
}

/**
 * Resolves once a key probe through haproxy on `port` is answered (by one of the servers).
 * A probe rather than a bare connect: a server reports it as a `'probe'`, where a connection
 * that closes after its PROXY header would be a failed handshake in its log.
 */
async function fleetAnswers(port: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + READY_MS;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  for (;;) {
    try {
      await probeServerKey(`127.0.0.1:${port}`, { timeout: 5000 });
      return;
    } catch (err) {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `${proc.name}: no key probe answered on ${port} (${String(err)}):\n${proc.output()}`,
          {
            cause: err,
          },
        );
      }
      await sleep(50);
    }
  }
}
