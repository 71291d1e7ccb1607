// First, before anything allocates.
import './platform/lifecycle/small-heap.js';
import 'reflect-metadata';

import { Logger } from '@nestjs/common';

import { createGatehouseApp, startGatehouse } from './bootstrap.js';
import { ConfigError, loadConfig } from './platform/config/app-config.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gatehouse: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const { app, shutdown } = await createGatehouseApp({ config });
  await startGatehouse(app, config);
  const timeoutMs = config.shutdownTimeoutMs;
  onShutdownSignal((signal) => shutdown.run(app, timeoutMs, `${signal} received`));
}

/**
 * SIGTERM and SIGINT drain and close the service, then exit 0 (1 when the deadline passed or the
 * close failed). Nest's enableShutdownHooks() would re-raise the signal after closing, so the
 * process would die by it (exit code 143) instead. A second SIGINT exits at once.
 */
function onShutdownSignal(stop: (signal: NodeJS.Signals) => Promise<boolean>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (stopping) {
      if (signal === 'SIGINT') process.exit(1);
      return;
    }
    stopping = true;
    stop(signal).then(
      (finished) => process.exit(finished ? 0 : 1),
      (error: unknown) => {
        process.stderr.write(`gatehouse: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

main().catch((error: unknown) => {
  // Through the JSON logger, in place from the moment the app is built, redacted like every line.
  new Logger('Gatehouse').fatal({ msg: `failed to start: ${error instanceof Error ? error.message : String(error)}`, err: error });
  process.exit(1);
});
