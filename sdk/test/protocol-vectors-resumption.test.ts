/**
 * PROTOCOL.md §11, the resumption block (§6a): every printed value recomputed from the
 * document's formulas with raw node:crypto alone (no code from src/), every record opened
 * with §5's receiver rules, and every field of the block checked. (That the stored block is
 * what the implementation produces today, and that PROTOCOL.md shows it, is
 * protocol-vectors.test.ts's check of the whole vectors file.)
 */
import test from 'ava';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
} from 'node:crypto';
import { DEFAULT_BLOCK, readVectors } from './helpers/vectors.js';
import { RESUMPTION_BLOCK } from './helpers/resumption-vectors.js';
import { b, Checked, hk, hmac, HLEN, keysOf, u64 } from './helpers/vector-check.js';

const stored = readVectors()!;
const sha256 = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
const u = (n: number, size: number): Buffer => {
  const out = Buffer.alloc(size);
  out.writeUIntBE(n, 0, size);
  return out;
};

const X25519_PKCS8 = b('302e020100300506032b656e04220420');
const X25519_SPKI = b('302a300506032b656e032100');
const x25519Private = (raw: Buffer) =>
  createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: 'der', type: 'pkcs8' });
const x25519Public = (raw: Buffer) =>
  Buffer.from(createPublicKey(x25519Private(raw)).export({ format: 'jwk' }).x!, 'base64url');
const x25519 = (priv: Buffer, pub: Buffer) =>
  diffieHellman({
    privateKey: x25519Private(priv),
    publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, pub]), format: 'der', type: 'spki' }),
  });

/** The reference ticket (§6a): key_name ‖ nonce ‖ AES-256-GCM(enc_key, nonce, aad = key_name, state) ‖ tag. */
function sealTicket(ticketKey: Buffer, nonce: Buffer, state: Buffer): Buffer {
  const keyName = hk(ticketKey, 'secsess v1 ticket name', 8);
  const c = createCipheriv('aes-256-gcm', hk(ticketKey, 'secsess v1 ticket key', 32), nonce);
  c.setAAD(keyName);
  const ct = Buffer.concat([c.update(state), c.final()]);
  return Buffer.concat([keyName, nonce, ct, c.getAuthTag()]);
}

/** state = u8 2 ‖ suite ‖ u64 issued ‖ u32 lifetime ‖ u64 auth_time ‖ key_id ‖ u8 Hlen ‖ psk ‖ u16 m ‖ spki ‖ ticket_id. */
function ticketState(
  issued: number,
  lifetime: number,
  authTime: number,
  keyId: Buffer,
  psk: Buffer,
  id: Buffer,
): Buffer {
  const suite = b('010201');
  const fixed = [b('02'), suite, u64(issued), u(lifetime, 4), u64(authTime), keyId];
  return Buffer.concat([...fixed, u(HLEN, 1), psk, u(0, 2), id]);
}

