/**
 * Standard input and output as the byte stream of a session: `secsess connect HOST:PORT`
 * (an ssh ProxyCommand, a pipe) and `secsess serve --stdio`. The process's exit status is
 * the session's outcome: 0 for a normal end, else the coded error.
 */
import { ErrorCode, SessionError } from '@secsess/sdk';
import type { PumpEnds, PumpResult } from './pump.js';

/** The close code of a normal end. */
const CLOSE_NORMAL = 1000;

/**
 * stdin → the session, the session → stdout. `endOutput`: the peer's End ends stdout
 * (false when stdout must outlive this session: `serve --stdio` without `--once`).
 */
export function stdioEnds(endOutput: boolean): PumpEnds {
  return { input: process.stdin, output: process.stdout, endOutput };
}

/**
 * Throws the error a session ended with, unless it ended normally (close code 1000): the
 * session's own coded error where there is one, else ERR_CLOSED_BY_PEER-like wording of the
 * close code.
 */
export function checkOutcome(result: PumpResult): void {
  if (result.close === CLOSE_NORMAL) return;
  if (result.error !== null) throw result.error;
  throw new SessionError(
    ErrorCode.SESSION_CLOSED,
    `session ended with ${result.close}${result.reason === '' ? '' : `: ${result.reason}`}`,
  );
}
