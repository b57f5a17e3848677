import { DynamicModule, Module, RequestMethod } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { Options as PinoHttpOptions } from 'pino-http';
import { AppConfig } from '../../config/app-config';
import { assignRequestId } from '../http/request-id';

/**
 * Defence in depth: request and response serializers below already log no headers, bodies or
 * query strings. These paths also censor such fields wherever a log call passes them.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'req.body',
  'body',
  '*.body',
  'password',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  'token',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.recoveryCode',
  '*.authorization',
  '*.cookie',
  '*.key',
  '*.masterKey',
  '*.serverSecrets',
];

/** LOG_PRETTY=true: one readable line per entry (time, level, context, message), for development. */
export function prettyTransport(): PinoHttpOptions['transport'] {
  return {
    target: 'pino-pretty',
    options: {
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
      messageKey: 'msg',
    },
  };
}

export function pinoHttpOptions(config: AppConfig): PinoHttpOptions {
  return {
    level: config.logLevel,
    ...(config.logPretty ? { transport: prettyTransport() } : {}),
    genReqId: (request: IncomingMessage, response: ServerResponse) =>
      assignRequestId(request, response),
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: {
      // The path without its query string: queries may carry search terms (emails, phones).
      req: (request: { id?: unknown; method?: string; url?: string }) => ({
        id: request.id,
        method: request.method,
        path: request.url?.split('?')[0],
      }),
      res: (response: { statusCode?: number }) => ({
        statusCode: response.statusCode,
      }),
    },
    customLogLevel: (_request, response, error) =>
      error || response.statusCode >= 500
        ? 'error'
        : response.statusCode >= 400
          ? 'warn'
          : 'info',
    autoLogging: {
      ignore: (request) => request.url?.startsWith('/health/') ?? false,
    },
    base: { service: 'vault-pii-backend' },
  };
}

/**
 * Structured JSON logs (pino) for Nest's logger and every request, each line carrying the
 * request id. Written to stdout unless a `destination` is given (tests capture logs that way).
 */
@Module({})
export class LoggingModule {
  static forRoot(destination?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          // nestjs-pino 4's typings import ModuleMetadata from a path Nest 12's exports no longer name, so
          // these two read as required.
          imports: [],
          providers: [],
          inject: [AppConfig],
          useFactory: (config: AppConfig) => ({
            // A given destination (tests capturing lines) always gets JSON.
            pinoHttp: destination
              ? [
                  { ...pinoHttpOptions(config), transport: undefined },
                  destination,
                ]
              : pinoHttpOptions(config),
            forRoutes: [{ path: '{*splat}', method: RequestMethod.ALL }],
          }),
        }),
      ],
    };
  }
}
