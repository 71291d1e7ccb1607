import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { JsonSocket } from '@nestjs/microservices';

import { FrameGate } from './frame-gate.js';
import { exceedsMessageLimit, MAX_MESSAGE_BYTES, messageTooLarge, trailingRequestId } from './message-limits.js';

export interface BoundedJsonSocketOptions {
  /** The largest message taken, in UTF-8 bytes of its JSON. */
  maxMessageBytes?: number;
  /** A refused message up to this many characters is read through (not kept) so its caller can be answered. */
  maxSkippedLength?: number;
  /** How long a peer may stall inside a length header or a refused message (Nest's own timeout covers the rest). */
  stallTimeoutMs?: number;
  /** One line per refusal: sizes and the peer's address, never content. */
  warn?: (line: string) => void;
}

/** Nest's default for a message left incomplete. */
const STALL_TIMEOUT_MS = 30_000;
/** Far more than a mistaken caller sends; reading it through costs no memory, only the peer's bandwidth. */
const MAX_SKIPPED_LENGTH = 4 * 1024 * 1024;
/** More than any length that is read through needs: a longer header is refused, not buffered. */
const MAX_LENGTH_DIGITS = 10;

/**
 * Nest's JSON socket behind a FrameGate: a message over the limit is never buffered or parsed. A
 * refused request whose id ends it (as Nest's clients send it) is answered 413 and the connection
 * carries on; one without, one too long to read through and a broken length header close the
 * connection, with one warning line. Nest's parser, backpressure and timeouts handle everything else.
 */
export class BoundedJsonSocket extends JsonSocket {
  private readonly gate: FrameGate;
  private readonly decoder = new StringDecoder('utf8');
  private readonly maxMessageBytes: number;
  private readonly stallTimeoutMs: number;
  private readonly warn: (line: string) => void;
  private refusedStream = false;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options: BoundedJsonSocketOptions = {}) {
    super(socket);
    this.maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.stallTimeoutMs = options.stallTimeoutMs ?? STALL_TIMEOUT_MS;
    this.warn = options.warn ?? (() => undefined);
    // Lengths count UTF-16 units, never fewer than the bytes: a longer frame is over the byte limit too.
    this.gate = new FrameGate({
      maxLength: this.maxMessageBytes,
      maxSkippedLength: Math.max(options.maxSkippedLength ?? MAX_SKIPPED_LENGTH, this.maxMessageBytes),
      maxDigits: MAX_LENGTH_DIGITS,
    });
    socket.on('close', () => clearTimeout(this.stallTimer));
  }

  protected override handleData(data: Buffer | string): void {
    if (this.refusedStream) return;
    const text = typeof data === 'string' ? data : this.decoder.write(data);
    for (const event of this.gate.push(text)) {
      switch (event.kind) {
        case 'frames':
          super.handleData(event.text);
          break;
        case 'oversize':
          this.refuse(`${event.length} characters`, event.skipped ? event.id : undefined, event.skipped);
          break;
        case 'broken':
          this.closeStream(`TCP message from ${this.peer()} refused: ${event.reason}; connection closed`);
          break;
      }
      if (this.refusedStream) return;
    }
    this.watchForStall();
  }

  /** Nest's parser hands every framed message here before JSON.parse: the byte count is checked first. */
  protected override emitMessage(data: string): void {
    if (this.refusedStream) return;
    if (!exceedsMessageLimit(data, this.maxMessageBytes)) return super.emitMessage(data);
    this.refuse(`${Buffer.byteLength(data, 'utf8')} bytes`, trailingRequestId(data), true);
  }

  private refuse(size: string, id: string | undefined, readThrough: boolean): void {
    const refused = `TCP message of ${size} from ${this.peer()} refused unparsed (limit ${this.maxMessageBytes} bytes)`;
    if (id === undefined) {
      this.closeStream(`${refused}; ${readThrough ? 'no request id at its end' : 'not read'}, connection closed`);
      return;
    }
    this.warn(`${refused}; answered 413`);
    this.sendMessage({ id, err: messageTooLarge(), isDisposed: true });
  }

  /** The rest of the stream cannot be trusted: nothing more is read, answered or flushed. */
  private closeStream(line: string): void {
    this.refusedStream = true;
    clearTimeout(this.stallTimer);
    this.warn(line);
    this.socket.destroy();
  }

  private watchForStall(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (!this.gate.holding || this.stallTimeoutMs <= 0) return;
    this.stallTimer = setTimeout(
      () => this.closeStream(`TCP connection from ${this.peer()} stalled inside a message for ${this.stallTimeoutMs} ms; closed`),
      this.stallTimeoutMs,
    );
    this.stallTimer.unref();
  }

  private peer(): string {
    return this.socket.remoteAddress ?? 'an unknown address';
  }
}
