/**
 * An application listener that throws, on a DatagramSession or during DatagramServer.stop(),
 * is reported as Node reports any listener's exception — uncaught, on the next tick — and
 * costs the SDK nothing: the session goes on, `close()` returns, `stop()` still releases the
 * socket and emits `'close'`. As the stream Session does. Run in a child process
 * (fixtures/dgram-listener-errors.ts), whose own handler records the uncaught exceptions.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { loaderArgs } from './helpers/server-process.js';

const SCRIPT = fileURLToPath(new URL('fixtures/dgram-listener-errors.ts', import.meta.url));
const KEY = fileURLToPath(new URL('fixtures/server-2048.key', import.meta.url));

type Mode = 'stop' | 'server-message' | 'client-message' | 'client-close' | 'handshake-error';

async function run(mode: Mode): Promise<Record<string, unknown>> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [...loaderArgs(), SCRIPT, KEY, mode],
      { timeout: 60_000 },
      (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
    );
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test("stop() with a session 'close' listener that throws still closes the socket and emits 'close'", async (t) => {
  const report = await run('stop');
  t.is(report.stop, 'resolved');
  t.true(report.serverClosed);
  t.false(report.listening);
  t.true(report.portFree, 'the server socket is closed');
  t.deepEqual(report.uncaught, ['server close listener bug']);
});

test("a server session's 'message' listener that throws is uncaught, not a dropped packet; the session goes on", async (t) => {
  const report = await run('server-message');
  t.deepEqual(report.uncaught, ['server message listener bug']);
  t.is(report.dropped, 0);
  t.deepEqual(report.echoes, ['one', 'two']);
  t.is(report.serverSessionState, 'open');
});

test("a client session's 'message' listener that throws is uncaught; the session goes on", async (t) => {
  const report = await run('client-message');
  t.deepEqual(report.uncaught, ['client message listener bug']);
  t.deepEqual(report.echoes, ['one', 'two']);
  t.is(report.clientState, 'open');
});

test("a 'close' listener that throws does not make close() throw, nor keep the server from forgetting the session", async (t) => {
  const report = await run('client-close');
  t.is(report.close, 'returned');
  t.is(report.clientState, 'closed');
  t.is(report.serverSessions, 0);
  t.deepEqual(report.uncaught, ['client close listener bug', 'server close listener bug']);
});

test("a 'handshakeError' listener that throws is uncaught; the refused client still gets its answer at once", async (t) => {
  const report = await run('handshake-error');
  // A 60 s handshake timeout: ERR_TIMEOUT would mean the Alert was never sent.
  t.is(report.connect, 'ERR_SERVER_KEY_MISMATCH');
  t.is(report.dropped, 0);
  t.deepEqual(report.uncaught, ['handshakeError listener bug']);
});
