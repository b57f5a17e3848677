import { randomUUID } from 'node:crypto';
import {
  HttpAnswer,
  HttpClient,
  HttpRequest,
  transportErrorName,
} from './http-client';

/** A seeded PRNG (mulberry32): the same seed walks the same requests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  allOf?: Schema[];
}

interface Operation {
  method: string;
  path: string;
  parameters?: { name: string; in: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: unknown[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
  components?: { schemas?: Record<string, Schema> };
}

/** One request the fuzzer sent that broke a rule. */
export interface FuzzViolation {
  operation: string;
  mutation: string;
  status: number | string;
  rule: string;
}

export interface FuzzReport {
  seed: number;
  operations: number;
  requests: number;
  byStatus: Record<string, number>;
  perOperation: Record<string, number>;
  violations: FuzzViolation[];
}

/** The caller's session, as the fuzzer uses it (and renews it when a fuzzed logout ends it). */
export interface FuzzSession {
  accessToken(): string;
  renew(): Promise<void>;
  /** Ids of resources that exist and belong to the session's user, by path template. */
  realIds: Record<string, string>;
}

const JSON_BODY_LIMIT = 102_400;
const WEIRD_VALUES: unknown[] = [
  123,
  -1,
  0,
  1.5e308,
  true,
  false,
  [],
  {},
  null,
  [null],
  { nested: { deeper: [1, 'x'] } },
  '',
  ' ',
];
const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'application/json, text/plain',
];
const PATH_JUNK = [
  '%ED%A0%80',
  '%zz',
  '%00',
  '..%2F..%2Fetc%2Fpasswd',
  '%F0%9F%92%A9',
  '00000000-0000-0000-0000-000000000000',
  'null',
  '-1',
  '%EF%BF%BF',
];

/**
 * Walks every operation of the OpenAPI document with seeded bad requests: wrong types, missing
 * and extra fields, huge strings, lone surrogates, nulls, malformed JSON, wrong content types,
 * bad path and query parameters; authenticated (the session's token), with a forged token, and
 * with none. Each request carries a canary string; the rules: no answer ≥ 500, every error is
 * `application/problem+json`, no error echoes the canary (body or headers).
 */
export class ApiFuzzer {
  private readonly components: Record<string, Schema>;
  readonly report: FuzzReport;

  constructor(
    private readonly document: OpenApiDocument,
    private readonly client: HttpClient,
    private readonly session: FuzzSession,
    readonly seed: number,
  ) {
    this.components = document.components?.schemas ?? {};
    this.report = {
      seed,
      operations: 0,
      requests: 0,
      byStatus: {},
      perOperation: {},
      violations: [],
    };
  }

  operations(): Operation[] {
    const found: Operation[] = [];
    for (const [path, methods] of Object.entries(this.document.paths))
      for (const [method, operation] of Object.entries(methods))
        found.push({ ...operation, method: method.toUpperCase(), path });
    return found;
  }

