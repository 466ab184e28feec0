/**
 * The signals `secsess serve` and `secsess connect --listen` answer, as daemons do:
 * SIGHUP reloads (serve: the keys and authorized_keys), SIGTERM and SIGINT stop after a
 * drain, and a second SIGTERM or SIGINT during the drain stops at once.
 */
import cluster from 'node:cluster';

/** What the command does on each signal. */
export interface SignalActions {
  /** SIGHUP; without it SIGHUP is ignored (it would otherwise kill the process). */
  readonly reload?: () => void;
  /** SIGTERM / SIGINT: `first` is false for the second one, which ends the drain at once. */
  readonly stop: (first: boolean) => void;
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The start-up listeners of {@link holdEarlySignals}, and whether a SIGHUP came. */
let early: {
  readonly hup: () => void;
  readonly stop: ((signal: NodeJS.Signals) => void) | null;
  received: boolean;
} | null = null;

/**
 * Called first thing, before any worker thread exists. Until the command installs its own
 * handlers, a SIGHUP (a reload sent by a service manager while keys are still loading) is
 * held instead of killing the process with its default action, and a SIGTERM or SIGINT ends
 * the process as its default action would (the listeners are removed and the signal raised
 * again).
 *
 * Why the stop signals are listened to this early: on Node 20 a signal listener first added
 * after a worker thread has started (the server's RSA workers start before it listens) is
 * not always called — a SIGTERM right after `listening` then took the default action and
 * killed `serve` without its drain (reproduced with a ten-line program: 14 times in 30). A
 * listener added before the threads start keeps the signal's handler installed, and the
 * command's own listeners, added beside it, are called. A cluster worker leaves the stop
 * signals to {@link holdWorkerCommands} (it ignores them: its primary stops it).
 */
export function holdEarlySignals(): void {
  if (early) return;
  const held = {
    hup: () => void (held.received = true),
    stop: cluster.isWorker
      ? null
      : (signal: NodeJS.Signals) => {
          releaseEarlySignals();
          process.kill(process.pid, signal);
        },
    received: false,
  };
  early = held;
  process.on('SIGHUP', held.hup);
  if (held.stop) for (const signal of STOP_SIGNALS) process.on(signal, held.stop);
}

/**
 * Removes the start-up listeners (once the command's own are installed, or to die of a stop
 * signal); true if a SIGHUP came meanwhile (to be acted on now).
 */
export function releaseEarlySignals(): boolean {
  const held = early;
  early = null;
  if (!held) return false;
  process.off('SIGHUP', held.hup);
  if (held.stop) for (const signal of STOP_SIGNALS) process.off(signal, held.stop);
  return held.received;
}

/**
 * Installs the handlers; returns what removes them (once the command is over, so that a
 * last signal kills the process as usual).
 */
export function handleSignals(actions: SignalActions): () => void {
  let stops = 0;
  const onStop = (): void => {
    stops++;
    actions.stop(stops === 1);
  };
  const onHup = (): void => actions.reload?.();
  for (const signal of STOP_SIGNALS) process.on(signal, onStop);
  process.on('SIGHUP', onHup);
  // A SIGHUP during start-up asked for a reload of what may have been read before it.
  if (releaseEarlySignals()) onHup();
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    process.off('SIGHUP', onHup);
  };
}
