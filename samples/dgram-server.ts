/**
 * The datagram echo server: answers every message of every secsess datagram session with
 * the same bytes, until SIGINT or SIGTERM.
 *
 *   npm run sample:dgram-server -- --host 127.0.0.1 --port 0 --key FILE
 *
 * The first line on stdout is `listening on HOST:PORT` (the UDP port), the second
 * `fingerprint SHA256:…`. Exit codes: 0 after a clean stop, 1 on a failure, 2 on bad arguments.
 */
import { DatagramServer, PrivateKey, formatEndpoint } from '@secsess/sdk';
import type { DatagramSession } from '@secsess/sdk';
import { sampleArgs } from './sample-args.js';

const USAGE = 'usage: dgram-server --key FILE [--host HOST] [--port PORT]';

const HELP = `${USAGE}

Echoes every message of any number of secsess datagram (UDP) sessions until SIGINT or
SIGTERM. Messages are unreliable: a lost one is not sent again.

  --key FILE   the server's private key (e.g. from \`npx secsess-keygen -o secrets/server\`)
  --host HOST  address to listen on (default 127.0.0.1; ::1 for IPv6)
  --port PORT  UDP port (default 0: any free port)
  -h, --help   print this help

Prints \`listening on HOST:PORT\` and \`fingerprint SHA256:…\` on stdout.
Exit status: 0 after a clean stop, 1 on a failure, 2 on bad arguments.`;

async function main(): Promise<number> {
  const values = sampleArgs(
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      key: { type: 'string' },
    },
    { usage: USAGE, help: HELP },
    { required: ['key'], numeric: ['port'] },
  );
  if (typeof values === 'number') return values;
  const key = await PrivateKey.load(values.key);
  const server = DatagramServer.create({ host: values.host, port: Number(values.port) }, key);
  server.on('session', echo);
  server.on('handshakeError', (err, remote) => {
    console.error(`handshake from ${remote.address}:${remote.port} failed: ${err.code}`);
  });
  // Listened to before start(): it starts the RSA worker threads, and on Node 20 a signal
  // listener first added after a worker thread started is not always called.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await server.start();
  console.log(`listening on ${formatEndpoint(server.address!)}`);
  console.log(`fingerprint ${key.fingerprint()}`);

  const signal = await stopSignal;
  console.error(`dgram-server: ${signal}, stopping with ${server.sessionCount} open session(s)`);
  await server.stop();
  return 0;
}

/**
 * Echoes one session's messages until it ends. A full send queue drops the echo, as UDP
 * would; so does a message larger than this server can send (a client may allow itself a
 * larger maxDatagramSize): send() would throw ERR_MESSAGE_TOO_LARGE.
 */
function echo(session: DatagramSession): void {
  session.on('message', (message) => {
    if (message.length <= session.maxMessageSize) session.send(message);
  });
  session.on('error', (err) => {
    // A client that goes quiet (ERR_TIMEOUT) is routine for an echo server.
    if (err.code !== 'ERR_TIMEOUT') {
      console.error(`session ${session.remoteAddress}:${session.remotePort} ended: ${err.code}`);
    }
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`dgram-server failed: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
