/**
 * The blind indexes' normal form in the library's tests. An app passes its own (an email
 * canonicaliser, a phone normaliser); the library only requires a function of the plaintext.
 */
export const lowerCaseTrimmed = (value: string): string =>
  value.trim().toLowerCase();
