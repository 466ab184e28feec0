/**
 * The transports every network scenario compares, behind one small interface: secsess and
 * its peers raw TCP, node:tls (TLS 1.3, full handshakes, no resumption) and
 * @hyperswarm/secret-stream (Noise XX over TCP, libsodium secretstream). Servers run in a
 * child process (bench/child.ts); clients in the process that measures.
 *
 * Every server has two behaviours, one per listening port: `echo` sends back what it
 * receives, `sink` swallows bytes and acknowledges every ACK_BYTES of them with one byte,
 * so a sender can tell when everything arrived. Clients count bytes, not messages: secsess
 * delivers whole messages and the streams deliver chunks, and the count is what matters.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { KeyPair, PrivateKey, PublicKey } from '@secsess/keys';
import { Client, generateTicketKey, Server } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import SecretStream from '@hyperswarm/secret-stream';
import { FloorMessages, FloorRecords, floorReader } from './floor.js';
import type { FloorCodec } from './floor.js';
import { FloorAeadRecords } from './floor-aead.js';
import type { SecretStreamKeyPair } from '@hyperswarm/secret-stream';

/**
 * The floors are raw TCP carrying bench/floor.ts records (the least node:crypto work per
 * record of secsess's default suite): `floor` (one record per message) runs in the ping-pong
 * scenarios, `floor-batch` (messages batched into records, delivered one by one as events)
 * in pipeline-16. `floor-native` and `floor-native-batch` are the same over
 * bench/floor-aead.ts records (ChaCha20-Poly1305: sodium-native in place below 16 KiB,
 * OpenSSL from there on, as the sdk).
 */
export type Kind =
  | 'secsess'
  | 'tcp'
  | 'tls'
  | 'secret-stream'
  | 'floor'
  | 'floor-batch'
  | 'floor-native'
  | 'floor-native-batch';
export type Bits = 2048 | 3072;
export type Mode = 'echo' | 'sink';
export type Symmetric = 'AES-256-CBC' | 'AES-256-GCM' | 'ChaCha20-Poly1305';

/** The floor records of a floor kind. */
function floorCodec(kind: Kind): FloorCodec {
  return kind === 'floor' || kind === 'floor-batch' ? new FloorRecords() : new FloorAeadRecords();
}

const isFloor = (kind: Kind): boolean => kind.startsWith('floor');
const isBatch = (kind: Kind): boolean => kind.endsWith('-batch');

/** A sink acknowledges every ACK_BYTES received with one byte. */
export const ACK_BYTES = 64 * 1024;

/** Key material made once per run, in a temporary directory. */
export interface BenchFiles {
  readonly dir: string;
  /** secsess RSA keys: PEM private key and public key file paths, by size. */
  readonly rsa: Record<Bits, { readonly key: string; readonly pub: string }>;
  /** Self-signed RSA certificates for the node:tls peer, or null without the openssl CLI. */
  readonly tls: Record<Bits, { readonly key: string; readonly cert: string }> | null;
  /** Why `tls` is null. */
  readonly tlsError?: string;
}

const run = promisify(execFile);

export async function makeFiles(): Promise<BenchFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'secsess-bench-'));
  const rsaFor = async (bits: Bits): Promise<{ key: string; pub: string }> => {
    const pair = await KeyPair.generateRSA({ bits });
    const key = join(dir, `server-${bits}.key`);
    const pub = join(dir, `server-${bits}.pub`);
    await pair.privateKey.save(key);
    await pair.publicKey.save(pub);
    return { key, pub };
  };
  const tlsFor = async (bits: Bits): Promise<{ key: string; cert: string }> => {
    const key = join(dir, `tls-${bits}.key`);
    const cert = join(dir, `tls-${bits}.crt`);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      `rsa:${bits}`,
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]);
    return { key, cert };
  };
  const [r2, r3] = await Promise.all([rsaFor(2048), rsaFor(3072)]);
  let tls: BenchFiles['tls'] = null;
  let tlsError: string | undefined;
  try {
    const [t2, t3] = await Promise.all([tlsFor(2048), tlsFor(3072)]);
    tls = { 2048: t2, 3072: t3 };
  } catch (err) {
    tlsError = `openssl req failed: ${(err as Error).message}`;
  }
  return { dir, rsa: { 2048: r2, 3072: r3 }, tls, ...(tlsError ? { tlsError } : {}) };
}

