-- secsess-aes.lua: AES-128/256 (FIPS 197) block encryption and decryption, CBC decryption and
-- AES-GCM (NIST SP 800-38D, the tag checked) in plain Lua 5.2 with bit32, for the secsess
-- dissector (Wireshark 4.0's Lua has no crypto bindings). Byte strings are Lua strings.
-- Loaded by secsess-crypto.lua (loadfile, given its helpers); it registers nothing.

local bit32 = bit32
local band, bor, bxor = bit32.band, bit32.bor, bit32.bxor
local lshift, rshift, rrotate = bit32.lshift, bit32.rshift, bit32.rrotate
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat
local floor = math.floor

local TWO32 = 4294967296

-- The byte-order helpers are secsess-crypto.lua's, handed over when it loads this file.
local util = ...
if type(util) ~= "table" then
  return nil -- loaded on its own (a plugins folder): nothing to do
end
local u32be, be32, be64 = util.u32be, util.be32, util.be64

local function xor_strings(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = char(bxor(byte(a, i), byte(b, i)))
  end
  return concat(out)
end

-- AES (FIPS 197) with 32-bit lookup tables, built at load from GF(2^8) arithmetic.
local SBOX, INV_SBOX = {}, {}
local TE0, TE1, TE2, TE3, TD0, TD1, TD2, TD3 = {}, {}, {}, {}, {}, {}, {}, {}
do
  local exp, log = {}, {}
  local x = 1
  for i = 0, 254 do
    exp[i], log[x] = x, i
    -- multiply by 3, the generator
    local x2 = lshift(x, 1)
    if x2 > 255 then
      x2 = bxor(x2, 0x11b)
    end
    x = bxor(x2, x)
  end
  local function mul(a, b)
    if a == 0 or b == 0 then
      return 0
    end
    return exp[(log[a] + log[b]) % 255]
  end
  for i = 0, 255 do
    local inv = i == 0 and 0 or exp[(255 - log[i]) % 255]
    local s = inv
    for _ = 1, 4 do
      inv = band(bor(lshift(inv, 1), rshift(inv, 7)), 255)
      s = bxor(s, inv)
    end
    s = bxor(s, 0x63)
    SBOX[i], INV_SBOX[s] = s, i
  end
  for i = 0, 255 do
    local s = SBOX[i]
    local t = lshift(mul(2, s), 24) + lshift(s, 16) + lshift(s, 8) + mul(3, s)
    TE0[i], TE1[i], TE2[i], TE3[i] = t, rrotate(t, 8), rrotate(t, 16), rrotate(t, 24)
    local v = INV_SBOX[i]
    local d = lshift(mul(14, v), 24) + lshift(mul(9, v), 16) + lshift(mul(13, v), 8) + mul(11, v)
    TD0[i], TD1[i], TD2[i], TD3[i] = d, rrotate(d, 8), rrotate(d, 16), rrotate(d, 24)
  end
end

local function sub_word(w)
  return lshift(SBOX[rshift(w, 24)], 24)
    + lshift(SBOX[band(rshift(w, 16), 255)], 16)
    + lshift(SBOX[band(rshift(w, 8), 255)], 8)
    + SBOX[band(w, 255)]
end

-- An expanded key: ek (encryption round keys), dk (the equivalent inverse cipher's), rounds.
local function aes_key(key)
  local nk = #key / 4
  assert(nk == 4 or nk == 8, "AES key must be 16 or 32 bytes")
  local rounds = nk + 6
  local ek = {}
  for i = 0, nk - 1 do
    ek[i] = u32be(key, i * 4 + 1)
  end
  local rcon = 1
  for i = nk, 4 * (rounds + 1) - 1 do
    local t = ek[i - 1]
    if i % nk == 0 then
      t = bxor(sub_word(bor(lshift(t, 8), rshift(t, 24))), lshift(rcon, 24))
      rcon = lshift(rcon, 1)
      if rcon > 255 then
        rcon = bxor(rcon, 0x11b)
      end
    elseif nk > 6 and i % nk == 4 then
      t = sub_word(t)
    end
    ek[i] = bxor(ek[i - nk], t)
  end
  local dk = {}
  for r = 0, rounds do
    for j = 0, 3 do
      local w = ek[(rounds - r) * 4 + j]
      if r > 0 and r < rounds then
        w = bxor(
          TD0[SBOX[rshift(w, 24)]],
          TD1[SBOX[band(rshift(w, 16), 255)]],
          TD2[SBOX[band(rshift(w, 8), 255)]],
          TD3[SBOX[band(w, 255)]]
        )
      end
      dk[r * 4 + j] = w
    end
  end
  return { ek = ek, dk = dk, rounds = rounds }
end

local function aes_encrypt_words(k, s0, s1, s2, s3)
  local ek = k.ek
  s0, s1, s2, s3 = bxor(s0, ek[0]), bxor(s1, ek[1]), bxor(s2, ek[2]), bxor(s3, ek[3])
  for r = 1, k.rounds - 1 do
    local o = r * 4
    s0, s1, s2, s3 =
      bxor(TE0[rshift(s0, 24)], TE1[band(rshift(s1, 16), 255)], TE2[band(rshift(s2, 8), 255)], TE3[band(s3, 255)], ek[o]),
      bxor(TE0[rshift(s1, 24)], TE1[band(rshift(s2, 16), 255)], TE2[band(rshift(s3, 8), 255)], TE3[band(s0, 255)], ek[o + 1]),
      bxor(TE0[rshift(s2, 24)], TE1[band(rshift(s3, 16), 255)], TE2[band(rshift(s0, 8), 255)], TE3[band(s1, 255)], ek[o + 2]),
      bxor(TE0[rshift(s3, 24)], TE1[band(rshift(s0, 16), 255)], TE2[band(rshift(s1, 8), 255)], TE3[band(s2, 255)], ek[o + 3])
  end
  local o = k.rounds * 4
  local function last(a, b, c, d, rk)
    return bxor(
      lshift(SBOX[rshift(a, 24)], 24)
        + lshift(SBOX[band(rshift(b, 16), 255)], 16)
        + lshift(SBOX[band(rshift(c, 8), 255)], 8)
        + SBOX[band(d, 255)],
      rk
    )
  end
  return last(s0, s1, s2, s3, ek[o]), last(s1, s2, s3, s0, ek[o + 1]), last(s2, s3, s0, s1, ek[o + 2]), last(s3, s0, s1, s2, ek[o + 3])
end

local function aes_decrypt_words(k, s0, s1, s2, s3)
  local dk = k.dk
  s0, s1, s2, s3 = bxor(s0, dk[0]), bxor(s1, dk[1]), bxor(s2, dk[2]), bxor(s3, dk[3])
  for r = 1, k.rounds - 1 do
    local o = r * 4
    s0, s1, s2, s3 =
      bxor(TD0[rshift(s0, 24)], TD1[band(rshift(s3, 16), 255)], TD2[band(rshift(s2, 8), 255)], TD3[band(s1, 255)], dk[o]),
      bxor(TD0[rshift(s1, 24)], TD1[band(rshift(s0, 16), 255)], TD2[band(rshift(s3, 8), 255)], TD3[band(s2, 255)], dk[o + 1]),
      bxor(TD0[rshift(s2, 24)], TD1[band(rshift(s1, 16), 255)], TD2[band(rshift(s0, 8), 255)], TD3[band(s3, 255)], dk[o + 2]),
      bxor(TD0[rshift(s3, 24)], TD1[band(rshift(s2, 16), 255)], TD2[band(rshift(s1, 8), 255)], TD3[band(s0, 255)], dk[o + 3])
  end
  local o = k.rounds * 4
  local function last(a, b, c, d, rk)
    return bxor(
      lshift(INV_SBOX[rshift(a, 24)], 24)
        + lshift(INV_SBOX[band(rshift(b, 16), 255)], 16)
        + lshift(INV_SBOX[band(rshift(c, 8), 255)], 8)
        + INV_SBOX[band(d, 255)],
      rk
    )
  end
  return last(s0, s3, s2, s1, dk[o]), last(s1, s0, s3, s2, dk[o + 1]), last(s2, s1, s0, s3, dk[o + 2]), last(s3, s2, s1, s0, dk[o + 3])
end

local function block_words(s, i)
  return u32be(s, i), u32be(s, i + 4), u32be(s, i + 8), u32be(s, i + 12)
end

local function words_block(a, b, c, d)
  return be32(a) .. be32(b) .. be32(c) .. be32(d)
end

local function aes_encrypt_block(k, block)
  return words_block(aes_encrypt_words(k, block_words(block, 1)))
end

local function aes_decrypt_block(k, block)
  return words_block(aes_decrypt_words(k, block_words(block, 1)))
end

-- CBC decryption without padding removal (the caller checks the padding); nil unless the
-- ciphertext is a positive multiple of 16 bytes.
local function cbc_decrypt(k, iv, ct)
  if #ct == 0 or #ct % 16 ~= 0 then
    return nil
  end
  local out = {}
  local p0, p1, p2, p3 = block_words(iv, 1)
  for i = 1, #ct, 16 do
    local c0, c1, c2, c3 = block_words(ct, i)
    local d0, d1, d2, d3 = aes_decrypt_words(k, c0, c1, c2, c3)
    out[#out + 1] = words_block(bxor(d0, p0), bxor(d1, p1), bxor(d2, p2), bxor(d3, p3))
    p0, p1, p2, p3 = c0, c1, c2, c3
  end
  return concat(out)
end

-- GCM (NIST SP 800-38D) with a 12-byte nonce. GHASH multiplies by H four bits at a time
-- (Shoup's table of the 16 multiples of H, as mbed TLS's gcm_mult); 128-bit values are four
-- 32-bit words, word 1 holding the first (most significant) bytes.
local LAST4 = {
  [0] = 0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
  0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
}

local function ghash_table(h0, h1, h2, h3)
  local M = { [0] = { 0, 0, 0, 0 }, [8] = { h0, h1, h2, h3 } }
  -- M[4], M[2], M[1]: H times x, x^2, x^3 (a right shift in GCM's bit order, reduced).
  for _, i in ipairs({ 4, 2, 1 }) do
    local v = M[i * 2]
    local w0 = rshift(v[1], 1)
    if band(v[4], 1) == 1 then
      w0 = bxor(w0, 0xe1000000)
    end
    M[i] = {
      w0,
      bor(rshift(v[2], 1), lshift(band(v[1], 1), 31)),
      bor(rshift(v[3], 1), lshift(band(v[2], 1), 31)),
      bor(rshift(v[4], 1), lshift(band(v[3], 1), 31)),
    }
  end
  for _, i in ipairs({ 2, 4, 8 }) do
    for j = 1, i - 1 do
      local a, b = M[i], M[j]
      M[i + j] = { bxor(a[1], b[1]), bxor(a[2], b[2]), bxor(a[3], b[3]), bxor(a[4], b[4]) }
    end
  end
  return M
end

-- X·H for X = (x0, x1, x2, x3) with H's table M.
local function ghash_mult(M, x0, x1, x2, x3)
  local x = { x0, x1, x2, x3 }
  local z = M[band(x3, 15)]
  local z0, z1, z2, z3 = z[1], z[2], z[3], z[4]
  for i = 16, 1, -1 do
    local b = band(rshift(x[floor((i + 3) / 4)], (3 - (i - 1) % 4) * 8), 255)
    if i ~= 16 then
      local rem = band(z3, 15)
      z3 = bor(rshift(z3, 4), lshift(band(z2, 15), 28))
      z2 = bor(rshift(z2, 4), lshift(band(z1, 15), 28))
      z1 = bor(rshift(z1, 4), lshift(band(z0, 15), 28))
      z0 = bxor(rshift(z0, 4), lshift(LAST4[rem], 16))
      local m = M[band(b, 15)]
      z0, z1, z2, z3 = bxor(z0, m[1]), bxor(z1, m[2]), bxor(z2, m[3]), bxor(z3, m[4])
    end
    local rem = band(z3, 15)
    z3 = bor(rshift(z3, 4), lshift(band(z2, 15), 28))
    z2 = bor(rshift(z2, 4), lshift(band(z1, 15), 28))
    z1 = bor(rshift(z1, 4), lshift(band(z0, 15), 28))
    z0 = bxor(rshift(z0, 4), lshift(LAST4[rem], 16))
    local m = M[rshift(b, 4)]
    z0, z1, z2, z3 = bxor(z0, m[1]), bxor(z1, m[2]), bxor(z2, m[3]), bxor(z3, m[4])
  end
  return z0, z1, z2, z3
end

local function ghash(k, aad, ct)
  local M = ghash_table(aes_encrypt_words(k, 0, 0, 0, 0))
  local y0, y1, y2, y3 = 0, 0, 0, 0
  local function absorb(s)
    for i = 1, #s, 16 do
      local blk = s:sub(i, i + 15)
      blk = blk .. rep("\0", 16 - #blk)
      local b0, b1, b2, b3 = block_words(blk, 1)
      y0, y1, y2, y3 = ghash_mult(M, bxor(y0, b0), bxor(y1, b1), bxor(y2, b2), bxor(y3, b3))
    end
  end
  absorb(aad)
  absorb(ct)
  absorb(be64(#aad * 8) .. be64(#ct * 8))
  return y0, y1, y2, y3
end

-- Returns the plaintext and whether the 16-byte tag verified.
local function gcm_decrypt(k, nonce, aad, ct, tag)
  local n0, n1, n2 = u32be(nonce, 1), u32be(nonce, 5), u32be(nonce, 9)
  local out = {}
  local counter = 2
  for i = 1, #ct, 16 do
    local s0, s1, s2, s3 = aes_encrypt_words(k, n0, n1, n2, counter)
    if i + 15 <= #ct then
      local c0, c1, c2, c3 = block_words(ct, i)
      out[#out + 1] = words_block(bxor(c0, s0), bxor(c1, s1), bxor(c2, s2), bxor(c3, s3))
    else
      out[#out + 1] = xor_strings(ct:sub(i), words_block(s0, s1, s2, s3))
    end
    counter = (counter + 1) % TWO32
  end
  local g0, g1, g2, g3 = ghash(k, aad, ct)
  local e0, e1, e2, e3 = aes_encrypt_words(k, n0, n1, n2, 1)
  local expected = words_block(bxor(g0, e0), bxor(g1, e1), bxor(g2, e2), bxor(g3, e3))
  return concat(out), expected == tag
end

return {
  aes_key = aes_key,
  aes_encrypt_block = aes_encrypt_block,
  aes_decrypt_block = aes_decrypt_block,
  cbc_decrypt = cbc_decrypt,
  gcm_decrypt = gcm_decrypt,
}
