import { createHmac, KeyObject } from 'node:crypto';

export type JsonObject = Record<string, unknown>;

const b64url = (value: string | Buffer) =>
  Buffer.from(value).toString('base64url');

/** The decoded header and payload of a compact JWS (no verification). */
export function decodeJwt(token: string): {
  header: JsonObject;
  payload: JsonObject;
  signature: string;
} {
  const [header, payload, signature] = token.split('.');
  return {
    header: JSON.parse(
      Buffer.from(header, 'base64url').toString('utf8'),
    ) as JsonObject,
    payload: JSON.parse(
      Buffer.from(payload, 'base64url').toString('utf8'),
    ) as JsonObject,
    signature,
  };
}

/** `header.payload` as a JWS signing input. */
export function signingInput(header: JsonObject, payload: JsonObject): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
}

/**
 * Builds a compact JWS by hand, whatever `header.alg` claims: the signature is an HMAC with
 * `hash` under `key` (a KeyObject or raw bytes), or empty when `key` is null (`alg: none`).
 * Lets a test label a token RS256 while MAC-ing it with the server's secret (algorithm confusion).
 */
export function forgeJwt(
  header: JsonObject,
  payload: JsonObject,
  key: KeyObject | Buffer | null,
  hash: 'sha256' | 'sha384' | 'sha512' = 'sha256',
): string {
  const input = signingInput(header, payload);
  if (key === null) return `${input}.`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

/** Replaces the payload of a signed token and keeps its original signature. */
export function swapPayload(token: string, payload: JsonObject): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(JSON.stringify(payload))}.${signature}`;
}