export function removeFiles(files: BenchFiles): void {
  rmSync(files.dir, { recursive: true, force: true });
}

// ---- clients ----

/** One client connection, whatever the transport. */
export interface Conn {
  /** Sends bytes (one message for secsess). Returns a promise when the caller should wait for room. */
  write(data: Buffer): Promise<void> | undefined;
  /** Called with the byte count of everything received. */
  onData: (bytes: number) => void;
  /** Ends the connection gracefully and waits until it is closed. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly kind: Kind;
  readonly port: number;
  readonly bits?: Bits;
  readonly symmetric?: Symmetric;
}

const publicKeys = new Map<string, PublicKey>();
const certificates = new Map<string, Buffer>();

function tlsCa(path: string): Buffer {
  let cert = certificates.get(path);
  if (!cert) certificates.set(path, (cert = readFileSync(path)));
  return cert;
}
let clientKeyPair: SecretStreamKeyPair | null = null;

/** Connects and completes the handshake. */
export async function connect(files: BenchFiles, options: ConnectOptions): Promise<Conn> {
  const { kind, port } = options;
  const bits = options.bits ?? 2048;
  if (kind === 'secsess') {
    const path = files.rsa[bits].pub;
    let key = publicKeys.get(path);
    if (!key) publicKeys.set(path, (key = PublicKey.loadSync(path)));
    const client = Client.create(key, options.symmetric ? { symmetric: options.symmetric } : {});
    const session = await client.connect({ host: '127.0.0.1', port });
    return sessionConn(session);
  }
  if (kind === 'tcp') {
    const socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
    await once(socket, 'connect');
    return streamConn(socket);
  }
  if (isFloor(kind)) {
    const records = floorCodec(kind);
    const socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
    await once(socket, 'connect');
    return isBatch(kind) ? floorBatchConn(socket, records) : floorConn(socket, records);
  }
  if (kind === 'tls') {
    if (!files.tls) throw new Error(files.tlsError ?? 'no TLS certificate');
    // No `session` option: every connection is a full handshake (no resumption).
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: tlsCa(files.tls[bits].cert),
      servername: 'localhost',
    });
    socket.setNoDelay(true);
    await once(socket, 'secureConnect');
    return streamConn(socket);
  }
  const raw = netConnect({ host: '127.0.0.1', port, noDelay: true });
  clientKeyPair ??= SecretStream.keyPair();
  const stream = new SecretStream(true, raw, { keyPair: clientKeyPair });
  await once(stream, 'connect');
  return streamConn(stream);
}

function sessionConn(session: Session): Conn {
  const conn: Conn = {
    write: (data) => session.write(data),
    onData: () => {},
    close: () => session.close(),
  };
  session.on('message', (m) => conn.onData(m.length));
  session.on('error', () => {});
  return conn;
}

function streamConn(stream: Duplex | SecretStream): Conn {
  const s = stream as Duplex;
  let drained: Promise<void> | null = null;
  const conn: Conn = {
    write: (data) => {
      if (s.write(data)) return undefined;
      drained ??= new Promise<void>((resolve) =>
        s.once('drain', () => {
          drained = null;
          resolve();
        }),
      );
      return drained;
    },
    onData: () => {},
    close: () => endAndWait(s),
  };
  s.on('data', (chunk: Buffer) => conn.onData(chunk.length));
  s.on('error', () => {});
  return conn;
}

/** Ends a stream gracefully and waits until it is closed. */
async function endAndWait(stream: Duplex): Promise<void> {
  const closed = once(stream, 'close');
  stream.end();
  await closed;
}

/** Raw TCP with floor records: writes are sealed, and what arrives is opened record by record. */
function floorConn(socket: Socket, records: FloorCodec): Conn {
  const conn: Conn = {
    write: (data) => (socket.write(records.seal(data)) ? undefined : once(socket, 'drain').then(() => {})),
    onData: () => {},
    close: () => endAndWait(socket),
  };
  socket.on(
    'data',
    floorReader(records, (payload) => conn.onData(payload.length)),
  );
  socket.on('error', () => {});
  return conn;
}

/** Raw TCP with messages batched into floor records, delivered one by one as events. */
function floorBatchConn(socket: Socket, records: FloorCodec): Conn {
  const messages = new FloorMessages(socket, records);
  const conn: Conn = {
    write: (data) => (messages.write(data) ? undefined : messages.drained()),
    onData: () => {},
    close: () => endAndWait(socket),
  };
  messages.on('message', (m: Buffer) => conn.onData(m.length));
  socket.on('error', () => {});
  return conn;
}

