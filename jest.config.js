// Nest 12 packages are ESM-only; jest on Node 20 cannot require() ESM, so SWC compiles them to CJS.
const esmOnly = [
  '@nestjs',
  '@fastify/cookie',
  'cookie',
  'set-cookie-parser',
  'file-type',
  'strtok3',
  'token-types',
  '@tokenizer',
  'uint8array-extras',
  '@borewit',
  '@electric-sql',
  'content-disposition',
];

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2023',
    },
    module: { type: 'commonjs', ignoreDynamic: false },
  },
];

const shared = {
  transform: { '^.+\\.(t|j|cj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^@?gatehouse/client$': '<rootDir>/packages/client/src/index.ts',
    '^@gatehouse/client/testing$': '<rootDir>/packages/client/src/testing.ts',
  },
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/support/quiet-nest-logger.ts'],
};

// The tiers say what they cost: unit needs nothing and runs in seconds; the others share the run's
// own database (created in global setup) and the machine's Redis, and system starts servers and
// processes of its own.
const servers = {
  // A failing test shows the log lines its services wrote; the run is quiet otherwise.
  testEnvironment: '<rootDir>/test/support/service-logs-environment.ts',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  // A global option (ignored inside projects): e2e tests boot apps and wait for mail.
  testTimeout: 60000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/src', '<rootDir>/packages', '<rootDir>/test'],
      testRegex: '\\.spec\\.ts$',
      // Under test/, only test/unit holds unit specs; contract suites and fakes are imported by specs.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/(?!unit/)'],
    },
    { ...shared, ...servers, displayName: 'integration', roots: ['<rootDir>/test'], testRegex: '/test/integration/.*\\.int-spec\\.ts$' },
    { ...shared, ...servers, displayName: 'e2e', roots: ['<rootDir>/test'], testRegex: '/test/e2e/.*\\.e2e-spec\\.ts$' },
    { ...shared, ...servers, displayName: 'system', roots: ['<rootDir>/test'], testRegex: '/test/system/.*\\.system-spec\\.ts$' },
  ],
};
