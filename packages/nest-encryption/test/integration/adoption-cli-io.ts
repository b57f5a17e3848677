import type { CommandIo } from '../../src/cli/adoption-command';

/** A `CommandIo` that keeps what the command writes; stderr is not a terminal. */
export function recordingIo(): {
  io: CommandIo;
  stdout: () => string;
  stderr: () => string;
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (text: string) => out.push(text) },
      stderr: { write: (text: string) => err.push(text), isTTY: false },
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}
