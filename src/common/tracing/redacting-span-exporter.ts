import { type Attributes, SpanKind } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type {
  ReadableSpan,
  SpanExporter,
  TimedEvent,
} from '@opentelemetry/sdk-trace-base';

/**
 * The attributes a server span may leave the process with. Not the URL (`url.full`, `url.path`,
 * `url.query`: its path holds ids, its query string emails and phone numbers), not the client's
 * address, user agent or Host header: the route template names the request.
 */
const SERVER_SPAN_ATTRIBUTES: ReadonlySet<string> = new Set([
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'url.scheme',
  'network.protocol.version',
  'error.type',
]);

/**
 * The attributes any other span (a PostgreSQL query, a Redis command, an outgoing request) may
 * carry. `db.query.text` is the parameterised SQL (values travel apart from it and are never
 * recorded), or for Redis the command's name alone (`redisCommandNameOnly`).
 */
const INNER_SPAN_ATTRIBUTES: ReadonlySet<string> = new Set([
  'http.request.method',
  'http.response.status_code',
  'error.type',
  'db.system.name',
  'db.namespace',
  'db.operation.name',
  'db.query.text',
  'server.address',
  'server.port',
]);

/**
 * Every span leaves the process through this exporter, which copies it with an allow-list of
 * attributes, so an instrumentation that records something new records nothing until it is
 * listed here. Error messages are dropped too (a PostgreSQL error can quote a value:
 * `invalid input syntax for type uuid: "…"`): status codes and exception types remain.
 * A server span is named from its method and route template (`GET /v1/contacts/:id`), or its
 * method alone when no route matched.
 */
export class RedactingSpanExporter implements SpanExporter {
  constructor(private readonly next: SpanExporter) {}

  export(
    spans: ReadableSpan[],
    resultCallback: (result: ExportResult) => void,
  ): void {
    this.next.export(spans.map(redactSpan), resultCallback);
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush?.() ?? Promise.resolve();
  }
}

export function redactSpan(span: ReadableSpan): ReadableSpan {
  const server = span.kind === SpanKind.SERVER;
  const attributes = allowed(
    span.attributes,
    server ? SERVER_SPAN_ATTRIBUTES : INNER_SPAN_ATTRIBUTES,
  );
  return {
    name: server ? serverSpanName(attributes) : span.name,
    kind: span.kind,
    spanContext: () => span.spanContext(),
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: { code: span.status.code },
    attributes,
    links: span.links.map((link) => ({ context: link.context })),
    events: span.events.map(redactEvent),
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** An exception event keeps its type (`QueryFailedError`), not its message or stack trace. */
function redactEvent(event: TimedEvent): TimedEvent {
  const type = event.attributes?.['exception.type'];
  return {
    name: event.name,
    time: event.time,
    attributes: type === undefined ? {} : { 'exception.type': type },
  };
}

function serverSpanName(attributes: Attributes): string {
  const method = attributes['http.request.method'];
  const route = attributes['http.route'];
  const name = typeof method === 'string' ? method : 'HTTP';
  return typeof route === 'string' ? `${name} ${route}` : name;
}

function allowed(
  attributes: Attributes,
  keys: ReadonlySet<string>,
): Attributes {
  const kept: Attributes = {};
  for (const [key, value] of Object.entries(attributes))
    if (keys.has(key)) kept[key] = value;
  return kept;
}
