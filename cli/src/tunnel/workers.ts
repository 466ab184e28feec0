/**
 * `secsess serve --workers N`: the same `serve` in N node:cluster worker processes that share
 * the `--listen` port. The first process becomes the cluster's primary: it serves nothing
 * itself, forks the workers — node:cluster runs this program again with the same command
 * line, and there `cluster.isWorker` makes `serve` run as usual, with the SDK's cluster
 * default of one RSA thread — and relays the signals: SIGHUP (reload), SIGTERM/SIGINT (drain;
 * a second one ends it). Workers answer only their primary, never a signal of their own (they
 * ignore SIGTERM, SIGINT and SIGHUP from their first line on), so that a terminal's Ctrl-C,
 * which reaches the whole process group, counts once, during start-up too. A stop that comes
 * while a worker is still starting is kept and acted on once it listens. A worker that dies
 * while serving is logged (`worker` line) and replaced, at most 5 times a minute; one that
 * dies before it listens is not (it would again): if it was one of the first N, the others
 * are stopped and the command fails with ERR_WORKERS; if it was a replacement, the others
 * keep serving, unless none is left (then the command fails). The primary exits once every
 * worker has, 0 if each ended cleanly. If the primary dies, node:cluster ends the workers.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { TunnelLog } from './conn-log.js';
import type { LogFormat } from './conn-log.js';
import { handleSignals } from './signals.js';
import type { SignalActions } from './signals.js';

/** What the primary tells a worker. */
type Command = 'reload' | 'stop' | 'stop-now';
/** What a worker tells the primary once it receives commands. */
const READY = 'ready';

const MAX_WORKERS = 256;
/** Replacements allowed in RESTART_WINDOW ms before the primary gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW = 60_000;

/** Adds `--workers N` to `serve`'s options. */
export function workersOption<T extends { stdio: boolean; listen: string }>(yargs: Argv<T>) {
  return yargs
    .option('workers', {
      type: 'number',
      describe: `serve from N processes sharing --listen (node:cluster), 1 to ${MAX_WORKERS}; not with --stdio or --listen systemd`,
    })
    .check((argv) => {
      const n = argv.workers;
      if (n === undefined) return true;
      if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
        throw new Error(`--workers must be a whole number from 1 to ${MAX_WORKERS}`);
      if (argv.stdio) throw new Error('--workers goes with --forward, not --stdio');
      if (argv.listen === 'systemd') throw new Error('--workers cannot share a --listen systemd socket');
      return true;
    });
}

/** A command of the primary that came before `serve` could act on it. */
interface HeldCommands {
  readonly pending: Command[];
  act: ((command: Command) => void) | null;
}

let held: HeldCommands | null = null;

/**
 * Called first thing in a worker of `serve --workers` (cli/src/tunnel/bin.ts), before any
 * await: from then on the primary's commands are received — those that come while `serve`
 * is still starting are kept, and acted on once it listens ({@link handleServeSignals}) —
 * and SIGTERM, SIGINT and SIGHUP are ignored (a terminal's Ctrl-C reaches the worker too: the
 * primary's relay is what counts). Then it tells the primary `ready`: a command sent before
 * this could be lost, so the primary sends commands only to ready workers, and a stop that
 * came earlier once the worker is ready. Does nothing in a process that is not a worker.
 */
export function holdWorkerCommands(): void {
  if (held || !cluster.isWorker) return;
  // An IPC write to a primary that is gone (killed, or exited while this worker started)
  // fails with EPIPE; a write without a callback — node:cluster's own, such as the query of
  // `listen()` in `cluster._getServer` — reports it as an 'error' on `process`, which,
  // unlistened, is an uncaught exception and a crash with a stack trace. node:cluster ends
  // the worker anyway when the channel closes ('disconnect'), so the error needs no action.
  process.on('error', () => {});
  const state: HeldCommands = { pending: [], act: null };
  held = state;
  process.on('message', (message: unknown) => {
    if (message !== 'reload' && message !== 'stop' && message !== 'stop-now') return;
    if (state.act) state.act(message);
    else state.pending.push(message);
  });
  const ignore = (): void => {};
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, ignore);
  // If the primary is already gone, the failed write is reported here (node:cluster ends the worker).
  process.send?.(READY, () => {});
}

/**
 * `serve`'s signal handling: {@link handleSignals} in a process of its own; in a worker of
 * `serve --workers`, the primary's commands instead — those held since the worker began
 * first — with the signals ignored ({@link holdWorkerCommands}).
 */
export function handleServeSignals(args: { workers?: number }, actions: SignalActions): () => void {
  if (args.workers === undefined || !cluster.isWorker) return handleSignals(actions);
  holdWorkerCommands();
  const state = held!;
  let stops = 0;
  const onCommand = (command: Command): void => {
    if (command === 'reload') {
      actions.reload?.();
      return;
    }
    // A stop begins with the drain, even when the first word is `stop-now` (which ends it).
    if (stops++ === 0) actions.stop(true);
    if (command === 'stop-now') actions.stop(false);
  };
  state.act = onCommand;
  for (const command of state.pending.splice(0)) onCommand(command);
  return () => {
    if (state.act === onCommand) state.act = null;
  };
}

