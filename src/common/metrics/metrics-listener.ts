import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppConfig } from '../../config/app-config';
import { AppMetrics } from './app-metrics';

/**
 * Serves `GET /metrics` on `METRICS_HOST:METRICS_PORT`, a listener of its own: the API's port can
 * be published without the metrics, and a scraper reaches them without a token. Unset port: no
 * listener at all (and no runtime metrics collected). A port already taken stops start-up.
 */
@Injectable()
export class MetricsListener
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger(MetricsListener.name);
  private server?: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: AppMetrics,
  ) {}

  /** The bound address (port 0 in tests picks a free one); undefined when not listening. */
  get address(): AddressInfo | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { port, host } = this.config.metrics;
    if (port === undefined) return;
    this.metrics.collectRuntime();
    const server = createServer((request, response) => {
      if (
        request.method !== 'GET' ||
        request.url?.split('?')[0] !== '/metrics'
      ) {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('only GET /metrics is served here\n');
        return;
      }
      this.metrics.exposition().then(
        ({ contentType, body }) => {
          response.writeHead(200, {
            'content-type': contentType,
            'cache-control': 'no-store',
          });
          response.end(body);
        },
        (error: Error) => {
          this.logger.error(
            { err: { type: error?.name } },
            'metrics could not be collected',
          );
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end('metrics could not be collected\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.logger.log(
      { host, port: this.address?.port },
      `metrics on http://${host}:${this.address?.port}/metrics`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
