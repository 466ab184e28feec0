/**
 * The signals `secsess serve` and `secsess connect --listen` answer, as daemons do:
 * SIGHUP reloads (serve: the keys and authorized_keys), SIGTERM and SIGINT stop after a
 * drain, and a second SIGTERM or SIGINT during the drain stops at once.
 */

/** What the command does on each signal. */
export interface SignalActions {
  /** SIGHUP; without it SIGHUP is ignored (it would otherwise kill the process). */
  readonly reload?: () => void;
  /** SIGTERM / SIGINT: `first` is false for the second one, which ends the drain at once. */
  readonly stop: (first: boolean) => void;
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The start-up SIGHUP listener of {@link holdEarlySighup}, and whether a SIGHUP came. */
let early: { readonly listener: () => void; received: boolean } | null = null;

/**
 * Called first thing: until the command installs its own handlers, a SIGHUP (a reload sent
 * by a service manager while keys are still loading) is held instead of killing the process
 * with its default action.
 */
export function holdEarlySighup(): void {
  if (early) return;
  const held = { listener: () => void (held.received = true), received: false };
  early = held;
  process.on('SIGHUP', held.listener);
}

/** Removes the start-up listener; true if a SIGHUP came meanwhile (to be acted on now). */
export function releaseEarlySighup(): boolean {
  const held = early;
  early = null;
  if (!held) return false;
  process.off('SIGHUP', held.listener);
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
  if (releaseEarlySighup()) onHup();
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    process.off('SIGHUP', onHup);
  };
}
