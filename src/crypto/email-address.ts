import { isEmail } from 'class-validator';
import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * The one canonical form of an email address (docs/http-api.md#emails), for every email the API
 * takes (register, login, recover, a contact, a contact search) and for the blind indexes and
 * rate-limit counters computed from it. Pure, and never throws, whatever the string.
 */
export const EMAIL_MAX_LENGTH = 254;

/**
 * Longer input is refused before any Unicode work: no address is this long, even with spaces
 * around it or spelled in characters that NFKC shortens.
 */
const EMAIL_MAX_INPUT_LENGTH = 4 * EMAIL_MAX_LENGTH;

/** Why an input is not an address: one message per reason, none echoing the input. */
export type EmailProblem =
  'too_long' | 'invisible_character' | 'invalid_domain' | 'invalid_address';

export type EmailNormalization =
  { ok: true; email: string } | { ok: false; problem: EmailProblem };

/**
 * Characters an address must not carry, checked before NFKC could map some of them away: format
 * characters (category Cf: zero-width space and joiners, soft hyphen, BOM, bidi controls), other
 * default-ignorable ones (variation selectors, Hangul fillers), controls, private-use and
 * unassigned code points, line and paragraph separators, and lone UTF-16 surrogates. Each
 * would make two addresses that look alike index apart, or hide one inside another.
 */
const NON_PRINTING =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
const WHITE_SPACE = /^\p{White_Space}$/u;

/**
 * Trims white space; refuses non-printing characters; NFKC (full-width `Ａ` is `A`), lower-cased;
 * the domain to IDNA ASCII (`domainToASCII`, UTS #46: `bücher.de` is `xn--bcher-kva.de`); then
 * the address rules (class-validator's `isEmail`, at most 254 characters).
 */
export function normalizeEmailAddress(input: string): EmailNormalization {
  if (input.length > EMAIL_MAX_INPUT_LENGTH)
    return { ok: false, problem: 'too_long' };
  const trimmed = trimWhiteSpace(input);
  if (NON_PRINTING.test(trimmed))
    return { ok: false, problem: 'invisible_character' };
  // Lower-casing can leave a string NFKC would change again (and NFKC can make capitals, `ᴬ`):
  // the second pass keeps the function idempotent, so a stored address normalises to itself.
  const folded = trimmed.normalize('NFKC').toLowerCase().normalize('NFKC');
  if (NON_PRINTING.test(folded))
    return { ok: false, problem: 'invisible_character' };
  const at = folded.lastIndexOf('@');
  if (at <= 0) return { ok: false, problem: 'invalid_address' };
  const domain = asciiDomain(folded.slice(at + 1));
  if (!domain) return { ok: false, problem: 'invalid_domain' };
  const email = `${folded.slice(0, at)}@${domain}`;
  if (email.length > EMAIL_MAX_LENGTH)
    return { ok: false, problem: 'too_long' };
  return isValidAddress(email)
    ? { ok: true, email }
    : { ok: false, problem: 'invalid_address' };
}

/**
 * The form a blind index or a counter is computed over: the canonical form, or, for a stored
 * address the current rules refuse (written before them), its legacy form. Never throws.
 */
export function emailIndexForm(email: string): string {
  const normalized = normalizeEmailAddress(email);
  return normalized.ok ? normalized.email : legacyNormalizeEmail(email);
}

/**
 * Emails as they were normalised until issue 15: NFC, trimmed, lower-cased. Rows indexed then
 * (`users.email_index`, `contacts.email_index`) hold this form; searches match it too
 * (`legacyEmailIndexForm`). Drop both once no such row is left: every account has logged in
 * since (login rewrites its index) and every user's contacts were saved or re-keyed since (a
 * save or a key rotation recomputes their indexes), or an operator has re-indexed them.
 */
export function legacyNormalizeEmail(email: string): string {
  return email.normalize('NFC').trim().toLowerCase();
}

/**
 * The legacy form an address in canonical form was most likely indexed under: its domain back in
 * Unicode (`ada@xn--bcher-kva.de` → `ada@bücher.de`, as it was typed and stored). A local part
 * that NFKC changed cannot be recovered, so such rows are found only once re-indexed.
 */
export function legacyEmailIndexForm(email: string): string {
  const at = email.lastIndexOf('@');
  const domain = at < 0 ? '' : unicodeDomain(email.slice(at + 1));
  return legacyNormalizeEmail(
    domain ? `${email.slice(0, at)}@${domain}` : email,
  );
}

function trimWhiteSpace(value: string): string {
  // An index walk, not a regex: `\s+$` backtracks quadratically on long runs of inner spaces.
  let start = 0;
  let end = value.length;
  while (start < end && WHITE_SPACE.test(value[start])) start++;
  while (end > start && WHITE_SPACE.test(value[end - 1])) end--;
  return value.slice(start, end);
}

/** The IDNA ASCII form, or '' when the domain is not one (`domainToASCII` would percent-decode). */
function asciiDomain(domain: string): string {
  if (domain.includes('%')) return '';
  let ascii: string;
  try {
    ascii = domainToASCII(domain);
  } catch {
    return '';
  }
  // Node 20 and 22 refuse a label that is not valid punycode (`xn--zz`); Node 24 passes it
  // through unchanged. Checked here so that every supported Node gives the same answer: an
  // `xn--` label must decode, and encode back to itself.
  for (const label of ascii.split('.')) {
    if (!label.startsWith('xn--')) continue;
    const decoded = unicodeDomain(label);
    if (
      !decoded ||
      decoded.startsWith('xn--') ||
      domainToASCII(decoded) !== label
    )
      return '';
  }
  return ascii;
}

function unicodeDomain(domain: string): string {
  try {
    return domainToUnicode(domain);
  } catch {
    return '';
  }
}

function isValidAddress(email: string): boolean {
  try {
    return isEmail(email);
  } catch {
    // validator.js measures bytes with encodeURI, which throws on input it cannot encode.
    return false;
  }
}
