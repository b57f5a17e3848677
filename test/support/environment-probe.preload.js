// Loaded with `node -r` into a real app process by test/environment-hygiene.e2e-spec.ts: on
// SIGUSR2 it writes the process's `process.env` as JSON to the file ENV_PROBE_FILE named at
// start-up, so the test can see the environment the running app keeps (after main.ts removed
// the secrets), not the initial block that /proc/<pid>/environ shows.
'use strict';
const { writeFileSync, renameSync } = require('node:fs');

const target = process.env.ENV_PROBE_FILE;
if (target) {
  process.on('SIGUSR2', () => {
    writeFileSync(`${target}.tmp`, JSON.stringify({ ...process.env }), {
      mode: 0o600,
    });
    renameSync(`${target}.tmp`, target);
  });
}
