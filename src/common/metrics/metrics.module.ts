import { Global, Module } from '@nestjs/common';
import { AppMetrics } from './app-metrics';
import { MetricsListener } from './metrics-listener';

/** `AppMetrics` for every module that counts something, and the `/metrics` listener. */
@Global()
@Module({
  providers: [
    { provide: AppMetrics, useFactory: () => new AppMetrics() },
    MetricsListener,
  ],
  exports: [AppMetrics, MetricsListener],
})
export class MetricsModule {}
