-- secsess-fields.lua: the stream dissector's value strings and fields (the datagram ones are
-- in secsess-dgram.lua). secsess.lua loads it with dofile and calls fields() once; loaded
-- alone (as a plugin from the same folder) it creates and registers nothing.

local FRAME_TYPES = {
  [0x01] = "KeyRequest",
  [0x02] = "KeyResponse",
  [0x03] = "ClientHello",
  [0x04] = "ServerHello",
  [0x05] = "ResumeHello",
  [0x06] = "ResumeRefused",
  [0x15] = "Alert",
  [0x17] = "Record",
}
local RECORD_TYPES = {
  [0x01] = "Data",
  [0x02] = "DataMore",
  [0x03] = "DataBatch",
  [0x04] = "Close",
  [0x05] = "Ping",
  [0x06] = "Pong",
  [0x07] = "KeyUpdate",
  [0x08] = "Alert",
  [0x09] = "End",
  [0x0a] = "NewTicket",
  [0x10] = "ServerFinished",
  [0x11] = "ClientFinished",
  [0x12] = "HandshakeDone",
}
local ALERTS = {
  [0x0001] = "Internal",
  [0x0002] = "UnsupportedVersion",
  [0x0003] = "SuiteMismatch",
  [0x0004] = "UnknownServerKey",
  [0x0005] = "HandshakeFailed",
  [0x0006] = "RecordRejected",
  [0x0007] = "MessageTooLarge",
  [0x0008] = "Protocol",
  [0x0009] = "NotAuthorized",
  [0x000a] = "KeyExhausted",
  [0x000b] = "Timeout",
  [0x000c] = "ServerBusy",
}
local SYMMETRIC = { [1] = "AES-128-CBC", [2] = "AES-256-CBC", [3] = "AES-256-GCM", [4] = "ChaCha20-Poly1305" }
local HASH = { [1] = "SHA-256", [2] = "SHA-384", [3] = "SHA-512" }
local CLOSE_CODES = { [1000] = "normal", [1001] = "going away" }

local function fields()
  return {
    type = ProtoField.uint8("secsess.frame.type", "Frame type", base.HEX, FRAME_TYPES),
    length = ProtoField.uint24("secsess.frame.length", "Body length", base.DEC),
    magic = ProtoField.bytes("secsess.magic", "Magic"),
    version = ProtoField.uint8("secsess.version", "Version", base.DEC),
    asym = ProtoField.uint8("secsess.hello.suite.asymmetric", "Asymmetric", base.HEX, { [1] = "RSA-OAEP-SHA256" }),
    sym = ProtoField.uint8("secsess.hello.suite.symmetric", "Symmetric", base.HEX, SYMMETRIC),
    hash = ProtoField.uint8("secsess.hello.suite.hash", "Hash", base.HEX, HASH),
    flags = ProtoField.uint8("secsess.hello.flags", "Flags", base.HEX),
    flag_auth = ProtoField.bool("secsess.hello.flags.client_auth", "Client authenticates", 8, nil, 0x01),
    flag_tickets = ProtoField.bool("secsess.hello.flags.tickets", "Tickets wanted", 8, nil, 0x02),
    client_random = ProtoField.bytes("secsess.hello.client_random", "client_random"),
    client_x25519 = ProtoField.bytes("secsess.hello.client_x25519", "client_x25519"),
    key_id = ProtoField.bytes("secsess.hello.key_id", "key_id (server key fingerprint)"),
    ct_len = ProtoField.uint16("secsess.hello.ct_len", "Encrypted secret length", base.DEC),
    encrypted_secret = ProtoField.bytes("secsess.hello.encrypted_secret", "Encrypted secret (RSA-OAEP)"),
    server_random = ProtoField.bytes("secsess.hello.server_random", "server_random"),
    server_x25519 = ProtoField.bytes("secsess.hello.server_x25519", "server_x25519"),
    spki_len = ProtoField.uint16("secsess.key.spki_length", "SPKI length", base.DEC),
    spki = ProtoField.bytes("secsess.key.spki", "Public key (DER SubjectPublicKeyInfo)"),
    ticket_len = ProtoField.uint16("secsess.ticket.length", "Ticket length", base.DEC),
    ticket = ProtoField.bytes("secsess.ticket", "Ticket"),
    binder = ProtoField.bytes("secsess.resume.binder", "Binder"),
    alert = ProtoField.uint16("secsess.alert.code", "Alert", base.HEX, ALERTS),
    body = ProtoField.bytes("secsess.record.encrypted", "Encrypted body"),
    direction = ProtoField.string("secsess.record.direction", "Direction"),
    generation = ProtoField.uint32("secsess.record.generation", "Key generation", base.DEC),
    seq = ProtoField.uint64("secsess.record.seq", "Sequence number", base.DEC),
    rtype = ProtoField.uint8("secsess.record.type", "Record type", base.HEX, RECORD_TYPES),
    plen = ProtoField.uint32("secsess.record.payload_length", "Payload length", base.DEC),
    authentic = ProtoField.bool("secsess.record.authentic", "Authenticated"),
    data = ProtoField.bytes("secsess.data", "Data"),
    text = ProtoField.string("secsess.data.text", "Data (text)"),
    message = ProtoField.bytes("secsess.message", "Reassembled message"),
    batch_len = ProtoField.uint32("secsess.batch.length", "Entry length", base.DEC),
    batch_entry = ProtoField.bytes("secsess.batch.entry", "Entry"),
    close_code = ProtoField.uint16("secsess.close.code", "Close code", base.DEC, CLOSE_CODES),
    close_reason = ProtoField.string("secsess.close.reason", "Close reason", base.UNICODE),
    ping = ProtoField.bytes("secsess.ping.payload", "Ping payload"),
    pong = ProtoField.bytes("secsess.pong.payload", "Pong payload"),
    lifetime = ProtoField.uint32("secsess.ticket.lifetime", "Ticket lifetime (s)", base.DEC),
    proof = ProtoField.bytes("secsess.finished.server_proof", "server_proof"),
    fin_flags = ProtoField.uint8("secsess.finished.flags", "ClientFinished flags", base.HEX),
    signature = ProtoField.bytes("secsess.finished.signature", "Signature"),
  }
end

return {
  FRAME_TYPES = FRAME_TYPES,
  RECORD_TYPES = RECORD_TYPES,
  ALERTS = ALERTS,
  SYMMETRIC = SYMMETRIC,
  HASH = HASH,
  fields = fields,
}
