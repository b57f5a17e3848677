#!/usr/bin/env node
/**
 * One-off migration: rewrites every citation of the old, external product specification
 * ("SPEC" followed by a section sign and a number, as in "(SPEC <section> 1)") into a reference
 * to the project document that now carries that section, for example
 *
 *   (SPEC <section> 1)            →  (docs/crypto.md#key-hierarchy)
 *   SPEC <section> 2 and <section> 7:  →  docs/sessions.md and docs/security.md:
 *
 * Usage, from the repository root:
 *
 *   node scripts/rewrite-spec-refs.mjs            rewrite in place, then report what is left
 *   node scripts/rewrite-spec-refs.mjs --dry-run  print what would change, write nothing
 *   node scripts/rewrite-spec-refs.mjs --check    list remaining citations; exit 1 if any
 *
 * It walks the whole tree (not a file list), so files may have moved since it was written:
 * TypeScript and JavaScript files (citations in comments and string literals only; code is never
 * touched, and a citation found in code is reported, not rewritten) and Markdown files (links
 * relative to the file; inside fenced code blocks the plain form). It is idempotent: a second
 * run finds nothing to do. Comment lines that grow past 100 columns are re-wrapped within their
 * comment paragraph. Every target document and heading is checked to exist before anything is
 * written. Plain Node, no dependencies.
 *
 * The mapping (section → document) is `SECTION_RULES` below: each section has a default target
 * and a few keyword rules that pick a more precise heading from the words on the citation's line
 * (else the line before it, else the file's name). A citation of several sections names the
 * documents only. Two spellings without a section sign are rewritten too (`OTHER_FORMS`): the
 * word, a slash and "issue 5" becomes "issue 5"; the word followed by "defaults:" becomes
 * "defaults:".
 */
