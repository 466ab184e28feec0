import type { Argv } from 'yargs';

/**
 * Lays examples out as `# description` lines above the whole command, instead of yargs'
 * two columns, where the command column is capped at half the width and long commands are
 * split over several lines (which cannot be copied and pasted):
 *
 *   # write keys/server.key and keys/server.pub
 *   secsess-keygen generate -b 4096 -o keys/server
 *
 * Descriptions are wrapped to `width` here (yargs trims the indentation of continuation
 * lines); each line is one yargs example with an empty description, which yargs prints
 * across the full width. Installed on the parser instance, so the builders of every command
 * (which yargs runs on the same instance) get it through their `.example()` calls.
 */
export function commentedExamples<T>(parser: Argv<T>, width: number): void {
  const example = parser.example.bind(parser) as (command: string, description: string) => Argv<T>;
  const layout = (command: string, description?: string): Argv<T> => {
    for (const line of commentLines(description ?? '', width - 2)) example(line, '');
    return example(command, '');
  };
  (parser as { example: unknown }).example = layout;
}

/** `text` as `# …` lines of at most `width` columns (words longer than that stay whole). */
export function commentLines(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '#' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  if (line !== '#') lines.push(line);
  return lines;
}
