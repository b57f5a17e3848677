// The key hierarchy (SPEC §1–3) as pure functions over Buffers: no Nest, no I/O but argon2.
export * from './aead';
export * from './blind-index';
export * from './data-key';
export * from './errors';
export * from './hkdf';
export * from './kdf';
export * from './recovery-code';
export * from './secure-memory';
export * from './server-secrets';
export * from './stream-aead';
