/** What a caller may see while a dependency fails: the contract's 503, nothing else. */
export const UNAVAILABLE_BODY = { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) };

/** Driver text, SQL, class names or stack traces: never in an answer. */
export const LEAK =
  /ECONNREFUSED|ECONNRESET|Connection terminated|terminating connection|postgres|QueryFailed|TypeORM|EntityMetadata|Driver not|stack|\bat \w+ \(|\b(SELECT|INSERT|UPDATE|DELETE)\b/i;

/** A call that has not answered by then counts as hanging. */
export const CALL_DEADLINE_MS = 15_000;

export type Outcome = 'ok' | 'unavailable' | 'wrong';

export interface CallRecord {
  op: string;
  startedAt: number;
  endedAt: number;
  outcome: Outcome;
  /** For a wrong answer: what came back. */
  detail?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds or fails with `what` after `ms`. */
export async function eventually<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${ms} ms${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`,
      );
    await sleep(100);
  }
}

function withDeadline<T>(promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- RPC failures are the error body itself
        reject(error);
      },
    );
  });
}

function isUnavailable(status: number, body: unknown, text: string): boolean {
  if (status !== 503 || LEAK.test(text)) return false;
  const b = body as Record<string, unknown>;
  return b.statusCode === 503 && b.code === 'SERVICE_UNAVAILABLE' && typeof b.message === 'string' && Object.keys(b).length === 3;
}

/**
 * Records every call made through it: an answer is `ok` when it is the normal success (checked by
 * the caller's predicate), `unavailable` when it is exactly the contract's 503, `wrong` otherwise
 * (another status, driver text, a hang past the deadline).
 */
export class CallLog {
  readonly records: CallRecord[] = [];

  /** A REST call through supertest. */
  async http(
    op: string,
    send: () => PromiseLike<{ status: number; body: unknown; text: string }>,
    ok: (status: number, body: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown> | undefined> {
    const startedAt = Date.now();
    try {
      const res = await withDeadline(Promise.resolve(send()));
      const body = (res.body ?? {}) as Record<string, unknown>;
      if (ok(res.status, body)) {
        this.add(op, startedAt, 'ok');
        return body;
      }
      if (isUnavailable(res.status, body, res.text)) this.add(op, startedAt, 'unavailable');
      else this.add(op, startedAt, 'wrong', `${res.status} ${res.text.slice(0, 300)}`);
    } catch (error) {
      this.add(op, startedAt, 'wrong', String(error));
    }
    return undefined;
  }

  /** A message-pattern call: failures arrive as the error body itself. */
  async rpc(
    op: string,
    send: () => Promise<unknown>,
    ok: (reply: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown> | undefined> {
    const startedAt = Date.now();
    try {
      const reply = (await withDeadline(send())) as Record<string, unknown>;
      if (reply && ok(reply)) {
        this.add(op, startedAt, 'ok');
        return reply;
      }
      this.add(op, startedAt, 'wrong', `reply ${JSON.stringify(reply).slice(0, 300)}`);
    } catch (error) {
      if (error instanceof Error) {
        this.add(op, startedAt, 'wrong', String(error));
      } else {
        const text = JSON.stringify(error);
        const body = (error ?? {}) as Record<string, unknown>;
        if (isUnavailable(Number(body.statusCode), body, text)) this.add(op, startedAt, 'unavailable');
        else this.add(op, startedAt, 'wrong', text.slice(0, 300));
      }
    }
    return undefined;
  }

  private add(op: string, startedAt: number, outcome: Outcome, detail?: string): void {
    this.records.push({ op, startedAt, endedAt: Date.now(), outcome, detail });
  }

  /** Human-readable summary of the calls: per operation, how many of each outcome. */
  summary(): string {
    const by = new Map<string, Record<Outcome, number>>();
    for (const r of this.records) {
      const row = by.get(r.op) ?? { ok: 0, unavailable: 0, wrong: 0 };
      row[r.outcome] += 1;
      by.set(r.op, row);
    }
    return [...by].map(([op, n]) => `${op}: ${n.ok} ok, ${n.unavailable} unavailable, ${n.wrong} wrong`).join('; ');
  }
}

/** Repeats `step` on `workers` concurrent loops until stopped. */
export class Load {
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly steps: Array<() => Promise<unknown>>) {}

  start(): void {
    this.running = true;
    this.loops = this.steps.map(async (step) => {
      while (this.running) {
        await step();
        // A breath between calls: a steady load, not a CPU hog on a shared machine.
        await sleep(5);
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}
