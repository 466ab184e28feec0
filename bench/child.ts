/**
 * The benchmark's other process. The measuring process forks it (`startChild()`) and drives
 * it over the IPC channel: `listen` starts a server of some kind, `stats` reports its memory
 * and CPU time, `load` runs a burst of client handshakes against a port (the load of
 * latency-under-handshakes), `resume-load` the resumption group's client loops
 * (bench/resume-clients.ts), `exit` ends it. Servers never share a process with the
 * clients that measure them.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, listen } from './kinds.js';
import type { BenchFiles, BenchServer, Bits, Kind, Mode, ServerOptions } from './kinds.js';
import { runResumeLoad } from './resume-clients.js';
import type { ResumeLoad } from './resume-clients.js';

export type Request =
  | { readonly cmd: 'listen'; readonly kind: Kind; readonly mode: Mode; readonly options?: ServerOptions }
  | { readonly cmd: 'stats'; readonly gc?: boolean }
  | {
      readonly cmd: 'load';
      readonly kind: Kind;
      readonly port: number;
      readonly count: number;
      readonly concurrency: number;
      readonly bits?: Bits;
    }
  | ({ readonly cmd: 'resume-load' } & ResumeLoad)
  | { readonly cmd: 'exit' };

export interface Stats {
  /** Resident set size, bytes. */
  readonly rss: number;
  readonly heapUsed: number;
  /** User + system CPU time of the whole process (every thread), µs. */
  readonly cpu: number;
  /** Connections open on this child's servers. */
  readonly open: number;
}

export interface ChildHandle {
  request<T>(request: Request): Promise<T>;
  /** Asks the child to exit and waits for it. */
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * The loader flags a forked bench process needs (tsx for the bench's TypeScript), and the
 * parent's `--cpu-prof` flags: `node --cpu-prof --import=tsx bench/run.ts` profiles every process.
 */
export function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) =>
    /^--(import|conditions|loader|require|cpu-prof$|cpu-prof-dir)\b/.test(a),
  );
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

/** Forks a child; `exposeGc` lets `stats` collect garbage before measuring. */
export async function startChild(
  files: BenchFiles,
  options: { exposeGc?: boolean } = {},
): Promise<ChildHandle> {
  const child: ChildProcess = fork(SELF, ['child', JSON.stringify(files)], {
    execArgv: [...loaderArgs(), ...(options.exposeGc ? ['--expose-gc'] : [])],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  exited.catch(() => {});
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (msg: { id: number; error?: string; value?: unknown }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error));
    else p.resolve(msg.value);
  });
  void exited.then(() => {
    for (const p of pending.values()) p.reject(new Error('bench child exited'));
    pending.clear();
  });
  const handle: ChildHandle = {
    request: <T>(request: Request) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, request });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      handle.request({ cmd: 'exit' }).catch(() => {});
      await exited;
      clearTimeout(timer);
    },
  };
  await handle.request({ cmd: 'stats' }); // up and answering
  return handle;
}

// ---- the child side ----

async function serveChild(files: BenchFiles): Promise<void> {
  const servers: BenchServer[] = [];
  const handle = async (request: Request): Promise<unknown> => {
    switch (request.cmd) {
      case 'listen': {
        const server = await listen(files, request.kind, request.mode, request.options);
        servers.push(server);
        return server.port;
      }
      case 'stats': {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (request.gc && gc) {
          for (let i = 0; i < 3; i++) {
            gc();
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        const mem = process.memoryUsage();
        const cpu = process.cpuUsage();
        const stats: Stats = {
          rss: mem.rss,
          heapUsed: mem.heapUsed,
          cpu: cpu.user + cpu.system,
          open: servers.reduce((n, s) => n + s.open(), 0),
        };
        return stats;
      }
      case 'load':
        return runLoad(files, request);
      case 'resume-load':
        return runResumeLoad(files, request);
      case 'exit':
        await Promise.all(servers.map((s) => s.close().catch(() => {})));
        setImmediate(() => process.exit(0));
        return null;
    }
  };
  process.on('message', (msg: { id: number; request: Request }) => {
    handle(msg.request).then(
      (value) => process.send!({ id: msg.id, value }),
      (err: Error) => process.send!({ id: msg.id, error: err.stack ?? String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** `count` handshakes (each followed by a close), `concurrency` at a time; returns elapsed ms. */
async function runLoad(files: BenchFiles, r: Extract<Request, { cmd: 'load' }>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: r.concurrency }, async () => {
      while (next < r.count) {
        next++;
        const conn = await connect(files, {
          kind: r.kind,
          port: r.port,
          ...(r.bits ? { bits: r.bits } : {}),
        });
        await conn.close();
      }
    }),
  );
  return performance.now() - t0;
}

if (
  process.argv[1] &&
  pathToFileURL(process.argv[1]).href === import.meta.url &&
  process.argv[2] === 'child'
) {
  await serveChild(JSON.parse(process.argv[3]!) as BenchFiles);
}
