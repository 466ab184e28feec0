import { randomBytes } from 'node:crypto';
import { datagramContexts } from '@secsess/sdk/core';

// Keys from anywhere both sides share (at least 32 bytes): one secret keys one pair of contexts.
const secret = randomBytes(32);
const sender = datagramContexts(secret, 'client');
const receiver = datagramContexts(secret, 'server');

const packet = sender.outbound.encode(Buffer.from('temperature 21.5')); // one UDP payload
console.log(String(receiver.inbound.decode(packet))); // temperature 21.5
const again = receiver.inbound.open(packet); // the network (or an attacker) repeats it
console.log(again.ok ? 'delivered twice' : again.reason); // duplicate
const forged = Buffer.from(sender.outbound.encode(Buffer.from('temperature 99')));
forged[forged.length - 1]! ^= 1;
try {
  receiver.inbound.decode(forged);
} catch (err) {
  console.log((err as { code?: string }).code); // ERR_RECORD_AUTH
}
console.log(receiver.inbound.counters); // received 3, opened 1, duplicates 1, authFailures 1, …
