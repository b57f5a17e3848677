// Loaded with `node -r` into a real app process by test/tracing.e2e-spec.ts: as the process exits
// it writes to LOADED_MODULES_FILE every module it loaded (require.cache's keys) and whether
// anything replaced Module.prototype.require (what require-in-the-middle, OpenTelemetry's module
// patcher, does), so the test can tell that tracing left no trace when it was off.
'use strict';
const Module = require('node:module');
const { isMainThread } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');

const target = process.env.LOADED_MODULES_FILE;
const originalRequire = Module.prototype.require;
if (target && isMainThread) {
  process.on('exit', () => {
    writeFileSync(
      target,
      JSON.stringify({
        modules: Object.keys(require.cache),
        requireReplaced: Module.prototype.require !== originalRequire,
      }),
    );
  });
}
