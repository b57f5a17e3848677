import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppMetrics } from './common/metrics/app-metrics';
import { httpMetricsMiddleware } from './common/metrics/http-metrics.middleware';
import { answerUnparsableRequests } from './common/http/unparsable-request-responder';
import { AppConfig } from './config/app-config';
import { buildOpenApiDocument } from './common/openapi/openapi-document';
import { configureRouting } from './common/http/routing';
import {
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
} from './common/http/rate-limit-headers';

/**
 * Everything about the HTTP application that is not a module: shared by `main.ts` and the e2e
 * tests so both serve exactly the same API. Create the app with `{ bodyParser: false }`:
 * `JsonBodyMiddleware` parses bodies so that parse errors become problem+json.
 */
export function configureApp(app: NestExpressApplication): void {
  app.useLogger(app.get(Logger));
  // First, so every request is timed and counted, those refused before routing included.
  app.use(httpMetricsMiddleware(app.get(AppMetrics)));
  // Behind a proxy the socket's peer is the proxy: TRUST_PROXY makes `req.ip` the client's
  // address (from X-Forwarded-For), which the rate limits and the audit log key on.
  const { trustProxy, apiDocs, corsAllowedOrigins } = app.get(AppConfig);
  if (trustProxy !== false)
    app.set(
      'trust proxy',
      typeof trustProxy === 'number' ? trustProxy : [...trustProxy],
    );
  // No ETags: Express computes one by copying the whole response body into a Buffer it never
  // wipes (for a register or rotate response, a copy of the new recovery code; for a profile, its
  // PII), and responses that carry PII are `no-store` anyway, so no client could revalidate them.
  app.set('etag', false);
  // helmet's default CSP, less `upgrade-insecure-requests`: over plain HTTP on any host but
  // localhost (a dev box, a container on a LAN) it sent Swagger UI's own scripts to https:// and
  // /docs rendered blank. Every URL of ours is relative, so over HTTPS nothing changes.
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    }),
  );
  if (corsAllowedOrigins.length > 0) enableCors(app, corsAllowedOrigins);
  configureRouting(app);
  answerUnparsableRequests(app.getHttpServer());
  // API_DOCS=false: no route is mounted, so /docs and /docs-json are 404 like any unknown path.
  if (apiDocs) setUpSwagger(app);
}

/** What a browser script on an allowed origin may send, and read (docs/http-api.md#cors). */
export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'X-Request-Id',
];
export const CORS_EXPOSED_HEADERS = [
  'X-Request-Id',
  'Retry-After',
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
  'Location',
  'Content-Disposition',
  'Idempotency-Replayed',
];
/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * CORS for the exact origins of `CORS_ALLOWED_ORIGINS`, through the `cors` package Nest bundles.
 * No credentials mode: the API authenticates with a bearer header, never a cookie, so no
 * browser ever attaches a credential on a script's behalf. A request from any other origin, or
 * without one, gets no CORS header at all: its preflight falls through to the router and answers
 * 404 like any OPTIONS request (no route answers OPTIONS), and the browser blocks the call.
 */
function enableCors(
  app: NestExpressApplication,
  allowedOrigins: readonly string[],
): void {
  const allowed = new Set(allowedOrigins);
  // Every answer may differ by Origin, allowed or not: a shared cache must not hand one
  // origin's answer (with or without Access-Control-Allow-Origin) to another.
  app.use((_request: Request, response: Response, next: NextFunction) => {
    response.vary('Origin');
    next();
  });
  app.enableCors({
    origin: (origin, decide) =>
      decide(null, origin !== undefined && allowed.has(origin)),
    methods: CORS_ALLOWED_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: CORS_MAX_AGE_SECONDS,
    credentials: false,
    optionsSuccessStatus: 204,
    preflightContinue: false,
  });
}

function setUpSwagger(app: NestExpressApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Vault-backed PII API',
    swaggerOptions: { persistAuthorization: false },
  });
}
