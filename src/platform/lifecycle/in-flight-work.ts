/** The intakes whose work a graceful shutdown waits for. */
export type WorkKind = 'http' | 'tcp' | 'redis';

/**
 * Counts requests and message-pattern calls that have been accepted and not yet answered, so that a
 * shutdown can wait for them (and say which are left if it cannot).
 */
export class InFlightWork {
  private readonly counts: Record<WorkKind, number> = { http: 0, tcp: 0, redis: 0 };
  private waiters: Array<() => void> = [];

  /** Counts one unit of work; call the returned function (any number of times) when it is answered. */
  start(kind: WorkKind): () => void {
    this.counts[kind] += 1;
    let finished = false;
    return () => {
      if (finished) return;
      finished = true;
      this.counts[kind] -= 1;
      if (this.size === 0) this.notifyIdle();
    };
  }

  get size(): number {
    return this.counts.http + this.counts.tcp + this.counts.redis;
  }

  /** Resolves once nothing is in flight (at once when nothing is). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** For log lines: "2 HTTP requests, 1 TCP call", or "nothing". */
  describe(): string {
    const parts = [
      plural(this.counts.http, 'HTTP request'),
      plural(this.counts.tcp, 'TCP call'),
      plural(this.counts.redis, 'Redis call'),
    ].filter((part): part is string => part !== undefined);
    return parts.length ? parts.join(', ') : 'nothing';
  }

  private notifyIdle(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

function plural(count: number, noun: string): string | undefined {
  if (count === 0) return undefined;
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
