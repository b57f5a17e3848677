import { Controller, Get } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { Public } from '../src/common/auth/public.decorator';
import { createTestApp, TestApp } from './support/test-app';

let slowRequestStarted: () => void;

@Public()
@Controller('probe')
class SlowController {
  @Get('slow')
  async slow(): Promise<{ done: true }> {
    slowRequestStarted();
    await sleep(700);
    return { done: true };
  }
}

/** `main.ts` answers SIGTERM with `app.close()`: it must let in-flight requests finish. */
describe('graceful shutdown', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ extra: { controllers: [SlowController] } });
    await t.app.listen(0, '127.0.0.1');
  });

  it('finishes an in-flight request, then stops accepting connections', async () => {
    const started = new Promise<void>(
      (resolve) => (slowRequestStarted = resolve),
    );
    const address = t.app.getHttpServer().address() as { port: number };
    const inFlight = request(`http://127.0.0.1:${address.port}`).get(
      '/v1/probe/slow',
    );
    const response = inFlight.then((r) => r);
    await started;

    const closing = t.close();
    const finished = await response;
    expect(finished.status).toBe(200);
    expect(finished.body).toEqual({ done: true });
    await closing;

    await expect(
      fetch(`http://127.0.0.1:${address.port}/health/live`),
    ).rejects.toThrow();
  });
});