// ---- servers (in the child process) ----

export interface ServerOptions {
  readonly bits?: Bits;
  /** secsess only: decryption workers (default: the library's default, min(2, cores)). */
  readonly workers?: number;
  /** secsess only: issue and accept resumption tickets (one fresh ticket key). Default off. */
  readonly tickets?: boolean;
}

export interface BenchServer {
  readonly port: number;
  /** Connections established (handshake complete) and not yet closed. */
  readonly open: () => number;
  close(): Promise<void>;
}

/** Per connection: what the server does with received bytes. */
function behaviour(mode: Mode, send: (data: Buffer) => void): (data: Buffer) => void {
  if (mode === 'echo') return send;
  let received = 0;
  let acked = 0;
  return (data) => {
    received += data.length;
    const due = Math.floor(received / ACK_BYTES) - acked;
    if (due > 0) {
      acked += due;
      send(Buffer.alloc(due, 0x61));
    }
  };
}

let serverKeyPair: SecretStreamKeyPair | null = null;

export async function listen(
  files: BenchFiles,
  kind: Kind,
  mode: Mode,
  options: ServerOptions = {},
): Promise<BenchServer> {
  const bits = options.bits ?? 2048;
  let open = 0;
  if (kind === 'secsess') {
    // Both key sizes: the client names the one it trusts (key_id), as during a key rotation.
    const keys = [PrivateKey.loadSync(files.rsa[2048].key), PrivateKey.loadSync(files.rsa[3072].key)];
    const server = Server.create('127.0.0.1:0', keys, undefined, {
      // Every bench client comes from 127.0.0.1: the per-address handshake cap and rate (a
      // defence against one hostile host) would otherwise refuse the 17th concurrent
      // handshake and all but 10 a second.
      maxHandshakesPerAddress: 64,
      handshakeRate: 0,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.tickets === true ? { tickets: { keys: [generateTicketKey()] } } : {}),
    });
    server.on('session', (session) => {
      open++;
      const onData = behaviour(mode, (d) => void session.write(d));
      session.on('message', onData);
      session.on('error', () => {});
      session.on('close', () => open--);
    });
    server.on('handshakeError', () => {});
    await server.start();
    return { port: server.address!.port, open: () => open, close: () => server.stop() };
  }
  /** Counts a connection while it is open; it ends when its peer ends. */
  const track = (stream: Duplex): void => {
    open++;
    stream.on('end', () => stream.end());
    stream.on('error', () => {});
    stream.on('close', () => open--);
  };
  const attach = (stream: Duplex): void => {
    track(stream);
    stream.on(
      'data',
      behaviour(mode, (d) => void stream.write(d)),
    );
  };
  let server: NetServer;
  if (kind === 'tcp') {
    server = createNetServer({ noDelay: true }, attach);
  } else if (isFloor(kind) && isBatch(kind)) {
    floorCodec(kind); // throws here, not per connection, when the floor's primitive is missing
    server = createNetServer({ noDelay: true }, (socket) => {
      track(socket);
      const messages = new FloorMessages(socket, floorCodec(kind));
      messages.on(
        'message',
        behaviour(mode, (d) => void messages.write(d)),
      );
    });
  } else if (isFloor(kind)) {
    floorCodec(kind);
    server = createNetServer({ noDelay: true }, (socket) => {
      track(socket);
      const records = floorCodec(kind);
      socket.on(
        'data',
        floorReader(
          records,
          behaviour(mode, (d) => void socket.write(records.seal(d))),
        ),
      );
    });
  } else if (kind === 'tls') {
    if (!files.tls) throw new Error(files.tlsError ?? 'no TLS certificate');
    const { key, cert } = files.tls[bits];
    server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) });
    server.on('secureConnection', (socket: Socket) => {
      socket.setNoDelay(true);
      attach(socket);
    });
  } else {
    serverKeyPair ??= SecretStream.keyPair();
    const keyPair = serverKeyPair;
    server = createNetServer({ noDelay: true }, (raw) => {
      const stream = new SecretStream(false, raw, { keyPair });
      stream.on('error', () => {});
      stream.once('connect', () => attach(stream as unknown as Duplex));
    });
  }
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    port: (server.address() as { port: number }).port,
    open: () => open,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
