/**
 * Session resumption through the `secsess` command, as real processes of the built bins:
 * `serve --ticket-keys FILE` (made and rotated with `secsess-keygen ticket-key`) and
 * `connect --listen`, which resumes by default. The `conn` lines say `resumed=yes|no` on both
 * sides; SIGHUP re-reads the ticket-key file (a new issuing key, the old one still accepted
 * while listed, a ticket of a removed key answered with a full handshake, a bad file keeping
 * the keys in force).
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PublicKey } from '@secsess/keys';
import { runCli } from './helpers/cli.js';
import { buildTunnelParser } from '../src/tunnel/parser.js';
import { connectArgs, exchange, serveArgs, tunnelFixture } from './helpers/tunnel.js';
import type { Tunnel } from './helpers/tunnel.js';

const fx = tunnelFixture('tickets');

let files = 0;
/** A new ticket-key file of one key, made by `secsess-keygen ticket-key`; its key names. */
async function ticketFile(t: ExecutionContext): Promise<{ path: string; names: string[] }> {
  const path = join(fx.dir, `tickets-${files++}.keys`);
  const made = await runCli(['ticket-key', '-f', path, '--json']);
  t.is(made.code, 0, made.stderr);
  return { path, names: namesOf(made.stdout) };
}

function namesOf(json: string): string[] {
  return (JSON.parse(json) as { keys: { name: string }[] }).keys.map((k) => k.name);
}

/** `secsess-keygen ticket-key --rotate --keep KEEP -f PATH`: the names now in the file. */
async function rotate(t: ExecutionContext, path: string, keep: number): Promise<string[]> {
  const rotated = await runCli(['ticket-key', '--rotate', '--keep', String(keep), '-f', path, '--json']);
  t.is(rotated.code, 0, rotated.stderr);
  return namesOf(rotated.stdout);
}

/** An authorized_keys file holding the fixture's client key. */
async function authorizedKeys(): Promise<string> {
  const path = join(fx.dir, 'authorized_keys');
  const line = (await PublicKey.load(fx.keys.clientPub)).encode({ format: 'openssh', comment: 'c' });
  await writeFile(path, line, { mode: 0o600 });
  return path;
}

/** A running serve or connect --listen, and the `conn` lines it has written so far. */
interface Side {
  readonly proc: Tunnel;
  conns: number;
}

/** A connect --listen: its side and the local port. */
interface Connect extends Side {
  readonly port: number;
}

/** One exchange through `connect`; waits for its `conn` line on both sides; returns them. */
async function connection(serve: Side, connect: Connect): Promise<{ serve: string; connect: string }> {
  const data = Buffer.from('exchange!!'); // 10 bytes: up=10 down=10
  const reply = await exchange(connect.port, data);
  if (!reply.equals(data)) throw new Error(`echo mismatch: ${reply.toString()}`);
  serve.conns++;
  connect.conns++;
  return {
    serve: (await serve.proc.linesMatching(/^secsess: conn /, serve.conns)).at(-1)!,
    connect: (await connect.proc.linesMatching(/^secsess: conn /, connect.conns)).at(-1)!,
  };
}

const resumedOf = (line: string): string => /resumed=(yes|no)/.exec(line)?.[1] ?? `none in: ${line}`;

/** A serve → the echo service with `extra` flags. */
async function startServing(extra: string[]): Promise<Side & { port: number }> {
  const proc = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, extra));
  return { proc, conns: 0, port: await proc.port() };
}

/**
 * A connect --listen to `servePort` with the fixture's client key, a session per connection
 * (--no-channels: a channel session is never resumed, so only that mode uses tickets).
 */
async function connectTo(servePort: number, extra: string[] = []): Promise<Connect> {
  const proc = fx.start(
    connectArgs(servePort, fx.keys.serverPub, ['--key', fx.keys.clientKey, '--no-channels', ...extra]),
  );
  return { proc, conns: 0, port: await proc.port() };
}

