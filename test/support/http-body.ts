import type { Response } from 'supertest';

/** What a DTO becomes in a JSON body: its Dates are ISO strings. */
export type Json<T> = T extends Date
  ? string
  : T extends readonly (infer E)[]
    ? Json<E>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/**
 * The parsed JSON body of `response`, typed as the API declares it (supertest types every body
 * `any`): `bodyOf<TokenPairDto>(response).accessToken`. A declaration, not a check: the tests'
 * assertions check what the body holds.
 */
export function bodyOf<T>(response: Response): Json<T> {
  return response.body as Json<T>;
}
