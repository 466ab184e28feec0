/**
 * The resumption block of PROTOCOL.md §11 (§6a): a full handshake in the default suite that
 * asks for a ticket (ClientHello flags 02) and gets one sealed under a fixed ticket key, then
 * a resumed handshake with that ticket, which asks for (and gets) a new one. Built from the
 * same deterministic streams as the other blocks (vectors.ts); checked field by field with
 * raw node:crypto in protocol-vectors-resumption.test.ts.
 */
import {
  ClientConnection,
  DEFAULT_TICKET_MAX_AGE,
  ServerConnection,
  resolveSuite,
} from '../../src/protocol/index.js';
import { TicketKey, encodeTicketState, openTicket } from '../../src/protocol/ticket.js';
import type { SessionTicket, TicketContext } from '../../src/protocol/ticket.js';
import { hash, hkdf, hmac } from '../../src/protocol/crypto.js';
import { x25519Key, x25519Shared } from '../../src/protocol/asymmetric.js';
import {
  deriveMaster,
  initialTrafficSecret,
  resumeBinder,
  serverFinishedKey,
} from '../../src/protocol/key-schedule.js';
import { Endpoint, fixturePrivateKey } from './protocol-pair.js';
import { seededRandom } from './vectors.js';
import type { Block, Kept } from './vectors.js';

export const RESUMPTION_BLOCK = 'resumption (tickets), default suite';

/** The fixed clock of the block: 2026-01-01T00:00:00Z, in Unix seconds. */
export const VECTOR_ISSUED = 1767225600;
export const VECTOR_LIFETIME = 7200;

const hex = (b: Buffer): string => b.toString('hex');
const EMPTY = Buffer.alloc(0);

/** Moves every buffer `from` sent since `at` into `to`; returns the new count. */
function pump(from: Endpoint, at: number, to: ClientConnection | ServerConnection): number {
  for (const b of from.sent.slice(at)) to.receive(b);
  return from.sent.length;
}