test.serial(
  'connect --listen resumes the second connection: resumed=yes on both sides, the client key kept',
  async (t) => {
    const tickets = await ticketFile(t);
    const serve = await startServing([
      '--ticket-keys',
      tickets.path,
      '--authorized-keys',
      await authorizedKeys(),
    ]);
    const connect = await connectTo(serve.port);
    const client = escape((await PublicKey.load(fx.keys.clientPub)).fingerprint());
    const first = await connection(serve, connect);
    t.regex(
      first.serve,
      new RegExp(
        `^secsess: conn peer=127\\.0\\.0\\.1:\\d+ client=${client} resumed=no up=10 down=10 ms=\\d+ close=1000$`,
      ),
    );
    t.regex(
      first.connect,
      /^secsess: conn peer=127\.0\.0\.1:\d+ server=SHA256:\S{43} resumed=no up=10 down=10 /,
    );
    for (let i = 0; i < 2; i++) {
      const next = await connection(serve, connect);
      t.regex(next.serve, new RegExp(` client=${client} resumed=yes up=10 down=10 ms=\\d+ close=1000$`));
      t.regex(next.connect, / server=SHA256:\S{43} resumed=yes up=10 down=10 /);
    }
    // --no-resume: full handshakes only, against the same server.
    const plain = await connectTo(serve.port, ['--no-resume']);
    for (let i = 0; i < 2; i++) {
      const lines = await connection(serve, plain);
      t.is(resumedOf(lines.connect), 'no');
      t.is(resumedOf(lines.serve), 'no');
    }
    t.is(await plain.proc.stop(), 0);
    t.is(await connect.proc.stop(), 0);
    t.is(await serve.proc.stop(), 0);
  },
);

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

test.serial(
  'SIGHUP re-reads the ticket-key file: the old key is accepted while listed, a removed key means a full handshake, a bad file keeps the keys',
  async (t) => {
    const tickets = await ticketFile(t);
    const serve = await startServing(['--ticket-keys', tickets.path]);
    const a = await connectTo(serve.port);
    const b = await connectTo(serve.port);
    const via = async (c: Connect): Promise<string> => {
      const lines = await connection(serve, c);
      t.is(resumedOf(lines.serve), resumedOf(lines.connect), 'both sides agree');
      return resumedOf(lines.connect);
    };
    const reloaded = async (count: number): Promise<string> =>
      (await serve.proc.linesMatching(/^secsess: reload /, count)).at(-1)!;

    // Both clients get a ticket under K1.
    t.is(await via(a), 'no');
    t.is(await via(b), 'no');

    // [K2, K1]: A's K1 ticket is still accepted; its new ticket is sealed under K2.
    const second = await rotate(t, tickets.path, 2);
    t.deepEqual(second.slice(1), tickets.names);
    serve.proc.child.kill('SIGHUP');
    t.regex(await reloaded(1), new RegExp(` tickets=${second.join(',')}$`));
    t.is(await via(a), 'yes', 'a ticket of the old key, still listed');

    // [K3, K2]: K1 is gone. A's ticket (from K2) resumes; B's (from K1) gets a full handshake.
    const third = await rotate(t, tickets.path, 1);
    t.deepEqual(third.slice(1), second.slice(0, 1));
    serve.proc.child.kill('SIGHUP');
    t.regex(await reloaded(2), new RegExp(` tickets=${third.join(',')}$`));
    t.is(await via(a), 'yes', 'the ticket issued after the first reload was sealed under K2');
    t.is(await via(b), 'no', 'a ticket of a removed key: full handshake');
    t.is(await via(b), 'yes', 'and a new ticket from it');

    // A damaged file, then a group-readable one: the reload fails, the keys in force stay.
    await writeFile(tickets.path, '# keys\nnot a key\n', { mode: 0o600 });
    serve.proc.child.kill('SIGHUP');
    t.is(
      await reloaded(3),
      `secsess: reload error=ERR_KEY_FORMAT message="ticket-key file ${tickets.path}: line 2 is not a ticket key (base64 of 32 bytes)"`,
    );
    t.is(await via(a), 'yes', 'the keys in force stayed');
    const made = await runCli(['ticket-key', '-f', tickets.path, '--force']);
    t.is(made.code, 0, made.stderr);
    await chmod(tickets.path, 0o644);
    serve.proc.child.kill('SIGHUP');
    t.regex(await reloaded(4), /^secsess: reload error=ERR_KEY_PERMISSIONS message=/);
    t.is(await via(b), 'yes', 'still the keys in force');
    t.false(
      serve.proc.lines.some((l) => /[A-Za-z0-9+/]{43}=/.test(l)),
      'no key in any log line',
    );
    for (const proc of [a.proc, b.proc, serve.proc]) t.is(await proc.stop(), 0);
  },
);