import {
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Spelled in pieces so that this file itself never contains the citation it hunts for.
const WORD = 'SP' + 'EC';
const SIGN = '\u00a7';

const MAX_COMMENT_COLUMNS = 100;

// ---------------------------------------------------------------------------------------------
// Targets: [document, heading anchor ('' for the whole document), link text for Markdown]

const T = {
  crypto: ['docs/crypto.md', '', 'Cryptographic design'],
  keyHierarchy: ['docs/crypto.md', 'key-hierarchy', 'Key hierarchy'],
  accountLifecycle: [
    'docs/crypto.md',
    'account-lifecycle',
    'Account lifecycle',
  ],
  envelope: ['docs/crypto.md', 'the-envelope', 'The envelope'],
  encryptedColumns: [
    'docs/crypto.md',
    'encrypted-columns',
    'Encrypted columns',
  ],
  blindIndexes: ['docs/crypto.md', 'blind-indexes', 'Blind indexes'],
  keysInMemory: ['docs/crypto.md', 'keys-in-memory', 'Keys in memory'],
  keyRotation: ['docs/crypto.md', 'key-rotation', 'Key rotation'],
  masterKeySources: [
    'docs/operations.md',
    'the-master-key-three-sources',
    'The master key: three sources',
  ],
  secretsInEnvironment: [
    'docs/operations.md',
    'secrets-in-the-environment',
    'Secrets in the environment',
  ],
  sessions: ['docs/sessions.md', '', 'Sessions and the key vault'],
  accessTokenClaims: ['docs/sessions.md', 'access-tokens', 'Access tokens'],
  refreshTokens: ['docs/sessions.md', 'refresh-tokens', 'Refresh tokens'],
  vault: ['docs/sessions.md', 'the-vault', 'The vault'],
  perRequest: ['docs/sessions.md', 'per-request', 'Per request'],
  expiry: ['docs/sessions.md', 'expiry', 'Expiry'],
  revocation: ['docs/sessions.md', 'revocation', 'Revocation'],
  vaultStores: ['docs/sessions.md', 'vault-stores', 'Vault stores'],
  documents: ['docs/documents.md', '', 'Documents on disk'],
  fileFormat: ['docs/documents.md', 'file-format', 'File format'],
  retention: ['docs/documents.md', 'retention', 'Retention'],
  httpApi: ['docs/http-api.md', '', 'HTTP API'],
  conventions: ['docs/http-api.md', 'conventions', 'Conventions'],
  authentication: ['docs/http-api.md', 'authentication', 'Authentication'],
  errors: ['docs/http-api.md', 'errors', 'Errors'],
  requestBodies: ['docs/http-api.md', 'request-bodies', 'Request bodies'],
  emails: ['docs/http-api.md', 'emails', 'Emails'],
  routes: ['docs/http-api.md', 'routes', 'Routes'],
  authRoutes: ['docs/http-api.md', 'auth', 'Auth'],
  account: ['docs/http-api.md', 'account', 'Account'],
  profile: ['docs/http-api.md', 'profile', 'Profile'],
  contacts: ['docs/http-api.md', 'contacts', 'Contacts'],
  documentRoutes: ['docs/http-api.md', 'documents', 'Documents'],
  health: ['docs/http-api.md', 'health', 'Health'],
  apiDocumentation: [
    'docs/http-api.md',
    'api-documentation',
    'API documentation',
  ],
  running: ['docs/running.md', '', 'Running it'],
  configuration: ['docs/running.md', 'configuration', 'Configuration'],
  security: ['docs/security.md', '', 'Security details'],
  accessTokens: ['docs/security.md', 'access-tokens', 'Access tokens'],
  unknownEmails: ['docs/security.md', 'unknown-emails', 'Unknown emails'],
  rateLimits: ['docs/security.md', 'rate-limits', 'Rate limits'],
  passwords: ['docs/security.md', 'passwords', 'Passwords'],
  auditLog: ['docs/security.md', 'audit-log', 'Audit log'],
  caching: ['docs/security.md', 'caching', 'Caching'],
  shutdown: ['docs/security.md', 'shutdown', 'Shutdown'],
  targets: ['docs/benchmarks.md', 'targets', 'Performance targets'],
};

/**
 * Per section: keyword rules tried in order on the citation's line (then on the line before),
 * and the default. Section 1 "Keys in memory" and the other quoted subsections are in
 * SUBSECTIONS.
 */
const SECTION_RULES = {
  1: {
    rules: [
      [
        /keys in memory|self-check|secure memory|locked key memory|core dump/i,
        T.keysInMemory,
      ],
      [/process\.env|child process|environment/i, T.secretsInEnvironment],
      [
        /master key sources|ways to give the master key|exactly one source|APP_MASTER_KEY|PKCS11|HSM|TPM|sealed/i,
        T.masterKeySources,
      ],
      [/rotat|re-encrypt|destroyed key/i, T.keyRotation],
      [/shred|delet/i, T.accountLifecycle],
      [/\bAEAD\b|algorithm/i, T.envelope],
    ],
    fallback: T.keyHierarchy,
  },
  2: {
    rules: [
      [/refresh/i, T.refreshTokens],
      [/\bstores?\b/i, T.vaultStores],
      [/client share|vault/i, T.vault],
      [/idle|lifetime|expir|\bttl\b/i, T.expiry],
      [/revok|sessions end|other sessions/i, T.revocation],
      [/per request|guard|strategy/i, T.perRequest],
    ],
    fallback: T.sessions,
  },
  3: {
    rules: [
      [/blind|HMAC/i, T.blindIndexes],
      [/binary envelope/i, T.envelope],
    ],
    fallback: T.encryptedColumns,
  },
  4: {
    rules: [
      [/retention|expire/i, T.retention],
      [/stream|file format|AEAD/i, T.fileFormat],
    ],
    fallback: T.documents,
  },
  5: {
    rules: [
      [
        /\b413\b|body size|too large|unknown (?:body )?fields|take no body|JSON body|takes? a body/i,
        T.requestBodies,
      ],
      [/unknown email|one answer for all/i, T.unknownEmails],
      [/password/i, T.passwords],
      [/keys\/rotate|rotation/i, T.account],
      [/email/i, T.emails],
      [/lifetime|\bttl\b|expires?\b/i, T.expiry],
      [/login and refresh|token pair/i, T.authRoutes],
      [/someone else|another user|indistinguishable/i, T.conventions],
      [/no token|public/i, T.authentication],
      [
        /swagger|openapi|\/docs|documented|API documentation/i,
        T.apiDocumentation,
      ],
      [/\bhealth\b/i, T.health],
      [/profile/i, T.profile],
      [/contacts?\b/i, T.contacts],
      [/documents?\b/i, T.documentRoutes],
      [/HTTP conventions/i, T.conventions],
      [/\broutes\b/i, T.routes],
    ],
    fallback: T.httpApi,
  },
  6: { rules: [], fallback: T.configuration },
  7: {
    rules: [
      [
        /rate.?limit|per-address|per-account|per client address|Retry-After|\b429\b|budget|failed logins/i,
        T.rateLimits,
      ],
      [/audit|security event/i, T.auditLog],
      [
        /\bJWT|access token|KeyObject|passport|HS256|jsonwebtoken/i,
        T.accessTokens,
      ],
      [
        /argon2id call|same cost|does not exist|unknown email|identical failures|dummy/i,
        T.unknownEmails,
      ],
      [/password/i, T.passwords],
      [/no-store|cache/i, T.caching],
      [/shutdown|SIGTERM/i, T.shutdown],
    ],
    fallback: T.security,
  },
  8: { rules: [], fallback: T.targets },
};

/** Quoted subsection titles that may follow a citation: `, "Keys in memory"` and the like. */
const SUBSECTIONS = { 'Keys in memory': T.keysInMemory };

// ---------------------------------------------------------------------------------------------
// Patterns

const SECTION_NUMBER = String.raw`${SIGN}\s?\d+(?:\.\d+)*`;
const RANGE_JOINER = String.raw`(?:–|—|-|\bto\b)`;
const LIST_JOINER = String.raw`(?:,|\/|\band\b)`;
/**
 * A citation: the first section, then more joined by `,`, `/` or `and` (each with its own sign),
 * or a range (`–`, `-`, `to`; the sign optional: `1–2`).
 */
const CITE = String.raw`${WORD}[ \t]+${SECTION_NUMBER}(?:[ \t]*(?:${LIST_JOINER}[ \t]*${SECTION_NUMBER}|${RANGE_JOINER}[ \t]*${SIGN}?\s?\d+(?:\.\d+)*))*`;
/** Words of a quoted subsection title may be split over two comment lines. */
const TITLE_GAP = String.raw`(?:[ \t]+|[ \t]*\r?\n[ \t]*(?:\*(?!\/)|\/\/)?[ \t]*)`;
const SUBSECTION = Object.keys(SUBSECTIONS)
  .map((title) => title.split(' ').map(escapeRegExp).join(TITLE_GAP))
  .join('|');
const QUOTED = String.raw`["“](?:${SUBSECTION})["”]`;
const SUB = String.raw`(?:(?:,[ \t]*|[ \t]+)(?:\(${QUOTED}\)|${QUOTED}))`;
/** One citation with its optional subsection, captured whole. */
const CITATION = String.raw`(${CITE}${SUB}?)`;

/**
 * Phrases reworded around the citation, tried before the plain citation (leftmost match wins,
 * so a phrase that starts before the word is preferred). `cite` is the rewritten reference.
 */
const PHRASES = [
  // "(<cite> baseline)" → "(baseline: <ref>)"
  [
    String.raw`\(${CITATION} ([a-z][a-z-]*)\)`,
    (cite, m) => `(${m[2]}: ${cite})`,
  ],
  // "<cite> rate limits:" → "Rate limits (<ref>):" (capitalised at the start of a comment)
  [
    String.raw`${CITATION} (rate limits|master key sources)\b`,
    (cite, m) => `${m[2]} (${cite})`,
    'capitalise',
  ],
  // "of <cite>" → "in <ref>"
  [String.raw`\bof ${CITATION}`, (cite) => `in ${cite}`],
  // "Email as <cite> normalises it" → "Email as the API normalises it (<ref>)"
  [
    String.raw`\bas ${CITATION} normalises it`,
    (cite) => `as the API normalises it (${cite})`,
  ],
  // "(<cite> asks for at least 128)" → "(<ref>)"
  [String.raw`\(${CITATION} asks for [^)\n]*\)`, (cite) => `(${cite})`],
  // "the <cite> defaults" → "the defaults of <ref>"
  [
    String.raw`\bthe ${CITATION} defaults\b`,
    (cite) => `the defaults of ${cite}`,
  ],
  // Markdown: "<cite> targets" → "[targets](<ref>)"; elsewhere "targets (<ref>)"
  [
    String.raw`${CITATION} (targets?)\b`,
    (cite, m, markdownLink) =>
      markdownLink ? markdownLink(m[2]) : `${m[2]} (${cite})`,
  ],
  // The plain citation.
  [CITATION, (cite) => cite],
];

/** Other spellings that pointed at the same file, without a section sign. */
const OTHER_FORMS = [
  [new RegExp(String.raw`\b${WORD}\/(issue \d+)`, 'g'), '$1'],
  [new RegExp(String.raw`\(${WORD} defaults:`, 'g'), '(defaults:'],
];

/** What --check reports: anything that still names the old document. */
const LEFTOVER = new RegExp(
  String.raw`\b${WORD}(?:[ \t]*${SIGN}|\/|[ \t]+defaults\b)`,
  'g',
);

const MASTER = new RegExp(
  PHRASES.map(([source]) => `(${source})`).join('|'),
  'g',
);
/** Capture groups of each phrase inside MASTER: [index of its whole match, its group count]. */
const PHRASE_GROUPS = (() => {
  const groups = [];
  let index = 1;
  for (const [source] of PHRASES) {
    const count = new RegExp(`${source}|`).exec('').length - 1;
    groups.push([index, count]);
    index += count + 1;
  }
  return groups;
})();

// ---------------------------------------------------------------------------------------------
// Mapping a citation to a reference

function sectionsOf(citation) {
  const cite = citation.match(new RegExp(CITE))[0].slice(WORD.length);
  const sections = [];
  const re = new RegExp(
    String.raw`(,|\/|–|—|-|\band\b|\bto\b)?[ \t]*${SIGN}?\s?(\d+)(?:\.\d+)*`,
    'g',
  );
  let match;
  while ((match = re.exec(cite))) {
    const number = Number(match[2]);
    const joiner = match[1];
    const previous = sections[sections.length - 1];
    if (previous !== undefined && joiner && /^(?:–|—|-|to)$/.test(joiner)) {
      for (let n = previous + 1; n <= number; n++) sections.push(n);
    } else {
      sections.push(number);
    }
  }
  return sections;
}

function subsectionOf(citation) {
  for (const [title, target] of Object.entries(SUBSECTIONS)) {
    const words = title.split(' ').map(escapeRegExp).join(TITLE_GAP);
    if (new RegExp(words).test(citation)) return target;
  }
  return undefined;
}

function targetFor(section, contexts) {
  const mapping = SECTION_RULES[section];
  if (!mapping) throw new Error(`no mapping for section ${section}`);
  for (const context of contexts) {
    for (const [pattern, target] of mapping.rules) {
      if (pattern.test(context)) return target;
    }
  }
  return mapping.fallback;
}

/** The targets of one citation: one precise target, or the distinct documents of several. */
function targetsOf(citation, contexts) {
  const subsection = subsectionOf(citation);
  if (subsection) return [subsection];
  const targets = sectionsOf(citation).map((section) =>
    targetFor(section, contexts),
  );
  const keys = new Set(targets.map((t) => `${t[0]}#${t[1]}`));
  if (keys.size === 1) return [targets[0]];
  const documents = [];
  for (const [document] of targets) {
    if (!documents.includes(document)) documents.push(document);
  }
  return documents.map((document) => [document, '', document]);
}

function joinWords(parts) {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

function plainReference([document, anchor]) {
  return anchor ? `${document}#${anchor}` : document;
}

function markdownReference(target, fromFile, text = target[2]) {
  const [document, anchor] = target;
  let path = posix.relative(posix.dirname(toPosix(fromFile)), document);
  if (path === posix.basename(toPosix(fromFile)) && anchor) path = '';
  return `[${text}](${path}${anchor ? `#${anchor}` : ''})`;
}

// ---------------------------------------------------------------------------------------------
// Where a citation may be rewritten: comments and strings of code files; Markdown anywhere

/**
 * Comment and string ranges of JavaScript/TypeScript source: [start, end, kind]. A small lexer
 * (comments, quotes, template literals with nested `${}`, regular expression literals) — enough
 * to tell prose from code, not a parser.
 */
function proseRanges(text) {
  const ranges = [];
  const templateDepths = [];
  let braceDepth = 0;
  let lastSignificant = '';
  let lastWord = '';
  let i = 0;
  const n = text.length;
  const regexAllowedAfter = new Set([
    '',
    '(',
    ',',
    '=',
    ':',
    '[',
    '!',
    '&',
    '|',
    '?',
    '{',
    '}',
    ';',
    '+',
    '-',
    '*',
    '%',
    '<',
    '>',
    '~',
    '^',
  ]);
  const regexKeywords = new Set([
    'return',
    'typeof',
    'case',
    'in',
    'of',
    'new',
    'delete',
    'void',
    'throw',
    'yield',
    'await',
    'else',
    'do',
  ]);
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      ranges.push([i, stop, 'comment']);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      ranges.push([i, stop, 'comment']);
      i = stop;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== '\n')
        j += text[j] === '\\' ? 2 : 1;
      ranges.push([i, j + 1, 'string']);
      i = j + 1;
      lastSignificant = c;
      lastWord = '';
      continue;
    }
    if (
      c === '`' ||
      (c === '}' &&
        templateDepths.length &&
        templateDepths[templateDepths.length - 1] === braceDepth)
    ) {
      if (c === '}') templateDepths.pop();
      let j = i + 1;
      while (
        j < n &&
        text[j] !== '`' &&
        !(text[j] === '$' && text[j + 1] === '{')
      ) {
        j += text[j] === '\\' ? 2 : 1;
      }
      ranges.push([i, Math.min(j + 1, n), 'string']);
      if (text[j] === '$') {
        templateDepths.push(braceDepth);
        i = j + 2;
        lastSignificant = '{';
      } else {
        i = j + 1;
        lastSignificant = '`';
      }
      lastWord = '';
      continue;
    }
    if (
      c === '/' &&
      (regexAllowedAfter.has(lastSignificant) || regexKeywords.has(lastWord))
    ) {
      let j = i + 1;
      let inClass = false;
      while (j < n && text[j] !== '\n') {
        if (text[j] === '\\') {
          j += 2;
          continue;
        }
        if (text[j] === '[') inClass = true;
        else if (text[j] === ']') inClass = false;
        else if (text[j] === '/' && !inClass) break;
        j++;
      }
      i = j + 1;
      while (i < n && /[a-z]/i.test(text[i])) i++;
      lastSignificant = '/';
      lastWord = '';
      continue;
    }
    if (c === '{') braceDepth++;
    if (c === '}') braceDepth--;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[A-Za-z0-9_$]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_$]/.test(text[j])) j++;
      lastWord = text.slice(i, j);
      lastSignificant = 'w';
      i = j;
      continue;
    }
    lastSignificant = c;
    lastWord = '';
    i++;
  }
  return ranges;
}

