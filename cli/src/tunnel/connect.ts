/**
 * `secsess connect`: the client side. With `--listen ADDR --to HOST:PORT`, a local TCP
 * listener whose every connection becomes one session to the server; without it, one session
 * to HOST:PORT joined to stdin/stdout (an ssh ProxyCommand, a pipe).
 */
import { setMaxListeners } from 'node:events';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { DEFAULT_SERVER_IDLE_TIMEOUT, ErrorCode, borrowReads, formatEndpoint, listenOn } from '@secsess/sdk';
import type { ClientOptions, PublicKey, Session } from '@secsess/sdk';
import type { Argv } from 'yargs';
import { codeOf } from '../errors.js';
import type { Output } from '../io.js';
import { parseHostPort } from '../commands/host-port.js';
import type { HostPort } from '../commands/host-port.js';
import { readPublicKey } from '../commands/read-public-key.js';
import { checkLoopback, parseListen, peerLabel, SYSTEMD } from './address.js';
import { TunnelLog } from './conn-log.js';
import {
  defaultSymmetric,
  listenModeDefaults,
  listenModeOptions,
  loadPrivateKey,
  MAX_MESSAGE_SIZE,
  passphraseOption,
  SYMMETRIC_CHOICES,
} from './options.js';
import type { TunnelArgs } from './options.js';
import { pump } from './pump.js';
import { ChannelClient } from './channels/connect-channels.js';
import type { ChannelMux } from './channels/mux.js';
import { SuiteFallback } from './suite-fallback.js';
import { handleSignals, releaseEarlySignals } from './signals.js';
import { checkOutcome, stdioEnds } from './stdio.js';
import { systemdListenFd } from './systemd.js';
import { ticketStore } from './tickets.js';

/** The close code sessions get when the drain time is over. */
const CLOSE_GOING_AWAY = 1001;

function builder(yargs: Argv<TunnelArgs>) {
  const options = yargs
    .positional('target', {
      type: 'string',
      describe: 'without --listen: the server, HOST:PORT, joined to stdin/stdout',
    })
    .option('listen', {
      type: 'string',
      describe: 'accept local connections on HOST:PORT (loopback unless --unsafe-listen) or systemd (fd 3)',
    })
    .option('to', { type: 'string', describe: 'with --listen: the secsess server, HOST:PORT' })
    .option('server-pub', { type: 'string', describe: 'trust the server whose public key is in this file' })
    .option('trust', {
      choices: ['strict', 'tofu'] as const,
      describe:
        'trust the server through known_hosts: strict (listed keys only) or tofu (record the first key)',
    })
    .option('known-hosts', {
      type: 'string',
      describe: 'the known_hosts file for --trust (default ~/.secsess/known_hosts)',
    })
    .option('key', {
      type: 'string',
      describe: 'the client private key file, for servers with authorized_keys',
    })
    .option('unsafe-listen', {
      type: 'boolean',
      default: false,
      describe: 'allow a --listen host that is not loopback (anyone who reaches it uses the tunnel)',
    })
    // No yargs default: deciding it loads the native AEAD backends (tens of ms), which only
    // an AEAD session needs; --help skips it.
    .option('symmetric', {
      choices: SYMMETRIC_CHOICES,
      defaultDescription: 'aes-256-gcm, or chacha20-poly1305 if only sodium-native loads',
      describe:
        'the cipher to ask for; by default the fastest here: aes-256-gcm on OpenSSL in place (the optional ' +
        '@secsess/native), else chacha20-poly1305 on libsodium (the optional sodium-native), else ' +
        'aes-256-gcm (SECSESS_CRYPTO=node: aes-256-gcm); a default refused by the ' +
        'server (an older release) falls back to aes-256-gcm, a cipher given here never',
    })
    .option('channels', {
      type: 'boolean',
      default: true,
      describe:
        'with --listen: carry every connection in one session, as a channel (one handshake for all; ' +
        '--no-channels: a session each, as releases before); a server without channels gets a session each',
    })
    .option('resume', {
      type: 'boolean',
      default: true,
      describe:
        'with --listen: resume sessions with tickets from the server (--no-resume: full handshakes only)',
    });
  return listenModeOptions(passphraseOption(options))
    .check((argv) => {
      if (argv.listen !== undefined) {
        parseListen(argv.listen);
        if (argv.to === undefined) throw new Error('--listen needs --to HOST:PORT, the secsess server');
        if (argv.target !== undefined)
          throw new Error(`with --listen, give the server as --to, not "${argv.target}"`);
        parseHostPort(argv.to);
      } else {
        if (argv.to !== undefined)
          throw new Error('--to goes with --listen; without it, give the server as HOST:PORT');
        if (argv.target === undefined)
          throw new Error('missing HOST:PORT: the server (or --listen ADDR --to HOST:PORT)');
        parseHostPort(argv.target);
        if (argv['unsafe-listen']) throw new Error('--unsafe-listen goes with --listen');
        // The stdio mode makes one session and never asks for a ticket: the flag would mean nothing.
        if (argv.resume === false) throw new Error('--no-resume goes with --listen');
        if (argv.channels === false) throw new Error('--no-channels goes with --listen');
      }
      if ((argv['server-pub'] === undefined) === (argv.trust === undefined)) {
        throw new Error("give one of --server-pub FILE (the server's public key) or --trust strict|tofu");
      }
      if (argv['known-hosts'] !== undefined && argv.trust === undefined)
        throw new Error('--known-hosts goes with --trust');
      return true;
    })
    .example(
      '$0 connect --listen 127.0.0.1:6379 --to host:7000 --server-pub srv.pub',
      'a local port for redis-cli, through secsess',
    )
    .example('$0 connect host:7000 --trust strict < file', 'send a file to serve --stdio')
    .example("ssh -o ProxyCommand='secsess connect %h:7022 --trust strict' host", 'ssh through secsess');
}

