/**
 * What every transport publishes the same way (channels.ts names the channels): trust and
 * authorization decisions, refusals, and the words payloads use for endpoints and suites.
 * Stream sessions (stream-session.ts) and datagram ones share these.
 *
 * Each function checks its channel's `hasSubscribers` before it builds anything: with no
 * subscriber a call costs that check alone (fingerprints are computed only for a payload).
 */
import type { PublicKey } from '@secsess/keys';
import { SessionError } from '../protocol/index.js';
import type { Suite } from '../protocol/index.js';
import { formatEndpoint } from '../common/endpoint.js';
import type { Endpoint } from '../common/endpoint.js';
import { refusedChannel, trustChannel } from './channels.js';
import type { RefusedMessage, Role, TransportKind, TrustMessage } from './channels.js';

/** `address:port` (IPv6 in brackets); `''` when there is no address (a Duplex that is no socket). */
export function hostPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return '';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** `RSA/AES-256-CBC/SHA-256`. */
export function suiteName(suite: Suite): string {
  return `${suite.asymmetric}/${suite.symmetric}/${suite.hash}`;
}

/** A key's `SHA256:…` fingerprint (public by nature), or null. */
export function fingerprintOf(key: PublicKey | null | undefined): string | null {
  return key ? key.fingerprint() : null;
}

/** Publishes `secsess:trust` if anyone listens. */
export function publishTrust(
  role: Role,
  transport: TransportKind,
  remote: string,
  key: PublicKey | null,
  decision: TrustMessage['decision'],
  reason: string,
): void {
  if (!trustChannel.hasSubscribers) return;
  const message: TrustMessage = {
    role,
    transport,
    remote,
    fingerprint: key ? key.fingerprint() : '',
    decision,
    reason,
  };
  trustChannel.publish(message);
}

/** A client established a session with the server key it was given (pinned): `trusted`, `pinned`. */
export function publishPinned(transport: TransportKind, target: Endpoint | null, key: PublicKey): void {
  if (!trustChannel.hasSubscribers) return;
  publishTrust('client', transport, target ? formatEndpoint(target) : '', key, 'trusted', 'pinned');
}

/**
 * A client's handshake with a pinned key failed: if the server did not hold that key
 * (ERR_SERVER_KEY_MISMATCH), `refused`, `pinned`, with the pinned key's fingerprint.
 */
export function publishPinnedRefused(
  transport: TransportKind,
  target: Endpoint | null,
  key: PublicKey,
  err: unknown,
): void {
  if (!trustChannel.hasSubscribers || errorCode(err) !== 'ERR_SERVER_KEY_MISMATCH') return;
  publishTrust('client', transport, target ? formatEndpoint(target) : '', key, 'refused', 'pinned');
}

/**
 * The reason word of a client's refusal of a server key, from the TrustError that refused
 * it: `changed`, `revoked`, `unknown-host`, or `error` for anything else (the store could
 * not be read or written: the error itself goes to the caller).
 */
export function refusalReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ERR_HOST_KEY_CHANGED':
      return 'changed';
    case 'ERR_HOST_KEY_REVOKED':
      return 'revoked';
    case 'ERR_HOST_UNKNOWN':
      return 'unknown-host';
    default:
      return 'error';
  }
}

/**
 * Publishes a server's authorization decision on a client (`denial` null: let in), from
 * the authorizer's DenialReason: a client without a listed key is `not-listed`, the hook's
 * refusal (denied, failed, timed out) is `hook`.
 */
export function publishAuthorization(
  transport: TransportKind,
  remoteAddress: string | undefined,
  remotePort: number | undefined,
  clientKey: PublicKey | null,
  denial: string | null,
): void {
  if (!trustChannel.hasSubscribers) return;
  const reason =
    denial === null
      ? 'authorized'
      : denial === 'no client key' || denial === 'key not authorized'
        ? 'not-listed'
        : 'hook';
  publishTrust(
    'server',
    transport,
    hostPort(remoteAddress, remotePort),
    clientKey,
    denial === null ? 'trusted' : 'refused',
    reason,
  );
}

/** Publishes `secsess:server:refused` if anyone listens. */
export function publishRefused(
  server: object,
  transport: TransportKind,
  limit: string,
  remoteAddress: string | undefined,
  remotePort: number | undefined,
): void {
  if (!refusedChannel.hasSubscribers) return;
  const message: RefusedMessage = { server, transport, limit, remote: hostPort(remoteAddress, remotePort) };
  refusedChannel.publish(message);
}

/** The `code` of a SessionError (or any coded error), else null: what a close payload says. */
export function errorCode(err: unknown): string | null {
  if (err instanceof SessionError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}