function rangeOf(ranges, start, end) {
  for (const range of ranges) {
    if (range[0] <= start && end <= range[1]) return range;
    if (range[0] > start) break;
  }
  return undefined;
}

/** Fenced code blocks of a Markdown file: [start, end] offsets. */
function fencedRanges(text) {
  const ranges = [];
  const fence = /^[ \t]*(```|~~~)[^\n]*$/gm;
  let open;
  let match;
  while ((match = fence.exec(text))) {
    if (open === undefined) open = match.index;
    else {
      ranges.push([open, match.index + match[0].length]);
      open = undefined;
    }
  }
  return ranges;
}

// ---------------------------------------------------------------------------------------------
// Rewriting one file

const MARK = '\u0000';

function lineNumber(text, offset) {
  return text.slice(0, offset).split('\n').length;
}

function lineAround(text, index) {
  const start = text.lastIndexOf('\n', index - 1) + 1;
  const end = text.indexOf('\n', index);
  return [start, end === -1 ? text.length : end];
}

/** Where the mapping rules look: the citation's line, the line before, the file's name. */
function contextsAt(text, index, file) {
  const [start, end] = lineAround(text, index);
  const contexts = [text.slice(start, end)];
  if (start > 0) {
    const [previousStart] = lineAround(text, start - 1);
    contexts.push(text.slice(previousStart, start - 1));
  }
  contexts.push(posix.basename(toPosix(file)).replace(/[.-]/g, ' '));
  return contexts;
}

/**
 * @returns { text, rewritten, inCode } — the new text (with MARK before each replacement in code
 * files, so changed comment lines can be re-wrapped), the number of citations rewritten, and the
 * citations left alone because they are in code.
 */
function rewriteCitations(original, file) {
  const markdown = file.endsWith('.md');
  let rewritten = 0;
  const inCode = [];
  // The spellings without a section sign first; then the citations, over the result.
  let text = original;
  for (const [pattern, replacement] of OTHER_FORMS) {
    const ranges = markdown ? undefined : proseRanges(text);
    text = text.replace(pattern, (...args) => {
      const offset = args[args.length - 2];
      if (ranges && !rangeOf(ranges, offset, offset + args[0].length)) {
        inCode.push(offset);
        return args[0];
      }
      rewritten++;
      return (
        (markdown ? '' : MARK) +
        args[0].replace(new RegExp(pattern.source), replacement)
      );
    });
  }
  const prose = markdown ? undefined : proseRanges(text);
  const fences = markdown ? fencedRanges(text) : [];
  const out = text.replace(MASTER, (...args) => {
    const offset = args[args.length - 2];
    const whole = args[0];
    const range = prose && rangeOf(prose, offset, offset + whole.length);
    if (prose && !range) {
      inCode.push(offset);
      return whole;
    }
    const phrase = PHRASE_GROUPS.findIndex(
      ([index]) => args[index] !== undefined,
    );
    const [index, count] = PHRASE_GROUPS[phrase];
    const groups = args.slice(index, index + count + 1);
    const citation = groups[1];
    const targets = targetsOf(citation, contextsAt(text, offset, file));
    const inFence = fences.some(
      ([start, end]) => start <= offset && offset < end,
    );
    let reference;
    let markdownLink;
    if (markdown && !inFence) {
      reference = joinWords(
        targets.map((target) => markdownReference(target, file)),
      );
      if (targets.length === 1)
        markdownLink = (words) => markdownReference(targets[0], file, words);
    } else {
      reference = joinWords(targets.map(plainReference));
    }
    rewritten++;
    let replacement = PHRASES[phrase][1](reference, groups, markdownLink);
    if (PHRASES[phrase][2] === 'capitalise') {
      const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
      if (/^[\s>*/#|-]*$/.test(text.slice(lineStart, offset)))
        replacement = replacement[0].toUpperCase() + replacement.slice(1);
    }
    return markdown ? replacement : MARK + replacement;
  });
  return {
    text: markdown ? out : rewrapMarkedLines(out),
    rewritten,
    inCode: inCode.map((offset) => lineNumber(text, offset)),
  };
}

// ---------------------------------------------------------------------------------------------
// Re-wrapping comment lines that grew too long

const COMMENT_LINE = /^([ \t]*)(\/\/|\*(?!\/)|\/\*\*?)([ \t]?)(.*)$/;
const LIST_ITEM = /^(?:[-*+] |\d+\. )/;

function parseCommentLine(line) {
  const match = COMMENT_LINE.exec(line);
  if (!match) return undefined;
  const [, indent, marker, space, rest] = match;
  return { indent, marker, space, content: rest };
}

/** Where to break `content` so that `prefixWidth + left` fits: a space outside backticks. */
function breakPoint(content, room) {
  let best = -1;
  let firstAfter = -1;
  let ticks = 0;
  const indent = /^ */.exec(content)[0].length;
  for (let i = 0; i < content.length; i++) {
    if (content[i] === '`') ticks++;
    // Not between "RFC" and "5869", "issue" and "5", "PATCH" and "/v1/…".
    const glued =
      /(?:^|\s)(?:[A-Z]{2,}|issue)$/.test(content.slice(0, i)) &&
      /[\d/]/.test(content[i + 1] ?? '');
    if (content[i] === ' ' && i > indent && ticks % 2 === 0 && !glued) {
      if (i <= room) best = i;
      else if (firstAfter === -1) firstAfter = i;
    }
  }
  return best > 0 ? best : firstAfter;
}

