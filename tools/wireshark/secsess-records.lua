-- secsess-records.lua: what the secsess dissector needs to open records, in plain Lua (no
-- Wireshark API): the key log (SECSESS_KEYLOG_FILE's format: `LABEL client_random secret`,
-- hex), each direction's traffic secret, record keys and sequence number (PROTOCOL.md §4),
-- KeyUpdate (`next T`), opening a CBC+HMAC or AEAD record (§5) and putting fragmented
-- messages back together. Loaded by secsess.lua with dofile.

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
local C = dofile(here .. "secsess-crypto.lua")

local byte, char, floor = string.byte, string.char, math.floor

local M = {}

-- Symmetric ids of PROTOCOL.md §3: key length, the cipher's key expansion, and for the AEAD
-- suites (one record format, §5 and §D4: nonce = iv XOR seq, tag 16) the opener
-- open(key, nonce, aad, ct, tag) → plaintext, tag verified.
M.SYMMETRIC = {
  [1] = { key = 16, expand = C.aes_key, name = "AES-128-CBC" },
  [2] = { key = 32, expand = C.aes_key, name = "AES-256-CBC" },
  [3] = { key = 32, expand = C.aes_key, aead = C.gcm_decrypt, name = "AES-256-GCM" },
  [4] = { key = 32, expand = C.chacha_key, aead = C.chacha20_poly1305_decrypt, name = "ChaCha20-Poly1305" },
}
M.HASHES = C.HASHES

M.LABELS = { c2s = "SECSESS_C2S_TRAFFIC_SECRET_0", s2c = "SECSESS_S2C_TRAFFIC_SECRET_0" }

-- The key log, read whole; read again when a client_random is missing from it (the file
-- grows while a capture runs, or a new path was set in the preferences).
local log = { path = nil, secrets = {} }

local function read_keylog(path)
  local secrets = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do
      local label, cr, secret = line:match("^(%S+)%s+(%x+)%s+(%x+)%s*$")
      if label and #cr == 64 and #secret % 2 == 0 then
        cr = cr:lower()
        secrets[cr] = secrets[cr] or {}
        secrets[cr][label] = C.fromhex(secret)
      end
    end
    f:close()
  end
  log.path, log.secrets = path, secrets
end

-- The secret logged under `label` for a session's client_random (bytes), or nil.
function M.lookup(path, client_random, label)
  if path == nil or path == "" then
    return nil
  end
  local cr = C.tohex(client_random)
  if log.path ~= path or not (log.secrets[cr] and log.secrets[cr][label]) then
    read_keylog(path)
  end
  return log.secrets[cr] and log.secrets[cr][label]
end

-- One direction of a session: its traffic secret and generation, the next seq, the message
-- being reassembled.
function M.direction(secret, symmetric_id, hash_id)
  return {
    secret = secret,
    sym = M.SYMMETRIC[symmetric_id],
    hash = C.HASHES[hash_id],
    generation = 0,
    seq = 0,
    fragments = {},
  }
end

-- A traffic secret's record keys (§4): cipher (the expanded key), and iv (AEAD) or mac_key.
local function record_keys(sym, H, secret)
  local k = { cipher = sym.expand(C.hkdf(H, secret, "", "secsess v1 key", sym.key)) }
  if sym.aead then
    k.iv = C.hkdf(H, secret, "", "secsess v1 iv", 12)
  else
    k.mac_key = C.hkdf(H, secret, "", "secsess v1 mac", H.len)
  end
  return k
end

local function derive(d)
  local k = record_keys(d.sym, d.hash, d.secret)
  d.cipher, d.iv, d.mac_key = k.cipher, k.iv, k.mac_key
end

local function u24(n)
  return char(floor(n / 65536), floor(n / 256) % 256, n % 256)
end

