import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { RedactingSpanExporter } from './redacting-span-exporter';

/** Spans as the instrumentations record them, through the exporter every span leaves by. */
describe('RedactingSpanExporter (docs/running.md#tracing: what is never recorded)', () => {
  const exported = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({
    spanProcessors: [
      new SimpleSpanProcessor(new RedactingSpanExporter(exported)),
    ],
  }).getTracer('test');

  afterEach(() => exported.reset());

  it('a server span keeps its method, route template and status, and is named from them; no URL, query, address, agent or header', () => {
    const span = tracer.startSpan('GET', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.full': 'http://api/v1/contacts/6f1c…?email=grace%40example.org',
        'url.path': '/v1/contacts/6f1c',
        'url.query': 'email=grace%40example.org',
        'url.scheme': 'http',
        'server.address': 'api',
        'client.address': '203.0.113.7',
        'user_agent.original': 'curl/8',
        'http.request.header.authorization': ['Bearer eyJ…'],
      },
    });
    span.setAttributes({
      'http.route': '/v1/contacts/:id',
      'http.response.status_code': 200,
    });
    span.end();

    const [redacted] = exported.getFinishedSpans();
    expect(redacted.name).toBe('GET /v1/contacts/:id');
    expect(redacted.attributes).toEqual({
      'http.request.method': 'GET',
      'http.route': '/v1/contacts/:id',
      'http.response.status_code': 200,
      'url.scheme': 'http',
    });
    expect(redacted.spanContext()).toEqual(span.spanContext());
  });

  it('a server span that matched no route is named by its method alone, whatever the instrumentation named it', () => {
    tracer
      .startSpan('GET /v1/contacts/6f1c?email=grace@example.org', {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': 'GET' },
      })
      .end();
    expect(exported.getFinishedSpans()[0].name).toBe('GET');
  });

  it('a query span keeps the parameterised SQL, never the values or the connection string', () => {
    tracer
      .startSpan('SELECT vault', {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': 'vault',
          'db.query.text': 'SELECT "id" FROM "contacts" WHERE "id" = $1',
          'db.postgresql.values': ['6f1c'],
          'db.connection_string': 'postgresql://app:pw@db:5432/vault',
          'server.address': 'db',
          'server.port': 5432,
        },
      })
      .end();
    expect(exported.getFinishedSpans()[0].attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': 'vault',
      'db.query.text': 'SELECT "id" FROM "contacts" WHERE "id" = $1',
      'server.address': 'db',
      'server.port': 5432,
    });
  });

  it('an error keeps its status code and exception type, not its message, stack trace or link attributes', () => {
    const span = tracer.startSpan('SELECT vault', {
      kind: SpanKind.CLIENT,
      links: [
        {
          context: tracer.startSpan('other').spanContext(),
          attributes: { note: 'grace@example.org' },
        },
      ],
    });
    const error = new TypeError(
      'invalid input syntax for type uuid: "grace@example.org"',
    );
    span.recordException(error);
    span.addEvent('note', { email: 'grace@example.org' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.end();

    const redacted = exported
      .getFinishedSpans()
      .find((candidate) => candidate.name === 'SELECT vault')!;
    expect(redacted.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(
      redacted.events.map(({ name, attributes }) => ({ name, attributes })),
    ).toEqual([
      { name: 'exception', attributes: { 'exception.type': 'TypeError' } },
      { name: 'note', attributes: {} },
    ]);
    expect(redacted.links[0].attributes).toBeUndefined();
    expect(JSON.stringify(redacted.events)).not.toContain('grace');
  });
});