test('resumption block: the ticket, the binder, the resumed key schedule and records follow from §6a', (t) => {
  const c = new Checked(t, stored[RESUMPTION_BLOCK]!);
  const d = stored[DEFAULT_BLOCK]!;
  const def = (k: string) => b(d[k]!);

  // Ticket key.
  const ticketKey = c.get('ticket_key');
  t.deepEqual(ticketKey.length, 32);
  c.is('key_name', hk(ticketKey, 'secsess v1 ticket name', 8));
  c.is('enc_key', hk(ticketKey, 'secsess v1 ticket key', 32));
  const issued = Number(c.block.now_first);
  c.is('now_first', '1767225600');
  c.is('lifetime', '7200');
  c.is('max_age', '86400');

  // The full handshake: the default block's ClientHello with flags 02 (tickets wanted).
  c.is('client_hello_flags', '02');
  const hello = Buffer.from(def('client_hello'));
  hello[12] = 0x02;
  c.is('client_hello', hello);
  c.is('server_hello', def('server_hello'));
  const th = sha256(hello, def('server_hello'));
  c.is('transcript_hash', th);
  const shared = def('x25519_shared');
  const master = hk(
    Buffer.concat([def('pre_secret'), shared]),
    Buffer.concat([Buffer.from('secsess v1 master'), th]),
    HLEN,
    Buffer.concat([def('client_random'), def('server_random')]),
  );
  c.is('master', master);
  const c2s = keysOf(hk(master, 'secsess v1 c2s traffic', HLEN));
  const s2c = keysOf(hk(master, 'secsess v1 s2c traffic', HLEN));
  const proof = hmac(hk(master, 'secsess v1 server finished', HLEN), th);
  c.record(s2c, 0, 'server_finished_record', 0x10, proof);
  c.record(c2s, 0, 'client_finished_record', 0x11, b('00'));
  const psk = hk(master, 'secsess v1 resumption', HLEN);
  c.is('psk', psk);

  // The ticket and its NewTicket.
  const keyId = def('key_id');
  // A full handshake: auth_time = issued.
  const state = ticketState(issued, 7200, issued, keyId, psk, c.get('ticket_id'));
  c.is('ticket_state', state);
  const ticket = sealTicket(ticketKey, c.get('ticket_nonce'), state);
  c.is('ticket', ticket);
  const payload = Buffer.concat([u(7200, 4), u(ticket.length, 2), ticket]);
  c.is('new_ticket_payload', payload);
  c.record(s2c, 1, 'new_ticket_record', 0x0a, payload);

  // The ResumeHello and its binder.
  c.is('now_resumed', String(issued + 60));
  const random = c.get('resume_client_random');
  const clientPriv = c.get('resume_client_x25519_private');
  const clientPub = x25519Public(clientPriv);
  c.is('resume_client_x25519_public', clientPub);
  c.is('resume_hello_flags', '02');
  const body = Buffer.concat([
    b('7345735301'),
    b('010201'),
    b('02'),
    random,
    clientPub,
    keyId,
    u(ticket.length, 2),
    ticket,
  ]);
  const head = Buffer.concat([b('05'), u(body.length + HLEN, 3)]);
  const binderInput = Buffer.concat([head, body]);
  const binderKey = hk(psk, 'secsess v1 binder', HLEN);
  c.is('binder_key', binderKey);
  c.is('binder_input_hash', sha256(binderInput));
  const binder = hmac(binderKey, sha256(binderInput));
  c.is('binder', binder);
  const resumeHello = Buffer.concat([binderInput, binder]);
  c.is('resume_hello', resumeHello);

  // The server's answer and the resumed key schedule.
  const serverRandom = c.get('resume_server_random');
  const serverPub = x25519Public(c.get('resume_server_x25519_private'));
  c.is('resume_server_x25519_public', serverPub);
  const rshared = x25519(clientPriv, serverPub);
  t.deepEqual(rshared, x25519(c.get('resume_server_x25519_private'), clientPub));
  c.is('resume_x25519_shared', rshared);
  const serverHello = Buffer.concat([b('04000048'), b('7345735301'), b('010201'), serverRandom, serverPub]);
  c.is('resume_server_hello', serverHello);
  const rth = sha256(resumeHello, serverHello);
  c.is('resume_transcript_hash', rth);
  const rmaster = hk(
    Buffer.concat([psk, rshared]),
    Buffer.concat([Buffer.from('secsess v1 resumed master'), rth]),
    HLEN,
    Buffer.concat([random, serverRandom]),
  );
  c.is('resume_master', rmaster);
  const finishedKey = hk(rmaster, 'secsess v1 server finished', HLEN);
  c.is('resume_finished_key', finishedKey);
  const rproof = hmac(finishedKey, rth);
  c.is('resume_server_proof', rproof);
  const rc2sSecret = hk(rmaster, 'secsess v1 c2s traffic', HLEN);
  const rs2cSecret = hk(rmaster, 'secsess v1 s2c traffic', HLEN);
  c.is('resume_c2s_traffic_0', rc2sSecret);
  c.is('resume_s2c_traffic_0', rs2cSecret);
  const rc2s = keysOf(rc2sSecret);
  const rs2c = keysOf(rs2cSecret);
  c.record(rs2c, 0, 'resume_server_finished_record', 0x10, rproof);
  c.is('resume_client_finished_payload', '00');
  c.record(rc2s, 0, 'resume_client_finished_record', 0x11, b('00'));

  // The resumed session's own ticket, sealed with its own psk.
  const rpsk = hk(rmaster, 'secsess v1 resumption', HLEN);
  c.is('resume_psk', rpsk);
  // A resumed session's ticket keeps the chain's auth_time; min(7200, auth_time + 86400 − now) = 7200.
  const rstate = ticketState(issued + 60, 7200, issued, keyId, rpsk, c.get('resume_ticket_id'));
  c.is('resume_ticket_state', rstate);
  const rticket = c.get('resume_ticket');
  t.deepEqual(rticket, sealTicket(ticketKey, rticket.subarray(8, 20), rstate));
  c.record(
    rs2c,
    1,
    'resume_new_ticket_record',
    0x0a,
    Buffer.concat([u(7200, 4), u(rticket.length, 2), rticket]),
  );
  c.is('resume_c2s_data_payload', Buffer.from('hello again'));
  c.record(rc2s, 1, 'resume_c2s_data_record', 0x01, Buffer.from('hello again'));

  // ResumeRefused: the preamble alone.
  c.is('resume_refused', b('060000057345735301'));
  c.done();
});

test('resumption block: a ticket sealed under another key, or altered, does not open (GCM over key_name)', (t) => {
  const block = stored[RESUMPTION_BLOCK]!;
  const ticket = b(block.ticket!);
  const open = (key: Buffer, tk: Buffer): Buffer | null => {
    try {
      const d = createDecipheriv('aes-256-gcm', hk(key, 'secsess v1 ticket key', 32), tk.subarray(8, 20));
      d.setAAD(tk.subarray(0, 8));
      d.setAuthTag(tk.subarray(tk.length - 16));
      return Buffer.concat([d.update(tk.subarray(20, tk.length - 16)), d.final()]);
    } catch {
      return null;
    }
  };
  const key = b(block.ticket_key!);
  t.deepEqual(open(key, ticket), b(block.ticket_state!));
  const other = Buffer.from(key);
  other[0]! ^= 1;
  t.is(open(other, ticket), null);
  for (const at of [0, 8, 20, ticket.length - 1]) {
    const bad = Buffer.from(ticket);
    bad[at]! ^= 1;
    t.is(open(key, bad), null, `byte ${at}`);
  }
});
