-- secsess-dgram.lua: the datagram half of the secsess dissector (PROTOCOL.md Part II, §D1–§D5):
-- every UDP packet type with named fields, and Record packets decrypted from the key log's
-- SECSESS_DGRAM_*_SECRET_0 lines, each on its own (its header names its epoch and seq).
-- secsess.lua loads it with dofile and calls fields() and register(); loaded alone (as a
-- plugin from the same folder) it creates and registers nothing.

local DGRAM_TYPES = {
  [0x41] = "KeyRequest",
  [0x42] = "KeyResponse",
  [0x43] = "Hello",
  [0x44] = "ServerHello",
  [0x45] = "Cookie",
  [0x46] = "Alert",
  [0x47] = "Record",
}

local DF

local function fields()
  DF = {
    type = ProtoField.uint8("secsess.dgram.type", "Packet type", base.HEX, DGRAM_TYPES),
    token = ProtoField.bytes("secsess.dgram.token", "Token"),
    cookie_len = ProtoField.uint8("secsess.dgram.cookie_length", "Cookie length", base.DEC),
    cookie = ProtoField.bytes("secsess.dgram.cookie", "Cookie"),
    conn_id = ProtoField.bytes("secsess.dgram.conn_id", "conn_id"),
    epoch = ProtoField.uint32("secsess.dgram.epoch", "Epoch", base.DEC),
    seq = ProtoField.uint64("secsess.dgram.seq", "Sequence number (in the epoch)", base.DEC),
  }
  local list = {}
  for _, f in pairs(DF) do
    list[#list + 1] = f
  end
  return list
end

-- S: what secsess.lua shares (F, E, R, parse_hello, show_payload, keylog_path, endpoint,
-- RECORD_TYPES). Returns the datagram protocol, for the udp.port table.
local function register(S)
  local F, E, R = S.F, S.E, S.R
  local dproto = Proto("secsess_dgram", "secsess datagrams")
  local tokens = {} -- token → the Hello's session (client_random, suite, server endpoint)
  local sessions = {} -- conn_id → that session, from the ServerHello
  local results = {} -- "frame:offset" → what R.dgram_open returned

  local tried = {} -- conn_id → how many logged channels were tried on it

  function dproto.init()
    tokens, sessions, results, tried = {}, {}, {}, {}
  end

  -- A Record packet of a conn_id no ServerHello named: a datagram channel (§D9) if one of the
  -- logged channel secrets opens it (tried again only when the key log has more channels).
  local function channel(conn, header, body, pinfo)
    local logged = R.channels(S.keylog_path())
    if tried[conn] == #logged then
      return nil
    end
    tried[conn] = #logged
    for _, c in ipairs(logged) do
      for _, suite in ipairs(c.suites) do
        for _, dir in ipairs({ "c2s", "s2c" }) do
          local d = R.dgram_direction(c[dir], suite[1], suite[2])
          if R.dgram_open(d, header, body).ok then
            local other = dir == "c2s" and "s2c" or "c2s"
            local server = S.endpoint(pinfo.dst, pinfo.dst_port)
            if dir == "s2c" then
              server = S.endpoint(pinfo.src, pinfo.src_port)
            end
            local sess = { server = server, channel = R.SYMMETRIC[suite[1]].name, dirs = {} }
            sess.dirs[dir] = R.dgram_direction(c[dir], suite[1], suite[2])
            sess.dirs[other] = R.dgram_direction(c[other], suite[1], suite[2])
            sessions[conn] = sess
            return sess
          end
        end
      end
    end
    return nil
  end

  -- A Part I frame inside a packet, parsed by the stream dissector's own code.
  local function frame(t, tvb, off, conv)
    if tvb:len() < off + 4 then
      t:add_proto_expert_info(E.malformed, "packet too short")
      return nil
    end
    local size = 4 + tvb(off + 1, 3):uint()
    if tvb:len() < off + size then
      t:add_proto_expert_info(E.malformed, "frame runs past the packet")
      return nil
    end
    local kind = tvb(off, 1):uint()
    local ft = t:add(dproto, tvb(off, size), "Frame")
    ft:add(F.type, tvb(off, 1))
    ft:add(F.length, tvb(off + 1, 3))
    local info = S.parse_hello(ft, tvb(off, size):tvb(), kind, conv, true)
    return off + size, info
  end

  local function record(t, tvb, off, pinfo)
    if tvb:len() < off + 19 then
      t:add_proto_expert_info(E.malformed, "record shorter than its header")
      return "Record [malformed]"
    end
    local rt = t:add(dproto, tvb(off), "Record")
    rt:add(DF.conn_id, tvb(off + 1, 8))
    rt:add(DF.epoch, tvb(off + 9, 4))
    local seq = tvb(off + 13, 2):uint() * 4294967296 + tvb(off + 15, 4):uint()
    rt:add(DF.seq, tvb(off + 13, 6), UInt64.new(tvb(off + 15, 4):uint(), tvb(off + 13, 2):uint()))
    local body = tvb(off + 19)
    local key = pinfo.number .. ":" .. off
    local r = results[key]
    if r == nil then
      local conn = tvb(off + 1, 8):raw()
      local sess = sessions[conn] or channel(conn, tvb(off, 19):raw(), body:raw(), pinfo)
      if sess then
        local src = S.endpoint(pinfo.src, pinfo.src_port)
        local dir = src == sess.server and "s2c" or "c2s"
        local d = sess.dirs[dir]
        if d == nil then
          local secret = R.lookup(S.keylog_path(), sess.client_random, R.DGRAM_LABELS[dir])
          d = secret and R.dgram_direction(secret, sess.symmetric, sess.hash) or false
          sess.dirs[dir] = d
        end
        r = d and R.dgram_open(d, tvb(off, 19):raw(), body:raw()) or { err = "no key" }
        r.dir = dir
      else
        r = { err = "no key" }
      end
      results[key] = r
    end
    if r.dir then
      rt:add(F.direction, r.dir)
    end
    rt:add(F.body, body)
    if r.plain == nil then
      rt:add_proto_expert_info(r.err == "no key" and E.no_key or E.bad, r.err)
      return "Record (encrypted)"
    end
    rt:add(F.authentic, r.ok)
    if not r.ok then
      rt:add_proto_expert_info(E.bad, r.err)
      return "Record (did not authenticate)"
    end
    local dtvb = ByteArray.new(r.plain, true):tvb("Decrypted secsess datagram")
    local pt = rt:add(dproto, dtvb(), "Decrypted record")
    pt:add(F.rtype, dtvb(0, 1))
    local info = S.show_payload(pt, dtvb, { type = r.type, seq = seq }, 1)
    local sess = sessions[tvb(off + 1, 8):raw()]
    -- A channel's suite was found by trying: Info names it (a session's is in its Hello).
    local channel = sess and sess.channel and "channel (" .. sess.channel .. ") " or ""
    return string.format("%sepoch=%d %s", channel, r.epoch, info)
  end

  local function dissect(tvb, pinfo, tree)
    local len = tvb:len()
    if len < 1 then
      return 0
    end
    local kind = tvb(0, 1):uint()
    local name = DGRAM_TYPES[kind] or string.format("unknown packet 0x%02x", kind)
    local t = tree:add(dproto, tvb(), "secsess datagram " .. name)
    t:add(DF.type, tvb(0, 1))
    pinfo.cols.protocol = "secsess-dgram"
    local info = name
    if kind == 0x47 then
      info = record(t, tvb, 0, pinfo)
    elseif DGRAM_TYPES[kind] == nil or len < 17 then
      t:add_proto_expert_info(E.malformed, "not a secsess packet")
    else
      t:add(DF.token, tvb(1, 16))
      local token = tvb(1, 16):raw()
      local conv = {}
      if (kind == 0x41 or kind == 0x43) and len >= 18 then
        local cl = tvb(17, 1):uint()
        t:add(DF.cookie_len, tvb(17, 1))
        if cl > 0 and len >= 18 + cl then
          t:add(DF.cookie, tvb(18, cl))
        end
        local _, hinfo = frame(t, tvb, 18 + cl, conv)
        info = info .. (hinfo or "")
        if conv.client_random then
          tokens[token] = {
            client_random = conv.client_random,
            symmetric = conv.symmetric,
            hash = conv.hash,
            server = S.endpoint(pinfo.dst, pinfo.dst_port),
            dirs = {},
          }
        end
      elseif kind == 0x42 then
        frame(t, tvb, 17, conv)
      elseif kind == 0x44 and len >= 25 then
        t:add(DF.conn_id, tvb(17, 8))
        if tokens[token] and tokens[token].client_random then
          sessions[tvb(17, 8):raw()] = tokens[token]
        end
        local after = frame(t, tvb, 25, conv)
        if after then
          info = info .. ", " .. record(t, tvb, after, pinfo)
        end
      elseif kind == 0x45 and len == 33 then
        t:add(DF.cookie, tvb(17, 16))
      elseif kind == 0x46 and len == 19 then
        t:add(F.alert, tvb(17, 2))
        info = info .. " " .. (S.ALERTS[tvb(17, 2):uint()] or "unknown")
      end
    end
    pinfo.cols.info = info
    return len
  end
  dproto.dissector = dissect

  -- The heuristic: a KeyRequest or Hello with the magic in its frame, or a packet whose token
  -- or conn_id such a packet introduced.
  local function heuristic(tvb, pinfo, tree)
    local len = tvb:len()
    if len < 17 then
      return false
    end
    local kind = tvb(0, 1):uint()
    local known
    if (kind == 0x41 or kind == 0x43) and len >= 18 then
      local cl = tvb(17, 1):uint()
      local off = 18 + cl
      known = (cl == 0 or cl == 16) and len >= off + 9 and tvb(off + 4, 4):raw() == "sEsS"
      if known and not tokens[tvb(1, 16):raw()] then
        tokens[tvb(1, 16):raw()] = { dirs = {} } -- filled in by the dissector (Hello)
      end
    elseif kind == 0x47 then
      known = len >= 19 and sessions[tvb(1, 8):raw()] ~= nil
    elseif DGRAM_TYPES[kind] then
      known = tokens[tvb(1, 16):raw()] ~= nil
    end
    if not known then
      return false
    end
    dissect(tvb, pinfo, tree)
    return true
  end
  dproto:register_heuristic("udp", heuristic)
  DissectorTable.get("udp.port"):add_for_decode_as(dproto)
  return dproto
end

return { fields = fields, register = register }
