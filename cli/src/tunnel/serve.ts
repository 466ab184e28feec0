/**
 * `secsess serve`: a secsess server whose sessions are joined to a TCP service
 * (`--forward`, one backend connection a session) or to stdin/stdout (`--stdio`).
 */
import { formatEndpoint, Server } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import type { Argv } from 'yargs';
import { cliMessage, codeOf } from '../errors.js';
import type { Output } from '../io.js';
import { parseHostPort } from '../commands/host-port.js';
import type { HostPort } from '../commands/host-port.js';
import {
  checkAcceptProxy,
  checkAnyClient,
  checkLoopback,
  checkProxiedClients,
  parseListen,
  peerLabel,
  SYSTEMD,
} from './address.js';
import {
  BACKEND_REASON,
  CLOSE_BACKEND,
  openBackend,
  proxyHeaderFor,
  UNKNOWN_ADDRESS,
  UNKNOWN_ADDRESS_REASON,
} from './backend.js';
import { ChannelServer } from './channels/serve-channels.js';
import { TunnelLog } from './conn-log.js';
import type { ConnStart } from './conn-log.js';
import {
  algorithmSet,
  commonOptions,
  MAX_MESSAGE_SIZE,
  keyInput,
  maxConnsOption,
  passphraseOption,
  SYMMETRIC_CHOICES,
} from './options.js';
import type { TunnelArgs } from './options.js';
import { pump } from './pump.js';
import type { PumpResult } from './pump.js';
import { handleServeSignals, withWorkers, workersOption } from './workers.js';
import { checkOutcome, stdioEnds } from './stdio.js';
import { systemdListenFd } from './systemd.js';
import { loadTickets, rereadTickets, ticketOptions } from './tickets.js';
import { metricsOption, startMetrics, startPrimaryMetrics } from './metrics.js';
import type { MetricsEndpoint } from './metrics.js';

/** Close code of a session that came while another has stdin/stdout (`--stdio`). */
export const CLOSE_BUSY = 4002;
const BUSY_REASON = 'busy: another session has stdin/stdout';

function builder(yargs: Argv<TunnelArgs>) {
  const options = yargs
    .option('listen', {
      type: 'string',
      demandOption: true,
      describe: 'where secsess clients connect: HOST:PORT, [v6]:PORT, or systemd (the socket passed on fd 3)',
    })
    .option('key', {
      type: 'string',
      demandOption: true,
      describe: "the server's private key file (read again on SIGHUP)",
    })
    .option('forward', {
      type: 'string',
      describe: 'join each session to a TCP connection to HOST:PORT (loopback unless --unsafe-target)',
    })
    .option('stdio', {
      type: 'boolean',
      default: false,
      describe: 'join one session at a time to stdin/stdout instead of --forward',
    })
    .option('once', {
      type: 'boolean',
      default: false,
      describe: 'with --stdio: exit after the first session',
    })
    .option('authorized-keys', {
      type: 'string',
      describe: 'only clients whose key is in this authorized_keys file (read again on SIGHUP)',
    })
    .option('allow-any-client', {
      type: 'boolean',
      default: false,
      describe: 'without --authorized-keys, serve every client on a --listen that is not loopback',
    })
    .option('unsafe-target', {
      type: 'boolean',
      default: false,
      describe: 'allow a --forward host that is not loopback (its bytes travel in the clear)',
    })
    .option('proxy-protocol', {
      type: 'boolean',
      default: false,
      describe: "send a PROXY v2 header with the client's address first on each backend connection",
    })
    .option('accept-proxy', {
      type: 'string',
      array: true,
      requiresArg: true,
      nargs: 1,
      describe:
        'behind a load balancer: connections from this ADDR or CIDR (repeat for more) must begin with ' +
        'a PROXY header (v1 or v2); its client is then the one logs, limits and --proxy-protocol see',
    })
    .option('symmetric', {
      choices: SYMMETRIC_CHOICES,
      describe: 'accept only this cipher (default: every suite the client asks for)',
    })
    .option('channels', {
      type: 'boolean',
      default: true,
      describe:
        'with --forward: let a client carry many connections in one session, each its own backend ' +
        'connection and --max-conns slot (--no-channels: one session a connection, as releases before)',
    });
  return metricsOption(
    workersOption(
      maxConnsOption(
        commonOptions(passphraseOption(ticketOptions(options))),
        'connections open at once (sessions, handshakes, and with --accept-proxy those still sending their ' +
          'PROXY header); past it clients get ERR_SERVER_BUSY. With --workers: per worker',
      ),
    ),
  )
    .check((argv) => {
      parseListen(argv.listen);
      if ((argv.forward === undefined) === !argv.stdio)
        throw new Error('give one of --forward HOST:PORT or --stdio');
      if (argv.forward !== undefined) parseHostPort(argv.forward);
      if (argv.once && !argv.stdio) throw new Error('--once goes with --stdio');
      if (argv['proxy-protocol'] && argv.forward === undefined)
        throw new Error('--proxy-protocol goes with --forward');
      if (argv['accept-proxy'] !== undefined) checkAcceptProxy(argv['accept-proxy'] as unknown);
      return true;
    })
    .example(
      '$0 serve --listen 0.0.0.0:7000 --key srv.key --authorized-keys ak --forward 127.0.0.1:6379',
      'put a local redis behind secsess, for the clients listed in ak',
    )
    .example(
      '$0 serve --listen [::]:7022 --key k --authorized-keys ak --stdio',
      'stdin/stdout to clients listed in ak',
    )
    .example('$0 serve --listen 127.0.0.1:7000 --key srv.key --stdio --once > file', 'receive one file')
    .example(
      '$0 serve --listen 10.0.0.11:7000 --key srv.key --authorized-keys ak --accept-proxy 10.0.0.5 --forward 127.0.0.1:6379',
      'behind HAProxy at 10.0.0.5 (send-proxy-v2); logs see each client',
    );
}

