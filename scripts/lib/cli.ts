/**
 * The shared front of every script's command line: `--help`/`-h` prints the usage and exits 0, and a
 * flag the script does not know prints the reason and the usage and exits 2, never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Prints `usage` and exits 0 when the arguments ask for help. Call before anything else runs. */
export function exitOnHelp(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
}

/** Prints `message` and the usage to stderr and exits 2 (a usage error). */
export function usageError(message: string, usage: string): never {
  console.error(`error: ${message}\n\n${usage}`);
  process.exit(2);
}

/** node:util parseArgs behind `exitOnHelp`, with its errors (unknown flag, missing value) turned into usage errors. */
export function parseArgsOrExit<T extends NonNullable<ParseArgsConfig['options']>>(options: T, usage: string, argv: string[] = process.argv.slice(2)) {
  exitOnHelp(usage, argv);
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err), usage);
  }
}

/** For scripts configured by environment variables only: `--help` prints the usage, any argument is a usage error. */
export function acceptNoArguments(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
  exitOnHelp(usage, argv);
  if (argv.length > 0) usageError(`unexpected argument '${argv[0]}' (this script is configured by environment variables)`, usage);
}
