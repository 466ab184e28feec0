/** Where the CLI writes; process.stdout/stderr in the bin, anything with write() in tests. */
export interface TextSink {
  write(chunk: string | Uint8Array): unknown;
  /** True when the sink is a terminal; only then is progress drawn. */
  isTTY?: boolean | undefined;
}

/** The CLI's two output streams. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
}

/**
 * Output rules shared by every command: in `--json` mode stdout carries exactly one JSON
 * document and everything else goes to stderr; otherwise results go to stdout as text.
 */
export class Output {
  constructor(
    readonly io: CliIo,
    readonly json: boolean,
  ) {}

  /** Prints a command's result: `text` lines, or `doc` as the one JSON document. */
  result(text: string, doc: object): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    else this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Raw bytes for stdout (a key written to standard output). Never used in JSON mode. */
  raw(data: Uint8Array): void {
    this.io.stdout.write(data);
  }

  /** Informational line on stderr, in both modes. */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}
