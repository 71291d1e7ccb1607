import type { LoggerService } from '@nestjs/common';

/** Keeps what a module logs, so expected failures stay off the console and tests can read the lines. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private keep = (...parts: unknown[]): void =>
    void this.lines.push(parts.map((p) => (p instanceof Error ? p.message : String(p))).join(' '));
  log = this.keep;
  error = this.keep;
  warn = this.keep;
  debug = this.keep;
  verbose = this.keep;
}
