/**
 * Wire constants of secsess protocol version 1. PROTOCOL.md is the normative text; every
 * number here appears there.
 */
import { Buffer } from 'node:buffer';

/** ASCII "sEsS": the first four bytes of every hello, so a stray client fails fast. */
export const MAGIC = Buffer.from([0x73, 0x45, 0x73, 0x53]);
export const VERSION = 0x01;

/** Every frame starts with type (1 byte) and body length (3 bytes, big-endian). */
export const FRAME_HEADER_SIZE = 4;

/** Frame types: the first byte of every frame on the wire. */
export const enum FrameType {
  /** Client asks for the server's public key (trust on first use). Plaintext. */
  KeyRequest = 0x01,
  /** Server's answer: its public key, SPKI DER. Plaintext. */
  KeyResponse = 0x02,
  /** Client's key transport, ephemeral key, randoms and suite. Plaintext. */
  ClientHello = 0x03,
  /** Server's random and ephemeral key. Plaintext. */
  ServerHello = 0x04,
  /** Client's resumption: a ticket, its binder, randoms and an ephemeral key (PROTOCOL.md §6a). Plaintext. */
  ResumeHello = 0x05,
  /** Server's refusal of a ResumeHello: the client goes on with a ClientHello. Plaintext. */
  ResumeRefused = 0x06,
  /** A failure before keys exist (version, suite, unknown key). Plaintext, unauthenticated. */
  Alert = 0x15,
  /** An encrypted, authenticated record. */
  Record = 0x17,
}

/** Record types: the first byte after the sequence number inside a record's plaintext. */
export const enum RecordType {
  /** The last (or only) fragment of an application message. */
  Data = 0x01,
  /** A fragment of an application message; more follow. */
  DataMore = 0x02,
  /** Several whole application messages, each as u32 length ‖ bytes. */
  DataBatch = 0x03,
  /** Authenticated close: u16 code ‖ UTF-8 reason. */
  Close = 0x04,
  /** Keepalive request; the payload is echoed in a Pong. */
  Ping = 0x05,
  Pong = 0x06,
  /** The sender's next records use the next traffic secret. Empty payload. */
  KeyUpdate = 0x07,
  /** A failure after keys exist: u16 alert code. The session ends. */
  Alert = 0x08,
  /** Half-close: the sender sends no more messages (it still sends control records). Empty payload. */
  End = 0x09,
  /** Server → client, once: a resumption ticket, u32 lifetime ‖ u16 n ‖ ticket (§6a). */
  NewTicket = 0x0a,
  /** Server's proof of key possession: HMAC over the transcript hash. */
  ServerFinished = 0x10,
  /** Client's key confirmation, optionally with client authentication. */
  ClientFinished = 0x11,
}

/** Alert codes carried in plaintext Alert frames and encrypted Alert records. */
export const enum AlertCode {
  Internal = 0x0001,
  UnsupportedVersion = 0x0002,
  SuiteMismatch = 0x0003,
  UnknownServerKey = 0x0004,
  HandshakeFailed = 0x0005,
  RecordRejected = 0x0006,
  MessageTooLarge = 0x0007,
  Protocol = 0x0008,
  NotAuthorized = 0x0009,
  KeyExhausted = 0x000a,
  Timeout = 0x000b,
  /** The server refused the connection under load before any RSA work: try again later. Plaintext. */
  ServerBusy = 0x000c,
}

/** Close codes (u16) in Close records. 4000–4999 are free for applications. */
export const CLOSE_NORMAL = 1000;
/** The close code of a side going away (a server stopping). */
export const CLOSE_GOING_AWAY = 1001;
/** Longest close reason, in bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;

export const RANDOM_SIZE = 32;
export const X25519_KEY_SIZE = 32;
export const KEY_ID_SIZE = 32;
/** The RSA-transported secret: 32 bytes of AES key material ‖ 32 bytes of HMAC key material. */
export const PRE_SECRET_SIZE = 64;
export const OAEP_LABEL = Buffer.from('secsess v1 key transport', 'ascii');
export const CLIENT_AUTH_CONTEXT = Buffer.from('secsess v1 client auth\0', 'ascii');
/** Client-authentication keys a server verifies: RSA of 2048–4096 bits, public exponent 65537. */
export const CLIENT_KEY_MIN_BITS = 2048;
export const CLIENT_KEY_MAX_BITS = 4096;
export const CLIENT_KEY_EXPONENT = 65537;

