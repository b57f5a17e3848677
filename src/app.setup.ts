import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppMetrics } from './common/metrics/app-metrics';
import { httpMetricsMiddleware } from './common/metrics/http-metrics.middleware';
import { answerUnparsableRequests } from './common/http/unparsable-request-responder';
import { AppConfig } from './config/app-config';
import { buildOpenApiDocument } from './common/openapi/openapi-document';
import { configureRouting } from './common/http/routing';

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
  const { trustProxy, apiDocs } = app.get(AppConfig);
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
  configureRouting(app);
  answerUnparsableRequests(app.getHttpServer());
  // API_DOCS=false: no route is mounted, so /docs and /docs-json are 404 like any unknown path.
  if (apiDocs) setUpSwagger(app);
}

function setUpSwagger(app: NestExpressApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Vault-backed PII API',
    swaggerOptions: { persistAuthorization: false },
  });
}
