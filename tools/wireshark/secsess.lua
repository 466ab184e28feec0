-- secsess.lua: a Wireshark / tshark (4.0+, Lua 5.2) dissector for the secsess protocol: stream
-- sessions over TCP (PROTOCOL.md §1, §2, §5, §6a) here, datagram sessions over UDP (Part II)
-- in secsess-dgram.lua. It parses every frame, and with a key log (SECSESS_KEYLOG_FILE's
-- lines) decrypts the records of both directions, following KeyUpdate.
--
--   tshark -X lua_script:secsess.lua -o secsess.tcp_port:4000 -o secsess.keylog_file:keys.log -r cap.pcapng -V
--
-- Install: copy the seven secsess*.lua files (this one, -fields, -dgram, -records, -crypto,
-- -aes, -chacha) into Wireshark's personal Lua plugins folder (~/.local/lib/wireshark/plugins/); see
-- README.md beside this file. Connections on other ports are found by a heuristic (a hello's
-- magic).

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
local R = dofile(here .. "secsess-records.lua")
local D = dofile(here .. "secsess-dgram.lua")

local proto = Proto("secsess", "secsess secure session")

local V = dofile(here .. "secsess-fields.lua")
local FRAME_TYPES, RECORD_TYPES, ALERTS = V.FRAME_TYPES, V.RECORD_TYPES, V.ALERTS
local SYMMETRIC, HASH = V.SYMMETRIC, V.HASH
local F = V.fields()

