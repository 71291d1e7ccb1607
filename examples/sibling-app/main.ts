import 'reflect-metadata';

import { startSiblingApp } from './bootstrap.js';

// GATEHOUSE_URL=http://localhost:3000 node dist/examples/sibling-app/main.js
const gatehouse = process.env.GATEHOUSE_URL ?? 'http://localhost:3000';
startSiblingApp(
  { issuer: process.env.GATEHOUSE_ISSUER ?? gatehouse, jwksUrl: `${gatehouse}/.well-known/jwks.json` },
  { http: Number(process.env.PORT ?? 3100), tcp: Number(process.env.RPC_PORT ?? 4100) },
).then(
  async (app) => process.send?.({ url: await app.getUrl() }),
  (error: unknown) => {
    process.stderr.write(`sibling app failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
