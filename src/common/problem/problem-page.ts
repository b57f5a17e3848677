import { ERROR_CATALOGUE, ErrorCode, problemTypeFor } from './error-codes';

/**
 * The page's own Content-Security-Policy, stricter than helmet's default: it loads nothing and
 * runs nothing (no script, no style, no frame, no form), so nothing in it can ever execute.
 */
export const PROBLEM_PAGE_CSP =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]);
}

/** Escapes `text`, then shows its `backtick` spans (names of fields and headers) as code. */
function prose(text: string): string {
  return escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}

/**
 * The HTML page that a problem's `type` URI (`/problems/<type>`) names: what the code means and
 * what the client should do, from `ERROR_CATALOGUE`. Static text only, every piece escaped.
 */
export function renderProblemPage(code: ErrorCode): string {
  const { status, title, description, action } = ERROR_CATALOGUE[code];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} (${status})</title>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<dl>
<dt>Problem type</dt><dd><code>${escapeHtml(problemTypeFor(code))}</code></dd>
<dt>Code</dt><dd><code>${escapeHtml(code)}</code></dd>
<dt>HTTP status</dt><dd>${status}</dd>
</dl>
<h2>What it means</h2>
<p>${prose(description)}</p>
<h2>What to do</h2>
<p>${prose(action)}</p>
<p>Responses with this problem are <code>application/problem+json</code> (RFC 9457): <code>code</code> is the value to branch on, <code>detail</code> explains the occurrence, and <code>requestId</code> (also the <code>X-Request-Id</code> header) identifies the request when you report it.</p>
</main>
</body>
</html>
`;
}
