/** Options every command has (declared globally in parser.ts). */
export interface GlobalArgs {
  json: boolean;
  verbose: boolean;
}
