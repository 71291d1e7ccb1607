import { Buffer } from 'node:buffer';

import { AppError, ErrorCode, type ErrorBody } from '../../shared/errors/app-error.js';

/** The largest message-pattern request taken, in UTF-8 bytes of its JSON, over TCP and Redis alike. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** How far from the end of a refused message its request id is looked for. */
const TAIL_CHARS = 256;

/**
 * Nest's clients serialise `{ pattern, data, id }`, the id last, so the message ends in `,"id":"…"}`.
 * Only that shape, with an id of plain characters, is taken.
 */
const TRAILING_ID = /[{,]\s*"id"\s*:\s*"([\w.:-]{1,128})"\s*\}\s*$/;

/** Whether a raw message is over the limit, before anything parses it. */
export function exceedsMessageLimit(raw: string | Buffer, limit = MAX_MESSAGE_BYTES): boolean {
  if (typeof raw !== 'string') return raw.length > limit;
  // UTF-8 never takes fewer bytes than UTF-16 units: the length alone settles a long string.
  return raw.length > limit || Buffer.byteLength(raw, 'utf8') > limit;
}

/**
 * The request id at the very end of a message, read from its last characters without parsing it, so
 * that a refused request's caller can be answered; undefined when it does not end the Nest way.
 */
export function trailingRequestId(text: string): string | undefined {
  return TRAILING_ID.exec(text.length > TAIL_CHARS ? text.slice(-TAIL_CHARS) : text)?.[1];
}

/** Keeps what trailingRequestId needs of a message read piece by piece. */
export function keepTail(tail: string, piece: string): string {
  return piece.length >= TAIL_CHARS ? piece.slice(-TAIL_CHARS) : (tail + piece).slice(-TAIL_CHARS);
}

/** The answer to a refused request: the contract's 413 body (code VALIDATION_FAILED, as over HTTP). */
export function messageTooLarge(): ErrorBody {
  return new AppError(ErrorCode.PAYLOAD_TOO_LARGE, 'message too large').toBody();
}
