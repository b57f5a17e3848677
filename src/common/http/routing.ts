import { INestApplication, VersioningType } from '@nestjs/common';

/**
 * What shapes the routes' paths besides the controllers: URI versioning, `/v1` by default,
 * unversioned where a controller says `VERSION_NEUTRAL`. Part of `configureApp`, and applied by
 * `npm run openapi` too, so its document has the same paths as the running app's.
 */
export function configureRouting(app: INestApplication): void {
  app.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' });
}
