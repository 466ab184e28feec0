/**
 * The server side of the `cores` group (bench/cores.ts): the bench's secsess echo server
 * (kinds.ts `listen`, the same one every network group measures) either alone in one process
 * or under node:cluster — a primary that forks N workers, each running that server on the
 * one shared port (the primary binds it and hands connections round-robin, node's default on
 * Linux). `startServers()` forks the process and resolves once every server listens, with
 * the port and the pids whose CPU time counts (the primary's too: it accepts every
 * connection and passes it on).
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loaderArgs } from './child.js';
import { listen } from './kinds.js';
import type { BenchFiles } from './kinds.js';

/** What to start: `processes` 0 is one plain process (no cluster); `workers` are RSA threads per process (undefined: the library's default). */
export interface ServerSetup {
  readonly processes: number;
  readonly workers?: number;
  /**
   * How the cluster spreads connections: `rr` (node's default on Linux), the primary accepts
   * each and passes it to a worker over IPC; `none`, every worker accepts on the shared
   * socket itself (the kernel picks one, unevenly).
   */
  readonly scheduling?: 'rr' | 'none';
  /** What the servers speak: secsess (default), or plain TCP (what the cluster costs alone). */
  readonly kind?: 'secsess' | 'tcp';
}

export interface RunningServers {
  readonly port: number;
  /** Every process serving: the plain server, or the primary and its workers. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

interface Ready {
  readonly port: number;
  readonly pids: readonly number[];
}

export async function startServers(files: BenchFiles, setup: ServerSetup): Promise<RunningServers> {
  const child: ChildProcess = fork(SELF, ['cluster-server', JSON.stringify({ files, setup })], {
    execArgv: loaderArgs(),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  exited.catch(() => {});
  const ready = await Promise.race([
    once(child, 'message') as Promise<[Ready]>,
    exited.then(() => {
      throw new Error('bench cluster server exited before listening');
    }),
  ]);
  const [{ port, pids }] = ready;
  return {
    port,
    pids,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.send('exit');
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- the server process ----

async function serve(files: BenchFiles, setup: ServerSetup): Promise<void> {
  const options = setup.workers === undefined ? {} : { workers: setup.workers };
  if (setup.processes === 0) {
    const server = await listen(files, setup.kind ?? 'secsess', 'echo', options);
    process.on('message', () => void server.close().finally(() => process.exit(0)));
    process.on('disconnect', () => process.exit(0));
    process.send!({ port: server.port, pids: [process.pid] } satisfies Ready);
    return;
  }
  cluster.schedulingPolicy = setup.scheduling === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  cluster.setupPrimary({ exec: SELF, args: ['cluster-worker', JSON.stringify({ files, setup })] });
  const workers: Worker[] = [];
  const ports: Promise<number>[] = [];
  for (let i = 0; i < setup.processes; i++) {
    const worker = cluster.fork();
    workers.push(worker);
    ports.push(once(worker, 'message').then(([port]) => port as number));
  }
  const port = (await Promise.all(ports))[0]!;
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      workers.map(async (w) => {
        if (w.isDead()) return;
        const gone = once(w, 'exit');
        w.send('exit');
        await gone;
      }),
    );
    process.exit(0);
  };
  process.on('message', () => void stopAll());
  process.on('disconnect', () => void stopAll());
  process.send!({ port, pids: [process.pid, ...workers.map((w) => w.process.pid!)] } satisfies Ready);
}

async function serveWorker(files: BenchFiles, setup: ServerSetup): Promise<void> {
  // Port 0 under cluster: the primary binds one port on the first listen and every worker shares it.
  const server = await listen(
    files,
    setup.kind ?? 'secsess',
    'echo',
    setup.workers === undefined ? {} : { workers: setup.workers },
  );
  process.on('message', () => void server.close().finally(() => process.exit(0)));
  process.on('disconnect', () => process.exit(0));
  process.send!(server.port);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const mode = process.argv[2];
  if (mode === 'cluster-server' || mode === 'cluster-worker') {
    const { files, setup } = JSON.parse(process.argv[3]!) as { files: BenchFiles; setup: ServerSetup };
    await (cluster.isWorker ? serveWorker(files, setup) : serve(files, setup));
  }
}
