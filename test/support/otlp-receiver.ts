import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An OTLP/JSON attribute value (`{ stringValue: … }`, `{ intValue: … }`…). */
export type OtlpValue = Record<string, unknown>;

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
}

interface OtlpTraceRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: OtlpValue }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

/** One export the app sent: its headers and its body as received. */
export interface OtlpExport {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A minimal OpenTelemetry collector: accepts OTLP/HTTP JSON exports (`POST /v1/traces`) on
 * 127.0.0.1 and keeps them as received, so a test can read the spans an app exported and scan
 * every byte it sent.
 */
export class OtlpReceiver {
  readonly exports: OtlpExport[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined = undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method === 'POST' && request.url === '/v1/traces')
          receiver!.exports.push({
            headers: request.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
      });
    });
    receiver = new OtlpReceiver(server);
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    return receiver;
  }

  /** The base URL to give the app as OTEL_EXPORTER_OTLP_ENDPOINT. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Every span of every export received so far. */
  spans(): OtlpSpan[] {
    return this.requests().flatMap((request) =>
      request.resourceSpans.flatMap((resource) =>
        resource.scopeSpans.flatMap((scope) => scope.spans),
      ),
    );
  }

  /** The resource attributes (`service.name`…) of every export. */
  resources(): Record<string, unknown>[] {
    return this.requests().flatMap((request) =>
      request.resourceSpans.map((resource) =>
        attributesOf(resource.resource.attributes),
      ),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private requests(): OtlpTraceRequest[] {
    return this.exports.map(({ body }) => JSON.parse(body) as OtlpTraceRequest);
  }
}

/** A span's attributes as a plain object (`{ 'http.route': '/v1/contacts/:id' }`). */
export function attributesOf(
  attributes: { key: string; value: OtlpValue }[],
): Record<string, unknown> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [key, Object.values(value)[0]]),
  );
}
