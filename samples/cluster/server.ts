/**
 * The cluster echo server: a secsess echo server on every core. The primary process forks
 * `--workers` node:cluster workers (samples/cluster/worker.ts), each a secsess `Server` with
 * the same key file on one shared port; the primary holds the listening socket and hands
 * connections to the workers in turn. It also makes one 32-byte ticket key and gives it to
 * every worker (resumption tickets sealed by one worker open on any other).
 *
 *   node samples/dist/cluster/server.js --key FILE [--host 127.0.0.1] [--port 0] [--workers N] [--drain MS]
 *
 * stdout: `listening on HOST:PORT`, `fingerprint SHA256:…`, `workers PID PID …` once every
 * worker listens. SIGINT/SIGTERM: every worker stops gracefully (new connections are
 * refused, open sessions get `--drain` ms to finish); a second signal ends the wait.
 *
 * A worker that dies while serving is reported on stderr and replaced (at most 5 times a
 * minute; past that the primary stops everything and exits 1): its sessions are lost — no
 * process can take over a session's keys — but the port and the other workers' sessions
 * are not, and a new worker serves the next connections. A worker that dies before it
 * listens (an unreadable key, a port in use) is not replaced: it would fail again. If it
 * was one of the first, the primary stops the others and exits 1.
 *
 * Exit status: 0 after a clean stop, 1 on a failure, 2 on bad arguments.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrivateKey, formatEndpoint } from '@secsess/sdk';
import { sampleArgs } from '../sample-args.js';
import { CONFIG_ENV, TICKET_KEY_ENV, isListening } from './messages.js';
import type { Command, WorkerConfig } from './messages.js';

const USAGE = 'usage: cluster-server --key FILE [--host HOST] [--port PORT] [--workers N] [--drain MS]';

const HELP = `${USAGE}

Echoes every message of any number of concurrent secsess clients with N worker processes
sharing one port (node:cluster) until SIGINT or SIGTERM. The message \`pid\` is answered
with the serving worker's process id.

  --key FILE    the server's private key, read by every worker
  --host HOST   address to listen on (default 127.0.0.1)
  --port PORT   TCP port (default 0: any free port)
  --workers N   worker processes (default: the available cores, ${availableParallelism()} here)
  --drain MS    on SIGINT/SIGTERM, how long open sessions may go on (default 10000)
  -h, --help    print this help

Prints \`listening on HOST:PORT\`, \`fingerprint SHA256:…\` and \`workers PID …\` on stdout.
Exit status: 0 after a clean stop, 1 on a failure, 2 on bad arguments.`;

/** Replacements allowed in RESTART_WINDOW ms before the primary gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW = 60_000;
/** Beyond `--drain`, how long the primary waits for its workers to exit before it kills them. */
const STOP_GRACE = 15_000;

const WORKER = fileURLToPath(new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

async function main(): Promise<number> {
  const values = sampleArgs(
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      key: { type: 'string' },
      workers: { type: 'string', default: String(availableParallelism()) },
      drain: { type: 'string', default: '10000' },
    },
    { usage: USAGE, help: HELP },
    { required: ['key'], numeric: ['port', 'workers', 'drain'] },
  );
  if (typeof values === 'number') return values;
  const count = Number(values.workers);
  if (count < 1 || count > 256) {
    console.error(`--workers must be from 1 to 256\n${USAGE}`);
    return 2;
  }
  // Read once here too, so that a bad key fails before any worker starts, with its own error.
  const key = await PrivateKey.load(values.key);
  const fleet = new Fleet(
    { key: resolve(values.key), host: values.host, port: Number(values.port), drain: Number(values.drain) },
    randomBytes(32),
  );
  const stopped = new Promise<number>((done) => {
    const onSignal = (signal: string): void => void fleet.stop(signal).then(done);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    fleet.onFatal = (): void => void fleet.stop(null).then(() => done(1));
  });
  const port = await fleet.start(count);
  // A worker failed, or a signal came while they started: no header, the stop is under way.
  if (port === null || fleet.stopping) return stopped;
  console.log(`listening on ${formatEndpoint({ host: values.host, port })}`);
  console.log(`fingerprint ${key.fingerprint()}`);
  console.log(`workers ${fleet.pids().join(' ')}`);
  return stopped;
}

/** The workers: starting, replacing and stopping them. */
class Fleet {
  readonly #config: WorkerConfig;
  readonly #ticketKey: Buffer;
  /** Live workers, and whether each has listened. */
  readonly #workers = new Map<Worker, { listening: boolean }>();
  /** The port the workers share, once one listens. */
  #port: number | null = null;
  #restarts: number[] = [];
  #stopping: Promise<number> | null = null;
  #failedStop = false;
  /** Called when the fleet cannot go on (a first worker failed, too many restarts, none left). */
  onFatal: () => void = () => {};

