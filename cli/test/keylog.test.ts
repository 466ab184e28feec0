/**
 * SECSESS_KEYLOG_FILE through the `secsess` tunnel (README "Key log"): both ends warn on
 * stderr and write the same two lines for a session; unset or empty, neither says a word;
 * a path others may read or a symlink is refused with a warning, and the tunnel goes on.
 */
import { chmod, readFile, symlink, writeFile } from 'node:fs/promises';
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

test('a key log others may read, or a symlink, is refused: one warning each, nothing written, the tunnel serves', async (t) => {
  const shared = join(fx.dir, 'shared.log');
  await writeFile(shared, '');
  await chmod(shared, 0o644);
  const target = join(fx.dir, 'target.log');
  await writeFile(target, '', { mode: 0o600 });
  const link = join(fx.dir, 'link.log');
  await symlink(target, link);
  const { serve, connect, answer } = await tunnel(shared, link);
  t.is(answer, 'through the tunnel');
  const REFUSED =
    /SecsessWarning: SECSESS_KEYLOG_FILE: not writing session secrets to (\S+): (.*); sessions go on unlogged$/;
  const [, servePath, serveWhy] = REFUSED.exec(await serve.line(REFUSED))!;
  const [, connectPath, connectWhy] = REFUSED.exec(await connect.line(REFUSED))!;
  t.deepEqual([servePath, serveWhy], [shared, 'its mode 0644 lets group or others read it (chmod 600 it)']);
  t.deepEqual([connectPath, connectWhy], [link, 'it is a symbolic link']);
  await Promise.all([serve.stop(), connect.stop()]);
  t.false([...serve.lines, ...connect.lines].some((l) => WARNING.test(l)));
  for (const p of [serve, connect])
    t.is(p.lines.filter((l) => l.includes('SECSESS_KEYLOG_UNSAFE')).length, 1);
  t.is(await readFile(shared, 'utf8'), '');
  t.is(await readFile(target, 'utf8'), '');
});
