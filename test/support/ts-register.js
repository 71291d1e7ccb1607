'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload, loaded before anything could compile an import */
/*
 * Lets plain Node run the TypeScript sources without a build: `node -r ./test/support/ts-register.js
 * src/main.ts`. Tests use it to run the service (and the keys CLI) as separate processes. Each .ts
 * file is compiled to CommonJS by SWC when it is first required, with the same options jest uses;
 * the ESM-only dependencies load through Node's own require(esm), as they do from the build output.
 */
const { transformSync } = require('@swc/core');
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2023',
    keepClassNames: true,
  },
  // Dynamic import() stays native, as tsc leaves it for Node.
  module: { type: 'commonjs', ignoreDynamic: true },
  sourceMaps: 'inline',
};

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, { ...swcOptions, filename });
  module._compile(code, filename);
};

// The sources import their siblings as './x.js' (what the build emits); here './x.ts' is what exists.
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveTypeScript(request, parent, ...rest) {
  if (parent && typeof parent.filename === 'string' && parent.filename.endsWith('.ts') && /^\.\.?\/.*\.js$/.test(request)) {
    const candidate = path.resolve(path.dirname(parent.filename), `${request.slice(0, -3)}.ts`);
    if (fs.existsSync(candidate)) return candidate;
  }
  return resolveFilename.call(this, request, parent, ...rest);
};