function rewrapMarkedLines(text) {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes(MARK)) continue;
    lines[i] = lines[i].split(MARK).join('');
    if (lines[i].length > MAX_COMMENT_COLUMNS) wrapAt(lines, i);
  }
  return lines.join('\n');
}

/** Wraps line `i` (a comment line) in place, carrying overflow into its paragraph's next line. */
function wrapAt(lines, i) {
  const line = lines[i];
  const parsed = parseCommentLine(line);
  if (!parsed) return;
  const { indent, marker, space, content } = parsed;

  // A one-line block comment (`/** … */`) becomes a three-line one before it is wrapped.
  if (marker.startsWith('/*') && content.endsWith('*/')) {
    const inner = content.slice(0, -2).trimEnd();
    lines.splice(
      i,
      1,
      `${indent}${marker}`,
      `${indent} * ${inner}`,
      `${indent} */`,
    );
    if (lines[i + 1].length > MAX_COMMENT_COLUMNS) wrapAt(lines, i + 1);
    return;
  }
  // Lines after an opening `/**` start with ` *`; other comment lines continue with their marker.
  const continuationMarker = marker.startsWith('/*') ? ' *' : marker;
  const continuationIndent = indent;
  const hanging = (LIST_ITEM.exec(content) ?? [''])[0].replace(/./g, ' ');
  const ownHanging = /^ +/.exec(content)?.[0] ?? '';
  const prefix = `${indent}${marker}${space}`;
  const room = MAX_COMMENT_COLUMNS - prefix.length;
  const at = breakPoint(content, room);
  if (at <= 0) return;
  const left = content.slice(0, at).trimEnd();
  const overflow = content.slice(at + 1).trim();
  lines[i] = `${prefix}${left}`;

  const continuationPrefix = `${continuationIndent}${continuationMarker}${space || ' '}`;
  const childIndent = hanging || ownHanging;
  const next = lines[i + 1];
  const nextParsed = next === undefined ? undefined : parseCommentLine(next);
  const nextContent = nextParsed?.content ?? '';
  const nextOwnIndent = /^ */.exec(nextContent)[0];
  const carries =
    nextParsed !== undefined &&
    `${nextParsed.indent}${nextParsed.marker}` ===
      `${continuationIndent}${continuationMarker}` &&
    nextContent.trim() !== '' &&
    nextOwnIndent === childIndent &&
    !LIST_ITEM.test(nextContent.trim()) &&
    !/^(?:@|```|\*\/|\|)/.test(nextContent.trim());
  if (carries) {
    lines[i + 1] =
      `${continuationPrefix}${childIndent}${overflow} ${nextContent.trim()}`;
    if (lines[i + 1].length > MAX_COMMENT_COLUMNS) wrapAt(lines, i + 1);
  } else {
    lines.splice(i + 1, 0, `${continuationPrefix}${childIndent}${overflow}`);
    if (lines[i + 1].length > MAX_COMMENT_COLUMNS) wrapAt(lines, i + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// The tree

const SKIPPED_DIRECTORIES = new Set([
  'node_modules',
  '.git',
  'dist',
  'coverage',
  '.data',
  'test-artifacts',
  '.mirror',
]);
const REWRITTEN = /\.(?:ts|tsx|mts|cts|js|jsx|mjs|cjs|md)$/;
const SELF = realpathSync(fileURLToPath(import.meta.url));

function* filesUnder(directory) {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) yield* filesUnder(path);
    } else if (entry.isFile() && realpathSync(path) !== SELF) {
      yield path;
    }
  }
}

function readText(path) {
  const stat = statSync(path);
  if (stat.size > 4 * 1024 * 1024) return undefined;
  const buffer = readFileSync(path);
  if (buffer.includes(0)) return undefined;
  return buffer.toString('utf8');
}

function toPosix(path) {
  return path.split(sep).join('/');
}

function escapeRegExp(value) {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** GitHub's heading anchors. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function missingTargets(root) {
  const missing = [];
  const anchors = new Map();
  for (const target of Object.values(T)) {
    const [document, anchor] = target;
    if (!anchors.has(document)) {
      let text;
      try {
        text = readFileSync(join(root, document), 'utf8');
      } catch {
        anchors.set(document, undefined);
      }
      if (text !== undefined) {
        const body = text.replace(/^```[\s\S]*?^```/gm, '');
        anchors.set(
          document,
          new Set(
            [...body.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*$/gm)].map((m) =>
              slug(m[1]),
            ),
          ),
        );
      }
    }
    const found = anchors.get(document);
    if (!found) missing.push(document);
    else if (anchor && !found.has(anchor))
      missing.push(`${document}#${anchor}`);
  }
  return [...new Set(missing)];
}

