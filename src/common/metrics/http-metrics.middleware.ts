import type { NextFunction, Request, Response } from 'express';
import { performance } from 'node:perf_hooks';
import type { AppMetrics } from './app-metrics';

/** The `route` label of a request no route handled: an unknown path, or one refused before routing (413, unparsable). */
export const UNMATCHED_ROUTE = 'unmatched';

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/**
 * Express middleware recording each request in `http_request_duration_seconds` once its response
 * is sent (or its connection closed first). The route label is the template Express matched
 * (`/v1/contacts/:id`), never the path: a path holds ids, and unknown paths are unbounded.
 */
export function httpMetricsMiddleware(metrics: AppMetrics) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const started = performance.now();
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      metrics.httpRequestDuration.observe(
        {
          method: KNOWN_METHODS.has(request.method) ? request.method : 'OTHER',
          route: routeTemplateOf(request),
          status: String(response.statusCode),
        },
        (performance.now() - started) / 1000,
      );
    };
    response.once('finish', record);
    response.once('close', record);
    next();
  };
}

/**
 * The last route Express dispatched to. A wildcard (`/{*splat}`) is not a route of the API but the
 * app-wide middleware's mount (the key scope, the body parser): the request then found no handler,
 * or was refused before reaching one.
 */
function routeTemplateOf(request: Request): string {
  const route = (request as { route?: { path?: unknown } }).route;
  if (typeof route?.path !== 'string' || route.path.includes('{*'))
    return UNMATCHED_ROUTE;
  return `${request.baseUrl}${route.path}`;
}
