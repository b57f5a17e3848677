/** Name of the bearer-token security scheme in the OpenAPI document (`@ApiBearerAuth(BEARER_AUTH_NAME)`). */
export const BEARER_AUTH_NAME = 'access-token';

/** Name of the access-key security scheme (docs/access-keys.md): a `vpk_` secret as a bearer token. */
export const ACCESS_KEY_AUTH_NAME = 'access-key';

/** Operation extension naming the scope an access key needs for the route (absent: sessions only). */
export const ACCESS_KEY_SCOPE_EXTENSION = 'x-access-key-scope';
