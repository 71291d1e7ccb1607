import { randomUUID } from 'node:crypto';
import { connect, Socket } from 'node:net';
import { randomStringGenerator } from '@nestjs/common/utils/random-string-generator.util.js';
import Redis from 'ioredis';

import { MAX_MESSAGE_BYTES } from '../../src/platform/rpc/message-limits';
import { TEST_REDIS_URL } from '../support/services';
import { startTestApp, TestApp } from '../support/test-app';

const MiB = 1024 * 1024;
const TOO_LARGE = { statusCode: 413, code: 'VALIDATION_FAILED', message: 'message too large' };
const UNKNOWN_USER_ID = '00000000-0000-4000-8000-000000000000';
/** An id as long as the ones Nest's clients make, for sizing their packets before the id is known. */
const NEST_ID = randomStringGenerator();

interface Reply {
  id?: string;
  err?: Record<string, unknown>;
  response?: unknown;
  isDisposed?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The service's JSON log lines. */
class LogCapture {
  readonly lines: string[] = [];
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line.trim()) this.lines.push(line);
  }
  /** The messages of the warning lines that contain `text`. */
  warnings(text: string): string[] {
    return this.lines
      .map((line) => JSON.parse(line) as { level: number; msg?: string })
      .filter((record) => record.level === 40 && record.msg?.includes(text))
      .map((record) => record.msg ?? '');
  }
}

/** An auth.login packet as Nest's clients serialise it (id last), its password padded to `size` characters in all. */
function loginPacket(size: number, id: string, fill = 'a'): string {
  const [prefix, suffix] = loginPacketParts(id);
  const room = size - prefix.length - suffix.length;
  if (room < 0 || room % fill.length !== 0) throw new Error(`no auth.login packet of ${size} characters with this fill`);
  return prefix + fill.repeat(room / fill.length) + suffix;
}

/** The packet around its password: what comes before it and after it. */
function loginPacketParts(id: string): [string, string] {
  const packet = JSON.stringify({ pattern: 'auth.login', data: { email: 'limits@example.com', password: '\u0000' }, id });
  const [prefix, suffix] = packet.split('\\u0000');
  return [prefix, suffix];
}

/** Nest's TCP framing: `<length>#<json>`, the length in UTF-16 units (what JSON.stringify(...).length says). */
function frame(packet: string): string {
  return `${packet.length}#${packet}`;
}

function verifyPacket(id: string): string {
  return JSON.stringify({ pattern: 'auth.verify', data: { accessToken: 'garbage' }, id });
}

/** A message-pattern connection speaking Nest's TCP framing by hand. */
class RawConnection {
  readonly replies: Reply[] = [];
  closed = false;
  private buffer = '';
  private readonly wakers = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
      this.wake();
    });
    // A reset by the server is what some of these tests expect.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  /** Writes and waits until the socket takes more; false once the connection is gone. */
  async write(data: string | Buffer): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return false;
    if (this.socket.write(data)) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done).off('close', done);
        resolve();
      };
      this.socket.on('drain', done).on('close', done);
    });
    return !this.closed;
  }

  /**
   * Sends one frame of `length` characters, the packet's middle streamed from one reused chunk so that
   * this process (which is also the server's) never holds the message whole. Resolves how much went out
   * before the connection closed.
   */
  async stream(length: number, prefix: string, suffix: string): Promise<{ sent: number; closed: boolean }> {
    const filler = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const send = async (data: string | Buffer): Promise<boolean> => {
      const ok = await this.write(data);
      if (ok) sent += data.length;
      return ok;
    };
    if (!(await send(`${length}#`)) || !(await send(prefix))) return { sent, closed: true };
    let middle = length - prefix.length - suffix.length;
    while (middle > 0) {
      const piece = middle >= filler.length ? filler : filler.subarray(0, middle);
      if (!(await send(piece))) return { sent, closed: true };
      middle -= piece.length;
    }
    if (!(await send(suffix))) return { sent, closed: true };
    return { sent, closed: this.closed };
  }

  /** The reply to `id`, or undefined when the connection closes or `ms` pass first. */
  async reply(id: string, ms = 5_000): Promise<Reply | undefined> {
    const found = (): Reply | undefined => this.replies.find((r) => r.id === id);
    await this.until(() => found() !== undefined || this.closed, ms, 'reply').catch(() => undefined);
    return found();
  }

  async whenClosed(ms: number): Promise<void> {
    await this.until(() => this.closed, ms, 'connection close');
  }

  end(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      const hash = this.buffer.indexOf('#');
      if (hash < 0) return;
      const length = Number(this.buffer.slice(0, hash));
      if (this.buffer.length < hash + 1 + length) return;
      this.replies.push(JSON.parse(this.buffer.slice(hash + 1, hash + 1 + length)) as Reply);
      this.buffer = this.buffer.slice(hash + 1 + length);
    }
  }

  private wake(): void {
    for (const wake of this.wakers) wake();
  }

  private until(done: () => boolean, ms: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wakers.delete(check);
        reject(new Error(`${what}: not within ${ms} ms`));
      }, ms);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve();
      };
      this.wakers.add(check);
    });
  }
}

