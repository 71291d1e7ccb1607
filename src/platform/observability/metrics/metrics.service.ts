import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, type CounterConfiguration } from 'prom-client';

import { AppError, ErrorCode } from '../../../shared/errors/app-error.js';
import type { MessageTransport as RpcTransport } from '../../rpc/observed-handlers.js';
import { runtimeRegistry } from './runtime-metrics.js';

/** Why a password login was refused; a closed set, so the label stays bounded. */
export type LoginFailureReason = 'invalid_credentials' | 'locked' | 'inactive' | 'unverified' | 'rate_limited' | 'error';

export type { MessageTransport as RpcTransport } from '../../rpc/observed-handlers.js';

/** The labels of gatehouse_second_factor_checks_total; closed sets. */
export type SecondFactorMetricMethod = 'totp' | 'recovery_code';
export type SecondFactorOutcome = 'ok' | 'wrong' | 'locked' | 'expired';

const LOGIN_FAILURE_REASONS: Partial<Record<ErrorCode, LoginFailureReason>> = {
  [ErrorCode.INVALID_CREDENTIALS]: 'invalid_credentials',
  [ErrorCode.TOO_MANY_REQUESTS]: 'locked',
  [ErrorCode.USER_DEACTIVATED]: 'inactive',
  [ErrorCode.EMAIL_NOT_VERIFIED]: 'unverified',
};

const LOGIN_FAILURE_LABELS: LoginFailureReason[] = ['invalid_credentials', 'locked', 'inactive', 'unverified', 'rate_limited', 'error'];

/** The reason a failed password check is counted under. */
export function loginFailureReason(error: unknown): LoginFailureReason {
  return (error instanceof AppError && LOGIN_FAILURE_REASONS[error.code]) || 'error';
}

export { rpcErrorCode } from '../../../shared/errors/app-error.js';

/** A scrape never waits longer than this for a gauge read at scrape time; past it, the gauge is left out. */
export const SCRAPE_READ_TIMEOUT_MS = 1000;

/** Resolves to the promise's value, or to undefined when it fails or takes longer than `ms`. */
export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

/** A gauge a feature reads at scrape time, from the database say. */
export interface ScrapedGauge {
  name: string;
  help: string;
  read: () => Promise<number>;
}

/**
 * A counter of the observations of a histogram, by the same labels: filled from the histogram's
 * `_count` series at scrape time, so a request costs one observation instead of two.
 */
function countedFrom<T extends string>(histogram: Histogram<T>, config: CounterConfiguration<T>): Counter<T> {
  return new Counter<T>({
    ...config,
    async collect(this: Counter<T>): Promise<void> {
      const { name, values } = await histogram.get();
      this.reset();
      for (const { metricName, labels, value } of values) {
        if (metricName === `${name}_count`) this.inc(labels, value);
      }
    },
  });
}

