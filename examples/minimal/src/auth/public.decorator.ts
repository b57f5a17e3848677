import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_ROUTE = 'isPublicRoute';

/** A route that needs no session (register, login); every other route does. */
export const Public = () => SetMetadata(IS_PUBLIC_ROUTE, true);
