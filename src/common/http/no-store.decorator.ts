import { Header } from '@nestjs/common';

/**
 * `Cache-Control: no-store` on the route's success response: it carries personal data, tokens or
 * a recovery code that no cache may keep. Error responses carry it already (the problem filter).
 */
export const NoStore = (): MethodDecorator =>
  Header('Cache-Control', 'no-store');
