import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseAdoptionArguments,
  runAdoptionCommand,
  UsageError,
} from './adoption-command';
import { runCli } from './main';
import { recordingIo } from '../../test/integration/adoption-cli-io';

describe('nest-encryption adoption: the command line', () => {
  it('reads status with every option', () => {
    expect(
      parseAdoptionArguments([
        'status',
        '-d',
        'ormconfig.ts',
        '--entity',
        'Contact',
        '--json',
        '--check',
        '--owners',
        '--chunk-rows',
        '10',
      ]),
    ).toEqual({
      dataSource: 'ormconfig.ts',
      entity: 'Contact',
      json: true,
      check: true,
      owners: true,
      chunkRows: 10,
      help: false,
    });
    expect(
      parseAdoptionArguments(['status', '--data-source=ds.js']),
    ).toMatchObject({
      dataSource: 'ds.js',
      json: false,
      check: false,
      owners: false,
      chunkRows: 50_000,
    });
  });

  it.each<[string, string[], RegExp]>([
    ['no command', ['-d', 'x.ts'], /no adoption command given/],
    [
      'an unknown command',
      ['run', '-d', 'x.ts'],
      /unknown adoption command "run"/,
    ],
    [
      'an extra argument',
      ['status', 'more', '-d', 'x.ts'],
      /unexpected argument "more"/,
    ],
    ['no data source', ['status'], /-d\/--data-source FILE is required/],
    [
      '-d without its file',
      ['status', '-d'],
      /argument missing|requires|--data-source/,
    ],
    [
      'an unknown option',
      ['status', '-d', 'x.ts', '--force'],
      /Unknown option '--force'/,
    ],
    [
      'an empty entity',
      ['status', '-d', 'x.ts', '--entity', ' '],
      /--entity needs a name/,
    ],
    [
      'zero chunk rows',
      ['status', '-d', 'x.ts', '--chunk-rows', '0'],
      /--chunk-rows must be a whole number/,
    ],
    [
      'fractional chunk rows',
      ['status', '-d', 'x.ts', '--chunk-rows', '1.5'],
      /--chunk-rows/,
    ],
    [
      'huge chunk rows',
      ['status', '-d', 'x.ts', '--chunk-rows', '1e9'],
      /--chunk-rows/,
    ],
    [
      'a boolean with a value',
      ['status', '-d', 'x.ts', '--json=yes'],
      /--json/,
    ],
  ])('refuses %s', (_name, argv, message) => {
    expect(() => parseAdoptionArguments(argv)).toThrow(UsageError);
    expect(() => parseAdoptionArguments(argv)).toThrow(message);
  });

  it('answers a bad command line with the reason and the usage on stderr, exit 2', async () => {
    const { io, stdout, stderr } = recordingIo();
    expect(await runAdoptionCommand(['status'], io)).toBe(2);
    expect(stderr()).toMatch(
      /^-d\/--data-source FILE is required\n\nUsage: nest-encryption adoption status/,
    );
    expect(stdout()).toBe('');
  });

  it('prints the usage for --help, exit 0', async () => {
    const { io, stdout } = recordingIo();
    expect(await runAdoptionCommand(['--help'], io)).toBe(0);
    expect(stdout()).toMatch(/^Usage: nest-encryption adoption status/);
  });

  describe('a data-source module it cannot use: exit 1, the reason on stderr', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'adoption-cli-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a missing file', async () => {
      const { io, stderr } = recordingIo();
      const missing = join(dir, 'missing.js');
      expect(await runAdoptionCommand(['status', '-d', missing], io)).toBe(1);
      expect(stderr()).toBe(
        `nest-encryption adoption: the data-source module ${missing} does not exist\n`,
      );
    });

    it('a module that throws while loading', async () => {
      const file = join(dir, 'throws.js');
      writeFileSync(file, "throw new Error('no DATABASE_URL');\n");
      const { io, stderr } = recordingIo();
      expect(await runAdoptionCommand(['status', '-d', file], io)).toBe(1);
      expect(stderr()).toContain(
        `cannot load the data-source module ${file}: no DATABASE_URL`,
      );
    });

    it('a module whose default export is no DataSource', async () => {
      const file = join(dir, 'not-a-data-source.js');
      writeFileSync(file, 'exports.default = { url: "postgres://x" };\n');
      const { io, stderr } = recordingIo();
      expect(await runAdoptionCommand(['status', '-d', file], io)).toBe(1);
      expect(stderr()).toContain(
        'must export a TypeORM DataSource (or a Promise of one) as its default export',
      );
    });
  });
});

describe('nest-encryption: the commands', () => {
  it('refuses no command and an unknown one with exit 2, and prints help with exit 0', async () => {
    const none = recordingIo();
    expect(await runCli([], none.io)).toBe(2);
    expect(none.stderr()).toMatch(
      /^no command given\n\nUsage: nest-encryption <command>/,
    );
    const unknown = recordingIo();
    expect(await runCli(['rotate'], unknown.io)).toBe(2);
    expect(unknown.stderr()).toMatch(/^unknown command "rotate"/);
    const help = recordingIo();
    expect(await runCli(['--help'], help.io)).toBe(0);
    expect(help.stdout()).toContain('adoption status');
  });
});
