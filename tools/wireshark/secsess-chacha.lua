-- secsess-chacha.lua: ChaCha20, Poly1305 and the ChaCha20-Poly1305 AEAD (RFC 8439) in plain
-- Lua 5.2 with bit32, for the secsess dissector's ChaCha20-Poly1305 suite (symmetric id 0x04;
-- Wireshark 4.0's Lua has no crypto bindings). Byte strings are Lua strings. Loaded by
-- secsess-crypto.lua (loadfile, given its helpers); it registers nothing.
--
-- Numbers are doubles (exact integers below 2^53): ChaCha20's 32-bit additions are `% 2^32`,
-- its XORs and rotations bit32's. Poly1305 keeps its 130-bit values in ten 13-bit limbs, so a
-- product of two limbs, times 5 from the reduction (2^130 = 5 mod p), summed ten times stays
-- below 2^34: every step is exact.

local bit32 = bit32
local bxor, lrotate = bit32.bxor, bit32.lrotate
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat
local unpack = table.unpack or unpack
local floor = math.floor

local TWO32 = 4294967296

local util = ...
if type(util) ~= "table" then
  return nil -- loaded on its own (a plugins folder): nothing to do
end

local function u32le(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((d * 256 + c) * 256 + b) * 256 + a
end

-- A little-endian u64 of a number below 2^53 (a length).
local function le64(n)
  local out = {}
  for i = 1, 8 do
    out[i] = n % 256
    n = floor(n / 256)
  end
  return char(unpack(out))
end

-- ChaCha20 (RFC 8439 §2.3) ------------------------------------------------------------------

-- A 32-byte key as its eight little-endian words.
local function chacha_key(key)
  assert(#key == 32, "ChaCha20 key must be 32 bytes")
  local k = {}
  for i = 1, 8 do
    k[i] = u32le(key, i * 4 - 3)
  end
  return k
end

-- The 16 words of the block for (key words, counter, nonce words).
local function chacha_block(k, counter, n1, n2, n3)
  local j0, j1, j2, j3 = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
  local j4, j5, j6, j7, j8, j9, j10, j11 = k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
  local x0, x1, x2, x3, x4, x5, x6, x7 = j0, j1, j2, j3, j4, j5, j6, j7
  local x8, x9, x10, x11, x12, x13, x14, x15 = j8, j9, j10, j11, counter, n1, n2, n3
  for _ = 1, 10 do
    -- a column round, then a diagonal round
      x0 = (x0 + x4) % TWO32
      x12 = lrotate(bxor(x12, x0), 16)
      x8 = (x8 + x12) % TWO32
      x4 = lrotate(bxor(x4, x8), 12)
      x0 = (x0 + x4) % TWO32
      x12 = lrotate(bxor(x12, x0), 8)
      x8 = (x8 + x12) % TWO32
      x4 = lrotate(bxor(x4, x8), 7)
      x1 = (x1 + x5) % TWO32
      x13 = lrotate(bxor(x13, x1), 16)
      x9 = (x9 + x13) % TWO32
      x5 = lrotate(bxor(x5, x9), 12)
      x1 = (x1 + x5) % TWO32
      x13 = lrotate(bxor(x13, x1), 8)
      x9 = (x9 + x13) % TWO32
      x5 = lrotate(bxor(x5, x9), 7)
      x2 = (x2 + x6) % TWO32
      x14 = lrotate(bxor(x14, x2), 16)
      x10 = (x10 + x14) % TWO32
      x6 = lrotate(bxor(x6, x10), 12)
      x2 = (x2 + x6) % TWO32
      x14 = lrotate(bxor(x14, x2), 8)
      x10 = (x10 + x14) % TWO32
      x6 = lrotate(bxor(x6, x10), 7)
      x3 = (x3 + x7) % TWO32
      x15 = lrotate(bxor(x15, x3), 16)
      x11 = (x11 + x15) % TWO32
      x7 = lrotate(bxor(x7, x11), 12)
      x3 = (x3 + x7) % TWO32
      x15 = lrotate(bxor(x15, x3), 8)
      x11 = (x11 + x15) % TWO32
      x7 = lrotate(bxor(x7, x11), 7)
      x0 = (x0 + x5) % TWO32
      x15 = lrotate(bxor(x15, x0), 16)
      x10 = (x10 + x15) % TWO32
      x5 = lrotate(bxor(x5, x10), 12)
      x0 = (x0 + x5) % TWO32
      x15 = lrotate(bxor(x15, x0), 8)
      x10 = (x10 + x15) % TWO32
      x5 = lrotate(bxor(x5, x10), 7)
      x1 = (x1 + x6) % TWO32
      x12 = lrotate(bxor(x12, x1), 16)
      x11 = (x11 + x12) % TWO32
      x6 = lrotate(bxor(x6, x11), 12)
      x1 = (x1 + x6) % TWO32
      x12 = lrotate(bxor(x12, x1), 8)
      x11 = (x11 + x12) % TWO32
      x6 = lrotate(bxor(x6, x11), 7)
      x2 = (x2 + x7) % TWO32
      x13 = lrotate(bxor(x13, x2), 16)
      x8 = (x8 + x13) % TWO32
      x7 = lrotate(bxor(x7, x8), 12)
      x2 = (x2 + x7) % TWO32
      x13 = lrotate(bxor(x13, x2), 8)
      x8 = (x8 + x13) % TWO32
      x7 = lrotate(bxor(x7, x8), 7)
      x3 = (x3 + x4) % TWO32
      x14 = lrotate(bxor(x14, x3), 16)
      x9 = (x9 + x14) % TWO32
      x4 = lrotate(bxor(x4, x9), 12)
      x3 = (x3 + x4) % TWO32
      x14 = lrotate(bxor(x14, x3), 8)
      x9 = (x9 + x14) % TWO32
      x4 = lrotate(bxor(x4, x9), 7)
  end
  return (x0 + j0) % TWO32, (x1 + j1) % TWO32, (x2 + j2) % TWO32, (x3 + j3) % TWO32,
    (x4 + j4) % TWO32, (x5 + j5) % TWO32, (x6 + j6) % TWO32, (x7 + j7) % TWO32,
    (x8 + j8) % TWO32, (x9 + j9) % TWO32, (x10 + j10) % TWO32, (x11 + j11) % TWO32,
    (x12 + counter) % TWO32, (x13 + n1) % TWO32, (x14 + n2) % TWO32, (x15 + n3) % TWO32
end

-- out[o .. o + 3] = the bytes of word w XOR the four bytes of s from i (little-endian).
local function xor_word(out, o, w, s, i)
  local a, b, c, d = byte(s, i, i + 3)
  local x = bxor(w, ((d * 256 + c) * 256 + b) * 256 + a)
  out[o] = x % 256
  out[o + 1] = floor(x / 256) % 256
  out[o + 2] = floor(x / 65536) % 256
  out[o + 3] = floor(x / 16777216)
end

-- ChaCha20 encryption (= decryption) of data with the key words, a 12-byte nonce and the
-- first block's counter.
local function chacha20(k, nonce, counter, data)
  local n1, n2, n3 = u32le(nonce, 1), u32le(nonce, 5), u32le(nonce, 9)
  local chunks, buf = {}, {}
  local len = #data
  for i = 1, len, 64 do
    local w = { chacha_block(k, counter, n1, n2, n3) }
    counter = (counter + 1) % TWO32
    if i + 63 <= len then
      for j = 0, 15 do
        xor_word(buf, j * 4 + 1, w[j + 1], data, i + j * 4)
      end
      chunks[#chunks + 1] = char(unpack(buf, 1, 64))
    else
      local n = len - i + 1
      for j = 0, n - 1 do
        local word = w[floor(j / 4) + 1]
        buf[j + 1] = bxor(byte(data, i + j), floor(word / 2 ^ (8 * (j % 4))) % 256)
      end
      chunks[#chunks + 1] = char(unpack(buf, 1, n))
    end
  end
  return concat(chunks)
end

-- Poly1305 (RFC 8439 §2.5) ------------------------------------------------------------------

-- The 16-byte tag of msg under a 32-byte one-time key (r ‖ s).
local function poly1305(key, msg)
  local kb = { byte(key, 1, 16) }
  for _, i in ipairs({ 4, 8, 12, 16 }) do
    kb[i] = kb[i] % 16 -- clamp: the top four bits of r's words
  end
  for _, i in ipairs({ 5, 9, 13 }) do
    kb[i] = kb[i] - kb[i] % 4 -- and the low two bits of its upper three words
  end
  local b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = unpack(kb)
  -- Limb k of a 16-byte block holds its bits 13k .. 13k + 12 (little-endian); `hibit` is the
  -- 17th byte (1 for a full block of the message: its 2^128). r is the clamped key half.
  local hibit = 0
  local r0 = (b0 + b1 * 256) % 8192
  local r1 = floor((b1 + b2 * 256 + b3 * 65536) / 32) % 8192
  local r2 = floor((b3 + b4 * 256) / 4) % 8192
  local r3 = floor((b4 + b5 * 256 + b6 * 65536) / 128) % 8192
  local r4 = floor((b6 + b7 * 256 + b8 * 65536) / 16) % 8192
  local r5 = floor((b8 + b9 * 256) / 2) % 8192
  local r6 = floor((b9 + b10 * 256 + b11 * 65536) / 64) % 8192
  local r7 = floor((b11 + b12 * 256) / 8) % 8192
  local r8 = (b13 + b14 * 256) % 8192
  local r9 = floor((b14 + b15 * 256 + hibit * 65536) / 32) % 8192
  local s1, s2, s3, s4, s5, s6, s7, s8, s9 = r1 * 5, r2 * 5, r3 * 5, r4 * 5, r5 * 5, r6 * 5, r7 * 5, r8 * 5, r9 * 5
  local h0, h1, h2, h3, h4, h5, h6, h7, h8, h9 = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  local len = #msg
  local c
  for i = 1, len, 16 do
    if i + 15 <= len then
      b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = byte(msg, i, i + 15)
      hibit = 1
    else -- the last, short block: its bytes, 0x01, zeros (and no 2^128)
      local last = { byte(msg:sub(i) .. "\1" .. rep("\0", 15), 1, 16) }
      b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = unpack(last)
      hibit = 0
    end
    h0 = h0 + (b0 + b1 * 256) % 8192
    h1 = h1 + floor((b1 + b2 * 256 + b3 * 65536) / 32) % 8192
    h2 = h2 + floor((b3 + b4 * 256) / 4) % 8192
    h3 = h3 + floor((b4 + b5 * 256 + b6 * 65536) / 128) % 8192
    h4 = h4 + floor((b6 + b7 * 256 + b8 * 65536) / 16) % 8192
    h5 = h5 + floor((b8 + b9 * 256) / 2) % 8192
    h6 = h6 + floor((b9 + b10 * 256 + b11 * 65536) / 64) % 8192
    h7 = h7 + floor((b11 + b12 * 256) / 8) % 8192
    h8 = h8 + (b13 + b14 * 256) % 8192
    h9 = h9 + floor((b14 + b15 * 256 + hibit * 65536) / 32) % 8192
    local d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6 + h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1
    local d1 = h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7 + h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2
    local d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8 + h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3
    local d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9 + h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4
    local d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5
    local d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6
    local d6 = h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 + h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7
    local d7 = h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 + h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8
    local d8 = h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 + h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9
    local d9 = h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 + h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0
    -- h = h * r mod p, partly reduced: each d below 2^33 (h's limbs < 2^14.2, 5r's < 2^15.4);
    -- carry every limb back to 13 bits, the top carry times 5 into limb 0
    c = floor(d0 / 8192)
    h0, d1 = d0 - c * 8192, d1 + c
    c = floor(d1 / 8192)
    h1, d2 = d1 - c * 8192, d2 + c
    c = floor(d2 / 8192)
    h2, d3 = d2 - c * 8192, d3 + c
    c = floor(d3 / 8192)
    h3, d4 = d3 - c * 8192, d4 + c
    c = floor(d4 / 8192)
    h4, d5 = d4 - c * 8192, d5 + c
    c = floor(d5 / 8192)
    h5, d6 = d5 - c * 8192, d6 + c
    c = floor(d6 / 8192)
    h6, d7 = d6 - c * 8192, d7 + c
    c = floor(d7 / 8192)
    h7, d8 = d7 - c * 8192, d8 + c
    c = floor(d8 / 8192)
    h8, d9 = d8 - c * 8192, d9 + c
    c = floor(d9 / 8192)
    h9, h0 = d9 - c * 8192, h0 + c * 5
    c = floor(h0 / 8192)
    h0, h1 = h0 - c * 8192, h1 + c
  end
  -- h fully reduced mod p = 2^130 - 5: limbs normalised, then h - p kept when h >= p.
  local h = { h0, h1, h2, h3, h4, h5, h6, h7, h8, h9 }
  for _ = 1, 2 do
    for k = 1, 9 do
      c = floor(h[k] / 8192)
      h[k], h[k + 1] = h[k] - c * 8192, h[k + 1] + c
    end
    c = floor(h[10] / 8192)
    h[10], h[1] = h[10] - c * 8192, h[1] + c * 5
  end
  local g, carry = {}, 5
  for k = 1, 10 do
    local v = h[k] + carry
    carry = floor(v / 8192)
    g[k] = v - carry * 8192
  end
  if carry > 0 then
    h = g -- h + 5 reached 2^130: h - p is g without its top bit
  end
  -- (h + s) mod 2^128, little-endian.
  local out, acc, bits, sum = {}, 0, 0, 0
  local sb = { byte(key, 17, 32) }
  for k = 1, 10 do
    acc, bits = acc + h[k] * 2 ^ bits, bits + 13
    while bits >= 8 and #out < 16 do
      sum = acc % 256 + sb[#out + 1] + floor(sum / 256)
      out[#out + 1] = sum % 256
      acc, bits = floor(acc / 256), bits - 8
    end
  end
  return char(unpack(out))
end

-- ChaCha20-Poly1305 (RFC 8439 §2.8) ---------------------------------------------------------

-- Opens ct ‖ tag under the key words k, a 12-byte nonce and aad. Returns the plaintext and
-- whether the 16-byte tag verified (the caller keeps the plaintext of a failed record out of
-- sight, as for GCM).
local function chacha20_poly1305_decrypt(k, nonce, aad, ct, tag)
  local otk = chacha20(k, nonce, 0, rep("\0", 32)) -- Poly1305's key: block 0's first 32 bytes
  local function pad16(n)
    return rep("\0", (16 - n % 16) % 16)
  end
  local mac = poly1305(otk, aad .. pad16(#aad) .. ct .. pad16(#ct) .. le64(#aad) .. le64(#ct))
  return chacha20(k, nonce, 1, ct), mac == tag
end

return {
  chacha_key = chacha_key,
  chacha20 = chacha20,
  poly1305 = poly1305,
  chacha20_poly1305_decrypt = chacha20_poly1305_decrypt,
}
