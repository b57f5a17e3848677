import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { isSpanContextValid, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { RedactingSpanExporter } from './redacting-span-exporter';

/** `service.name` unless `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`) names another. */
const DEFAULT_SERVICE_NAME = 'vault-pii-backend';

/** A flush of the last spans at shutdown waits no longer than this for the collector. */
const SHUTDOWN_FLUSH_TIMEOUT_MS = 3000;

export interface TracingRuntime {
  /** Exports the spans still buffered and stops; never rejects, gives up after a few seconds. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK: spans of incoming HTTP requests (health probes and metrics scrapes
 * left out), named by their route template, with the PostgreSQL queries and Redis commands they
 * make as children, exported in batches over OTLP/HTTP through `RedactingSpanExporter`. The standard `OTEL_*`
 * variables (docs/running.md#tracing) are read by the SDK itself: the endpoint and headers by the
 * exporter, the sampler by the provider, the batch delay by the processor.
 */
export function startTracing(env: NodeJS.ProcessEnv): TracingRuntime {
  const provider = new NodeTracerProvider({
    resource: defaultResource()
      .merge(resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME }))
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [
      new BatchSpanProcessor(new RedactingSpanExporter(otlpExporter(env))),
    ],
  });
  // W3C trace context only: an incoming `baggage` header is not carried along.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes (the metrics listener's `GET /metrics`) are not requests of the API.
        ignoreIncomingRequestHook: (request) =>
          /^\/(health\/|metrics(\?|$))/.test(request.url ?? ''),
        requireParentforOutgoingSpans: true,
        responseHook: returnTraceparent,
        applyCustomAttributesOnSpan: nameByRouteTemplate,
      }),
      // Queries and commands within a request only (not the scheduled jobs' or start-up's).
      new PgInstrumentation({
        requireParentSpan: true,
        enhancedDatabaseReporting: false,
      }),
      new IORedisInstrumentation({
        requireParentSpan: true,
        dbStatementSerializer: redisCommandNameOnly,
      }),
    ],
  });
  return {
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_FLUSH_TIMEOUT_MS);
      });
      // A collector that is down must not make the shutdown fail or hang.
      await Promise.race([provider.shutdown().catch(() => undefined), timeout]);
      clearTimeout(timer);
    },
  };
}

/** `http/protobuf` (the OTLP default) or `http/json`, from `OTEL_EXPORTER_OTLP_PROTOCOL`. */
function otlpExporter(env: NodeJS.ProcessEnv): SpanExporter {
  return env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() === 'http/json'
    ? new OtlpJsonTraceExporter()
    : new OtlpProtobufTraceExporter();
}

/**
 * Redis keys hold session ids and values hold wrapped keys: a command is recorded by its name
 * (`evalsha`, `get`), never its arguments.
 */
function redisCommandNameOnly(command: string): string {
  return command;
}

/** What Express adds to a request that a route matched (its documented `req.route`). */
interface RoutedRequest {
  route?: { path?: unknown };
}

/**
 * Nest's catch-all (`/{*splat}`): its middlewares and its 404 handler, which answer requests that
 * no route of the API took.
 */
const CATCH_ALL_ROUTE = /^\/\{\*\w*\}$/;

/**
 * Sets `http.route` and the span's name from the template of the route Express matched
 * (`GET /v1/contacts/:id`), as the response ends. Not `@opentelemetry/instrumentation-express`:
 * it wraps every middleware of every request and names a request that no route matched (a 404, a
 * body refused by a middleware) `/`, a route that does not exist. No route of the API (only the
 * catch-all): the span keeps the method alone as its name. Only `route.path`, never
 * `req.baseUrl`: under a mount path with parameters that holds the actual values (Nest mounts no
 * router, so the path is the whole template).
 */
function nameByRouteTemplate(
  span: Span,
  request: ClientRequest | IncomingMessage,
): void {
  const template = (request as RoutedRequest).route?.path;
  if (typeof template !== 'string' || CATCH_ALL_ROUTE.test(template)) return;
  span.setAttribute('http.route', template);
  span.updateName(`${request.method} ${template}`);
}

/**
 * The response names the request's server span (`traceparent: 00-<trace id>-<span id>-<flags>`),
 * so a client can find its trace. Set as the request arrives, before any handler writes.
 */
function returnTraceparent(
  span: Span,
  response: IncomingMessage | ServerResponse,
): void {
  // Called for the responses of outgoing requests too: those are IncomingMessages.
  if (!('setHeader' in response) || response.headersSent) return;
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return;
  const flags = context.traceFlags.toString(16).padStart(2, '0');
  response.setHeader(
    'traceparent',
    `00-${context.traceId}-${context.spanId}-${flags}`,
  );
}