/** Options of `connect`, as parsed. */
export type ConnectArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

/**
 * A fresh Client for each session (a Client holds one session at a time). With --listen they
 * share one ticket store, so a session resumes from a ticket of an earlier one (unless
 * --no-resume); a stdio run makes one session and asks for no ticket.
 */
async function clientFactory(args: ConnectArgs, say: (line: string) => void): Promise<SuiteFallback> {
  const serverKey: PublicKey | null =
    args['server-pub'] === undefined ? null : await readPublicKey(args['server-pub'], undefined);
  const options: ClientOptions = {
    maxMessageSize: MAX_MESSAGE_SIZE,
    // As serve's sessions: a ping after half of it without a record from the server, and a
    // server silent for all of it (gone without a FIN or RST) fails the session, freeing
    // its --max-conns slot, instead of holding it for ever (the SDK's client default is 0).
    idleTimeout: DEFAULT_SERVER_IDLE_TIMEOUT,
    ...(args.trust === undefined ? {} : { trust: args.trust, knownHosts: args['known-hosts'] }),
    ...(args.key === undefined ? {} : { clientKey: await loadPrivateKey(args.key, args['passphrase-file']) }),
    ...(args.listen === undefined ? {} : { resumption: ticketStore(args.resume) ?? false }),
  };
  return new SuiteFallback(args.symmetric, defaultSymmetric(), serverKey, options, say);
}

async function execute(args: ConnectArgs & TunnelArgs, out: Output): Promise<void> {
  const say = (line: string): void => void out.io.stderr.write(`secsess: ${line}\n`);
  const suites = await clientFactory(args, say);
  if (args.listen === undefined) {
    const session = await suites.client().connect(parseHostPort(args.target!));
    // ssh closes its ProxyCommand's stdin, then sends it SIGHUP: hang up with a Close (1000
    // once stdin has ended, so everything sent was whole; else 1001) rather than die and
    // leave the server a cut stream (ERR_TRUNCATED).
    const hangUp = (): void =>
      void session.close(session.writableEnded ? 1000 : 1001, 'hang up').catch(() => {});
    process.on('SIGHUP', hangUp);
    if (releaseEarlySignals()) hangUp();
    try {
      checkOutcome(await pump(session, stdioEnds(true)));
    } finally {
      process.off('SIGHUP', hangUp);
    }
    return;
  }
  const listening = listenModeDefaults(args);
  await listenAndForward(
    args,
    listening,
    suites,
    new TunnelLog(listening.logFormat, 'connect', out.io.stderr),
    say,
  );
}

/**
 * One local connection on a channel of the shared session; false if it needs a session of
 * its own (channels refused, or the session is full). One `conn` or `refused` line.
 */
async function forwardChannel(
  socket: Socket,
  peer: string,
  channels: ChannelClient,
  log: TunnelLog,
): Promise<boolean> {
  const started = performance.now();
  let mux: ChannelMux | null;
  try {
    mux = await channels.mux();
  } catch (err) {
    if (!socket.destroyed) socket.resetAndDestroy();
    log.refused(peer, codeOf(err) ?? 'ERR_UNEXPECTED');
    return true;
  }
  if (mux === null) return false;
  if (socket.destroyed) {
    log.refused(peer, ErrorCode.ABORTED);
    return true;
  }
  const opened = mux.open(socket);
  // Full, or closed, since it was handed over: a session of its own then.
  if (opened === null) return false;
  const { id, done } = opened;
  const start = {
    peer,
    fingerprint: mux.session.serverKey?.fingerprint() ?? null,
    resumed: false,
    started,
    channel: id,
  };
  log.ended(start, await done);
  return true;
}

