#!/usr/bin/env node
// The `prepare` script: `npm run build`, except in the first of the two runs npm makes when it
// installs gatehouse from git. npm clones the repository, runs `npm install` in the clone (which runs
// `prepare`, as it does in any checkout), then runs `prepare` again itself before packing the clone.
// The first build would be thrown away, so it is skipped: npm marks the child `npm install` with
// _PACOTE_NO_PREPARE_, and only its own second run sets npm_package_resolved. Everywhere else (a
// checkout's `npm install`, `npm pack`, an install from a folder) this builds as before.
import { spawnSync } from 'node:child_process';

const { _PACOTE_NO_PREPARE_: preparingGitDependency, npm_package_resolved: packing, npm_execpath: npmCli } = process.env;
if (preparingGitDependency && !packing) process.exit(0);

const npm = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
const { status, error } = spawnSync(npm[0], [...npm[1], 'run', 'build'], { stdio: 'inherit' });
if (error) throw error;
process.exit(status ?? 1);
