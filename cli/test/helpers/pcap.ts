/**
 * A minimal pcap writer for the Wireshark dissector tests: TCP conversations between
 * 127.0.0.1:clientPort and 127.0.0.1:serverPort built from segments of bytes (LINKTYPE_RAW,
 * IPv4 + TCP headers with running sequence numbers, a SYN exchange first), so that fixed
 * frames (PROTOCOL.md's test vectors) can be fed to tshark split across segments as a real
 * stream would be; and UDP packets (`udpPcap`) for the datagram vectors.
 */

/** One TCP segment's payload and who sent it. */
export interface Segment {
  readonly fromClient: boolean;
  readonly bytes: Buffer;
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function packet(src: number, dst: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(src, 0);
  tcp.writeUInt16BE(dst, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(65535, 14);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 20 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  ip.writeUInt32BE(0x7f000001, 12);
  ip.writeUInt32BE(0x7f000001, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ip, tcp, payload]);
}

const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;

/** One connection: the client's port and its segments in order. */
export interface Conversation {
  readonly clientPort: number;
  readonly segments: readonly Segment[];
}

function conversationPackets({ clientPort, segments }: Conversation, serverPort: number): Buffer[] {
  let clientSeq = 1000;
  let serverSeq = 5000;
  const packets: Buffer[] = [
    packet(clientPort, serverPort, clientSeq++, 0, SYN, Buffer.alloc(0)),
    packet(serverPort, clientPort, serverSeq++, clientSeq, SYN | ACK, Buffer.alloc(0)),
    packet(clientPort, serverPort, clientSeq, serverSeq, ACK, Buffer.alloc(0)),
  ];
  for (const s of segments) {
    if (s.fromClient) {
      packets.push(packet(clientPort, serverPort, clientSeq, serverSeq, PSH | ACK, s.bytes));
      clientSeq += s.bytes.length;
    } else {
      packets.push(packet(serverPort, clientPort, serverSeq, clientSeq, PSH | ACK, s.bytes));
      serverSeq += s.bytes.length;
    }
  }
  return packets;
}

function udpPacket(src: number, dst: number, payload: Buffer): Buffer {
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(src, 0);
  udp.writeUInt16BE(dst, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.writeUInt32BE(0x7f000001, 12);
  ip.writeUInt32BE(0x7f000001, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ip, udp, payload]);
}

/** The pcap file's bytes: one UDP datagram per segment between the two ports. */
export function udpPcap(datagrams: readonly Segment[], clientPort: number, serverPort: number): Buffer {
  return pcapFile(
    datagrams.map((d) =>
      d.fromClient ? udpPacket(clientPort, serverPort, d.bytes) : udpPacket(serverPort, clientPort, d.bytes),
    ),
  );
}

/** The pcap file's bytes: each conversation in turn, its SYN exchange then its segments (PSH|ACK). */
export function tcpPcap(conversations: readonly Conversation[], serverPort: number): Buffer {
  return pcapFile(conversations.flatMap((c) => conversationPackets(c, serverPort)));
}

function pcapFile(packets: readonly Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20); // LINKTYPE_RAW: packets begin with the IP header
  const records = packets.map((p, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000 + i, 0);
    h.writeUInt32LE(p.length, 8);
    h.writeUInt32LE(p.length, 12);
    return Buffer.concat([h, p]);
  });
  return Buffer.concat([header, ...records]);
}
