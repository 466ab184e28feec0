/**
 * The resumption group's in-memory rows: the sans-IO core alone, both sides in one process,
 * no sockets — what a resumed handshake costs before the transport (accepting a socket,
 * the session object, writes, the close) adds its share.
 *
 *   resume-core            µs per resumed handshake, client and server together, with the new
 *                          ticket issued and read; peers: full (a full RSA-2048 handshake,
 *                          the OAEP decryption in-line, ticket asked for and issued the same
 *                          way) and node:crypto (the operations a resumed handshake cannot
 *                          avoid: two X25519 key generations and two shared secrets, the
 *                          ticket opened and a new one sealed with AES-256-GCM)
 */
import {
  createCipheriv,
  createDecipheriv,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PrivateKey } from '@secsess/keys';
import { ClientConnection, ServerConnection, TicketKey } from '../sdk/src/protocol/index.js';
import type { ConnectionHandler, SessionTicket, TicketContext } from '../sdk/src/protocol/index.js';
import { timeUsEach } from './util.js';
import type { Row } from './util.js';

const serverKey = (): PrivateKey =>
  PrivateKey.fromString(
    readFileSync(fileURLToPath(new URL('../sdk/test/fixtures/server-2048.key', import.meta.url)), 'utf8'),
  );

const idle: Omit<ConnectionHandler, 'send'> = { established() {}, message() {}, peerClosed() {} };

/** One handshake in memory (resumed with `ticket`, else full), asking for a ticket; returns it. */
function handshake(
  key: PrivateKey,
  tickets: TicketContext,
  ticket: SessionTicket | undefined,
): SessionTicket {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  let received: SessionTicket | undefined;
  let resumed = false;
  const client = new ClientConnection(
    {
      ...idle,
      established: (info) => void (resumed = info.resumed),
      send: (d) => toServer.push(d),
      newTicket: (t: SessionTicket) => (received = t),
    },
    { serverKey: key.publicKey, tickets: true, ...(ticket ? { resume: ticket } : {}) },
  );
  const server = new ServerConnection({ ...idle, send: (d) => toClient.push(d) }, { keys: [key], tickets });
  client.start();
  server.receive(Buffer.concat(toServer.splice(0)));
  client.receive(Buffer.concat(toClient.splice(0)));
  server.receive(Buffer.concat(toServer.splice(0)));
  if (server.state !== 'open' || !server.issueTicket()) throw new Error('handshake failed');
  client.receive(Buffer.concat(toClient.splice(0)));
  if (!received || (ticket !== undefined) !== resumed) throw new Error('no ticket, or not resumed');
  return received;
}

/** What a resumed handshake cannot avoid, in node:crypto calls. */
function inherent(): () => void {
  const key = randomBytes(32);
  const state = randomBytes(130);
  return () => {
    const a = generateKeyPairSync('x25519');
    const b = generateKeyPairSync('x25519');
    diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
    diffieHellman({ privateKey: b.privateKey, publicKey: a.publicKey });
    const iv = randomBytes(12);
    const seal = createCipheriv('aes-256-gcm', key, iv);
    const sealed = Buffer.concat([seal.update(state), seal.final()]);
    const open = createDecipheriv('aes-256-gcm', key, iv);
    open.setAuthTag(seal.getAuthTag());
    Buffer.concat([open.update(sealed), open.final()]);
  };
}

export function benchResumeCore(options: { quick: boolean }): Row[] {
  const key = serverKey();
  const tickets: TicketContext = {
    keys: [TicketKey.from(randomBytes(32))],
    lifetime: 7200,
    now: () => Math.floor(Date.now() / 1000),
  };
  let ticket = handshake(key, tickets, undefined);
  const resumed = (): void => void (ticket = handshake(key, tickets, ticket));
  const full = (): void => void handshake(key, tickets, undefined).psk.fill(0);
  const n = options.quick ? 50 : 200;
  const [r, f, c] = timeUsEach([resumed, full, inherent()], n, options.quick ? 3 : 7);
  return [
    {
      scenario: 'resume-core',
      unit: 'µs',
      secsess: r ?? null,
      peers: { full: f ?? null, 'node:crypto': c ?? null },
    },
  ];
}
