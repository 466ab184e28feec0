/**
 * SECSESS_KEYLOG_FILE through the `secsess` tunnel (README "Key log"): both ends warn on
 * stderr and write the same two lines for a session; unset or empty, neither says a word.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { connectArgs, exchange, serveArgs, tunnelFixture } from './helpers/tunnel.js';

const fx = tunnelFixture('keylog');

const WARNING =
  /SecsessWarning: SECSESS_KEYLOG_FILE is set: session secrets are being written to (\S+); anyone who reads it can decrypt these sessions/;

/** A serve and a connect with these SECSESS_KEYLOG_FILE values, one exchange through them. */
async function tunnel(serveLog: string, connectLog: string) {
  const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port), {
    env: { SECSESS_KEYLOG_FILE: serveLog },
  });
  const connect = fx.start(connectArgs(await serve.port(), fx.keys.serverPub), {
    env: { SECSESS_KEYLOG_FILE: connectLog },
  });
  const answer = await exchange(await connect.port(), Buffer.from('through the tunnel'));
  return { serve, connect, answer: answer.toString() };
}

test('with SECSESS_KEYLOG_FILE, serve and connect warn on stderr and log the same two lines', async (t) => {
  const serveLog = join(fx.dir, 'serve.log');
  const connectLog = join(fx.dir, 'connect.log');
  const { serve, connect, answer } = await tunnel(serveLog, connectLog);
  t.is(answer, 'through the tunnel');
  t.is(WARNING.exec(await serve.line(WARNING))?.[1], serveLog);
  t.is(WARNING.exec(await connect.line(WARNING))?.[1], connectLog);
  await Promise.all([serve.stop(), connect.stop()]);
  const lines = (await readFile(connectLog, 'utf8')).trimEnd().split('\n');
  t.deepEqual((await readFile(serveLog, 'utf8')).trimEnd().split('\n'), lines);
  t.is(lines.length, 2);
  t.regex(lines[0]!, /^SECSESS_C2S_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{64}$/);
  t.regex(lines[1]!, /^SECSESS_S2C_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{64}$/);
  t.is(lines[0]!.split(' ')[1], lines[1]!.split(' ')[1]);
});

test('empty SECSESS_KEYLOG_FILE: no warning, nothing logged', async (t) => {
  const { serve, connect, answer } = await tunnel('', '');
  t.is(answer, 'through the tunnel');
  await Promise.all([serve.stop(), connect.stop()]);
  t.false([...serve.lines, ...connect.lines].some((l) => /SECSESS_KEYLOG|Warning/.test(l)));
});