/** Options of `serve`, as parsed. */
export type ServeArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

/** What one serve process shares between its sessions. */
interface Serving {
  readonly server: Server;
  readonly log: TunnelLog;
  readonly args: ServeArgs;
  readonly forward: HostPort | null;
}

/** Where a session comes from, for its `conn` line. */
function startOf(session: Session): ConnStart {
  return {
    peer: peerLabel(session.remoteAddress, session.remotePort),
    fingerprint: session.clientKey?.fingerprint() ?? null,
    resumed: session.resumed,
    started: performance.now(),
  };
}

/**
 * Closes a session that gets no backend connection (4000 `backend unavailable` to the
 * client, who learns no more), with its `conn` line, whose reason says why (`logReason`).
 */
async function refuseSession(
  serving: Serving,
  session: Session,
  start: ConnStart,
  logReason = BACKEND_REASON,
): Promise<void> {
  await session.close(CLOSE_BACKEND, BACKEND_REASON);
  const close = session.closeCode ?? CLOSE_BACKEND;
  serving.log.ended(start, { sent: 0, received: 0, close, reason: logReason });
}

/** One session joined to its backend connection; logs its `conn` line. */
async function forwardSession(serving: Serving, session: Session, forward: HostPort): Promise<void> {
  const start = startOf(session);
  const header = serving.args['proxy-protocol'] ? proxyHeaderFor(session) : null;
  if (header === UNKNOWN_ADDRESS) return refuseSession(serving, session, start, UNKNOWN_ADDRESS_REASON);
  const backend = await openBackend(forward, !serving.args['unsafe-target']);
  if (backend === null) return refuseSession(serving, session, start);
  if (header !== null) backend.write(header);
  serving.log.ended(start, await pump(session, { input: backend, output: backend }));
}

