import {
  CanActivate,
  Controller,
  Get,
  INestApplication,
  Injectable,
  MiddlewareConsumer,
  Module,
  NestModule,
  UseGuards,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { App } from 'supertest/types';
import { KeyContext } from './key-context';
import { KeyContextMiddleware } from './key-context.middleware';
import { Keyring } from './keyring';

function newKeyring(): Keyring {
  return new Keyring('user-1', new Map([[1, randomBytes(32)]]), 1);
}

describe('KeyContextMiddleware', () => {
  const middleware = new KeyContextMiddleware();

  /** Runs the middleware with `next` = `handler`; the response is a bare EventEmitter. */
  function runRequest(handler: () => void): EventEmitter {
    const response = new EventEmitter();
    middleware.use(
      {} as IncomingMessage,
      response as unknown as ServerResponse,
      handler,
    );
    return response;
  }

  it.each(['finish', 'close'])(
    "zeroes the request's keyring on the response's '%s' event",
    (event) => {
      const keyring = newKeyring();
      const key = keyring.activeKey();
      const response = runRequest(() => KeyContext.attach(keyring));

      expect(keyring.isZeroed).toBe(false);
      response.emit(event);
      expect(keyring.isZeroed).toBe(true);
      expect(key.every((byte) => byte === 0)).toBe(true);
      response.emit(event === 'finish' ? 'close' : 'finish'); // the other one too: harmless
    },
  );

  it('reaches a keyring attached later in the chain, after awaits', async () => {
    const keyring = newKeyring();
    let attached!: Promise<void>;
    const response = runRequest(() => {
      attached = (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        KeyContext.attach(keyring);
        expect(KeyContext.require()).toBe(keyring);
      })();
    });
    await attached;
    response.emit('finish');
    expect(keyring.isZeroed).toBe(true);
  });

  it('gives each request its own scope', () => {
    const first = newKeyring();
    const second = newKeyring();
    const firstResponse = runRequest(() => KeyContext.attach(first));
    runRequest(() => KeyContext.attach(second));
    firstResponse.emit('finish');
    expect(first.isZeroed).toBe(true);
    expect(second.isZeroed).toBe(false);
    second.zero();
  });

  it('zeroes and refuses a keyring attached after the response ended', async () => {
    const late = newKeyring();
    let resumeLateWork!: () => void;
    let lateAttach!: Promise<void>;
    const response = runRequest(() => {
      // A straggling promise of this request: it resumes in this request's scope.
      const gate = new Promise<void>((resolve) => (resumeLateWork = resolve));
      lateAttach = gate.then(() => KeyContext.attach(late));
    });
    response.emit('close');
    resumeLateWork();
    await expect(lateAttach).rejects.toThrow(/ended/);
    expect(late.isZeroed).toBe(true);
  });
});

describe('KeyContextMiddleware in a Nest app', () => {
  const attachedKeyrings: Keyring[] = [];

  /** Stands in for the auth guard: attaches the session's keyring to the request's scope. */
  @Injectable()
  class AttachKeyringGuard implements CanActivate {
    async canActivate(): Promise<boolean> {
      await new Promise((resolve) => setImmediate(resolve));
      const keyring = newKeyring();
      attachedKeyrings.push(keyring);
      KeyContext.attach(keyring);
      return true;
    }
  }

  @Controller('keys')
  class KeysController {
    @Get()
    @UseGuards(AttachKeyringGuard)
    async read(): Promise<{ activeVersion: number; zeroed: boolean }> {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const keyring = KeyContext.require();
      return { activeVersion: keyring.activeVersion, zeroed: keyring.isZeroed };
    }
  }

  @Module({ controllers: [KeysController], providers: [KeyContextMiddleware] })
  class TestModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(KeyContextMiddleware).forRoutes('*');
    }
  }

  let app: INestApplication<App>;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [TestModule],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(() => app.close());

  it('keeps the keyring for the whole request and zeroes it once the response is sent', async () => {
    const responses = await Promise.all(
      [1, 2, 3].map(() => request(app.getHttpServer()).get('/keys')),
    );
    for (const response of responses)
      expect(response.body).toEqual({ activeVersion: 1, zeroed: false });

    await new Promise((resolve) => setImmediate(resolve));
    expect(attachedKeyrings).toHaveLength(3);
    expect(attachedKeyrings.every((keyring) => keyring.isZeroed)).toBe(true);
  });
});
