import 'reflect-metadata';

import { DataSource } from 'typeorm';

import { ConfigError, loadConfig } from '../platform/config/app-config.js';
import { dataSourceOptions } from '../platform/database/data-source-options.js';
import { generateSigningKey } from '../tokens/signing-key-material.js';
import { PgSigningKeysRepository } from '../tokens/signing-keys.repository.js';

const USAGE = `usage: npm run keys -- rotate
       npm run keys -- retire [--kid <kid>] [--min-age <seconds>]

rotate   generates a new signing key for JWT_ALGORITHM and makes it current; the previous key keeps
         verifying (and stays in the JWKS) until it is retired. Running instances switch within seconds.
retire   retires the keys that stopped signing at least --min-age seconds ago (default
         ACCESS_TOKEN_TTL + 30, so every token they signed has expired), or the key --kid at once.
         Tokens signed by a retired key are refused from then on.

Needs DATABASE_URL (the keys live in the database).`;

/** Runs one `keys` command against the database; returns what to print. */
export async function runKeysCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [command, ...rest] = args;
  if (command !== 'rotate' && command !== 'retire') throw new ConfigError(USAGE);
  const config = loadConfig(env);
  if (!config.database.url) throw new ConfigError('DATABASE_URL must be set: the signing keys live in the database');
  if (config.jwt.algorithm === 'HS256' || config.jwt.privateKey) {
    throw new ConfigError('keys are configured (JWT_SECRET or JWT_PRIVATE_KEY), not generated: rotate them in your secret store');
  }
  const algorithm = config.jwt.algorithm;
  const options = parseOptions(rest);
  const dataSource = await new DataSource(dataSourceOptions(config.database.url, { poolSize: 1 })).initialize();
  const keys = new PgSigningKeysRepository(dataSource);
  try {
    if (command === 'rotate') {
      const key = await generateSigningKey(algorithm);
      const { previous } = await keys.rotate(key);
      return `new ${algorithm} signing key ${key.kid}${previous.length ? `; ${previous.join(', ')} still verifies until retired` : ''}`;
    }
    const minAgeSeconds = options.minAge ?? config.jwt.accessTokenTtl + 30;
    const retired = await keys.retire({ minAgeSeconds, kid: options.kid });
    return retired.length ? `retired ${retired.join(', ')}` : 'no key to retire';
  } finally {
    await dataSource.destroy();
  }
}

function parseOptions(args: string[]): { kid?: string; minAge?: number } {
  const options: { kid?: string; minAge?: number } = {};
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === '--kid' && value) options.kid = value;
    else if (flag === '--min-age' && value && /^\d+$/.test(value)) options.minAge = Number(value);
    else throw new ConfigError(USAGE);
  }
  return options;
}

if (require.main === module) {
  runKeysCommand(process.argv.slice(2)).then(
    (message) => process.stdout.write(`${message}\n`),
    (error: unknown) => {
      process.stderr.write(`gatehouse keys: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(error instanceof ConfigError ? 2 : 1);
    },
  );
}
