/**
 * A refused handshake's socket lingers a moment (server/linger.ts) instead of being destroyed
 * at once: a client is OPEN after its ClientFinished and may already be sending data behind
 * it; had the server destroyed a socket with unread data, the kernel's reset could overtake
 * the encrypted NotAuthorized alert and the client would see ERR_TRANSPORT instead of the
 * refusal's code. The bound: the server keeps no refused socket open past the linger.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode } from '../src/index.js';
import type { Session, SessionError } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoSessions, startServer } from './helpers/net.js';

const clientKeys = fixtureKeys('client-2048');
const otherKeys = fixtureKeys('other-2048');

/** Writes 64 KiB messages until the session fails; the error it failed with. */
async function flood(session: Session): Promise<string> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let code = 'none';
  const failed = new Promise<void>((resolve) => {
    session.on('error', (err: SessionError) => {
      code = err.code;
      resolve();
    });
    void session.closed.then(() => resolve());
  });
  // Queued at once, as a program piping a file would: most of it is still on its way (or
  // unread at the server) when the refusal comes.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 64 && session.state === 'open'; i++) writes.push(session.write(chunk));
  await Promise.allSettled(writes);
  await failed;
  return code;
}

test('a client refused after its ClientFinished, already sending data, gets ERR_NOT_AUTHORIZED every time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-linger-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const s = await startServer({ authorizedKeys, handshakeRate: 0 });
  t.teardown(() => s.server.stop());
  echoSessions(s.server);
  const refused = s.client({ clientKey: otherKeys.privateKey });
  const codes: string[] = [];
  for (let i = 0; i < 12; i++) {
    try {
      const session = await refused.connect(s.endpoint);
      codes.push(await flood(session));
    } catch (err) {
      codes.push((err as SessionError).code);
    }
  }
  t.deepEqual(
    codes,
    codes.map(() => ErrorCode.NOT_AUTHORIZED),
  );
  // The server keeps serving, and holds no refused socket for long.
  const session = await s.client({ clientKey: clientKeys.privateKey }).connect(s.endpoint);
  await session.write(Buffer.from('still here'));
  t.is((await session.read())?.toString(), 'still here');
  await session.close();
});
