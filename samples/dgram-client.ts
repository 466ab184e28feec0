/**
 * The datagram echo client: opens a secsess datagram session to the echo server, sends
 * `--count` messages of `--size` bytes (one every `--interval` ms, or as fast as the socket
 * takes them), and counts the echoes that come back.
 *
 *   npm run sample:dgram-client -- --host H --port N --pub FILE --count N --size N [--interval MS]
 *
 * Each message is its index (u32) followed by bytes derived from a per-run key and the
 * index, so an echo is checked without keeping what was sent. The last line on stdout is
 *
 *   sent N, received M, duplicates D, corrupted C
 *
 * M may be below N (datagrams are lost, by design); D (an echo seen twice) and C (an echo
 * that is not what was sent) must be 0: the exit status is 1 if either is not, or if the
 * handshake failed; 2 on bad arguments.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { DatagramClient } from '@secsess/sdk';
import { sampleArgs } from './sample-args.js';

const USAGE =
  'usage: dgram-client --port PORT --pub FILE [--host HOST] [--count N] [--size BYTES] [--interval MS]';

const HELP = `${USAGE}

Sends --count messages of --size bytes to the datagram echo server and counts the echoes.
The last line is \`sent N, received M, duplicates D, corrupted C\`: lost datagrams make M
smaller than N; D and C must be 0.

  --port PORT      the server's UDP port
  --pub FILE       the server's public key (the .pub next to its --key)
  --host HOST      the server's address (default 127.0.0.1; ::1 for IPv6)
  --count N        messages to send (default 100)
  --size BYTES     bytes per message, at least 4 (default 64)
  --interval MS    pause between messages (default 0: as fast as the socket takes them)
  -h, --help       print this help

Exit status: 0 when no echo was duplicated or corrupted, 1 otherwise or on a failure
(handshake included), 2 on bad arguments.`;

/** How long to wait for echoes after the last send, once they stop coming. */
const QUIET_MS = 1000;

async function main(): Promise<number> {
  const values = sampleArgs(
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      pub: { type: 'string' },
      count: { type: 'string', default: '100' },
      size: { type: 'string', default: '64' },
      interval: { type: 'string', default: '0' },
    },
    { usage: USAGE, help: HELP },
    { required: ['pub', 'port'], numeric: ['port', 'count', 'size', 'interval'] },
  );
  if (typeof values === 'number') return values;
  const count = Number(values.count);
  const size = Number(values.size);
  const interval = Number(values.interval);
  if (size < 4) {
    console.error(`--size must be at least 4 (the message index)\n${USAGE}`);
    return 2;
  }

  const runKey = randomBytes(32);
  const expected = (index: number): Buffer => {
    const message = Buffer.alloc(size);
    message.writeUInt32BE(index, 0);
    for (let at = 4, block = 0; at < size; block++) {
      const mac = createHmac('sha256', runKey).update(`${index}:${block}`).digest();
      at += mac.copy(message, at);
    }
    return message;
  };

  const client = DatagramClient.create(values.pub);
  const session = await client.connect({ host: values.host, port: Number(values.port) });
  console.log(`server ${session.serverKey!.fingerprint()}`);
  if (size > session.maxMessageSize) {
    session.close();
    throw Object.assign(new Error(`--size ${size} exceeds one datagram (${session.maxMessageSize} bytes)`), {
      code: 'ERR_MESSAGE_TOO_LARGE',
    });
  }

  const seen = new Uint8Array(count);
  let received = 0;
  let duplicates = 0;
  let corrupted = 0;
  let lastEcho = performance.now();
  session.on('message', (echo) => {
    lastEcho = performance.now();
    const index = echo.length >= 4 ? echo.readUInt32BE(0) : -1;
    if (index < 0 || index >= count || echo.length !== size || !echo.equals(expected(index))) corrupted++;
    else if (seen[index]) duplicates++;
    else {
      seen[index] = 1;
      received++;
    }
  });
  let ended: Error | null = null;
  session.on('error', (err) => (ended = err));

  let sent = 0;
  for (let i = 0; i < count && !ended; i++) {
    // false: the send queue is full and the message was dropped (counted by the session).
    if (session.send(expected(i))) sent++;
    if (interval > 0) await sleep(interval);
    else if (i % 32 === 31) await yieldToLoop();
  }
  const lastSend = performance.now();
  while (!ended && received < sent && performance.now() - Math.max(lastSend, lastEcho) < QUIET_MS) {
    await sleep(10);
  }
  session.close();
  if (ended) throw ended;
  console.log(`sent ${sent}, received ${received}, duplicates ${duplicates}, corrupted ${corrupted}`);
  return duplicates === 0 && corrupted === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`dgram-client failed: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
