import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import { BoundedJsonSocket } from './bounded-json-socket.js';

/** The parts of a net.Socket the JSON socket uses. */
class FakeSocket extends EventEmitter {
  readonly written: string[] = [];
  destroyed = false;
  ended = false;
  remoteAddress = '10.0.0.9';
  writableLength = 0;

  write(data: string, _encoding?: unknown, callback?: () => void): boolean {
    this.written.push(data);
    callback?.();
    return true;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  end(): void {
    this.ended = true;
  }

  pause(): void {}
  resume(): void {}
}

const frame = (body: string): string => `${body.length}#${body}`;
const packet = (id: string, pad = ''): string => JSON.stringify({ pattern: 'users.findById', data: { id: 'u1', pad }, id });

function open(options: { maxMessageBytes?: number; maxSkippedLength?: number; stallTimeoutMs?: number } = {}) {
  const raw = new FakeSocket();
  const warnings: string[] = [];
  const socket = new BoundedJsonSocket(raw as unknown as Socket, {
    maxMessageBytes: 100,
    maxSkippedLength: 1000,
    ...options,
    warn: (line) => warnings.push(line),
  });
  const messages: unknown[] = [];
  socket.on('message', (message) => messages.push(message));
  const send = (data: string | Buffer): void => {
    raw.emit('data', typeof data === 'string' ? Buffer.from(data) : data);
  };
  const replies = (): unknown[] => raw.written.map((text) => JSON.parse(text.slice(text.indexOf('#') + 1)) as unknown);
  return { raw, socket, warnings, messages, send, replies };
}

const TOO_LARGE = { statusCode: 413, code: 'VALIDATION_FAILED', message: 'message too large' };

describe('BoundedJsonSocket', () => {
  it('emits messages within the limit however the bytes arrive, a character split included', () => {
    const { send, messages, warnings } = open();
    const stream = Buffer.from(frame(packet('r1', 'é€😀')) + frame(packet('r2')));
    for (let i = 0; i < stream.length; i += 1) send(stream.subarray(i, i + 1));
    send(Buffer.from(frame(packet('r3')) + frame(packet('r4'))));
    expect(messages).toEqual(['r1', 'r2', 'r3', 'r4'].map((id) => JSON.parse(packet(id, id === 'r1' ? 'é€😀' : ''))));
    expect(warnings).toEqual([]);
  });

  it('answers a request over the limit 413 without emitting it, logs its size only, and carries on', () => {
    const { raw, send, messages, warnings, replies } = open();
    const big = packet('big-1', 'secret'.repeat(50));
    const parse = jest.spyOn(JSON, 'parse');
    try {
      send(frame(big).slice(0, 150));
      send(frame(big).slice(150) + frame(packet('r2')));
      expect(parse.mock.calls.filter(([text]) => String(text).includes('secret'))).toEqual([]);
    } finally {
      parse.mockRestore();
    }
    expect(replies()).toEqual([{ id: 'big-1', err: TOO_LARGE, isDisposed: true }]);
    expect(messages).toEqual([JSON.parse(packet('r2'))]);
    expect(warnings).toEqual([`TCP message of ${big.length} characters from 10.0.0.9 refused unparsed (limit 100 bytes); answered 413`]);
    expect(raw.destroyed).toBe(false);
  });

  it('answers 413 a request within the limit in characters but over it in bytes', () => {
    const { send, messages, warnings, replies } = open();
    const accented = packet('acc-1', 'é'.repeat(30));
    expect(accented.length).toBeLessThanOrEqual(100);
    send(frame(accented));
    expect(messages).toEqual([]);
    expect(replies()).toEqual([{ id: 'acc-1', err: TOO_LARGE, isDisposed: true }]);
    expect(warnings).toEqual([
      `TCP message of ${Buffer.byteLength(accented)} bytes from 10.0.0.9 refused unparsed (limit 100 bytes); answered 413`,
    ]);
  });

  it('closes the connection on a request over the limit without an id at its end, and reads no further', () => {
    const { raw, send, messages, warnings, replies } = open();
    const anonymous = JSON.stringify({ pattern: 'users.findById', data: { pad: 'p'.repeat(200) } });
    send(frame(anonymous) + frame(packet('r2')));
    send(frame(packet('r3')));
    expect(raw.destroyed).toBe(true);
    expect(messages).toEqual([]);
    expect(replies()).toEqual([]);
    expect(warnings).toEqual([
      `TCP message of ${anonymous.length} characters from 10.0.0.9 refused unparsed (limit 100 bytes); no request id at its end, connection closed`,
    ]);
  });

  it('closes the connection as soon as the length of a message too long to read through is known', () => {
    const { raw, send, warnings } = open();
    send(`30000000#{"pattern":"p","data":"`);
    expect(raw.destroyed).toBe(true);
    expect(warnings).toEqual([
      'TCP message of 30000000 characters from 10.0.0.9 refused unparsed (limit 100 bytes); not read, connection closed',
    ]);
  });

  it('closes the connection on a length header that does not end', () => {
    const { raw, send, warnings } = open();
    send('1234567890');
    expect(raw.destroyed).toBe(false);
    send('1');
    expect(raw.destroyed).toBe(true);
    expect(warnings).toEqual(['TCP message from 10.0.0.9 refused: a length header of more than 10 digits; connection closed']);
  });

  it('closes a connection stalled inside a length header or a refused message, not an idle one', async () => {
    const header = open({ stallTimeoutMs: 20 });
    header.send(`${frame(packet('r1'))}12`);
    const skipping = open({ stallTimeoutMs: 20 });
    skipping.send(`500#${'s'.repeat(100)}`);
    const idle = open({ stallTimeoutMs: 20 });
    idle.send(frame(packet('r1')));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect([header.raw.destroyed, skipping.raw.destroyed, idle.raw.destroyed]).toEqual([true, true, false]);
    expect(header.warnings).toEqual(['TCP connection from 10.0.0.9 stalled inside a message for 20 ms; closed']);
  });
});
