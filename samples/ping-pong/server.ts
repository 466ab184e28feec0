/**
 * The ping-pong server of the SecSess example: echoes every message of any number of
 * concurrent clients until SIGINT or SIGTERM, then stops gracefully (clients see close
 * code 1001).
 *
 *   node samples/dist/ping-pong/server.js --key FILE [--host 127.0.0.1] [--port 0]
 *
 * The first line on stdout is `listening on HOST:PORT`, the second `fingerprint SHA256:…`.
 * Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on bad arguments.
 */
import { PrivateKey, Server, formatEndpoint } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import { sampleArgs } from '../sample-args.js';

const USAGE = 'usage: server --key FILE [--host HOST] [--port PORT]';

const HELP = `${USAGE}

Echoes every message of any number of concurrent secsess clients until SIGINT or SIGTERM.

  --key FILE   the server's private key (e.g. from \`npx secsess-keygen -o secrets/server\`)
  --host HOST  address to listen on (default 127.0.0.1)
  --port PORT  TCP port (default 0: any free port)
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
  const server = Server.create({ host: values.host, port: Number(values.port) }, key);
  server.on('session', (session) => void echo(session));
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
  console.error(`server: ${signal}, stopping with ${server.sessionCount} open session(s)`);
  await server.stop();
  return 0;
}

/** Echoes one session's messages until the client is done sending, then closes it. */
async function echo(session: Session): Promise<void> {
  try {
    for await (const message of session) await session.write(message);
    // null: the client ended its messages (half-close) or closed; we are done too.
    await session.close();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A client that vanishes or a server stop is routine for an echo server.
    if (code !== 'ERR_CLOSED_BY_PEER')
      console.error(`session ${session.remoteAddress}:${session.remotePort} ended: ${code}`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`server failed: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
