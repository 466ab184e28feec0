/**
 * A secsess server in a child process (sdk/test/fixtures/probe-server.ts) for the hostile
 * tests: the test process attacks, the child serves, and the child's memory is measured
 * after GC without the test runner's own allocations in the way.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '../../src/index.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/probe-server.ts', import.meta.url));
const KEY = fileURLToPath(new URL('../fixtures/server-2048.key', import.meta.url));

/** What the child's sessions do with what they receive; see probe-server.ts. */
export type ProbeApp = 'echo' | 'noread' | 'flood';

export interface ProbeOptions extends ServerOptions {
  readonly app?: ProbeApp;
}

/** What happened to the connection from one remote port. */
export interface PortRecord {
  /** The handshake's error code, or `refused:<limit>`. */
  handshake?: string;
  /** Whether a session was established. */
  established?: boolean;
  /** Messages the application received on the session. */
  messages?: number;
  /** The session's error code when it ended with one. */
  error?: string;
  /** Largest `readableLength` seen (app 'noread'). */
  maxReadable?: number;
  /** Largest `bufferedAmount` seen (app 'flood'). */
  maxBuffered?: number;
}

/** The child's counters and memory after GC. Counters are cumulative. */
export interface ProbeStats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly sessionCount: number;
  readonly handshakeCount: number;
  readonly pendingDecrypts: number;
  readonly established: number;
  readonly messages: number;
  readonly handshakeErrors: Record<string, number>;
  readonly refused: Record<string, number>;
  readonly sessionErrors: Record<string, number>;
  /** `process.getActiveResourcesInfo()` as counts per kind (TCPSocketWrap, Timeout…). */
  readonly resources: Record<string, number>;
  readonly ports: Record<string, PortRecord>;
  /** Things that must never happen (uncoded errors, uncaught exceptions, corrupted soak messages). */
  readonly findings: string[];
}

/** Soak messages: magic ‖ u32 sequence ‖ SHA-256(payload) ‖ payload. */
export const SOAK_MAGIC = Buffer.from('SOAK');
export const SOAK_HEADER = 4 + 4 + 32;

export interface ServerProcess {
  readonly port: number;
  readonly endpoint: string;
  /** Counters and memory after GC. */
  stats(): Promise<ProbeStats>;
  /** Stops the server (sessions closed with 1001) and returns the final stats; the child exits. */
  stop(): Promise<ProbeStats>;
  /** Kills the child if it is still running. */
  kill(): void;
}

/** The loader flags this process runs under (tsx, source conditions), for the child too. */
export function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

/** Starts the probe server (fixture key `server-2048`) on 127.0.0.1:0. */
export async function startServerProcess(options: ProbeOptions = {}): Promise<ServerProcess> {
  const child: ChildProcess = fork(SCRIPT, [KEY, JSON.stringify(options)], {
    execArgv: ['--expose-gc', ...loaderArgs()],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, (stats: ProbeStats) => void>();
  let exited: Error | null = null;
  const failAll = (error: Error): void => {
    exited = error;
    for (const [id] of waiting) waiting.delete(id);
  };
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`probe server exited (${code ?? signal})`)));
    child.on('message', (m: { type: string; port?: number; id?: number; stats?: ProbeStats }) => {
      if (m.type === 'listening') resolve(m.port!);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.(m.stats!);
        waiting.delete(m.id);
      }
    });
  });
  const rejects = new Set<(error: Error) => void>();
  child.on('exit', (code, signal) => {
    const error = new Error(`probe server exited (${code ?? signal})`);
    failAll(error);
    for (const reject of rejects) reject(error);
  });
  const ask = (type: 'stats' | 'stop'): Promise<ProbeStats> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<ProbeStats>((resolve, reject) => {
      rejects.add(reject);
      waiting.set(id, (stats) => {
        rejects.delete(reject);
        resolve(stats);
      });
      child.send({ type, id });
    });
  };
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    stats: () => ask('stats'),
    stop: () => ask('stop'),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Bytes as MiB with one decimal, for logs. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