  /** `perOperation` requests for every operation, `concurrency` in flight. */
  async run(perOperation: number, concurrency = 8): Promise<FuzzReport> {
    const operations = this.operations();
    this.report.operations = operations.length;
    for (const [index, operation] of operations.entries()) {
      const random = seededRandom(this.seed + index * 7919);
      const cases = Array.from({ length: perOperation }, (_, i) =>
        this.generate(
          operation,
          random,
          `cnry${this.seed.toString(36)}q${index}q${i}z`,
        ),
      );
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let next = cases.shift(); next; next = cases.shift())
            await this.send(operation, next);
        }),
      );
    }
    return this.report;
  }

  private async send(operation: Operation, fuzzCase: FuzzCase): Promise<void> {
    const name = `${operation.method} ${operation.path}`;
    this.report.requests++;
    this.report.perOperation[name] = (this.report.perOperation[name] ?? 0) + 1;
    const request = fuzzCase.request;
    if (request.token === 'SESSION') request.token = this.session.accessToken();
    const violation = (status: number | string, rule: string) =>
      this.report.violations.push({
        operation: name,
        mutation: fuzzCase.mutation,
        status,
        rule,
      });
    let answer: HttpAnswer;
    try {
      answer = await this.client.send(request);
    } catch (error) {
      const outcome = `transport ${transportErrorName(error)}`;
      this.count(outcome);
      // A body over the limit is answered 413 and the connection closed unread: the rest of
      // the upload may then fail to be written. Any other request must get an answer.
      if (!fuzzCase.oversize) violation(outcome, 'no HTTP answer');
      return;
    }
    this.count(String(answer.status));
    if (answer.status >= 500) violation(answer.status, 'answer ≥ 500');
    if (answer.status >= 400) {
      const type = String(answer.headers['content-type'] ?? '');
      if (!type.startsWith('application/problem+json'))
        violation(answer.status, `error as ${type || 'no content type'}`);
      const echoed =
        echoableBody(answer.body).includes(fuzzCase.canary) ||
        JSON.stringify(answer.headers).includes(fuzzCase.canary);
      if (echoed) violation(answer.status, 'input echoed in the error');
    }
    if (
      request.token &&
      answer.status === 401 &&
      request.token === this.session.accessToken() &&
      (answer.code === 'session_locked' || answer.code === 'invalid_token')
    )
      await this.session.renew();
  }

  private count(outcome: string): void {
    this.report.byStatus[outcome] = (this.report.byStatus[outcome] ?? 0) + 1;
  }

  private generate(
    operation: Operation,
    random: () => number,
    canary: string,
  ): FuzzCase {
    const pick = <T>(items: readonly T[]): T =>
      items[Math.floor(random() * items.length)];
    const bodySchema =
      operation.requestBody?.content['application/json']?.schema;
    const pathParams = (operation.parameters ?? []).filter(
      (p) => p.in === 'path',
    );
    const queryParams = (operation.parameters ?? []).filter(
      (p) => p.in === 'query',
    );
    const kinds = ['auth', 'body', 'body', 'body', 'contentType'];
    if (pathParams.length) kinds.push('path', 'path');
    if (queryParams.length) kinds.push('query', 'query', 'query');
    const kind = pick(kinds);

    const authRoll = random();
    const token =
      authRoll < 0.65
        ? 'SESSION'
        : authRoll < 0.8
          ? undefined
          : pick([
              `${canary}`,
              `eyJhbGciOiJub25lIn0.${Buffer.from(`{"sub":"${canary}"}`).toString('base64url')}.`,
              `${canary}.${canary}.${canary}`,
            ]);
    let path = operation.path;
    for (const param of pathParams) {
      const real = this.session.realIds[operation.path];
      const value =
        kind === 'path'
          ? pick([
              canary,
              `${canary}${pick(PATH_JUNK)}`,
              encodeURIComponent(`${canary}\u202e\u0000`),
              `${randomUUID()}${canary}`,
              canary.repeat(300),
              `${canary}/..`,
            ])
          : real && operation.method !== 'DELETE' && random() < 0.6
            ? real
            : randomUUID();
      path = path.replace(`{${param.name}}`, value);
    }
    let mutation = kind;
    if (kind === 'query') {
      const params = new URLSearchParams();
      for (const param of queryParams)
        if (random() < 0.5)
          params.set(param.name, this.badQueryValue(param.name, canary, pick));
      if (random() < 0.3) params.set('unexpected', canary);
      if (random() < 0.2 && queryParams.length) {
        const repeated = pick(queryParams).name;
        params.append(repeated, '1');
        params.append(repeated, canary);
      }
      let query = params.toString();
      if (random() < 0.15)
        query += `&${pick(queryParams).name}=%ED%A0%80${canary}`;
      if (random() < 0.1) query += `&%=${canary}&unexpected%ZZ=${canary}`;
      path = `${path}?${query}`;
      mutation = `query ${query.slice(0, 120)}`;
    }

    const request: HttpRequest = {
      method: operation.method,
      path,
      token,
      timeoutMs: 60_000,
    };
    let oversize = false;
    if (kind === 'body' || kind === 'contentType' || bodySchema) {
      const valid = bodySchema ? this.example(bodySchema, canary) : {};
      const body =
        kind === 'body' || kind === 'contentType'
          ? this.mutateBody(valid, bodySchema, canary, random, pick)
          : { json: valid, mutation: 'valid body' };
      if (kind === 'contentType') {
        request.raw = JSON.stringify(body.json ?? valid);
        request.contentType = pick(CONTENT_TYPES);
        mutation = `content type ${request.contentType}`;
      } else if (body.raw !== undefined) {
        request.raw = body.raw;
        request.contentType = 'application/json';
        mutation = body.mutation;
        oversize = Buffer.byteLength(body.raw) > JSON_BODY_LIMIT;
      } else {
        request.json = body.json;
        if (kind === 'body') mutation = body.mutation;
        oversize =
          Buffer.byteLength(JSON.stringify(body.json)) > JSON_BODY_LIMIT;
      }
    }
    if (!bodySchema && kind === 'auth' && random() < 0.3) {
      request.json = { unexpected: canary };
      mutation = 'body on a route that takes none';
    }
    return {
      request,
      canary,
      mutation: `${mutation}; auth ${token === 'SESSION' ? 'session' : token ? 'forged' : 'none'}`,
      oversize,
    };
  }

  private badQueryValue(
    name: string,
    canary: string,
    pick: <T>(items: readonly T[]) => T,
  ): string {
    const cursors = [
      canary,
      Buffer.from(`${canary}|not-a-date`).toString('base64url'),
      Buffer.from(
        JSON.stringify(['-271821-04-20T00:00:00.000Z', canary]),
      ).toString('base64url'),
      Buffer.from(
        JSON.stringify({ createdAt: '0001-01-01T00:00:00Z', id: canary }),
      ).toString('base64url'),
      Buffer.from(`-4714-11-24T00:00:00.000Z|${randomUUID()}`).toString(
        'base64url',
      ),
      Buffer.from(`275760-09-13T00:00:00.000Z,${randomUUID()}`).toString(
        'base64url',
      ),
      'A'.repeat(201),
    ];
    const generic = [
      canary,
      '-1',
      '0',
      '101',
      '1e3',
      '2.5',
      '',
      ' ',
      'null',
      `${canary}\u0000`,
      canary.repeat(400),
    ];
    if (name === 'cursor') return pick([...cursors, ...generic]);
    if (name === 'email')
      return pick([
        `${canary}@`,
        `${canary}@example.org\ud800`,
        `${canary}@exa%mple.org`,
        `${canary}@${'x'.repeat(300)}.org`,
        ...generic,
      ]);
    return pick(generic);
  }

  private mutateBody(
    valid: Record<string, unknown>,
    schema: Schema | undefined,
    canary: string,
    random: () => number,
    pick: <T>(items: readonly T[]) => T,
  ): { json?: unknown; raw?: string; mutation: string } {
    const resolved = schema ? this.resolve(schema) : {};
    const fields = Object.keys(resolved.properties ?? {});
    // Field names are the API's own (an error names the field it refuses, by design: `errors[].field`);
    // the canary goes in values only, which no error may repeat.
    const field = fields.length ? pick(fields) : 'unexpected';
    const body: Record<string, unknown> = { ...valid };
    const which = pick([
      'wrongType',
      'wrongType',
      'missing',
      'extra',
      'huge',
      'surrogate',
      'surrogate',
      'null',
      'null',
      'malformed',
      'topLevel',
      'deep',
      'proto',
      'unicode',
      'oversize',
      'numbers',
      'empty',
      'allNull',
    ]);
    switch (which) {
      case 'wrongType':
        body[field] = pick(WEIRD_VALUES);
        body[pick(fields.length ? fields : [field])] = canary;
        return { json: body, mutation: `${field} of a wrong type` };
      case 'missing':
        for (const required of resolved.required ?? [])
          if (random() < 0.6) delete body[required];
        return { json: body, mutation: 'required fields missing' };
      case 'extra':
        body.unexpectedField = canary;
        return { json: body, mutation: 'unknown field' };
      case 'huge':
        body[field] = `${canary}${'x'.repeat(pick([257, 2_001, 70_000]))}`;
        return { json: body, mutation: `${field} huge` };
      case 'surrogate':
        body[field] = pick([
          `${canary}\ud800`,
          `\udfff${canary}`,
          `${canary}@example.org\ud83d`,
          `\ud800@${canary}.org`,
        ]);
        return { json: body, mutation: `${field} with a lone surrogate` };
      case 'null':
        body[field] = null;
        body[pick(fields.length ? fields : [field])] = canary;
        return { json: body, mutation: `${field} null` };
      case 'allNull':
        for (const name of fields) body[name] = null;
        return { json: body, mutation: 'every field null' };
      case 'malformed':
        return {
          raw: pick([
            `{"${canary}": `,
            `{"${field}": "${canary}"`,
            `{'${field}': '${canary}'}`,
            `{"${field}": "${canary}\\x"}`,
            `{"${field}": ${canary}}`,
            `\u0000{"unexpected":"${canary}"}`,
          ]),
          mutation: 'malformed JSON',
        };
      case 'topLevel':
        return {
          raw: pick([
            'null',
            `"${canary}"`,
            '123',
            'true',
            `[${JSON.stringify(canary)}]`,
          ]),
          mutation: 'top level not an object',
        };
      case 'deep': {
        let nested: unknown = canary;
        for (let i = 0; i < 40; i++)
          nested = random() < 0.5 ? [nested] : { a: nested };
        body[field] = nested;
        return { json: body, mutation: `${field} nested 40 deep` };
      }
      case 'proto':
        return {
          raw: `{"__proto__": {"${field}": "${canary}"}, "constructor": {"prototype": {"x": "${canary}"}}}`,
          mutation: 'prototype keys',
        };
      case 'unicode':
        body[field] =
          `${canary}${pick(['\u200b', '\u202e', '\u0000', '\ufeff', '\u{1f4a9}', '\u0301\u0301', '\uffff', '\r\n'])}${canary}`;
        return { json: body, mutation: `${field} with odd characters` };
      case 'oversize':
        body[field] = `${canary}${'y'.repeat(JSON_BODY_LIMIT + 10)}`;
        return { json: body, mutation: 'body over the limit' };
      case 'numbers':
        return {
          raw: `{"${field}": ${pick(['1e400', '-0', '0x10', 'NaN', '99999999999999999999999'])}, "unexpected": "${canary}"}`,
          mutation: `${field} odd number`,
        };
      default:
        return { raw: '', mutation: 'empty body' };
    }
  }

  private resolve(schema: Schema): Schema {
    if (schema.$ref)
      return this.resolve(this.components[schema.$ref.split('/').pop()!] ?? {});
    if (schema.allOf)
      return schema.allOf.reduce<Schema>(
        (merged, part) => ({ ...merged, ...this.resolve(part) }),
        {},
      );
    return schema;
  }

  /** A body that is valid by the schema's examples (its strings carry the canary). */
  private example(schema: Schema, canary: string): Record<string, unknown> {
    const resolved = this.resolve(schema);
    const body: Record<string, unknown> = {};
    for (const [name, property] of Object.entries(resolved.properties ?? {})) {
      const p = this.resolve(property);
      if (p.enum) body[name] = p.enum[0];
      else if (p.example !== undefined) body[name] = p.example;
      else if (p.type === 'object') body[name] = this.example(p, canary);
      else if (p.type === 'string') body[name] = canary;
    }
    return body;
  }
}

interface FuzzCase {
  request: HttpRequest;
  canary: string;
  mutation: string;
  oversize: boolean;
}

/**
 * An error body as checked for echoes: without `instance`, which is the request path by design
 * (docs/http-api.md#errors), so a path parameter the fuzzer made up is repeated there.
 */
function echoableBody(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if (parsed && typeof parsed === 'object') {
      delete parsed.instance;
      return JSON.stringify(parsed);
    }
  } catch {
    // Not JSON: checked as it is.
  }
  return text;
}
