/** Name of the bearer-token security scheme in the OpenAPI document (`@ApiBearerAuth(BEARER_AUTH_NAME)`). */
export const BEARER_AUTH_NAME = 'access-token';
