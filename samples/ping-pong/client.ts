/**
 * The ping-pong client of the SecSess example: sends `--size` random bytes, reads the
 * echo, checks it against what was sent, `--rounds` times; then closes.
 *
 *   node samples/dist/ping-pong/client.js --port PORT --pub FILE [--host 127.0.0.1] [--rounds 100] [--size 1024]
 *
 * Prints the round trips and the time per round trip. On any failure prints the error's
 * code and exits 1 (2 on bad arguments).
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@secsess/sdk';
import { sampleArgs } from '../sample-args.js';

const USAGE = 'usage: client --port PORT --pub FILE [--host HOST] [--rounds N] [--size BYTES]';

const HELP = `${USAGE}

Sends --size random bytes to the ping-pong server, reads the echo and checks it,
--rounds times; prints the round trips and the time per round trip.

  --port PORT    the server's port
  --pub FILE     the server's public key (the .pub next to its --key)
  --host HOST    the server's address (default 127.0.0.1)
  --rounds N     round trips (default 100)
  --size BYTES   bytes per message (default 1024)
  -h, --help     print this help

Exit status: 0 on success, 1 on a failure, 2 on bad arguments.`;

async function main(): Promise<number> {
  const values = sampleArgs(
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      pub: { type: 'string' },
      rounds: { type: 'string', default: '100' },
      size: { type: 'string', default: '1024' },
    },
    { usage: USAGE, help: HELP },
    { required: ['pub', 'port'], numeric: ['port', 'rounds', 'size'] },
  );
  if (typeof values === 'number') return values;
  const rounds = Number(values.rounds);
  const size = Number(values.size);

  const client = Client.create(values.pub);
  const session = await client.connect({ host: values.host, port: Number(values.port) });
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    const sent = randomBytes(size);
    await client.write(sent);
    const echoed = await client.read();
    if (echoed === null)
      throw Object.assign(new Error('the server closed the session'), { code: 'ERR_CLOSED_BY_PEER' });
    if (!echoed.equals(sent))
      throw Object.assign(new Error(`round ${i + 1}: echo differs`), { code: 'ERR_ECHO_MISMATCH' });
    await client.flushStream();
  }
  const elapsed = performance.now() - started;
  await client.close();
  console.log(`server ${session.serverKey!.fingerprint()}`);
  console.log(`round trips: ${rounds} of ${size} bytes, all echoes intact`);
  console.log(`time per round trip: ${rounds ? (elapsed / rounds).toFixed(3) : '0'} ms`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`client failed: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
