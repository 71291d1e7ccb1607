import { keepTail, trailingRequestId } from './message-limits.js';

export interface FrameGateLimits {
  /** Frames declaring more characters than this are not passed on. */
  maxLength: number;
  /** A refused frame up to this length is read through (not kept) so that its caller can be answered. */
  maxSkippedLength: number;
  /** Digits a length header may have. */
  maxDigits: number;
}

export type GateEvent =
  /** Whole or partial frames within the limit, unchanged, for the JSON framing parser. */
  | { kind: 'frames'; text: string }
  /** A frame over the limit: read through and dropped (`skipped`, with the id its end names, if any), or not read at all. */
  | { kind: 'oversize'; length: number; skipped: boolean; id?: string }
  /** A length header that is not a number of at most maxDigits digits: the stream cannot be followed. */
  | { kind: 'broken'; reason: string };

type Mode = 'header' | 'body' | 'skip' | 'broken';

/**
 * Follows Nest's TCP framing (`<length>#<json>`, the length in UTF-16 units of the decoded text) in
 * front of its parser, so that a frame over the limit is dropped as soon as its length is read and
 * never buffered or parsed, and a length header cannot grow without end. Frames within the limit go
 * through unchanged, however they are split or pipelined.
 */
export class FrameGate {
  private mode: Mode = 'header';
  private digits = '';
  private remaining = 0;
  private skipping = 0;
  private tail = '';

  constructor(private readonly limits: FrameGateLimits) {}

  /** Inside a length header or a refused frame: what the parser behind never sees, so cannot time out. */
  get holding(): boolean {
    return this.mode === 'skip' || (this.mode === 'header' && this.digits.length > 0);
  }

  push(text: string): GateEvent[] {
    const events: GateEvent[] = [];
    const pass: string[] = [];
    const flush = (): void => {
      if (pass.length > 0) events.push({ kind: 'frames', text: pass.join('') });
      pass.length = 0;
    };
    let i = 0;
    while (i < text.length && this.mode !== 'broken') {
      if (this.mode === 'body' || this.mode === 'skip') {
        const n = Math.min(this.remaining, text.length - i);
        const piece = text.slice(i, i + n);
        i += n;
        this.remaining -= n;
        if (this.mode === 'body') pass.push(piece);
        else this.tail = keepTail(this.tail, piece);
        if (this.remaining > 0) continue;
        if (this.mode === 'skip') {
          flush();
          events.push({ kind: 'oversize', length: this.skipping, skipped: true, id: trailingRequestId(this.tail) });
          this.tail = '';
        }
        this.mode = 'header';
        continue;
      }
      const char = text[i];
      i += 1;
      if (char >= '0' && char <= '9') {
        if (this.digits.length < this.limits.maxDigits) {
          this.digits += char;
          continue;
        }
        this.break(events, flush, `a length header of more than ${this.limits.maxDigits} digits`);
      } else if (char === '#' && this.digits.length > 0) {
        const length = Number(this.digits);
        if (length <= this.limits.maxLength) {
          pass.push(`${this.digits}#`);
          // An empty frame goes on too: the parser refuses it as before.
          this.mode = length > 0 ? 'body' : 'header';
          this.remaining = length;
        } else if (length <= this.limits.maxSkippedLength) {
          this.mode = 'skip';
          this.remaining = length;
          this.skipping = length;
        } else {
          flush();
          events.push({ kind: 'oversize', length, skipped: false });
          this.mode = 'broken';
        }
        this.digits = '';
      } else {
        this.break(events, flush, 'a length header that is not a number');
      }
    }
    flush();
    return events;
  }

  private break(events: GateEvent[], flush: () => void, reason: string): void {
    flush();
    events.push({ kind: 'broken', reason });
    this.mode = 'broken';
    this.digits = '';
  }
}