function leftovers(root) {
  const found = [];
  for (const path of filesUnder(root)) {
    const text = readText(path);
    if (text === undefined || !text.includes(WORD)) continue;
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (new RegExp(LEFTOVER.source).test(line)) {
        found.push(
          `${toPosix(relative(root, path))}:${index + 1}: ${line.trim()}`,
        );
      }
    });
  }
  return found;
}

function main() {
  const args = new Set(process.argv.slice(2));
  const unknown = [...args].filter(
    (a) => !['--check', '--dry-run'].includes(a),
  );
  if (unknown.length) {
    console.error(
      `unknown option ${unknown.join(' ')}; use --check or --dry-run`,
    );
    process.exit(2);
  }
  const root = process.cwd();

  if (args.has('--check')) {
    const left = leftovers(root);
    for (const line of left) console.log(line);
    console.log(
      left.length
        ? `${left.length} citation(s) of the old specification left`
        : 'no citation of the old specification left',
    );
    process.exit(left.length ? 1 : 0);
  }

  const missing = missingTargets(root);
  if (missing.length) {
    console.error(
      `target documents or headings missing, nothing rewritten:\n  ${missing.join('\n  ')}`,
    );
    process.exit(2);
  }

  const dryRun = args.has('--dry-run');
  let total = 0;
  let files = 0;
  const inCode = [];
  for (const path of filesUnder(root)) {
    if (!REWRITTEN.test(path)) continue;
    const original = readText(path);
    if (original === undefined || !original.includes(WORD)) continue;
    const crlf = original.includes('\r\n');
    const text = crlf ? original.replace(/\r\n/g, '\n') : original;
    const name = toPosix(relative(root, path));
    const result = rewriteCitations(text, name);
    for (const line of result.inCode) inCode.push(`${name}:${line}`);
    if (result.rewritten === 0) continue;
    total += result.rewritten;
    files++;
    console.log(`${name}: ${result.rewritten}`);
    if (!dryRun)
      writeFileSync(
        path,
        crlf ? result.text.replace(/\n/g, '\r\n') : result.text,
      );
  }
  console.log(
    `${dryRun ? 'would rewrite' : 'rewrote'} ${total} citation(s) in ${files} file(s)`,
  );
  if (inCode.length)
    console.log(
      `left alone, in code rather than comments or strings:\n  ${inCode.join('\n  ')}`,
    );
  if (!dryRun) {
    const left = leftovers(root);
    if (left.length) {
      console.log(`still left:\n  ${left.join('\n  ')}`);
      process.exit(1);
    }
  }
}

main();