// One app per file: the pino logger is process-wide (jest gives each file its own).
describe('message-pattern size limits', () => {
  const logs = new LogCapture();
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp({ LOG_LEVEL: 'warn' }, { logDestination: logs });
    port = t.config.rpc.port;
  });
  afterAll(() => t.close());

  async function stillServes(): Promise<void> {
    expect(await t.rpc.tcp.fail('auth.verify', { accessToken: 'garbage' })).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    expect(await t.rpc.tcp.send('users.findById', { id: UNKNOWN_USER_ID })).toBeNull();
  }

  describe('over TCP', () => {
    it('answers a 1 MiB request 413 without parsing it, and the same connection carries on', async () => {
      const conn = await RawConnection.open(port);
      const id = randomUUID();
      const [prefix, suffix] = loginPacketParts(id);
      const { closed } = await conn.stream(MiB, prefix, suffix);
      expect(closed).toBe(false);
      expect(await conn.reply(id)).toEqual({ id, err: TOO_LARGE, isDisposed: true });

      const next = randomUUID();
      await conn.write(frame(verifyPacket(next)));
      expect((await conn.reply(next))?.err).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      conn.end();
      await stillServes();
      expect(logs.warnings(`TCP message of ${MiB} characters`)).toEqual([
        `TCP message of ${MiB} characters from 127.0.0.1 refused unparsed (limit ${MAX_MESSAGE_BYTES} bytes); answered 413`,
      ]);
    });

    it('closes the connection on a 30 MiB request as soon as its length is read, without holding it', async () => {
      const conn = await RawConnection.open(port);
      const id = randomUUID();
      const [prefix, suffix] = loginPacketParts(id);
      const before = process.memoryUsage().rss;
      const started = Date.now();
      const { sent, closed } = await conn.stream(30 * MiB, prefix, suffix);
      await conn.whenClosed(5_000);
      const grown = process.memoryUsage().rss - before;

      expect(closed).toBe(true);
      expect(sent).toBeLessThan(30 * MiB);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(conn.replies).toEqual([]);
      // Buffered and parsed as before this limit, it grew RSS by about 100 MiB.
      expect(grown).toBeLessThan(15 * MiB);
      await stillServes();
      expect(logs.warnings(`TCP message of ${30 * MiB} characters`)).toEqual([
        `TCP message of ${30 * MiB} characters from 127.0.0.1 refused unparsed (limit ${MAX_MESSAGE_BYTES} bytes); not read, connection closed`,
      ]);
    });

    it('closes the connection on a length header that never ends, and on one that is not a number', async () => {
      const endless = await RawConnection.open(port);
      const digits = Buffer.alloc(64 * 1024, '1234567890');
      let sent = 0;
      while (sent < 16 * MiB && (await endless.write(digits))) sent += digits.length;
      await endless.whenClosed(5_000);
      expect(sent).toBeLessThan(16 * MiB);
      expect(endless.replies).toEqual([]);

      const garbage = await RawConnection.open(port);
      await garbage.write('12x#{}');
      await garbage.whenClosed(5_000);
      expect(garbage.replies).toEqual([]);
      await stillServes();
      expect(logs.warnings('length header')).toEqual([
        'TCP message from 127.0.0.1 refused: a length header of more than 10 digits; connection closed',
        'TCP message from 127.0.0.1 refused: a length header that is not a number; connection closed',
      ]);
    });

    it('takes a request of 64 KiB and refuses one byte more, counting UTF-8 bytes, through a Nest client', async () => {
      const data = (packet: string): unknown => (JSON.parse(packet) as { data: unknown }).data;
      // Validation answers: the password is far over its 1024 bytes.
      expect(await t.rpc.tcp.fail('auth.login', data(loginPacket(MAX_MESSAGE_BYTES, NEST_ID)))).toMatchObject({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
      });
      expect(await t.rpc.tcp.fail('auth.login', data(loginPacket(MAX_MESSAGE_BYTES + 1, NEST_ID)))).toEqual(TOO_LARGE);
      // Within the limit in characters (what the frame's length counts), over it in bytes.
      const accented = loginPacket(MAX_MESSAGE_BYTES - 4_000, NEST_ID, 'é');
      expect(accented.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(Buffer.byteLength(accented)).toBeGreaterThan(MAX_MESSAGE_BYTES);
      expect(await t.rpc.tcp.fail('auth.login', data(accented))).toEqual(TOO_LARGE);
      await stillServes();
    });

    it('frames pipelined requests, one split over several writes, around a refused one', async () => {
      const conn = await RawConnection.open(port);
      const ids = Array.from({ length: 41 }, () => randomUUID());
      const oversize = loginPacket(100 * 1024, ids[20]);
      const frames = ids.map((id, i) => frame(i === 20 ? oversize : verifyPacket(id)));
      await conn.write(frames.join(''));
      // One more, split inside its length, inside its body and inside a two-byte character.
      const last = randomUUID();
      const split = Buffer.from(frame(loginPacket(2_000, last, 'é')));
      for (const [from, to] of [
        [0, 2],
        [2, 700],
        [700, 1201],
        [1201, split.length],
      ]) {
        await conn.write(split.subarray(from, to));
        await sleep(20);
      }

      for (const [i, id] of ids.entries()) {
        const reply = await conn.reply(id);
        if (i === 20) expect(reply).toEqual({ id, err: TOO_LARGE, isDisposed: true });
        else expect(reply?.err).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      }
      expect((await conn.reply(last))?.err).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(conn.closed).toBe(false);
      conn.end();
    });
  });

  describe('over Redis', () => {
    let pub: Redis;
    let sub: Redis;
    const replies = new Map<string, Reply>();

    beforeAll(async () => {
      pub = new Redis(TEST_REDIS_URL);
      sub = new Redis(TEST_REDIS_URL);
      sub.on('message', (_channel: string, text: string) => {
        const reply = JSON.parse(text) as Reply;
        if (reply.id) replies.set(reply.id, reply);
      });
      await sub.subscribe('auth.login.reply');
      // The server is subscribed once it has answered.
      expect(await t.rpc.redis.fail('auth.verify', { accessToken: 'garbage' })).toMatchObject({ code: 'UNAUTHORIZED' });
    });
    afterAll(async () => {
      pub.disconnect();
      sub.disconnect();
      // ioredis' parser keeps a timer shrinking its buffer for some seconds after a large message.
      await sleep(3_000);
    });

    /** Publishes requests the way Nest's Redis client does (on the pattern's channel), then one that is answered. */
    async function publishThenControl(packets: string[]): Promise<void> {
      for (const packet of packets) await pub.publish('auth.login', packet);
      // Messages reach a subscriber in order: once this one is answered, those before it were handled.
      const control = randomUUID();
      await pub.publish('auth.login', loginPacket(2_000, control));
      const deadline = Date.now() + 10_000;
      while (!replies.has(control)) {
        if (Date.now() > deadline) throw new Error('the control request was not answered');
        await sleep(10);
      }
      expect(replies.get(control)?.err).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      await sleep(300);
    }

    // Not 30 MiB here: Redis itself drops a subscriber that falls 32 MiB behind (its default
    // client-output-buffer-limit for pubsub), so such a message never reaches a server.
    it('drops a 1 MiB and a 16 MiB request unparsed: nothing answers them, and later calls are answered', async () => {
      const ids = [randomUUID(), randomUUID()];
      await publishThenControl([loginPacket(MiB, ids[0]), loginPacket(16 * MiB, ids[1])]);
      expect(ids.filter((id) => replies.has(id))).toEqual([]);
      expect(await t.rpc.redis.fail('auth.verify', { accessToken: 'garbage' })).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      expect(logs.warnings('Redis message of')).toEqual(
        [MiB, 16 * MiB].map((size) => `Redis message of ${size} bytes on auth.login dropped unparsed (limit ${MAX_MESSAGE_BYTES} bytes)`),
      );
    });

    it('answers a request of 64 KiB and drops one byte more, counting UTF-8 bytes', async () => {
      const [at, over, accented] = [randomUUID(), randomUUID(), randomUUID()];
      const accentedPacket = loginPacket(MAX_MESSAGE_BYTES - 4_000, accented, 'é');
      expect(Buffer.byteLength(accentedPacket)).toBeGreaterThan(MAX_MESSAGE_BYTES);
      await publishThenControl([loginPacket(MAX_MESSAGE_BYTES, at), loginPacket(MAX_MESSAGE_BYTES + 1, over), accentedPacket]);
      expect(replies.get(at)?.err).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(replies.has(over)).toBe(false);
      expect(replies.has(accented)).toBe(false);
    });
  });

  describe('the log', () => {
    it('never holds a refused message', () => {
      expect(logs.warnings('unparsed').length).toBeGreaterThanOrEqual(6);
      expect(logs.lines.join('\n')).not.toMatch(/a{1000}|é{1000}/);
    });
  });
});
