// Entry of the bundled cli/dist/secsess.js: runs `secsess` on this process's arguments.
import { runTunnel } from './main.js';

await runTunnel(process.argv);
