/**
 * Key probes (PROTOCOL.md §6): telling a connection that asked for the server's key and left
 * (`secsess-keygen probe`, a client whose trust refused the key) from a failed handshake.
 */
import { fromPeerAlert } from './alerts.js';
import { ErrorCode, SessionError } from './errors.js';

/**
 * How a connection that asked for the server's key (KeyRequest) and sent no ClientHello
 * ended, when that is not an attack (PROTOCOL.md §6, "Key probes"):
 * - `'keyRequestOnly'`: the peer took the KeyResponse and hung up — a key probe
 *   (`secsess-keygen probe`, a client fetching the key to name it in an error);
 * - `'serverKeyRefused'`: the peer answered the KeyResponse with the plaintext Alert
 *   HandshakeFailed — a client whose trust policy refused the key (strict trust and an
 *   unknown host, a changed or revoked key).
 */
export type KeyProbe = 'keyRequestOnly' | 'serverKeyRefused';

/** The errors that ended a key probe, marked by the connection that saw it (see keyProbeOf). */
const probeEnds = new WeakMap<SessionError, KeyProbe>();

/**
 * @internal Whether `error`, which ended a server connection's handshake, ended a key probe
 * rather than a failed handshake, and which kind (see {@link KeyProbe}); else null.
 */
export function keyProbeOf(error: unknown): KeyProbe | null {
  return error instanceof SessionError ? (probeEnds.get(error) ?? null) : null;
}

/**
 * @internal Decides whether `error`, which ends a server connection in AWAIT_HELLO after it
 * sent a KeyResponse, ends a key probe, and marks the error so (see keyProbeOf).
 * `fromPeer`: a received frame raised it; `unread`: bytes of a partial frame left.
 */
export function markKeyProbe(error: unknown, fromPeer: boolean, unread: number): KeyProbe | null {
  const kind = probeKind(error, fromPeer, unread);
  if (kind) probeEnds.set(error as SessionError, kind);
  return kind;
}

/** Which key probe (if any) `error` ends, in AWAIT_HELLO after a KeyResponse was sent. */
function probeKind(error: unknown, fromPeer: boolean, unread: number): KeyProbe | null {
  if (!(error instanceof SessionError)) return null;
  if (fromPeerAlert.has(error)) return error.code === ErrorCode.HANDSHAKE ? 'serverKeyRefused' : null;
  // A local end with no partial frame left: the peer closed (or reset) the connection. A
  // handshake timeout is not a probe: the peer held the connection open.
  if (fromPeer || unread > 0) return null;
  return error.code === ErrorCode.HANDSHAKE || error.code === ErrorCode.TRANSPORT ? 'keyRequestOnly' : null;
}
