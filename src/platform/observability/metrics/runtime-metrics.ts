import { collectDefaultMetrics, Registry } from 'prom-client';

let runtime: Registry | undefined;

/**
 * prom-client's default metrics (CPU, memory, heap spaces, GC, event-loop lag with its percentiles,
 * handles, file descriptors), under their standard names. They describe the process, not one
 * application, so they are collected once per process however many apps it runs: per app, every
 * app would watch the same GC and event loop, and each would leave an event-loop monitor and a GC
 * observer behind when it closes (prom-client cannot stop them). Neither keeps the process alive;
 * everything else is read at scrape time.
 */
export function runtimeRegistry(): Registry {
  if (!runtime) {
    runtime = new Registry();
    collectDefaultMetrics({ register: runtime });
  }
  return runtime;
}