async function execute(args: ServeArgs & TunnelArgs, out: Output): Promise<void> {
  const log = new TunnelLog(args['log-format'], 'serve', out.io.stderr);
  const forward = args.forward === undefined ? null : parseHostPort(args.forward);
  if (forward) await checkLoopback(forward.host, 'forward', args['unsafe-target']);
  const listen = parseListen(args.listen);
  const authorized = args['authorized-keys'] !== undefined;
  const acceptProxy = args['accept-proxy'];
  if (acceptProxy !== undefined) checkProxiedClients(authorized, args['allow-any-client']);
  if (listen !== SYSTEMD) await checkAnyClient(listen.host, authorized, args['allow-any-client']);
  const tickets = await loadTickets(args);
  const channelServer =
    forward && args.channels
      ? new ChannelServer(log, forward, {
          maxConns: args['max-conns'],
          proxyProtocol: args['proxy-protocol'],
          unsafeTarget: args['unsafe-target'],
        })
      : null;
  const server = Server.create(
    listen === SYSTEMD ? { fd: systemdListenFd() } : listen,
    // An encrypted key: its passphrase file is read each time the key is (start, SIGHUP), not kept.
    keyInput(args.key, args['passphrase-file']),
    args.symmetric === undefined ? undefined : [algorithmSet(args.symmetric)],
    {
      authorizedKeys: args['authorized-keys'],
      maxMessageSize: MAX_MESSAGE_SIZE,
      // --stdio serves one session at a time, but handshakes are not counted against it: a
      // connection that never completes one (anyone can open it) must not hold stdin/stdout.
      // A session established while another has them is closed with CLOSE_BUSY.
      maxConnections: args['max-conns'],
      proxyProtocol: acceptProxy === undefined ? undefined : { trusted: acceptProxy },
      channels: channelServer !== null,
      ...(tickets === undefined ? {} : { tickets: tickets.options }),
    },
  );
  tickets?.wipe(); // the server holds its own prepared copies
  const serving: Serving = { server, log, args, forward };
  const sessions = new Set<Promise<void>>();
  let outcome: PumpResult | null = null;
  let stopping: Promise<void> | null = null;
  let metrics: MetricsEndpoint | null = null;
  let stopped!: () => void;
  const finished = new Promise<void>((resolve) => (stopped = resolve));

  const stop = (drainMs: number | undefined, announce: boolean): Promise<void> =>
    (stopping ??= (async () => {
      if (announce) log.draining(server.sessionCount);
      const deadline = performance.now() + (drainMs ?? 0);
      channelServer?.drain();
      await server.stop(drainMs === undefined ? undefined : { drain: drainMs });
      // The sessions are over; a channel that closed normally may still be giving its backend
      // the last bytes: it gets what is left of the drain, then is reset (a backend that
      // stopped reading must not hold the stop for ever).
      await channelServer?.idle(deadline - performance.now());
      channelServer?.abort();
      await Promise.all(sessions);
      await metrics?.close();
      log.stopped();
      stopped();
    })());

  const stdioSession = async (session: Session): Promise<void> => {
    const start = startOf(session);
    const result = await pump(session, stdioEnds(args.once));
    log.ended(start, result);
    if (args.once) {
      outcome = result;
      void stop(undefined, false);
    }
  };

  /** --stdio: a session has stdin/stdout (with --once, for good). */
  let stdioTaken = false;
  server.on('session', (session) => {
    let work: Promise<void>;
    if (forward && session.channels) {
      work = channelServer!.serve(session);
    } else if (forward && channelServer !== null) {
      // A backend connection: a slot of --max-conns, shared with the channels (serve-channels.ts).
      work = channelServer.takeSlot()
        ? forwardSession(serving, session, forward).finally(() => channelServer.giveSlot())
        : refuseSession(serving, session, startOf(session), 'max-conns: backend connections');
    } else if (forward) {
      work = forwardSession(serving, session, forward);
    } else if (stdioTaken) {
      log.refused(peerLabel(session.remoteAddress, session.remotePort), 'ERR_SERVER_BUSY', 'stdio');
      work = session.close(CLOSE_BUSY, BUSY_REASON).catch(() => {});
    } else {
      stdioTaken = true;
      work = stdioSession(session).finally(() => (stdioTaken = args.once));
    }
    work = work.finally(() => sessions.delete(work));
    sessions.add(work);
  });
  server.on('handshakeError', (err, remote) => log.refused(peerLabel(remote.address, remote.port), err.code));
  server.on('refused', (limit, remote) =>
    log.refused(peerLabel(remote.address, remote.port), 'ERR_SERVER_BUSY', limit),
  );

  await server.start();
  const address = server.address;
  if (listen === SYSTEMD) {
    // The socket systemd passed: its address is known only now.
    try {
      const host = address?.host ?? null;
      await checkAnyClient(host, authorized, args['allow-any-client'], `systemd (${host ?? 'unknown'})`);
    } catch (err) {
      await server.stop({ drain: 0 });
      throw err;
    }
  }
  metrics = await startMetrics(args, server, log, channelServer ? () => channelServer.counts : undefined);
  log.listening(
    address ? formatEndpoint(address) : String(args.listen),
    forward ? formatEndpoint(forward) : 'stdio',
  );
  let reloading = Promise.resolve();
  const removeSignals = handleServeSignals(args, {
    // One reload at a time, in the order of the SIGHUPs: a slow read must not let an older
    // ticket-key file be applied after a newer one.
    reload: () => void (reloading = reloading.then(() => reload(serving))),
    stop: (first) => {
      if (first) void stop(Math.round(args['drain-timeout'] * 1000), true);
      else {
        void server.stop({ drain: 0 });
        channelServer?.abort();
      }
    },
  });
  await finished;
  removeSignals();
  if (outcome !== null) checkOutcome(outcome);
}

/**
 * SIGHUP: the key files, the authorized_keys file and the ticket-key file read again; one
 * `reload` line. Every file is read before any is put in force: one that does not load
 * changes nothing (the ticket-key file is read first, then the server reads its key files
 * and authorized_keys and puts them in force together).
 */
async function reload(serving: Serving): Promise<void> {
  const { server, log } = serving;
  try {
    const tickets = await rereadTickets(server, serving.args);
    try {
      const { fingerprints, authorized } = await server.reload();
      const ticketKeys = tickets.apply();
      log.reload({
        fingerprints,
        added: authorized?.added ?? null,
        removed: authorized?.removed ?? null,
        ...(ticketKeys === null ? {} : { ticketKeys }),
      });
    } finally {
      tickets.wipe();
    }
  } catch (err) {
    log.reload({ error: codeOf(err) ?? 'ERR_UNEXPECTED', message: cliMessage(err) });
  }
}

/** `secsess serve`. */
export const serveCommand = {
  command: 'serve',
  describe: 'accept secsess sessions and join each to a TCP service (--forward) or to stdin/stdout (--stdio)',
  builder,
  execute: withWorkers(execute, startPrimaryMetrics),
};
