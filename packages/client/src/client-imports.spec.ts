import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// gatehouse/client must load in a sibling app that has none of the server: no TypeORM, no entities.
const ALLOWED = [/^\.\/[\w.-]+\.js$/, /^node:/, /^@nestjs\/(common|core|microservices)$/, /^rxjs$/, /^ioredis$/];

describe('gatehouse/client imports', () => {
  const files = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
  const imports = files.map((file) => ({
    file,
    specifiers: [...readFileSync(join(__dirname, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]),
  }));

  it('finds the imports it checks', () => {
    expect(imports.flatMap((i) => i.specifiers).length).toBeGreaterThan(15);
  });

  it('imports only the client itself, Nest, rxjs, ioredis and node built-ins', () => {
    const foreign = imports.flatMap(({ file, specifiers }) =>
      specifiers.filter((s) => !ALLOWED.some((p) => p.test(s))).map((s) => `${file}: ${s}`),
    );
    expect(foreign).toEqual([]);
  });
});
