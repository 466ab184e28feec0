/** The CLI's version, printed by `--version`; a test keeps it equal to cli/package.json. */
export const VERSION = '0.1.0';

/** Program name used in usage text and error lines. */
export const PROGRAM = 'secsess-keygen';
