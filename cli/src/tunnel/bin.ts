// Entry of the bundled cli/dist/secsess.js: runs `secsess` on this process's arguments.
import { runTunnel } from './main.js';
import { holdEarlySignals } from './signals.js';
import { holdWorkerCommands } from './workers.js';

// Before anything is loaded or listened on (and before any worker thread): a SIGHUP during
// start-up must not kill a daemon, and a SIGTERM once it listens must reach its handler.
holdEarlySignals();
// A worker of `serve --workers`: the primary's commands (a stop while still starting too)
// received from now on, and the signals of a terminal's Ctrl-C ignored.
holdWorkerCommands();

// A daemon whose stderr reader went away (`secsess serve … 2>&1 | head -1`, a log collector
// restarted) must keep serving: a log line that cannot be written is dropped, never fatal
// (the failed write's EPIPE would otherwise be an uncaught 'error').
process.stderr.on('error', () => {});

await runTunnel(process.argv);
