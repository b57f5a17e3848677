import {
  ERROR_CATALOGUE,
  ErrorCode,
  codeForProblemType,
  problemTypeFor,
} from './error-codes';
import { escapeHtml, renderProblemPage } from './problem-page';

describe('problem type pages', () => {
  const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

  it('escapes every character that could start markup or end an attribute', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
    );
  });

  it('gives every code a one-sentence description and action', () => {
    for (const code of codes) {
      const { description, action } = ERROR_CATALOGUE[code];
      for (const sentence of [description, action]) {
        expect(`${code}: ${sentence}`).toMatch(
          new RegExp(`^${code}: [A-Z\`/][^\n]*[.]$`),
        );
        expect(sentence.length).toBeLessThan(240);
      }
    }
  });

  it('maps each type slug back to its code, and nothing else to any code', () => {
    for (const code of codes)
      expect(
        codeForProblemType(problemTypeFor(code).replace('/problems/', '')),
      ).toBe(code);
    for (const slug of [
      'constructor',
      '__proto__',
      'toString',
      'not_found',
      '',
      'NOT-FOUND',
    ])
      expect(codeForProblemType(slug)).toBeUndefined();
  });

  it('renders text only: the page has no script, style, event handler or unescaped catalogue text', () => {
    for (const code of codes) {
      const page = renderProblemPage(code);
      expect(page).not.toMatch(/<script|<style|\son\w+=|javascript:/i);
      expect(page.startsWith('<!doctype html>')).toBe(true);
      // Every `<` in the page opens one of the page's own elements.
      const tags = [...page.matchAll(/<\/?([a-z0-9!]+)/gi)].map((m) =>
        m[1].toLowerCase(),
      );
      expect(new Set(tags)).toEqual(
        new Set([
          '!doctype',
          'html',
          'head',
          'meta',
          'title',
          'body',
          'main',
          'h1',
          'dl',
          'dt',
          'dd',
          'code',
          'h2',
          'p',
        ]),
      );
    }
  });
});