// Seconds; from a cached token check (well under a millisecond) to a login under load.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The application's metrics, in a registry of its own: several apps may live in one process (tests,
 * an embedding app), and each counts only its own traffic. Runtime metrics (heap, GC, event loop)
 * describe the process and come from one process-wide registry, appended on every scrape.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly httpDuration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to the end of its response, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly httpRequests = countedFrom(this.httpDuration, {
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code (499: the client left before the answer).',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });

  private readonly rpcDuration = new Histogram({
    name: 'gatehouse_rpc_request_duration_seconds',
    help: 'Time to answer a message-pattern request, guards and validation included, by pattern, transport and outcome.',
    labelNames: ['pattern', 'transport', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly rpcRequests = countedFrom(this.rpcDuration, {
    name: 'gatehouse_rpc_requests_total',
    help: 'Message-pattern requests answered, by pattern, transport and outcome (ok or the error code).',
    labelNames: ['pattern', 'transport', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly loginSuccesses = new Counter({
    name: 'gatehouse_login_successes_total',
    help: 'Password logins that opened a session (REST and message patterns).',
    registers: [this.registry],
  });

  private readonly loginFailures = new Counter({
    name: 'gatehouse_login_failures_total',
    help: 'Password logins refused, by reason: invalid_credentials, locked, inactive, unverified, rate_limited, error.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly secondFactorChecks = new Counter({
    name: 'gatehouse_second_factor_checks_total',
    help: 'Second-factor codes checked at sign-in and re-authentication, by method (totp, recovery_code) and outcome (ok, wrong, locked, expired).',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly lockouts = new Counter({
    name: 'gatehouse_account_lockouts_total',
    help: 'Accounts (or unknown identifiers) locked after LOCKOUT_THRESHOLD consecutive failed password checks.',
    registers: [this.registry],
  });

  private readonly refreshReuses = new Counter({
    name: 'gatehouse_refresh_token_reuse_detections_total',
    help: 'Rotated-out refresh tokens presented after REFRESH_REUSE_INTERVAL; each revoked its session.',
    registers: [this.registry],
  });

  private readonly mailSent = new Counter({
    name: 'gatehouse_mail_sent_total',
    help: 'Outbox mails handed to the mail transport.',
    registers: [this.registry],
  });

  private readonly mailFailures = new Counter({
    name: 'gatehouse_mail_send_failures_total',
    help: 'Failed outbox send attempts; final="true" when the mail was given up after OUTBOX_MAX_ATTEMPTS.',
    labelNames: ['final'] as const,
    registers: [this.registry],
  });

  private readonly accountDeletions = new Counter({
    name: 'gatehouse_account_deletions_total',
    help: 'Account deletions: stage="requested" by their users, stage="erased" by the erasure job after ACCOUNT_DELETION_GRACE.',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Every series present from the start (label-less counters already are), so rates and alerts work before the first event.
    for (const stage of ['requested', 'erased']) this.accountDeletions.inc({ stage }, 0);
    for (const reason of LOGIN_FAILURE_LABELS) this.loginFailures.inc({ reason }, 0);
    for (const final of ['false', 'true']) this.mailFailures.inc({ final }, 0);
  }

  accountDeletionRequested(): void {
    this.accountDeletions.inc({ stage: 'requested' });
  }

  accountsErased(count: number): void {
    this.accountDeletions.inc({ stage: 'erased' }, count);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this application's metrics, then the process's. */
  async render(): Promise<string> {
    const [app, runtime] = await Promise.all([this.registry.metrics(), runtimeRegistry().metrics()]);
    return app + runtime;
  }

  /**
   * Registers a gauge whose value `read` gives at every scrape. One read at a time: scrapes during
   * an outage share the read in flight instead of piling up. While it fails or does not answer
   * within SCRAPE_READ_TIMEOUT_MS, the scrape still answers at once, without the gauge's value.
   */
  addScrapedGauge({ name, help, read }: ScrapedGauge): void {
    let inFlight: Promise<number | undefined> | undefined;
    const readOnce = (): Promise<number | undefined> => {
      inFlight ??= Promise.resolve()
        .then(read)
        .catch(() => undefined)
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    };
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect(this: Gauge): Promise<void> {
        const value = await settleWithin(readOnce(), SCRAPE_READ_TIMEOUT_MS);
        if (value === undefined) this.remove();
        else this.set(value);
      },
    });
  }

  /** Counted in gatehouse_http_requests_total too (read from the histogram at scrape time). */
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  /** Counted in gatehouse_rpc_requests_total too (read from the histogram at scrape time). */
  observeRpc(pattern: string, transport: RpcTransport, outcome: string, seconds: number): void {
    this.rpcDuration.observe({ pattern, transport, outcome }, seconds);
  }

  loginSucceeded(): void {
    this.loginSuccesses.inc();
  }

  loginFailed(reason: LoginFailureReason): void {
    this.loginFailures.inc({ reason });
  }

  secondFactorChecked(method: SecondFactorMetricMethod, outcome: SecondFactorOutcome): void {
    this.secondFactorChecks.inc({ method, outcome });
  }

  accountLocked(): void {
    this.lockouts.inc();
  }

  refreshTokenReused(): void {
    this.refreshReuses.inc();
  }

  mailDelivered(): void {
    this.mailSent.inc();
  }

  mailSendFailed(final: boolean): void {
    this.mailFailures.inc({ final: String(final) });
  }
}
