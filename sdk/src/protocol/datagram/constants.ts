/**
 * Wire constants of secsess datagrams (PROTOCOL.md Part II). Every number here appears
 * there; PROTOCOL.md is the normative text.
 */

/** Packet types: the first byte of every UDP payload (PROTOCOL.md §D1). */
export const enum PacketType {
  KeyRequest = 0x41,
  KeyResponse = 0x42,
  Hello = 0x43,
  ServerHello = 0x44,
  Cookie = 0x45,
  Alert = 0x46,
  Record = 0x47,
}

/** Record types inside a datagram record (PROTOCOL.md §D4). */
export const enum DatagramRecordType {
  Data = 0x01,
  Close = 0x04,
  Ping = 0x05,
  Pong = 0x06,
  Alert = 0x08,
  ServerFinished = 0x10,
  ClientFinished = 0x11,
  HandshakeDone = 0x12,
}

/** type (1) ‖ conn_id (8) ‖ u32 epoch ‖ u48 seq. */
export const RECORD_HEADER_SIZE = 19;
export const CONN_ID_SIZE = 8;
export const TOKEN_SIZE = 16;
export const COOKIE_SIZE = 16;
/** A KeyRequest packet is exactly this long (padding with zeros): no amplification. */
export const KEY_REQUEST_PACKET_SIZE = 1200;
/** The largest Hello packet a server accepts. */
export const MAX_HELLO_PACKET_SIZE = 1232;
export const COOKIE_PACKET_SIZE = 1 + TOKEN_SIZE + COOKIE_SIZE;
export const ALERT_PACKET_SIZE = 1 + TOKEN_SIZE + 2;
/** The largest UDP payload over IPv4; a receiver drops anything longer. */
export const MAX_UDP_PAYLOAD = 65_507;
/** Default datagram size for records: what fits a 1280-byte IPv6 MTU with room to spare. */
export const DEFAULT_MAX_DATAGRAM_SIZE = 1200;
/** The smallest datagram size a sender may configure (the ClientFinished with a 4096-bit key fits). */
export const MIN_DATAGRAM_SIZE = 1200;

/** Sender budgets per epoch (§D5) and the receiver's cut-off (twice each). */
export const EPOCH_RECORD_BUDGET = 2 ** 24;
export const EPOCH_BYTE_BUDGET = 2 ** 32;
export const EPOCH_RECORD_CUTOFF = 2 ** 25;
export const EPOCH_BYTE_CUTOFF = 2 ** 33;
export const MAX_EPOCH = 2 ** 32 - 1;
export const MAX_SEQ = 2 ** 48 - 1;
/**
 * How far ahead of its current epoch E a receiver accepts a record (§D4 step 3, §D5): E + 1
 * … E + 4, so that a session survives up to 4 consecutive epochs whose every record was lost.
 */
export const MAX_EPOCH_SKIP = 4;
/** Default time before a sender moves to its next epoch, ms. */
export const DEFAULT_REKEY_INTERVAL = 600_000;
/** How long the previous epoch's receive keys are kept after a move, ms. */
export const DEFAULT_EPOCH_GRACE = 10_000;

/** Replay window size (bits): default, minimum, maximum; always a multiple of 32. */
export const DEFAULT_WINDOW = 2048;
export const MIN_WINDOW = 1024;
export const MAX_WINDOW = 65_536;

/** Cookie secrets rotate this often (ms); a cookie verifies under the current or previous one. */
export const COOKIE_ROTATE_MS = 60_000;
/** Client retransmission: first wait, and the cap of the doubling (ms). */
export const RETRANSMIT_INITIAL = 400;
export const RETRANSMIT_MAX = 4000;
export const MAX_COOKIES_PER_ATTEMPT = 3;
export const MAX_SERVER_HELLO_RESENDS = 3;
export const MAX_HANDSHAKE_DONE_RESENDS = 8;

/** Datagram keepalive and idle defaults (§D8), ms. */
export const DEFAULT_DATAGRAM_KEEPALIVE = 15_000;
export const DEFAULT_DATAGRAM_IDLE_TIMEOUT = 60_000;

/** HKDF and HMAC labels of Part II. Each differs from every Part I label. */
export const LABEL_DGRAM_MASTER = 'secsess v1 dgram master';
export const LABEL_DGRAM_C2S = 'secsess v1 dgram c2s';
export const LABEL_DGRAM_S2C = 'secsess v1 dgram s2c';
export const LABEL_DGRAM_EPOCH = 'secsess v1 dgram epoch';
export const LABEL_DGRAM_CLIENT_AUTH = 'secsess v1 dgram client auth\0';
export const LABEL_COOKIE = 'secsess v1 cookie';
export const LABEL_EXPORTER = 'secsess v1 exporter';
export const LABEL_DGRAM_CHANNEL = 'secsess v1 dgram channel';
export const LABEL_DGRAM_CONN_ID = 'secsess v1 dgram conn id';
