import type { TextSink } from './io.js';

/** Redraw interval of the elapsed-time line. */
const PROGRESS_INTERVAL_MS = 100;

/**
 * Shows `label 3.2s`, redrawn in place with `\r`, while slow work runs; returns a function
 * that stops and erases it. Does nothing unless `enabled` and the sink is a terminal, so
 * pipes, logs and `--json` runs never see it.
 */
export function startProgress(sink: TextSink, label: string, enabled: boolean): () => void {
  if (!enabled || sink.isTTY !== true) return () => {};
  const started = Date.now();
  const draw = (): void => {
    sink.write(`\r${label} ${((Date.now() - started) / 1000).toFixed(1)}s`);
  };
  draw();
  const timer = setInterval(draw, PROGRESS_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    // Carriage return, then ANSI "erase entire line".
    sink.write('\r\x1b[2K');
  };
}
