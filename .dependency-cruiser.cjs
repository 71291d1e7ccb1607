// The dependency rule of CONTRIBUTING.md ("Layout"), checked by `npm run lint`:
// features → platform → shared, no cycles, and the client package knows nothing of the server.
const FEATURES_AND_ENTRY = '^src/(?!platform/|shared/)';
const ENTRY = '^src/(main|bootstrap|app\\.module|index)\\.ts$|^src/cli/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Files that import each other, directly or round a loop (type-only imports count too).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      severity: 'error',
      scope: 'folder',
      comment: 'Folders that import each other: split what both need into the lower one, or into src/shared.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-imports-nothing-above',
      severity: 'error',
      comment: 'src/shared is the kernel: errors, access decorators, crypto, paging, validation. It imports no other folder of the server.',
      from: { path: '^src/shared/' },
      to: { path: '^(src|packages)/', pathNot: '^src/shared/' },
    },
    {
      name: 'platform-knows-no-feature',
      severity: 'error',
      comment: 'src/platform is plumbing: a feature plugs into it (a module, a contribution from bootstrap.ts), never the other way round.',
      from: { path: '^src/platform/' },
      to: { path: FEATURES_AND_ENTRY },
    },
    {
      name: 'features-not-the-entry',
      severity: 'error',
      comment: 'Only the entry (main.ts, bootstrap.ts, app.module.ts, index.ts, cli/) composes the features.',
      from: { path: '^src/', pathNot: ENTRY },
      to: { path: ENTRY },
    },
    {
      name: 'client-imports-no-server',
      severity: 'error',
      comment: '@gatehouse/client is installed into other apps: it may not reach into the server.',
      from: { path: '^packages/client/' },
      to: { path: '^(src|test|bench|scripts)/|^ormconfig' },
    },
    {
      name: 'server-code-imports-no-tests',
      severity: 'error',
      from: { path: '^(src|packages/client/src)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^test/|\\.spec\\.ts$' },
    },
  ],
  options: {
    // Unit specs beside the code import test fakes, which import the code back: not a cycle of the server.
    doNotFollow: { path: ['node_modules', '^test/'] },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