/**
 * Wraps `serve`'s execute: without `--workers` it runs as is; with it, the primary runs
 * {@link servePrimary} and a worker runs `serve` and then leaves the cluster (the IPC channel
 * would otherwise keep its event loop, and the process, alive — after a failure too).
 */
export function withWorkers<A extends { workers?: number; 'log-format': LogFormat }>(
  execute: (args: A, out: Output) => Promise<void>,
  /**
   * What the primary runs before it forks (`--metrics`: its endpoint), closed once all have
   * exited; null when there is nothing to run (the primary then forks in this very tick).
   */
  primaryExtra?: (args: A, log: TunnelLog) => Promise<{ close(): Promise<void> }> | null,
): (args: A, out: Output) => Promise<void> {
  return async (args, out) => {
    if (args.workers === undefined) return execute(args, out);
    if (cluster.isPrimary) {
      const log = new TunnelLog(args['log-format'], 'serve', out.io.stderr);
      const starting = primaryExtra?.(args, log) ?? null;
      const extra = starting === null ? null : await starting;
      try {
        return await servePrimary(args.workers, log);
      } finally {
        await extra?.close();
      }
    }
    try {
      await execute(args, out);
    } finally {
      const worker = cluster.worker;
      if (worker?.isConnected()) {
        // A primary that is itself exiting (a SIGTERM while workers still start) may close the
        // channel first: the failed write is an EPIPE 'error' on the worker, uncaught without this.
        worker.on('error', () => {});
        worker.disconnect();
      }
    }
  };
}

/** The primary: forks `count` workers running the same command line, relays signals, waits for all. */
export async function servePrimary(count: number, log: TunnelLog): Promise<void> {
  const workers = new Map<Worker, { listening: boolean; ready: boolean; replacement: boolean }>();
  /** null until a stop; then the last stop word sent (to every worker, and to each as it gets ready). */
  let stopWord: 'stop' | 'stop-now' | null = null;
  let failure: string | null = null;
  let unclean = false;
  let restarts: number[] = [];
  let allGone!: () => void;
  const gone = new Promise<void>((resolve) => (allGone = resolve));
  const sendTo = (worker: Worker, command: Command): void => {
    // A worker that just died may still look connected: the failed write is its 'error' (EPIPE),
    // reported to the callback here, and its 'exit' comes next.
    if (worker.isConnected()) worker.send(command, () => {});
  };
  const send = (command: Command): void => {
    for (const [w, state] of workers) if (state.ready) sendTo(w, command);
  };
  const stopAll = (now: boolean): void => {
    stopWord = now ? 'stop-now' : 'stop';
    send(stopWord);
  };
  const fork = (replacement: boolean): void => {
    const worker = cluster.fork();
    const state = { listening: false, ready: false, replacement };
    workers.set(worker, state);
    worker.on('error', () => {}); // an IPC write to a worker that died; its 'exit' follows
    worker.on('message', (message: unknown) => {
      if (message !== READY || state.ready) return;
      state.ready = true;
      // A stop that came while the worker was starting (a reload is moot: it reads its files now).
      if (stopWord !== null) sendTo(worker, stopWord);
    });
    worker.on('listening', () => (state.listening = true));
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      const status = signal ?? code ?? 'unknown';
      if (stopWord !== null) {
        if (code !== 0) {
          unclean = true;
          log.worker(worker.process.pid!, status, false);
        }
      } else if (!state.listening) {
        log.worker(worker.process.pid!, status, false);
        // A first worker would fail again: the command fails. A replacement that fails leaves
        // the others serving, unless none is left.
        if (!state.replacement || workers.size === 0) {
          failure = `worker ${worker.process.pid} exited before it listened (${status})`;
          stopAll(true);
        }
      } else {
        const now = Date.now();
        restarts = [...restarts.filter((t) => now - t < RESTART_WINDOW), now];
        const again = restarts.length <= MAX_RESTARTS;
        log.worker(worker.process.pid!, status, again);
        if (again) fork(true);
        else {
          failure = `workers died more than ${MAX_RESTARTS} times in a minute`;
          stopAll(true);
        }
      }
      if (workers.size === 0) allGone();
    });
  };
  // The handlers first: once a worker exists, a stop must reach the primary's relay.
  const removeSignals = handleSignals({
    reload: () => send('reload'),
    stop: (first) => stopAll(!first),
  });
  for (let i = 0; i < count; i++) fork(false);
  await gone;
  removeSignals();
  if (failure !== null) throw new CliError(CliErrorCode.WORKERS, failure);
  if (unclean) throw new CliError(CliErrorCode.WORKERS, 'a worker did not stop cleanly');
}
