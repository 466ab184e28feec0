/**
 * One bad client never takes a server down (issue 13): the README's echo server — an async
 * `'session'` listener with no try/catch — in a child process (so that a rejection the SDK
 * lets through kills it, as it would kill a user's server), and async listeners that reject
 * while their session is open.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Client, ErrorCode, SessionError, secureDuplex } from '../src/index.js';
import type { Session } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { rawConnect, startServer } from './helpers/net.js';
import { loaderArgs } from './helpers/server-process.js';

const SCRIPT = fileURLToPath(new URL('fixtures/readme-echo-server.ts', import.meta.url));
const KEY = fileURLToPath(new URL('fixtures/server-2048.key', import.meta.url));

interface EchoServer {
  readonly child: ChildProcess;
  readonly port: number;
  /** Output of the child on stderr (its warnings, or the crash). */
  stderr(): string;
  /** Stops the server; resolves with the child's exit code (0 if it was still serving). */
  stop(): Promise<number | null>;
}

async function startEchoServer(mode?: 'events' | 'error-too'): Promise<EchoServer> {
  const child = fork(SCRIPT, mode ? [KEY, mode] : [KEY], {
    execArgv: loaderArgs(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    void exited.then((code) => reject(new Error(`echo server exited (${code}): ${stderr}`)));
  });
  return {
    child,
    port,
    stderr: () => stderr,
    stop: async () => {
      // A child already on its way out closes the channel under us: EPIPE then is no failure
      // (with a callback, send() reports it there instead of an 'error' event).
      if (child.connected) child.send('stop', () => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A client of `port` that writes `text` and reads its echo. */
async function echoes(port: number, text: string): Promise<string | undefined> {
  const client = Client.create(fixtureKeys().publicKey);
  const session = await client.connect(`127.0.0.1:${port}`);
  await session.write(text);
  const echoed = (await session.read())?.toString();
  await session.close();
  return echoed;
}

test('the README echo server survives a client that vanishes mid-session and serves the next', async (t) => {
  const server = await startEchoServer();
  t.teardown(() => server.child.kill('SIGKILL'));
  // A real client that drops: its socket destroyed in the middle of a session (no close).
  const socket = await rawConnect(server.port);
  const rogue = await secureDuplex(socket, { role: 'client', serverKey: fixtureKeys().publicKey });
  rogue.on('error', () => {});
  await rogue.write('and then nothing');
  t.is((await rogue.read())?.toString(), 'and then nothing'); // the server is inside its for-await
  const gone = once(socket, 'close');
  socket.destroy();
  await gone;
  // The second client is served; then the server stops cleanly (a crash exits 1).
  for (let i = 0; i < 3; i++) t.is(await echoes(server.port, `still there ${i}`), `still there ${i}`);
  t.is(await server.stop(), 0, server.stderr());
  t.notRegex(server.stderr(), /Unhandled|ERR_TRUNCATED|Warning/);
});

test("the README echo server survives a client whose close cuts the server's write short", async (t) => {
  const server = await startEchoServer();
  t.teardown(() => server.child.kill('SIGKILL'));
  const big = Buffer.alloc(512 * 1024, 7);
  // Each client writes more than the socket buffers take at once, then closes without
  // reading: the server's echo write is still waiting for 'drain' when the close arrives.
  for (let i = 0; i < 3; i++) {
    const client = Client.create(fixtureKeys().publicKey);
    const session = await client.connect(`127.0.0.1:${server.port}`);
    const writes = [session.write(big), session.write(big), session.write(big), session.write(big)];
    await Promise.all(writes);
    await session.close();
  }
  t.is(await echoes(server.port, 'still there'), 'still there');
  t.is(await server.stop(), 0, server.stderr());
  t.notRegex(server.stderr(), /Unhandled|ERR_SESSION_CLOSED|Warning/);
});

test("an async 'message' listener that rejects fails its session, reported on 'error'; the server serves on", async (t) => {
  const { server, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const bug = new Error('a bug in the application');
  const reported = new Promise<SessionError>((resolve) => {
    server.on('session', (session: Session) => {
      session.on('error', resolve);
      session.on('message', async (m) => {
        if (m.toString() === 'boom') throw bug;
        await session.write(m);
      });
    });
  });
  const session = await Client.create(fixtureKeys().publicKey).connect(endpoint);
  await session.write('boom');
  const err = await reported;
  t.true(err instanceof SessionError);
  t.is(err.cause, bug);
  // The client's session ends with an error, not a hang.
  const seen = await t.throwsAsync(session.read(), { instanceOf: SessionError });
  t.not(seen?.code, ErrorCode.SESSION_CLOSED);
  // Another client is served.
  const other = await Client.create(fixtureKeys().publicKey).connect(endpoint);
  await other.write('hello');
  t.is((await other.read())?.toString(), 'hello');
  await other.close();
});

test("an async 'session' listener that rejects while its session is open fails that session alone", async (t) => {
  const { server, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const bug = new Error('a bug in the session listener');
  const reported = new Promise<SessionError>((resolve) => {
    server.on('session', async (session: Session) => {
      session.on('error', resolve);
      const first = await session.read();
      if (first?.toString() === 'boom') throw bug;
      for await (const m of session) await session.write(m);
    });
  });
  const victim = await Client.create(fixtureKeys().publicKey).connect(endpoint);
  const bystander = await Client.create(fixtureKeys().publicKey).connect(endpoint);
  await victim.write('boom');
  const err = await reported;
  t.is(err.cause, bug);
  await t.throwsAsync(victim.read(), { instanceOf: SessionError });
  await bystander.write('first');
  await bystander.write('echoed');
  t.is((await bystander.read())?.toString(), 'echoed');
  await bystander.close();
  t.is(bystander.closeCode, 1000);
});

for (const mode of ['events', 'error-too'] as const) {
  test(`a rejecting async listener of the server's own events never crashes or stalls it (${mode})`, async (t) => {
    // 'events': a rejecting 'handshakeError' listener and no 'error' listener (once: an
    // uncaught 'error', the process died). 'error-too': the 'error' listener rejects as
    // well (once: its rejection was emitted as 'error' again, forever, starving the loop).
    const server = await startEchoServer(mode);
    t.teardown(() => void server.stop());
    const stranger = Client.create(fixtureKeys('other-2048').publicKey, {}, { busyRetries: 0 });
    await t.throwsAsync(stranger.connect(`127.0.0.1:${server.port}`), {
      code: ErrorCode.SERVER_KEY_MISMATCH,
    });
    t.is(await echoes(server.port, 'still serving'), 'still serving');
    t.is(await server.stop(), 0, server.stderr());
    t.regex(
      server.stderr(),
      mode === 'events'
        ? /SecsessWarning.*'handshakeError' event failed: alerting the operator failed/
        : /SecsessWarning.*'error' event failed: logging the error failed/,
    );
  });
}

test("a rejection that is not this session's own end is never dropped, even after the session ended", async (t) => {
  const { server, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const warned = new Promise<Error>((resolve) => {
    const onWarning = (w: Error) => {
      if (w.name !== 'SecsessWarning') return;
      process.off('warning', onWarning);
      resolve(w);
    };
    process.on('warning', onWarning);
  });
  server.on('session', async (session: Session) => {
    for await (const m of session) void m; // until the client closes
    // A proxy's backend refuses it after the front session has ended: a coded error that is
    // not this session's, which must be reported, not taken for the session's own end.
    throw new SessionError(ErrorCode.SERVER_KEY_MISMATCH, 'the backend holds another key');
  });
  const session = await Client.create(fixtureKeys().publicKey).connect(endpoint);
  await session.close();
  const warning = await warned;
  t.regex(warning.message, /the backend holds another key/);
});