local field_list = D.fields()
for _, f in pairs(F) do
  field_list[#field_list + 1] = f
end
proto.fields = field_list

local E = {
  no_key = ProtoExpert.new("secsess.expert.no_key", "Record not decrypted: no key log entry for this session",
    expert.group.DECRYPTION, expert.severity.NOTE),
  bad = ProtoExpert.new("secsess.expert.auth_failed", "Record did not authenticate",
    expert.group.DECRYPTION, expert.severity.WARN),
  malformed = ProtoExpert.new("secsess.expert.malformed", "Malformed frame", expert.group.MALFORMED, expert.severity.ERROR),
}
proto.experts = { E.no_key, E.bad, E.malformed }

proto.prefs.tcp_port = Pref.uint("TCP port", 0, "The server's TCP port (0: none; the heuristic still finds hellos)")
proto.prefs.udp_port = Pref.uint("UDP port", 0, "A datagram server's UDP port (0: none; the heuristic still finds hellos)")
proto.prefs.keylog_file = Pref.string("Key log file", "",
  "SECSESS_KEYLOG_FILE's file; empty: the SECSESS_KEYLOG_FILE environment variable")

local tcp_table, udp_table = DissectorTable.get("tcp.port"), DissectorTable.get("udp.port")
local registered_port, registered_udp, dgram_proto = 0, 0, nil
function proto.prefs_changed()
  if registered_port ~= 0 then
    tcp_table:remove(registered_port, proto)
  end
  registered_port = proto.prefs.tcp_port
  if registered_port ~= 0 then
    tcp_table:add(registered_port, proto)
  end
  if registered_udp ~= 0 then
    udp_table:remove(registered_udp, dgram_proto)
  end
  registered_udp = proto.prefs.udp_port
  if registered_udp ~= 0 then
    udp_table:add(registered_udp, dgram_proto)
  end
end

local function keylog_path()
  local p = proto.prefs.keylog_file
  if p == nil or p == "" then
    p = os.getenv("SECSESS_KEYLOG_FILE")
  end
  return p
end

local conversations = {} -- connection (both endpoints) → state, built on the first pass
local records = {} -- "frame:first bytes" → what R.open returned, for every later pass

local function endpoint(addr, port)
  return tostring(addr) .. "/" .. tostring(port)
end

-- The connection's key: its two endpoints, in a fixed order. (Field extractors such as
-- tcp.stream are not filled on tshark's first pass without a tree, so they cannot be used.)
local function connection(pinfo)
  local a, b = endpoint(pinfo.src, pinfo.src_port), endpoint(pinfo.dst, pinfo.dst_port)
  if a > b then
    a, b = b, a
  end
  return a .. " " .. b
end

local function conversation(pinfo)
  local id = connection(pinfo)
  local conv = conversations[id]
  if not conv then
    conv = {}
    conversations[id] = conv
  end
  return conv
end

local function printable(s)
  return #s > 0 and not s:find("[^\32-\126\t\r\n]")
end

-- Adds the fields of one record's decrypted payload (dtvb: the inner plaintext, its payload
-- from offset b: 13 in a stream record, 1 in a datagram one); returns the Info column's words.
local function show_payload(t, dtvb, r, b)
  local plen = dtvb:len() - b
  local p = plen > 0 and dtvb(b, plen) or nil
  local name = RECORD_TYPES[r.type] or string.format("type 0x%02x", r.type)
  local info = string.format("%s seq=%d", name, r.seq)
  local kind = r.type
  if (kind == 0x01 or kind == 0x02) and p then
    t:add(F.data, p)
    local s = p:raw()
    if printable(s) then
      t:add(F.text, p, s)
      info = info .. string.format(" %q", #s > 40 and s:sub(1, 40) .. "…" or s)
    else
      info = info .. " (" .. plen .. " bytes)"
    end
  elseif kind == 0x03 and p then
    local o, n = b, 0
    while o + 4 <= dtvb:len() do
      local len = dtvb(o, 4):uint()
      if o + 4 + len > dtvb:len() then
        t:add_proto_expert_info(E.malformed, "batch entry runs past the payload")
        break
      end
      local et = t:add(F.batch_len, dtvb(o, 4))
      if len > 0 then
        local entry = dtvb(o + 4, len)
        et:add(F.batch_entry, entry)
        t:add(F.data, entry)
        if printable(entry:raw()) then
          t:add(F.text, entry, entry:raw())
        end
      end
      o, n = o + 4 + len, n + 1
    end
    info = info .. " (" .. n .. " messages)"
  elseif kind == 0x04 and plen >= 2 then
    local code = dtvb(b, 2):uint()
    t:add(F.close_code, dtvb(b, 2))
    local reason = plen > 2 and dtvb(b + 2, plen - 2):raw() or ""
    t:add(F.close_reason, plen > 2 and dtvb(b + 2, plen - 2) or dtvb(b, 2), reason)
    info = info .. string.format(" %d %q", code, reason)
  elseif kind == 0x05 or kind == 0x06 then
    if p then
      t:add(kind == 0x05 and F.ping or F.pong, p)
    end
  elseif kind == 0x08 and plen == 2 then
    t:add(F.alert, dtvb(b, 2))
    info = info .. " " .. (ALERTS[dtvb(b, 2):uint()] or "unknown")
  elseif kind == 0x0a and plen >= 6 then
    t:add(F.lifetime, dtvb(b, 4))
    t:add(F.ticket_len, dtvb(b + 4, 2))
    if plen > 6 then
      t:add(F.ticket, dtvb(b + 6, plen - 6))
    end
  elseif kind == 0x10 and p then
    t:add(F.proof, p)
  elseif kind == 0x11 and p then
    t:add(F.fin_flags, dtvb(b, 1))
    if plen > 3 then
      local n = dtvb(b + 1, 2):uint()
      t:add(F.spki_len, dtvb(b + 1, 2))
      if n > 0 and b + 3 + n <= dtvb:len() then
        t:add(F.spki, dtvb(b + 3, n))
      end
      if b + 5 + n <= dtvb:len() then
        local m = dtvb(b + 3 + n, 2):uint()
        if m > 0 and b + 5 + n + m <= dtvb:len() then
          t:add(F.signature, dtvb(b + 5 + n, m))
        end
      end
    end
  end
  return info
end

local function dissect_record(t, tvb, pinfo, conv, c2s)
  local dir = c2s and "c2s" or "s2c"
  if tvb:len() <= 4 then
    t:add_proto_expert_info(E.malformed, "record with an empty body")
    return "Record [malformed]"
  end
  local body = tvb(4)
  local key = pinfo.number .. ":" .. tvb:raw(0, math.min(tvb:len(), 40))
  local r = records[key]
  if not pinfo.visited and r == nil then
    local d = conv.dirs and conv.dirs[dir]
    if d == nil and conv.dirs and conv.client_random then
      local secret = R.lookup(keylog_path(), conv.client_random, R.LABELS[dir])
      d = secret and R.direction(secret, conv.symmetric, conv.hash) or false
      conv.dirs[dir] = d
    end
    if d then
      r = R.open(d, body:raw())
    else
      r = { err = "no key" }
    end
    r.dir = dir
    records[key] = r
  end
  t:add(F.direction, dir)
  if r == nil or r.plain == nil then
    t:add(F.body, body)
    if r == nil or r.err == "no key" then
      t:add_proto_expert_info(E.no_key)
    else
      t:add_proto_expert_info(E.bad, r.err)
    end
    return "Record (encrypted)"
  end
  t:add(F.body, body)
  local dtvb = ByteArray.new(r.plain, true):tvb("Decrypted secsess record")
  local rt = t:add(proto, dtvb(), "Decrypted record")
  rt:add(F.generation, r.generation)
  rt:add(F.authentic, r.ok)
  if not r.ok then
    rt:add_proto_expert_info(E.bad, r.err)
    return "Record (did not authenticate)"
  end
  rt:add(F.seq, dtvb(0, 8))
  rt:add(F.rtype, dtvb(8, 1))
  rt:add(F.plen, dtvb(9, 4))
  local info = show_payload(rt, dtvb, r, 13)
  if r.message and #r.message > 0 then
    local mtvb = ByteArray.new(r.message, true):tvb("Reassembled secsess message")
    rt:add(F.message, mtvb())
  end
  return info
end

-- A plaintext frame's body, field by field; returns false where it runs short.
local function parse_hello(t, tvb, kind, conv, first_pass)
  local len = tvb:len()
  local o = 4
  local function take(field, n)
    if o + n > len then
      t:add_proto_expert_info(E.malformed, "frame body too short")
      return nil
    end
    local range = tvb(o, n)
    if field then
      t:add(field, range)
    end
    o = o + n
    return range
  end
  if kind == 0x15 then
    local code = take(F.alert, 2)
    return code and (ALERTS[code:uint()] or "unknown") or nil
  end
  if not (take(F.magic, 4) and take(F.version, 1)) then
    return nil
  end
  if kind == 0x01 or kind == 0x06 then
    return ""
  elseif kind == 0x02 then
    local n = take(F.spki_len, 2)
    return n and take(F.spki, n:uint()) and ""
  end
  local sym, hash
  if not (take(F.asym, 1) and take(F.sym, 1) and take(F.hash, 1)) then
    return nil
  end
  sym, hash = tvb(10, 1):uint(), tvb(11, 1):uint()
  local info = string.format(" %s/%s", SYMMETRIC[sym] or "?", HASH[hash] or "?")
  if kind == 0x04 then
    take(F.server_random, 32)
    take(F.server_x25519, 32)
    if first_pass then
      conv.symmetric, conv.hash = sym, hash
    end
    return info
  end
  local flags = take(F.flags, 1)
  if flags then
    t:add(F.flag_auth, flags)
    t:add(F.flag_tickets, flags)
  end
  local cr = take(F.client_random, 32)
  take(F.client_x25519, 32)
  take(F.key_id, 32)
  if kind == 0x03 then
    local n = take(F.ct_len, 2)
    if n then
      take(F.encrypted_secret, n:uint())
    end
  else
    local n = take(F.ticket_len, 2)
    if n then
      take(F.ticket, n:uint())
      local h = R.HASHES[hash]
      take(F.binder, h and h.len or len - o)
    end
  end
  if first_pass and cr and R.SYMMETRIC[sym] and R.HASHES[hash] then
    -- A hello starts the session's keys anew (a ResumeRefused is followed by a ClientHello).
    conv.client_random, conv.symmetric, conv.hash, conv.dirs = cr:raw(), sym, hash, {}
    R.remember_suite(cr:raw(), sym, hash)
  end
  return info
end

local function dissect_frame(tvb, pinfo, tree, conv)
  local kind = tvb(0, 1):uint()
  local name = FRAME_TYPES[kind] or string.format("unknown frame 0x%02x", kind)
  local t = tree:add(proto, tvb(), "secsess " .. name)
  t:add(F.type, tvb(0, 1))
  t:add(F.length, tvb(1, 3))
  local src, dst = endpoint(pinfo.src, pinfo.src_port), endpoint(pinfo.dst, pinfo.dst_port)
  if not pinfo.visited and conv.client == nil then
    if kind == 0x01 or kind == 0x03 or kind == 0x05 or pinfo.dst_port == registered_port then
      conv.client = src
    elseif kind == 0x02 or kind == 0x04 or kind == 0x06 or pinfo.src_port == registered_port then
      conv.client = dst
    end
  end
  if kind == 0x17 then
    if conv.client == nil then
      t:add(F.body, tvb(4))
      return "Record (direction unknown)"
    end
    return dissect_record(t, tvb, pinfo, conv, conv.client == src)
  end
  if FRAME_TYPES[kind] == nil then
    t:add_proto_expert_info(E.malformed, "not a secsess frame type")
    return name
  end
  local info = parse_hello(t, tvb, kind, conv, not pinfo.visited)
  return name .. (info or " [malformed]")
end

-- Frame body limits (§1): a handshake frame's, and the largest record limit of any suite.
local MAX_HANDSHAKE_BODY, MAX_RECORD_BODY = 4096, 65632

local function dissect(tvb, pinfo, tree)
  local len = tvb:len()
  local mine = tostring(pinfo.cols.protocol) == "secsess"
  local conv = conversation(pinfo)
  local infos = {}
  local offset = 0
  while offset < len do
    local remaining = len - offset
    if remaining < 4 then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      break
    end
    local kind, length = tvb(offset, 1):uint(), tvb(offset + 1, 3):uint()
    if FRAME_TYPES[kind] == nil or length > (kind == 0x17 and MAX_RECORD_BODY or MAX_HANDSHAKE_BODY) then
      -- Not a secsess frame header (§1's limits): the rest of this data is not ours to frame.
      local t = tree:add(proto, tvb(offset), "secsess (not a frame)")
      t:add_proto_expert_info(E.malformed, "not a secsess frame header: type or length out of bounds")
      infos[#infos + 1] = "[not a secsess frame]"
      break
    end
    local size = 4 + length
    if remaining < size then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = size - remaining
      break
    end
    infos[#infos + 1] = dissect_frame(tvb(offset, size):tvb(), pinfo, tree, conv)
    offset = offset + size
  end
  if #infos > 0 then
    pinfo.cols.protocol = "secsess"
    local text = table.concat(infos, ", ")
    if mine then
      pinfo.cols.info:append(", " .. text)
    else
      pinfo.cols.info = text
    end
  end
  return len
end

proto.dissector = dissect
tcp_table:add_for_decode_as(proto)

-- The heuristic: a conversation it has taken before, or a first frame that is a
-- KeyRequest, ClientHello or ResumeHello with the magic and version 1.
local heuristic_streams = {}

-- A new file, or a redissection (new preferences: another key log): everything anew.
function proto.init()
  conversations, records, heuristic_streams = {}, {}, {}
end
local function heuristic(tvb, pinfo, tree)
  local id = connection(pinfo)
  if not heuristic_streams[id] then
    if tvb:len() < 9 then
      return false
    end
    local kind, size = tvb(0, 1):uint(), tvb(1, 3):uint()
    if not (kind == 0x01 or kind == 0x03 or kind == 0x05) or size > 4096 then
      return false
    end
    if tvb(4, 4):raw() ~= "sEsS" or tvb(8, 1):uint() ~= 1 then
      return false
    end
    heuristic_streams[id] = true
  end
  dissect(tvb, pinfo, tree)
  return true
end
proto:register_heuristic("tcp", heuristic)

dgram_proto = D.register({
  F = F,
  E = E,
  R = R,
  ALERTS = ALERTS,
  parse_hello = parse_hello,
  show_payload = show_payload,
  keylog_path = keylog_path,
  endpoint = endpoint,
})
