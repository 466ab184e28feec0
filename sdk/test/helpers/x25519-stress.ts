/**
 * Child process for the X25519 deadlock regression test: makes `argv[2]` fresh keys and
 * prints "done". Run with a tiny young generation (`--max-semi-space-size=1`) so collections
 * happen often; the old key code hung in 4 runs out of 4 at 20 000 keys.
 */
import { x25519Key } from '../../src/protocol/asymmetric.js';

const count = Number(process.argv[2] ?? 20_000);
for (let i = 0; i < count; i++) x25519Key();
process.stdout.write('done\n');