  constructor(config: WorkerConfig, ticketKey: Buffer) {
    this.#config = config;
    this.#ticketKey = ticketKey;
    cluster.setupPrimary({ exec: WORKER });
  }

  /** Whether `stop()` was called. */
  get stopping(): boolean {
    return this.#stopping !== null;
  }

  pids(): number[] {
    return [...this.#workers.keys()].map((w) => w.process.pid!);
  }

  /** Forks `count` workers; resolves with the shared port once all listen, or null if one failed. */
  async start(count: number): Promise<number | null> {
    const ready = Array.from({ length: count }, () => this.#fork(false));
    return (await Promise.all(ready)).every((ok) => ok) ? this.#port : null;
  }

  /** Resolves true once the new worker listens, false if it exits first. */
  #fork(replacement: boolean): Promise<boolean> {
    // Every worker listens with the same arguments, --port 0 included: node:cluster shares one
    // socket among the workers that ask for the same address and port, so a replacement told
    // the port the others got would ask for another socket, and get EADDRINUSE.
    const worker = cluster.fork({
      [CONFIG_ENV]: JSON.stringify(this.#config),
      [TICKET_KEY_ENV]: this.#ticketKey.toString('base64'),
    });
    const state = { listening: false };
    this.#workers.set(worker, state);
    worker.on('error', () => {}); // an IPC write to a worker that just died; its 'exit' follows
    return new Promise<boolean>((settle) => {
      worker.on('message', (message: unknown) => {
        if (!isListening(message) || state.listening) return;
        state.listening = true;
        if (replacement) console.error(`primary: worker ${worker.process.pid} listening (replacement)`);
        // With --port 0, only if every worker had died: the socket closed with the last one.
        if (this.#port !== null && this.#port !== message.port)
          console.error(
            `primary: listening on ${formatEndpoint({ host: message.host, port: message.port })} now`,
          );
        this.#port = message.port;
        settle(true);
      });
      worker.on('exit', (code, signal) => {
        this.#workers.delete(worker);
        settle(false);
        this.#exited(worker, state.listening, replacement, code, signal);
      });
    });
  }

  #exited(
    worker: Worker,
    listened: boolean,
    replacement: boolean,
    code: number | null,
    signal: string | null,
  ): void {
    const how = signal === null ? `code ${code}` : `signal ${signal}`;
    if (this.#stopping) {
      if (code !== 0) {
        this.#failedStop = true;
        console.error(`primary: worker ${worker.process.pid} stopped with ${how}`);
      }
      return;
    }
    console.error(`primary: worker ${worker.process.pid} exited unexpectedly (${how})`);
    if (!listened) {
      if (!replacement || this.#workers.size === 0) this.onFatal();
      return;
    }
    const now = Date.now();
    this.#restarts = [...this.#restarts.filter((t) => now - t < RESTART_WINDOW), now];
    if (this.#restarts.length > MAX_RESTARTS) {
      console.error(`primary: more than ${MAX_RESTARTS} replacements in a minute; stopping`);
      this.onFatal();
      return;
    }
    console.error('primary: starting a replacement');
    void this.#fork(true);
  }

  /** Stops every worker gracefully (a second call ends their drain); resolves with the exit status. */
  stop(signal: string | null): Promise<number> {
    if (this.#stopping) {
      this.#send({ type: 'stop-now' });
      return this.#stopping;
    }
    console.error(
      `primary: ${signal ?? 'failure'}, stopping ${this.#workers.size} worker(s)` +
        (signal ? ` (open sessions get ${this.#config.drain} ms)` : ''),
    );
    const gone = [...this.#workers.keys()].map((w) => new Promise<void>((r) => w.once('exit', () => r())));
    this.#send(signal ? { type: 'stop' } : { type: 'stop-now' });
    this.#stopping = new Promise<number>((done) => {
      const deadline = setTimeout(() => {
        console.error('primary: workers still running after the drain; killing them');
        this.#failedStop = true;
        for (const w of this.#workers.keys()) w.process.kill('SIGKILL');
      }, this.#config.drain + STOP_GRACE);
      void Promise.all(gone).then(() => {
        clearTimeout(deadline);
        console.error('primary: stopped');
        done(this.#failedStop ? 1 : 0);
      });
    });
    return this.#stopping;
  }

  #send(command: Command): void {
    // A worker that just died may still look connected: the failed write (EPIPE) goes to the
    // callback instead of crashing the primary, and the worker's 'exit' follows.
    for (const w of this.#workers.keys()) if (w.isConnected()) w.send(command, () => {});
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`server failed: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
