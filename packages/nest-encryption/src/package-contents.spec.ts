import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * What `npm publish` would ship (`npm pack --dry-run`, scripts skipped so the build in dist/ is
 * left alone): the build, the docs, README.md, LICENSE and package.json, never the sources,
 * specs or test helpers.
 */
describe('the published package', () => {
  const packed = JSON.parse(
    execFileSync(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts', '--silent'],
      { cwd: join(__dirname, '..'), encoding: 'utf8' },
    ),
  ) as { files: { path: string }[] }[];
  const paths = packed[0].files.map((file) => file.path);

  it('holds only dist/, docs/, README.md, LICENSE and package.json', () => {
    const tops = new Set(paths.map((path) => path.split('/')[0]));
    expect(
      [...tops].filter(
        (top) =>
          !['dist', 'docs', 'README.md', 'LICENSE', 'package.json'].includes(
            top,
          ),
      ),
    ).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'docs/design.md',
      ]),
    );
  });

  it('leaves specs out of dist/', () => {
    expect(paths.filter((path) => /\.spec\./.test(path))).toEqual([]);
  });
});
