#!/usr/bin/env node
/**
 * `nest-encryption`: the library's command line (README.md#command-line). One command so far:
 * `adoption status` (docs/plaintext-adoption.md#the-status-command).
 */
import {
  ADOPTION_USAGE,
  CommandIo,
  runAdoptionCommand,
} from './adoption-command';

export const USAGE = `Usage: nest-encryption <command> [options]

Commands:
  adoption status   what is left of the plaintext adoption of encrypted columns

${ADOPTION_USAGE}`;

/** Runs one command line; resolves to the exit status (0, 1, or 2 for a bad command line). */
export async function runCli(argv: string[], io: CommandIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'adoption':
      return runAdoptionCommand(rest, io);
    case 'help':
    case '-h':
    case '--help':
      io.stdout.write(USAGE);
      return 0;
    default:
      io.stderr.write(
        `${command === undefined ? 'no command given' : `unknown command "${command}"`}\n\n${USAGE}`,
      );
      return 2;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
  }).then(
    (status) => {
      process.exitCode = status;
    },
    (error: unknown) => {
      process.stderr.write(
        `nest-encryption: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
