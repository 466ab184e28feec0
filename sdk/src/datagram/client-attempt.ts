/**
 * One client handshake attempt over a connected UDP socket: drives B1's sans-IO
 * DatagramClientHandshake with one timer (its retransmission schedule, PROTOCOL.md §D3),
 * the socket's packets, the trust decision on a key the server sent (KeyRequest), and an
 * AbortSignal. Resolves with the open handshake's result and the ClientFinished packet
 * (already sent once; the session resends it until a record from the server opens).
 *
 * A port nobody listens on answers with ICMP port unreachable, which the connected socket
 * reports as ECONNREFUSED. One such report is not proof (UDP is lossy, and an off-path
 * attacker can forge ICMP): the attempt gives up with ERR_TRANSPORT only if no valid answer
 * has arrived since by the next retransmission, instead of waiting out the handshake timeout.
 */
import type { Socket } from 'node:dgram';
import type { PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError } from '../protocol/index.js';
import type { DatagramClientHandshake } from '../protocol/datagram/client-handshake.js';
import type { DatagramHandshakeResult } from '../protocol/datagram/handshake-types.js';
import { abortError, onAbort } from '../common/deferred.js';
import { debug } from '../common/debug.js';

export interface OpenedHandshake {
  readonly result: DatagramHandshakeResult;
  readonly clientFinished: Buffer;
}

/**
 * ERR_TRANSPORT for an ECONNREFUSED (`cause`) that no answer followed by the next resend:
 * no server listens at `socket`'s remote address.
 */
export function refusedError(socket: Socket, cause: NodeJS.ErrnoException): SessionError {
  const remote = socket.remoteAddress();
  return new SessionError(
    ErrorCode.TRANSPORT,
    `cannot connect to ${remote.address} port ${remote.port}: ${cause.code} (no server listens there)`,
    { cause },
  );
}

/**
 * Runs `hs` on `socket` (connected to the server). `decide` judges a key the server sent
 * in its KeyResponse: resolve to trust it, reject (TrustError, ERR_SERVER_KEY_MISMATCH…)
 * to give up. Rejects with the handshake's error, TimeoutError('handshake'), ERR_TRANSPORT
 * (connection refused, cause: the system error) or ERR_ABORTED. The socket's `'message'`
 * and `'error'` listeners are removed when the attempt settles; the socket stays open.
 */
export function runAttempt(
  socket: Socket,
  hs: DatagramClientHandshake,
  decide: (key: PublicKey) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<OpenedHandshake> {
  return new Promise<OpenedHandshake>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    let deciding = false;
    /** An ECONNREFUSED the socket reported with no valid answer since. */
    let refused: NodeJS.ErrnoException | null = null;

    const send = (packet: Buffer): void => {
      socket.send(packet, (err) => {
        if (err) debug('datagram client: send: %s', err.message);
      });
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (settled) return;
      const at = hs.nextTimeout();
      if (at === null) return;
      timer = setTimeout(onTimer, Math.max(0, Math.ceil(at - performance.now())));
    };
    const finish = (): void => {
      settled = true;
      if (timer) clearTimeout(timer);
      timer = null;
      socket.off('message', onMessage);
      socket.off('error', onError);
      removeAbort();
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      finish();
      hs.destroy();
      reject(err);
    };
    const onTimer = (): void => {
      timer = null;
      if (settled) return;
      if (refused) {
        fail(refusedError(socket, refused));
        return;
      }
      try {
        const again = hs.onTimeout(performance.now());
        if (again) send(again);
      } catch (err) {
        fail(err);
        return;
      }
      arm();
    };
    const onMessage = (packet: Buffer): void => {
      if (settled) return;
      let step;
      try {
        step = hs.receive(packet, performance.now());
      } catch (err) {
        fail(err);
        return;
      }
      if (step.kind !== 'ignore') refused = null;
      switch (step.kind) {
        case 'ignore':
          return;
        case 'send':
          send(step.packet);
          arm();
          return;
        case 'serverKey': {
          if (deciding) return;
          deciding = true;
          const key = step.key;
          decide(key).then(
            () => {
              deciding = false;
              if (settled) return;
              try {
                send(hs.useServerKey(key, performance.now()));
              } catch (err) {
                fail(err);
                return;
              }
              arm();
            },
            (err: unknown) => fail(err),
          );
          arm();
          return;
        }
        case 'open':
          finish();
          send(step.clientFinished);
          resolve({ result: step.result, clientFinished: step.clientFinished });
          return;
      }
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'ECONNREFUSED' && !settled) refused = err;
    };
    const removeAbort = onAbort(signal, () => fail(abortError('connect', signal!)));
    socket.on('message', onMessage);
    socket.on('error', onError);
    try {
      send(hs.start(performance.now()));
    } catch (err) {
      fail(
        err instanceof SessionError
          ? err
          : new SessionError(ErrorCode.HANDSHAKE, `handshake: ${(err as Error).message}`, { cause: err }),
      );
      return;
    }
    arm();
  });
}
