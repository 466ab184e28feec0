// Entry of the bundled cli/dist/secsess-keygen.js: runs the CLI on this process's arguments.
import { run } from './main.js';

await run(process.argv);
