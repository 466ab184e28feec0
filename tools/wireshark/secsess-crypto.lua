-- secsess-crypto.lua: the pure-Lua cryptography the secsess dissector needs to read a session
-- from its key log (Wireshark 4.0's Lua 5.2 has no crypto bindings): SHA-256/384/512, HMAC,
-- HKDF (RFC 5869), AES-128/256 block encryption and decryption, CBC decryption and AES-GCM
-- (CTR with the tag checked). Byte strings are Lua strings. Loaded by secsess.lua with dofile;
-- it registers nothing, so Wireshark may also load it from a plugins folder harmlessly.
-- Speed is not a goal: a capture's records are opened once and cached by the dissector.

local bit32 = bit32
local band, bor, bxor, bnot = bit32.band, bit32.bor, bit32.bxor, bit32.bnot
local lshift, rshift, rrotate = bit32.lshift, bit32.rshift, bit32.rrotate
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat
local floor = math.floor

local TWO32 = 4294967296

local function u32be(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function be32(x)
  return char(rshift(x, 24), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

-- u64 big-endian of a number below 2^53 (lengths, sequence numbers).
local function be64(n)
  return be32(floor(n / TWO32)) .. be32(n % TWO32)
end

local function xor_strings(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = char(bxor(byte(a, i), byte(b, i)))
  end
  return concat(out)
end

-- SHA-2. The constants are the fractional parts of roots of primes (FIPS 180-4 §4.2, §5.3),
-- as (high word, low word) pairs; SHA-256's are the high words of SHA-512's.
local K512 = {
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd,
  0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019,
  0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe,
  0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1,
  0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3,
  0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483,
  0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210,
  0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725,
  0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926,
  0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8,
  0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001,
  0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910,
  0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53,
  0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb,
  0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60,
  0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9,
  0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207,
  0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6,
  0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493,
  0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a,
  0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
}
local IV512 = {
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b,
  0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
  0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f,
  0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
}
local IV384 = {
  0xcbbb9d5d, 0xc1059ed8, 0x629a292a, 0x367cd507,
  0x9159015a, 0x3070dd17, 0x152fecd8, 0xf70e5939,
  0x67332667, 0xffc00b31, 0x8eb44a87, 0x68581511,
  0xdb0c2e0d, 0x64f98fa7, 0x47b5481d, 0xbefa4fa4,
}

local K256, IV256 = {}, {}
for i = 1, 64 do
  K256[i] = K512[2 * i - 1]
end
for i = 1, 8 do
  IV256[i] = IV512[2 * i - 1]
end

local function sha2_pad(msg, block, lenbytes)
  local ml = #msg
  local zeros = (block - lenbytes - 1 - ml) % block
  return msg .. "\128" .. rep("\0", zeros + lenbytes - 8) .. be64(ml * 8)
end

local function sha256(msg)
  msg = sha2_pad(msg, 64, 8)
  local h1, h2, h3, h4, h5, h6, h7, h8 = IV256[1], IV256[2], IV256[3], IV256[4], IV256[5], IV256[6], IV256[7], IV256[8]
  local w = {}
  for p = 1, #msg, 64 do
    for i = 1, 16 do
      w[i] = u32be(msg, p + (i - 1) * 4)
    end
    for i = 17, 64 do
      local a, b = w[i - 15], w[i - 2]
      local s0 = bxor(rrotate(a, 7), rrotate(a, 18), rshift(a, 3))
      local s1 = bxor(rrotate(b, 17), rrotate(b, 19), rshift(b, 10))
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % TWO32
    end
    local a, b, c, d, e, f, g, h = h1, h2, h3, h4, h5, h6, h7, h8
    for i = 1, 64 do
      local S1 = bxor(rrotate(e, 6), rrotate(e, 11), rrotate(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = h + S1 + ch + K256[i] + w[i]
      local S0 = bxor(rrotate(a, 2), rrotate(a, 13), rrotate(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) % TWO32, c, b, a, (t1 + S0 + maj) % TWO32
    end
    h1, h2, h3, h4 = (h1 + a) % TWO32, (h2 + b) % TWO32, (h3 + c) % TWO32, (h4 + d) % TWO32
    h5, h6, h7, h8 = (h5 + e) % TWO32, (h6 + f) % TWO32, (h7 + g) % TWO32, (h8 + h) % TWO32
  end
  return be32(h1) .. be32(h2) .. be32(h3) .. be32(h4) .. be32(h5) .. be32(h6) .. be32(h7) .. be32(h8)
end

-- 64-bit words as (hi, lo) pairs of 32-bit numbers.
local function rotr64(h, l, n)
  if n >= 32 then
    h, l, n = l, h, n - 32
  end
  if n == 0 then
    return h, l
  end
  return bor(rshift(h, n), lshift(l, 32 - n)), bor(rshift(l, n), lshift(h, 32 - n))
end

local function shr64(h, l, n)
  return rshift(h, n), bor(rshift(l, n), lshift(h, 32 - n))
end

local function sha512_core(msg, iv, outwords)
  msg = sha2_pad(msg, 128, 16)
  local H = {}
  for i = 1, 16 do
    H[i] = iv[i]
  end
  local wh, wl = {}, {}
  for p = 1, #msg, 128 do
    for i = 1, 16 do
      wh[i] = u32be(msg, p + (i - 1) * 8)
      wl[i] = u32be(msg, p + (i - 1) * 8 + 4)
    end
    for i = 17, 80 do
      local ah, al = wh[i - 15], wl[i - 15]
      local r1h, r1l = rotr64(ah, al, 1)
      local r8h, r8l = rotr64(ah, al, 8)
      local s7h, s7l = shr64(ah, al, 7)
      local s0h, s0l = bxor(r1h, r8h, s7h), bxor(r1l, r8l, s7l)
      local bh, bl = wh[i - 2], wl[i - 2]
      local r19h, r19l = rotr64(bh, bl, 19)
      local r61h, r61l = rotr64(bh, bl, 61)
      local s6h, s6l = shr64(bh, bl, 6)
      local s1h, s1l = bxor(r19h, r61h, s6h), bxor(r19l, r61l, s6l)
      local lo = wl[i - 16] + s0l + wl[i - 7] + s1l
      wl[i] = lo % TWO32
      wh[i] = (wh[i - 16] + s0h + wh[i - 7] + s1h + floor(lo / TWO32)) % TWO32
    end
    local ah, al, bh, bl, ch, cl, dh, dl = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    local eh, el, fh, fl, gh, gl, hh, hl = H[9], H[10], H[11], H[12], H[13], H[14], H[15], H[16]
    for i = 1, 80 do
      local r14h, r14l = rotr64(eh, el, 14)
      local r18h, r18l = rotr64(eh, el, 18)
      local r41h, r41l = rotr64(eh, el, 41)
      local S1h, S1l = bxor(r14h, r18h, r41h), bxor(r14l, r18l, r41l)
      local chh = bxor(band(eh, fh), band(bnot(eh), gh))
      local chl = bxor(band(el, fl), band(bnot(el), gl))
      local t1l = hl + S1l + chl + K512[2 * i] + wl[i]
      local t1h = hh + S1h + chh + K512[2 * i - 1] + wh[i] + floor(t1l / TWO32)
      t1l = t1l % TWO32
      local r28h, r28l = rotr64(ah, al, 28)
      local r34h, r34l = rotr64(ah, al, 34)
      local r39h, r39l = rotr64(ah, al, 39)
      local S0h, S0l = bxor(r28h, r34h, r39h), bxor(r28l, r34l, r39l)
      local mjh = bxor(band(ah, bh), band(ah, ch), band(bh, ch))
      local mjl = bxor(band(al, bl), band(al, cl), band(bl, cl))
      local t2l = S0l + mjl
      local t2h = S0h + mjh + floor(t2l / TWO32)
      hh, hl, gh, gl, fh, fl = gh, gl, fh, fl, eh, el
      local nel = dl + t1l
      eh, el = (dh + t1h + floor(nel / TWO32)) % TWO32, nel % TWO32
      dh, dl, ch, cl, bh, bl = ch, cl, bh, bl, ah, al
      local nal = t1l + t2l % TWO32
      ah, al = (t1h + t2h + floor(nal / TWO32)) % TWO32, nal % TWO32
    end
    local v = { ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl }
    for i = 1, 16, 2 do
      local lo = H[i + 1] + v[i + 1]
      H[i + 1] = lo % TWO32
      H[i] = (H[i] + v[i] + floor(lo / TWO32)) % TWO32
    end
  end
  local out = {}
  for i = 1, outwords do
    out[i] = be32(H[i])
  end
  return concat(out)
end

local function sha512(msg)
  return sha512_core(msg, IV512, 16)
end

local function sha384(msg)
  return sha512_core(msg, IV384, 12)
end

-- The suite's hash by its id (PROTOCOL.md §3): function, output length, HMAC block size.
local HASHES = {
  [1] = { fn = sha256, len = 32, block = 64, name = "SHA-256" },
  [2] = { fn = sha384, len = 48, block = 128, name = "SHA-384" },
  [3] = { fn = sha512, len = 64, block = 128, name = "SHA-512" },
}

local function hmac(hash, key, msg)
  if #key > hash.block then
    key = hash.fn(key)
  end
  key = key .. rep("\0", hash.block - #key)
  local ipad, opad = {}, {}
  for i = 1, hash.block do
    local k = byte(key, i)
    ipad[i] = char(bxor(k, 0x36))
    opad[i] = char(bxor(k, 0x5c))
  end
  return hash.fn(concat(opad) .. hash.fn(concat(ipad) .. msg))
end

-- HKDF (RFC 5869) Extract then Expand; an empty salt is Hlen zero bytes (same PRK).
local function hkdf(hash, ikm, salt, info, len)
  local prk = hmac(hash, salt, ikm)
  local out, t, i = {}, "", 1
  local have = 0
  while have < len do
    t = hmac(hash, prk, t .. info .. char(i))
    out[i] = t
    have = have + #t
    i = i + 1
  end
  return concat(out):sub(1, len)
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

-- GCM (NIST SP 800-38D) with a 12-byte nonce. GHASH multiplies bit by bit (slow but short).
local function gf_mul(x0, x1, x2, x3, h0, h1, h2, h3)
  local z0, z1, z2, z3 = 0, 0, 0, 0
  local v0, v1, v2, v3 = h0, h1, h2, h3
  local xs = { x0, x1, x2, x3 }
  for w = 1, 4 do
    local x = xs[w]
    for b = 31, 0, -1 do
      if band(rshift(x, b), 1) == 1 then
        z0, z1, z2, z3 = bxor(z0, v0), bxor(z1, v1), bxor(z2, v2), bxor(z3, v3)
      end
      local lsb = band(v3, 1)
      v3 = bor(rshift(v3, 1), lshift(band(v2, 1), 31))
      v2 = bor(rshift(v2, 1), lshift(band(v1, 1), 31))
      v1 = bor(rshift(v1, 1), lshift(band(v0, 1), 31))
      v0 = rshift(v0, 1)
      if lsb == 1 then
        v0 = bxor(v0, 0xe1000000)
      end
    end
  end
  return z0, z1, z2, z3
end

local function ghash(k, aad, ct)
  local h0, h1, h2, h3 = aes_encrypt_words(k, 0, 0, 0, 0)
  local y0, y1, y2, y3 = 0, 0, 0, 0
  local function absorb(s)
    for i = 1, #s, 16 do
      local blk = s:sub(i, i + 15)
      blk = blk .. rep("\0", 16 - #blk)
      local b0, b1, b2, b3 = block_words(blk, 1)
      y0, y1, y2, y3 = gf_mul(bxor(y0, b0), bxor(y1, b1), bxor(y2, b2), bxor(y3, b3), h0, h1, h2, h3)
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
    local ks = words_block(s0, s1, s2, s3)
    local blk = ct:sub(i, i + 15)
    out[#out + 1] = xor_strings(blk, ks)
    counter = (counter + 1) % TWO32
  end
  local g0, g1, g2, g3 = ghash(k, aad, ct)
  local e0, e1, e2, e3 = aes_encrypt_words(k, n0, n1, n2, 1)
  local expected = words_block(bxor(g0, e0), bxor(g1, e1), bxor(g2, e2), bxor(g3, e3))
  return concat(out), expected == tag
end

local function tohex(s)
  return (s:gsub(".", function(c)
    return string.format("%02x", byte(c))
  end))
end

local function fromhex(h)
  return (h:gsub("%x%x", function(x)
    return char(tonumber(x, 16))
  end))
end

return {
  sha256 = sha256,
  sha384 = sha384,
  sha512 = sha512,
  HASHES = HASHES,
  hmac = hmac,
  hkdf = hkdf,
  aes_key = aes_key,
  aes_encrypt_block = aes_encrypt_block,
  aes_decrypt_block = aes_decrypt_block,
  cbc_decrypt = cbc_decrypt,
  gcm_decrypt = gcm_decrypt,
  be64 = be64,
  u32be = u32be,
  tohex = tohex,
  fromhex = fromhex,
}