local function xor(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = char(bit32.bxor(byte(a, i), byte(b, i)))
  end
  return table.concat(out)
end

-- Decrypts a sealed body with the direction's expected seq. Returns the inner plaintext and
-- whether it authenticated (tag, padding, inner seq, length), or nil and why not.
local function unseal(d, body)
  local seq = C.be64(d.seq)
  local header = "\23" .. u24(#body)
  if d.sym.aead then
    if #body < 13 + 16 then
      return nil, "body too short"
    end
    local nonce = xor(d.iv, "\0\0\0\0" .. seq)
    local plain, ok = d.sym.aead(d.cipher, nonce, seq .. header, body:sub(1, -17), body:sub(-16))
    return plain, ok
  end
  local hlen = d.hash.len
  local ctlen = #body - 16 - hlen
  if ctlen <= 0 or ctlen % 16 ~= 0 then
    return nil, "ciphertext not a positive multiple of 16"
  end
  local iv, ct, tag = body:sub(1, 16), body:sub(17, 16 + ctlen), body:sub(-hlen)
  local ok = C.hmac(d.hash, d.mac_key, seq .. header .. iv .. ct) == tag
  local padded = C.cbc_decrypt(d.cipher, iv, ct)
  local n = byte(padded, -1)
  if n < 1 or n > 16 or padded:sub(-n) ~= string.rep(char(n), n) then
    return padded, false
  end
  return padded:sub(1, -n - 1), ok
end

-- Opens the direction's next record (its sealed body). The result:
--   plain      inner plaintext (u64 seq, u8 type, u32 length, payload) or nil
--   ok         tag and inner checks passed
--   seq, generation, type
--   message    the whole message when a Data record ends fragments (DataMore …)
--   err        why there is no plaintext
function M.open(d, body)
  if not d.cipher then
    derive(d)
  end
  local r = { seq = d.seq, generation = d.generation }
  local plain, ok = unseal(d, body)
  d.seq = d.seq + 1
  if plain == nil then
    r.err = ok
    return r
  end
  r.plain = plain
  if #plain >= 13 then
    local inner = C.u32be(plain, 1) * 4294967296 + C.u32be(plain, 5)
    r.type = byte(plain, 9)
    ok = ok and inner == r.seq and C.u32be(plain, 10) == #plain - 13
  else
    ok = false
  end
  r.ok = ok
  if not ok then
    r.err = "authentication failed (wrong key or a damaged record)"
    return r
  end
  if r.type == 0x02 then
    d.fragments[#d.fragments + 1] = plain:sub(14)
  elseif r.type == 0x01 and #d.fragments > 0 then
    d.fragments[#d.fragments + 1] = plain:sub(14)
    r.message = table.concat(d.fragments)
    d.fragments = {}
  elseif r.type == 0x07 then
    -- KeyUpdate: the sender's next record is sealed under next T.
    d.secret = C.hkdf(d.hash, d.secret, "", "secsess v1 update", d.hash.len)
    d.generation = d.generation + 1
    d.cipher, d.iv, d.mac_key = nil, nil, nil
  end
  return r
end

-- Datagram channels (§D9) have no handshake on the wire: their Record packets are matched to
-- the logged channel secrets by opening them. The suite is the stream session's: known when
-- its hello is in the capture (remember_suite), else each suite whose hash fits the secret.
M.CHANNEL_LABELS = { c2s = "SECSESS_CHANNEL_C2S_SECRET_0", s2c = "SECSESS_CHANNEL_S2C_SECRET_0" }
local suites = {} -- client_random (hex) → { symmetric id, hash id }

function M.remember_suite(client_random, symmetric_id, hash_id)
  suites[C.tohex(client_random)] = { symmetric_id, hash_id }
end

-- Every logged channel: { c2s = secret, s2c = secret, suites = { {sym, hash}, … } }.
function M.channels(path)
  if path == nil or path == "" then
    return {}
  end
  read_keylog(path)
  local out = {}
  for cr, labels in pairs(log.secrets) do
    local c2s, s2c = labels[M.CHANNEL_LABELS.c2s], labels[M.CHANNEL_LABELS.s2c]
    if c2s and s2c then
      local candidates = { suites[cr] }
      if not suites[cr] then
        local hash_id = ({ [32] = 1, [48] = 2, [64] = 3 })[#c2s]
        candidates = {}
        for sym_id = 1, hash_id and #M.SYMMETRIC or 0 do
          candidates[sym_id] = { sym_id, hash_id }
        end
      end
      out[#out + 1] = { c2s = c2s, s2c = s2c, suites = candidates }
    end
  end
  return out
end

-- Datagram sessions (PROTOCOL.md Part II): the epoch-0 secrets are logged; epoch e + 1's is
-- HKDF(T_e, "", "secsess v1 dgram epoch", Hlen) (§D4). Every Record packet names its epoch
-- and seq, so each opens on its own, in any order.
M.DGRAM_LABELS = { c2s = "SECSESS_DGRAM_C2S_SECRET_0", s2c = "SECSESS_DGRAM_S2C_SECRET_0" }

-- Epochs a packet may name beyond the highest derived so far (a crafted capture cannot make
-- the dissector derive without end; a real receiver follows at most 4, §D5).
local MAX_EPOCH_STEP = 64

function M.dgram_direction(secret, symmetric_id, hash_id)
  return {
    secrets = { [0] = secret },
    top = 0,
    keys = {},
    sym = M.SYMMETRIC[symmetric_id],
    hash = C.HASHES[hash_id],
  }
end

-- Opens a Record packet: header (19 bytes: 0x47, conn_id, u32 epoch, u48 seq) and body.
-- Returns { epoch, ok, type, plain (u8 type ‖ payload), err }.
function M.dgram_open(d, header, body)
  local epoch = C.u32be(header, 10)
  local r = { epoch = epoch }
  if epoch > d.top + MAX_EPOCH_STEP then
    r.err = "epoch too far ahead"
    return r
  end
  while d.top < epoch do
    d.secrets[d.top + 1] = C.hkdf(d.hash, d.secrets[d.top], "", "secsess v1 dgram epoch", d.hash.len)
    d.top = d.top + 1
  end
  local k = d.keys[epoch]
  if not k then
    k = record_keys(d.sym, d.hash, d.secrets[epoch])
    d.keys[epoch] = k
  end
  local plain, ok
  if d.sym.aead then
    if #body < 17 then
      r.err = "body too short"
      return r
    end
    local nonce = xor(k.iv, "\0\0\0\0\0\0" .. header:sub(14, 19))
    plain, ok = d.sym.aead(k.cipher, nonce, header, body:sub(1, -17), body:sub(-16))
  else
    local hlen = d.hash.len
    local ctlen = #body - 16 - hlen
    if ctlen <= 0 or ctlen % 16 ~= 0 then
      r.err = "ciphertext not a positive multiple of 16"
      return r
    end
    local iv, ct, tag = body:sub(1, 16), body:sub(17, 16 + ctlen), body:sub(-hlen)
    ok = C.hmac(d.hash, k.mac_key, header .. iv .. ct) == tag
    plain = C.cbc_decrypt(k.cipher, iv, ct)
    local n = byte(plain, -1)
    if n < 1 or n > 16 or plain:sub(-n) ~= string.rep(char(n), n) then
      ok = false
    else
      plain = plain:sub(1, -n - 1)
    end
  end
  r.ok = ok and #plain >= 1
  r.plain = plain
  if r.ok then
    r.type = byte(plain, 1)
  else
    r.err = "authentication failed (wrong key or a damaged record)"
  end
  return r
end

return M
