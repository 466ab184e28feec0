/**
 * Debug output for the transport layer: `NODE_DEBUG=secsess node app.js`. Messages name
 * sessions by remote address and state only; key material, plaintext and secrets never
 * reach this log.
 */
import { debuglog } from 'node:util';

export const debug = debuglog('secsess');
