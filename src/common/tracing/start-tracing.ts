import { existsSync } from 'node:fs';
import type { TracingRuntime } from './tracing-sdk';

/**
 * main.ts's first import (docs/running.md#tracing). OpenTelemetry instruments `http`, `express`,
 * `pg` and `ioredis` by patching them as they are first required, so the SDK must be running
 * before any other module loads. Without `OTEL_EXPORTER_OTLP_ENDPOINT` nothing is loaded and no
 * hook installed: this file reads one variable and exports `undefined`.
 */

// The variables may come from .env; main() would read it only after every import has loaded.
if (existsSync('.env')) process.loadEnvFile('.env');

/** The started SDK (flushed by main.ts at shutdown), or `undefined` when tracing is off. */
export const tracing: TracingRuntime | undefined =
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() ? startSdk() : undefined;

function startSdk(): TracingRuntime {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy require, not an import: the SDK loads only when tracing is on
  const sdk = require('./tracing-sdk') as typeof import('./tracing-sdk');
  return sdk.startTracing(process.env);
}