export function resumptionBlock(kept: Kept): Block {
  const key = fixturePrivateKey('server-2048');
  const ticketKeyRaw = seededRandom('ticket key')(32);
  const ticketKey = TicketKey.from(ticketKeyRaw);
  const encKey = hkdf('sha256', ticketKeyRaw, EMPTY, Buffer.from('secsess v1 ticket key'), 32);
  // The resumed handshake happens a minute after the first: the ticket is valid.
  let now = VECTOR_ISSUED;
  const tickets: TicketContext = {
    keys: [ticketKey],
    lifetime: VECTOR_LIFETIME,
    maxAge: DEFAULT_TICKET_MAX_AGE,
    now: () => now,
  };
  const received: SessionTicket[] = [];

  // 1. The full handshake, asking for a ticket.
  const c = new Endpoint();
  const s = new Endpoint();
  let preSecret: Buffer | null = null;
  const client = new ClientConnection(
    { ...c.handler(), newTicket: (t) => received.push({ ...t, psk: Buffer.from(t.psk) }) },
    {
      serverKey: key.publicKey,
      tickets: true,
      random: seededRandom('client'),
      ephemeralPrivate: seededRandom('client x25519')(32),
      fixedEncryptedSecret: (secret) => {
        preSecret = Buffer.from(secret);
        return Buffer.from(kept.oaepCiphertext!, 'hex');
      },
    },
  );
  const server = new ServerConnection(s.handler(), {
    keys: [key],
    tickets,
    random: seededRandom('server'),
    ephemeralPrivate: seededRandom('server x25519')(32),
  });
  client.start();
  server.receive(c.sent[0]!);
  pump(s, 0, client);
  server.receive(c.sent[1]!);
  if (client.state !== 'open' || server.state !== 'open') throw new Error('vector handshake failed');
  if (!server.issueTicket()) throw new Error('vector ticket not issued');
  pump(s, 2, client);
  const first = received[0];
  if (!first || s.sent.length !== 3) throw new Error('vector ticket not received');
  const ticketPayload = Buffer.alloc(6 + first.ticket.length);
  ticketPayload.writeUInt32BE(VECTOR_LIFETIME, 0);
  ticketPayload.writeUInt16BE(first.ticket.length, 4);
  first.ticket.copy(ticketPayload, 6);

  // 2. The resumed handshake, a minute later, asking for a new ticket.
  now = VECTOR_ISSUED + 60;
  const rc = new Endpoint();
  const rs = new Endpoint();
  const offered = { ...first, psk: Buffer.from(first.psk) };
  const resumed = new ClientConnection(
    { ...rc.handler(), newTicket: (t) => received.push({ ...t, psk: Buffer.from(t.psk) }) },
    {
      serverKey: key.publicKey,
      tickets: true,
      resume: offered,
      random: seededRandom('resume client'),
      ephemeralPrivate: seededRandom('resume client x25519')(32),
    },
  );
  const resumedServer = new ServerConnection(rs.handler(), {
    keys: [key],
    tickets,
    random: seededRandom('resume server'),
    ephemeralPrivate: seededRandom('resume server x25519')(32),
  });
  resumed.start();
  resumedServer.receive(rc.sent[0]!);
  pump(rs, 0, resumed);
  resumedServer.receive(rc.sent[1]!);
  if (resumed.state !== 'open' || resumedServer.state !== 'open' || !rs.info?.resumed || !rc.info?.resumed) {
    throw new Error('vector resumption failed');
  }
  if (!offered.psk.equals(Buffer.alloc(offered.psk.length))) throw new Error('vector psk not wiped');
  resumedServer.issueTicket();
  pump(rs, 2, resumed);
  resumed.write(Buffer.from('hello again')); // c2s seq 1
  resumedServer.receive(rc.sent[2]!);
  if (rs.messages.map(String).join() !== 'hello again' || received.length !== 2) {
    throw new Error('vector resumed exchange failed');
  }
  if (rc.sent.length !== 3 || rs.sent.length !== 3) throw new Error('vector exchange sent other frames');

  // A refused ticket: what the server answers to the same ResumeHello with no ticket keys.
  const refusing = new Endpoint();
  new ServerConnection(refusing.handler(), { keys: [key], random: seededRandom('unused') }).receive(
    rc.sent[0]!,
  );

  const suite = resolveSuite({});
  // Intermediate values, from the definitions (the test recomputes each with node:crypto).
  const th = hash(suite.hashName, c.sent[0]!, s.sent[0]!);
  const shared = x25519Shared(
    x25519Key(seededRandom('client x25519')(32)).privateKey,
    x25519Key(seededRandom('server x25519')(32)).publicRaw,
  );
  const master = deriveMaster(suite, {
    preSecret: preSecret!,
    shared,
    clientRandom: seededRandom('client')(32),
    serverRandom: seededRandom('server')(32),
    transcriptHash: th,
  });
  const state = openTicket([ticketKey], first.ticket)!;
  const hello = rc.sent[0]!;
  const binderInput = hello.subarray(0, hello.length - suite.hashLength);
  const binderKey = hkdf(
    suite.hashName,
    first.psk,
    EMPTY,
    Buffer.from('secsess v1 binder'),
    suite.hashLength,
  );
  const rth = hash(suite.hashName, hello, rs.sent[0]!);
  const rshared = x25519Shared(
    x25519Key(seededRandom('resume client x25519')(32)).privateKey,
    x25519Key(seededRandom('resume server x25519')(32)).publicRaw,
  );
  const rmaster = deriveMaster(
    suite,
    {
      preSecret: first.psk,
      shared: rshared,
      clientRandom: seededRandom('resume client')(32),
      serverRandom: seededRandom('resume server')(32),
      transcriptHash: rth,
    },
    'secsess v1 resumed master',
  );
  const rfinished = hkdf(suite.hashName, rmaster, EMPTY, Buffer.from('secsess v1 server finished'), 32);
  const second = received[1]!;
  const secondState = openTicket([ticketKey], second.ticket)!;
  return {
    ticket_key: hex(ticketKeyRaw),
    key_name: hex(ticketKey.name),
    enc_key: hex(encKey),
    now_first: String(VECTOR_ISSUED),
    lifetime: String(VECTOR_LIFETIME),
    max_age: String(DEFAULT_TICKET_MAX_AGE),
    client_hello_flags: '02',
    client_hello: hex(c.sent[0]!),
    server_hello: hex(s.sent[0]!),
    transcript_hash: hex(th),
    master: hex(master),
    server_finished_record: hex(s.sent[1]!),
    client_finished_record: hex(c.sent[1]!),
    psk: hex(first.psk),
    ticket_id: hex(state.ticketId),
    ticket_nonce: hex(first.ticket.subarray(8, 20)),
    ticket_state: hex(encodeTicketState(state)),
    ticket: hex(first.ticket),
    new_ticket_payload: hex(ticketPayload),
    new_ticket_record: hex(s.sent[2]!),
    now_resumed: String(VECTOR_ISSUED + 60),
    resume_client_random: hex(seededRandom('resume client')(32)),
    resume_client_x25519_private: hex(seededRandom('resume client x25519')(32)),
    resume_client_x25519_public: hex(x25519Key(seededRandom('resume client x25519')(32)).publicRaw),
    resume_hello_flags: '02',
    binder_key: hex(binderKey),
    binder_input_hash: hex(hash(suite.hashName, binderInput)),
    binder: hex(resumeBinder(suite, first.psk, binderInput)),
    resume_hello: hex(hello),
    resume_server_random: hex(seededRandom('resume server')(32)),
    resume_server_x25519_private: hex(seededRandom('resume server x25519')(32)),
    resume_server_x25519_public: hex(x25519Key(seededRandom('resume server x25519')(32)).publicRaw),
    resume_x25519_shared: hex(rshared),
    resume_server_hello: hex(rs.sent[0]!),
    resume_transcript_hash: hex(rth),
    resume_master: hex(rmaster),
    resume_finished_key: hex(rfinished),
    resume_server_proof: hex(hmac(suite.hashName, serverFinishedKey(suite, rmaster), rth)),
    resume_c2s_traffic_0: hex(initialTrafficSecret(suite, rmaster, 'c2s')),
    resume_s2c_traffic_0: hex(initialTrafficSecret(suite, rmaster, 's2c')),
    resume_server_finished_record: hex(rs.sent[1]!),
    resume_client_finished_payload: '00',
    resume_client_finished_record: hex(rc.sent[1]!),
    resume_psk: hex(second.psk),
    resume_ticket_id: hex(secondState.ticketId),
    resume_ticket_state: hex(encodeTicketState(secondState)),
    resume_ticket: hex(second.ticket),
    resume_new_ticket_record: hex(rs.sent[2]!),
    resume_c2s_data_payload: hex(Buffer.from('hello again')),
    resume_c2s_data_record: hex(rc.sent[2]!),
    resume_refused: hex(refusing.sent[0]!),
  };
}