/** One local connection: a channel, or a session to `to` and the pump; one `conn` or `refused` line. */
async function forwardSocket(
  socket: Socket,
  to: HostPort,
  suites: SuiteFallback,
  channels: ChannelClient | null,
  log: TunnelLog,
  sessions: Set<Session>,
  signal: AbortSignal,
): Promise<void> {
  const peer = peerLabel(socket.remoteAddress, socket.remotePort);
  // Errors of the local socket before the pump (a reset during the handshake) end it quietly.
  socket.on('error', () => {});
  if (channels !== null && (await forwardChannel(socket, peer, channels, log))) return;
  if (socket.destroyed) {
    log.refused(peer, ErrorCode.ABORTED);
    return;
  }
  const client = suites.client();
  const started = performance.now();
  const gone = new AbortController();
  const abort = (): void => gone.abort();
  socket.once('close', abort);
  signal.addEventListener('abort', abort, { once: true });
  let session: Session;
  try {
    session = await client.connect(to, { signal: gone.signal });
  } catch (err) {
    if (!socket.destroyed) socket.resetAndDestroy();
    log.refused(peer, codeOf(err) ?? 'ERR_UNEXPECTED');
    return;
  } finally {
    socket.off('close', abort);
    signal.removeEventListener('abort', abort);
  }
  sessions.add(session);
  const start = {
    peer,
    fingerprint: session.serverKey?.fingerprint() ?? null,
    resumed: session.resumed,
    started,
  };
  log.ended(start, await pump(session, { input: socket, output: socket }));
  sessions.delete(session);
}

/** `connect --listen`: runs until SIGTERM/SIGINT and the drain. */
async function listenAndForward(
  args: ConnectArgs,
  { maxConns, drainSeconds }: ReturnType<typeof listenModeDefaults>,
  suites: SuiteFallback,
  log: TunnelLog,
  say: (line: string) => void,
): Promise<void> {
  const listen = parseListen(args.listen!);
  if (listen !== SYSTEMD) await checkLoopback(listen.host, 'listen', args['unsafe-listen']);
  const to = parseHostPort(args.to!);
  const stopping = new AbortController();
  // Each connection in its handshake listens to it, up to --max-conns at once (not a leak).
  setMaxListeners(maxConns + 16, stopping.signal);
  const channels = args.channels
    ? new ChannelClient(() => suites.channelClient(), to, stopping.signal, say)
    : null;
  const sessions = new Set<Session>();
  const connections = new Set<Promise<void>>();
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
    if (connections.size >= maxConns) {
      log.refused(peerLabel(socket.remoteAddress, socket.remotePort), 'ERR_MAX_CONNS');
      socket.resetAndDestroy();
      return;
    }
    // Reads into the shared buffer (no 64 KiB buffer allocated per read): pump.ts takes them.
    borrowReads(socket);
    const work = forwardSocket(socket, to, suites, channels, log, sessions, stopping.signal)
      // Never expected (every outcome is logged inside): reported, and the socket dropped, rather
      // than an unhandled rejection taking the other connections down.
      .catch((err: unknown) => {
        if (!socket.destroyed) socket.resetAndDestroy();
        log.refused(peerLabel(socket.remoteAddress, socket.remotePort), codeOf(err) ?? 'ERR_UNEXPECTED');
      })
      .finally(() => connections.delete(work));
    connections.add(work);
  });
  // As serve's: a port in use, a privileged port, a bad systemd fd are ERR_TRANSPORT.
  const bound = await listenOn(server, listen === SYSTEMD ? { fd: systemdListenFd() } : listen);
  if (listen === SYSTEMD) {
    // The socket systemd passed: its address is known only now, and must be loopback too.
    try {
      await checkLoopback(bound.host, 'listen', args['unsafe-listen']);
    } catch (err) {
      server.close();
      throw err;
    }
  }
  // A failed accept (EMFILE: out of file descriptors) is reported, never thrown.
  server.on('error', (err: NodeJS.ErrnoException) => log.refused('-', err.code ?? 'ERR_TRANSPORT'));
  log.listening(formatEndpoint(bound), formatEndpoint(to));

  const closeAll = (): void => {
    stopping.abort();
    for (const session of sessions) void session.close(CLOSE_GOING_AWAY, 'client stopping').catch(() => {});
    channels?.abort(CLOSE_GOING_AWAY, 'client stopping');
  };
  let drainTimer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    const removeSignals = handleSignals({
      stop: (first) => {
        if (!first) {
          closeAll();
          return;
        }
        server.close();
        // What is still carried: sessions of their own, and channels.
        log.draining(sessions.size + (channels?.live ?? 0));
        drainTimer = setTimeout(closeAll, Math.round(drainSeconds * 1000));
        void (async () => {
          // New connections may still be in the accept queue: wait until none is left.
          while (connections.size > 0) await Promise.all(connections);
          // The channel session's last channel is over: it closes normally.
          await channels?.drain();
          clearTimeout(drainTimer);
          removeSignals();
          log.stopped();
          resolve();
        })();
      },
    });
  });
}

/** `secsess connect`. */
export const connectCommand = {
  command: 'connect [target]',
  describe: 'open secsess sessions: from a local port (--listen … --to …), or one joined to stdin/stdout',
  builder,
  execute,
};
