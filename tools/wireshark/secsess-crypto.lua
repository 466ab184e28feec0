-- secsess-crypto.lua: the pure-Lua cryptography the secsess dissector needs to read a session
-- from its key log (Wireshark 4.0's Lua 5.2 has no crypto bindings): SHA-256/384/512, HMAC,
-- HKDF (RFC 5869) here, AES, CBC and GCM from secsess-aes.lua and ChaCha20-Poly1305 from
-- secsess-chacha.lua, in one table. Byte strings are Lua strings. Loaded by
-- secsess-records.lua with dofile; it registers nothing, so Wireshark may also load it from a
-- plugins folder harmlessly. Speed is not a goal: a capture's records are opened once and
-- cached by the dissector.

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

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
local aes = assert(loadfile(here .. "secsess-aes.lua"))({ u32be = u32be, be32 = be32, be64 = be64 })
local chacha = assert(loadfile(here .. "secsess-chacha.lua"))({})

return {
  sha256 = sha256,
  sha384 = sha384,
  sha512 = sha512,
  HASHES = HASHES,
  hmac = hmac,
  hkdf = hkdf,
  aes_key = aes.aes_key,
  aes_encrypt_block = aes.aes_encrypt_block,
  aes_decrypt_block = aes.aes_decrypt_block,
  cbc_decrypt = aes.cbc_decrypt,
  gcm_decrypt = aes.gcm_decrypt,
  chacha_key = chacha.chacha_key,
  chacha20 = chacha.chacha20,
  poly1305 = chacha.poly1305,
  chacha20_poly1305_decrypt = chacha.chacha20_poly1305_decrypt,
  be64 = be64,
  u32be = u32be,
  tohex = tohex,
  fromhex = fromhex,
}
