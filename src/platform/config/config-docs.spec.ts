import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

// docs/configuration.md's variable table is generated from env.schema.ts; this keeps the two in step.
describe('docs/configuration.md', () => {
  it('is what npm run docs:config makes of src/platform/config/env.schema.ts', () => {
    const wanted = execFileSync(process.execPath, [join(ROOT, 'scripts/config-docs.mjs'), '--print'], { encoding: 'utf8' });
    const current = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    if (current !== wanted)
      throw new Error('docs/configuration.md is out of date with src/platform/config/env.schema.ts: run npm run docs:config');
    expect(current).toBe(wanted);
  });

  it('lists every variable of the schema, with its default', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    const schema = readFileSync(join(ROOT, 'src/platform/config/env.schema.ts'), 'utf8');
    const names = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]*)\??(?::[^=;]+)?(?: = ([^;]+))?;$/gm)];
    expect(names.length).toBeGreaterThan(40);
    for (const [, name, value] of names) {
      const shown = value === undefined ? 'unset' : `\`${value.replace(/^'|'$/g, '')}\``;
      expect(doc).toContain(`| \`${name}\` | ${shown} |`);
    }
  });
});
