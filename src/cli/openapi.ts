import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module';
import { configureRouting } from '../common/http/routing';
import {
  buildOpenApiDocument,
  serializeOpenApiDocument,
} from '../common/openapi/openapi-document';
import { loadAppConfig } from '../config/app-config';

/** The committed copy of the document, for client generators and reviews of API changes. */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'docs', 'openapi.json');

/**
 * `npm run openapi`: writes the OpenAPI document that `/docs-json` serves to docs/openapi.json.
 * The app is created in preview mode: its modules and routes are scanned but no provider is
 * built, so nothing connects to PostgreSQL or Redis and no key is derived for use. The settings
 * are fixed ones, not this shell's environment, so the file does not depend on who runs it.
 */
async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'openapi-'));
  try {
    const config = loadAppConfig({
      NODE_ENV: 'test',
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
      DATA_DIR: dataDir,
    });
    const app = await NestFactory.create(AppModule.forRoot(config), {
      preview: true,
      logger: false,
      abortOnError: false,
    });
    configureRouting(app);
    const document = buildOpenApiDocument(app);
    await app.close();
    writeFileSync(OPENAPI_FILE, serializeOpenApiDocument(document));
    const operations = Object.values(document.paths).reduce(
      (count, item) => count + Object.keys(item).length,
      0,
    );
    process.stdout.write(
      `wrote ${relative(process.cwd(), OPENAPI_FILE)} (${operations} operations)\n`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run openapi failed: ${String(error)}\n`);
  process.exit(1);
});
