import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';

/**
 * Work started by a request but not awaited by it, so that the answer (and its timing) cannot
 * depend on the outcome, e.g. whether an address has an account. Failures are logged; shutdown
 * waits for what is running.
 */
@Injectable()
export class BackgroundTasks implements BeforeApplicationShutdown {
  private readonly logger = new Logger('BackgroundTasks');
  private readonly running = new Set<Promise<void>>();

  run(name: string, task: () => Promise<unknown>): void {
    const promise = task().then(
      () => undefined,
      (error: unknown) => this.logger.error(`${name} failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise));
  }

  /** Resolves when everything started so far has finished (used by tests and at shutdown). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Before the database pool closes. */
  beforeApplicationShutdown(): Promise<void> {
    return this.settled();
  }
}
