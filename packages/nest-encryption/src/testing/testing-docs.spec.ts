import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGE = join(__dirname, '..', '..');
const MARKER = '<!-- kit-example: test/kit-example.e2e-spec.ts -->';

/** The ```ts block right after `marker` in `markdown`, or undefined. */
function blockAfter(markdown: string, marker: string): string | undefined {
  const start = markdown.indexOf(marker);
  if (start < 0) return undefined;
  const match = /^\n```ts\n([\s\S]*?)^```$/m.exec(
    markdown.slice(start + marker.length),
  );
  return match?.index === 0 ? match[1] : undefined;
}

describe('docs/testing.md', () => {
  it('embeds test/kit-example.e2e-spec.ts exactly as it is (the example runs with the tests)', () => {
    const markdown = readFileSync(join(PACKAGE, 'docs', 'testing.md'), 'utf8');
    const example = readFileSync(
      join(PACKAGE, 'test', 'kit-example.e2e-spec.ts'),
      'utf8',
    );
    expect(blockAfter(markdown, MARKER)).toBe(example);
  });

  it('the comparison finds a changed line, a missing block and a missing marker', () => {
    const block = 'const a = 1;\n';
    const doc = `${MARKER}\n\`\`\`ts\n${block}\`\`\`\n`;
    expect(blockAfter(doc, MARKER)).toBe(block);
    expect(blockAfter(doc.replace('1', '2'), MARKER)).not.toBe(block);
    expect(
      blockAfter(`${MARKER}\n\ntext\n\`\`\`ts\n${block}\`\`\`\n`, MARKER),
    ).toBeUndefined();
    expect(blockAfter(doc.replace(MARKER, ''), MARKER)).toBeUndefined();
  });
});
