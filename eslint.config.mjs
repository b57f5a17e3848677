// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import eslintPluginPrettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Deep imports of the encryption library (docs/architecture.md). */
const libraryImportPatterns = [
  {
    regex:
      '^@vault-pii/nest-encryption/(?!(crypto|testing|embedded-postgres|redis)$)',
    message:
      'Import @vault-pii/nest-encryption, or its /crypto, /testing, /embedded-postgres or /redis entry.',
  },
  {
    regex: '(^|/)packages/',
    message:
      'Import the library by its name (@vault-pii/nest-encryption), not a path.',
  },
];

export default defineConfig(
  {
    // Build output, coverage, test/bench artefacts (see .gitignore) and the ORM bench's separately
    // installed peer package; node_modules is ignored by default.
    ignores: [
      'eslint.config.mjs',
      'dist/**',
      'coverage/**',
      '.data/**',
      'test-artifacts/**',
      'bench/results/**',
      'bench/peer-typeorm-encrypted/**',
      'packages/*/dist/**',
      'examples/**',
    ],
  },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  eslintPluginPrettierRecommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: {
      globals: {
        ...globals.node,
        ...globals.jest,
      },
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-floating-promises': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',
      // `_`-prefixed parameters are required by a signature (an Express error handler's `_next`);
      // a property destructured beside a rest element is how an object is copied without it.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'prettier/prettier': ['error', { endOfLine: 'auto' }],
    },
  },
  {
    // The encryption library is reached through its public entries (its package.json `exports`),
    // never a path into it: the same code then runs under Jest (sources), Node (its build) and in
    // an app that installs it. src/architecture.spec.ts checks the same in every specifier.
    files: [
      'src/**/*.ts',
      'test/**/*.{ts,js}',
      'bench/**/*.ts',
      'ormconfig.ts',
    ],
    rules: {
      'no-restricted-imports': ['error', { patterns: libraryImportPatterns }],
    },
  },
  {
    // Application code does not load the test kit.
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.spec.ts', 'src/**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...libraryImportPatterns,
            {
              regex: '^@vault-pii/nest-encryption/testing$',
              message:
                'The test kit is for specs and test helpers, not application code.',
            },
          ],
        },
      ],
    },
  },
  {
    // The Jest configs and test/support/*.js are plain CommonJS run by Node, outside tsconfig.json:
    // no type information, so no type-aware rules.
    files: ['**/*.js', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs' },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
