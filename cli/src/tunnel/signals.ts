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
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    process.off('SIGHUP', onHup);
  };
}
