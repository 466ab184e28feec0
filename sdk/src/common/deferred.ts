/** Small promise and AbortSignal helpers shared by the transport modules. */
import { ErrorCode, SessionError } from '../protocol/index.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise with its resolve/reject exposed (Promise.withResolvers arrives in Node 22). */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The error every aborted operation rejects with: code ERR_ABORTED, cause = signal.reason. */
export function abortError(what: string, signal: AbortSignal): SessionError {
  return new SessionError(ErrorCode.ABORTED, `${what} aborted`, { cause: signal.reason });
}

/** Throws a TypeError unless `signal` is undefined or an AbortSignal. */
export function checkSignal(signal: unknown, name = 'signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${name} must be an AbortSignal`);
  return signal;
}

/**
 * Calls `onAbort` once if `signal` aborts; returns a function that removes the listener.
 * The caller must call it when the operation settles, so signals reused across many
 * operations do not accumulate listeners.
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (!signal) return noop;
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

export function noop(): void {}