test.serial(
  '--ticket-lifetime: a ticket within its lifetime resumes; past it, it is not offered (full handshake)',
  async (t) => {
    const lifetime = 3;
    const tickets = await ticketFile(t);
    const serve = await startServing(['--ticket-keys', tickets.path, '--ticket-lifetime', String(lifetime)]);
    const connect = await connectTo(serve.port);
    // The ticket a session gets is issued after that session began.
    let issuedAfter = Date.now();
    t.is(resumedOf((await connection(serve, connect)).connect), 'no');
    // Positive control (without it, this test passes when no ticket is ever issued): a session
    // that comes within the lifetime resumes. The server counts whole seconds, so "within" is
    // under lifetime - 1 s since the ticket's session began; a machine too slow for that just
    // tries again with the ticket of the session it made meanwhile, and says nothing of a
    // session that came later.
    for (let attempt = 1; ; attempt++) {
      const begun = Date.now();
      const line = (await connection(serve, connect)).connect;
      if (Date.now() - issuedAfter < (lifetime - 1) * 1000) {
        t.is(resumedOf(line), 'yes', 'a ticket within its lifetime resumes');
        break;
      }
      if (attempt === 5) {
        t.fail(`no session within ${lifetime - 1} s of the one before, in 5 tries: the machine is too slow`);
        break;
      }
      issuedAfter = begun;
    }
    // Past the lifetime of the last ticket (the client's store drops it; the server would refuse it).
    await new Promise((resolve) => setTimeout(resolve, lifetime * 1000 + 100));
    t.is(resumedOf((await connection(serve, connect)).connect), 'no', `expired after ${lifetime} s`);
    t.is(await connect.proc.stop(), 0);
    t.is(await serve.proc.stop(), 0);
  },
);

test.serial('serve refuses to start with a ticket-key file it cannot use, naming it', async (t) => {
  const tickets = await ticketFile(t);
  await chmod(tickets.path, 0o640);
  const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--ticket-keys', tickets.path]));
  t.is(await serve.exited, 1);
  t.deepEqual(
    serve.lines.filter((l) => l !== ''),
    [
      `secsess: ticket-key file ${tickets.path} is accessible by group or others (mode 0640); run \`chmod 600 ${tickets.path}\` [ERR_KEY_PERMISSIONS]`,
    ],
  );
  const missing = fx.start(
    serveArgs(fx.keys.serverKey, fx.echo.port, ['--ticket-keys', join(fx.dir, 'nope')]),
  );
  t.is(await missing.exited, 1);
  t.regex(missing.lines[0] ?? '', /\[ERR_KEY_FILE_NOT_FOUND\]$/);
});

function parse(args: string[]): Promise<{ error: Error | null | undefined; argv: Record<string, unknown> }> {
  return new Promise((resolve) => {
    void buildTunnelParser().parse(args, {}, (error, argv) => resolve({ error, argv }));
  });
}

test('parser: --ticket-keys, --ticket-lifetime and --ticket-max-age (1 to 604800 s, with --ticket-keys only); --no-resume', async (t) => {
  const serve = (...extra: string[]) =>
    parse(['serve', '--listen', '127.0.0.1:0', '--key', 'k', '--forward', '127.0.0.1:1', ...extra]);
  t.like((await serve('--ticket-keys', 'f')).argv, { 'ticket-keys': 'f', 'ticket-lifetime': undefined });
  t.like((await serve('--ticket-keys', 'f', '--ticket-lifetime', '604800')).argv, {
    'ticket-lifetime': 604800,
  });
  for (const bad of ['0', '604801', '1.5', '-3']) {
    t.regex(
      String((await serve('--ticket-keys', 'f', '--ticket-lifetime', bad)).error),
      /--ticket-lifetime must be a whole number of seconds, 1 to 604800/,
      bad,
    );
  }
  t.regex(
    String((await serve('--ticket-lifetime', '60')).error),
    /--ticket-lifetime goes with --ticket-keys/,
  );
  t.like((await serve('--ticket-keys', 'f', '--ticket-max-age', '3600')).argv, { 'ticket-max-age': 3600 });
  for (const bad of ['0', '604801', '2.5']) {
    t.regex(
      String((await serve('--ticket-keys', 'f', '--ticket-max-age', bad)).error),
      /--ticket-max-age must be a whole number of seconds, 1 to 604800/,
      bad,
    );
  }
  t.regex(String((await serve('--ticket-max-age', '60')).error), /--ticket-max-age goes with --ticket-keys/);
  const connect = (...extra: string[]) =>
    parse(['connect', '--listen', '127.0.0.1:0', '--to', 'h:1', '--server-pub', 'p', ...extra]);
  t.like((await connect()).argv, { resume: true });
  t.like((await connect('--no-resume')).argv, { resume: false });
});
