#!/usr/bin/env node
/**
 * `nest-encryption`: the library's command line (README.md#command-line). No commands yet; it says
 * so and exits with the usage status.
 */
process.stderr.write('usage: nest-encryption <command>\n(no commands yet)\n');
process.exitCode = 64;
