import { applyDecorators, Header } from '@nestjs/common';
import { ApiNoStore } from '../openapi/no-store-extension';

/**
 * `Cache-Control: no-store` on the route's success response: it carries personal data, tokens or
 * a recovery code that no cache may keep. Error responses carry it already (the problem filter).
 * The OpenAPI document shows the header on the route's success responses.
 */
export const NoStore = (): MethodDecorator =>
  applyDecorators(Header('Cache-Control', 'no-store'), ApiNoStore());
