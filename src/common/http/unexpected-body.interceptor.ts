import {
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import type { Request } from 'express';
import { RequestValidationError } from '../problem/domain-error';
import { toPointer } from './validation-pipe';

/**
 * docs/http-api.md#request-bodies rejects unknown body fields. For routes that take a body, the
 * ValidationPipe does it; a route that takes none (logout, GETs, DELETE by id) would silently
 * ignore one, so every field of such a body is reported as unknown here. An interceptor, not a
 * guard: interceptors run after the guards, so an unauthenticated request still answers 401 first.
 */
@Injectable()
export class UnexpectedBodyInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    this.check(context);
    return next.handle();
  }

  private check(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<Request>();
    const body: unknown = request.body;
    if (body === undefined || body === null || typeof body !== 'object')
      return true;
    const fields = Array.isArray(body) ? ['(body)'] : Object.keys(body);
    if (fields.length === 0) return true;
    const params = (Reflect.getMetadata(
      ROUTE_ARGS_METADATA,
      context.getClass(),
      context.getHandler().name,
    ) ?? {}) as Record<string, unknown>;
    const takesBody = Object.keys(params).some(
      (key) => key.split(':')[0] === String(RouteParamtypes.BODY),
    );
    if (takesBody) return true;
    throw new RequestValidationError(
      fields.map((field) => ({
        field,
        pointer: toPointer(field === '(body)' ? [] : [field]),
        messages: [
          field === '(body)'
            ? 'this route takes no request body'
            : `property ${field} should not exist`,
        ],
      })),
    );
  }
}