/** Record inner header: sequence (u64) ‖ record type (u8) ‖ payload length (u32). */
export const INNER_HEADER_SIZE = 13;
export const IV_SIZE = 16;
/** AEAD suites (AES-256-GCM, ChaCha20-Poly1305): 12-byte nonce = iv XOR (0^4 ‖ u64 seq). */
export const AEAD_IV_SIZE = 12;
/** AEAD suites: the 16-byte tag. */
export const AEAD_TAG_SIZE = 16;
export const AES_BLOCK = 16;

/** Largest handshake frame body accepted (RSA-4096 ciphertexts and keys fit with room). */
export const MAX_HANDSHAKE_FRAME = 4096;
/**
 * Largest ClientFinished payload: flags (1) ‖ u16 length ‖ SPKI DER of a 4096-bit RSA key
 * with e = 65537 (550) ‖ u16 length ‖ its PSS signature (512). While the server awaits
 * ClientFinished, a record whose body exceeds the sealed size of this payload in the
 * connection's suite is refused on its header.
 */
export const MAX_CLIENT_FINISHED_PAYLOAD = 1 + 2 + 550 + 2 + 512;
/** Largest record plaintext payload (fragment) a sender produces by default. */
export const DEFAULT_MAX_FRAGMENT = 65536;
/** Largest record payload a receiver accepts; beyond it the length field is refused unread. */
export const MAX_FRAGMENT = 65536;
/** Each message in a DataBatch record is prefixed by its u32 length. */
export const BATCH_ENTRY_OVERHEAD = 4;
/** Default largest reassembled message: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/**
 * Key budgets. A sender updates its key after `KEY_UPDATE_RECORDS` records or
 * `KEY_UPDATE_BYTES` plaintext bytes; a receiver cuts off a peer that exceeds twice that
 * under one key (it ignored the update it owed). 2^32 bytes = 2^28 AES blocks: far below
 * the CBC birthday bound of 2^64 blocks, far above any real session's need to rekey often.
 */
export const KEY_UPDATE_RECORDS = 2 ** 24;
export const KEY_UPDATE_BYTES = 2 ** 32;
export const KEY_LIMIT_FACTOR = 2;

/** The sequence number is u64 on the wire; we stop at 2^53 − 1 rather than wrap. */
export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** HKDF labels (info prefixes). PROTOCOL.md "Key schedule". */
export const LABEL_MASTER = 'secsess v1 master';
export const LABEL_C2S = 'secsess v1 c2s traffic';
export const LABEL_S2C = 'secsess v1 s2c traffic';
export const LABEL_KEY = 'secsess v1 key';
export const LABEL_MAC = 'secsess v1 mac';
export const LABEL_IV = 'secsess v1 iv';
export const LABEL_UPDATE = 'secsess v1 update';
export const LABEL_SERVER_FINISHED = 'secsess v1 server finished';

/** Resumption (PROTOCOL.md §6a): labels, the reference ticket format and its limits. */
export const LABEL_RESUMPTION = 'secsess v1 resumption';
export const LABEL_BINDER = 'secsess v1 binder';
export const LABEL_RESUMED_MASTER = 'secsess v1 resumed master';
export const LABEL_TICKET_NAME = 'secsess v1 ticket name';
export const LABEL_TICKET_KEY = 'secsess v1 ticket key';
/** A ticket key: 32 random bytes, from which its 8-byte name and AES-256-GCM key are derived. */
export const TICKET_KEY_SIZE = 32;
export const TICKET_KEY_NAME_SIZE = 8;
export const TICKET_NONCE_SIZE = 12;
export const TICKET_TAG_SIZE = 16;
export const TICKET_ID_SIZE = 16;
export const TICKET_STATE_VERSION = 2;
/** A ticket on the wire (ResumeHello, NewTicket): 1 to 2048 opaque bytes. */
export const MAX_TICKET_SIZE = 2048;
/** A ticket's lifetime in seconds: 1 to 7 days. */
export const MAX_TICKET_LIFETIME = 604800;
/** Default cap on a resumption chain's age, seconds since its full handshake (§6a `auth_time`): 1 day. */
export const DEFAULT_TICKET_MAX_AGE = 86400;
/** How far in the future a ticket's issue time may be (clocks of a fleet differ), seconds. */
export const TICKET_CLOCK_SKEW = 60;
