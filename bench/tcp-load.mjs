// A closed-loop load generator for Nest's TCP transport (autocannon only speaks HTTP).
//
// Framing is exactly @nestjs/microservices' JsonSocket: every packet is `<length>#<json>`, where
// <length> is the JSON text's length in UTF-16 code units (JavaScript string length, not bytes).
// A request is `{ pattern, data, id }`; the server answers with packets `{ id, response?, err?,
// isDisposed? }`, and a request is finished by the packet carrying `err` or `isDisposed` (the
// response may come in that packet or in an earlier one), as ClientTCP reads them.
//
// `connections` sockets each keep `pipelining` requests outstanding: a new request is sent as soon
// as one is answered, until the duration is up; then the ones in flight are awaited (they count).
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';

const DELIMITER = '#';

const percentile = (sorted, p) =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** Splits a byte stream into JsonSocket packets (parsed JSON), like JsonSocket#processBuffer. */
export class FrameReader {
  decoder = new StringDecoder('utf8');
  buffer = '';
  length = null;

  constructor(onPacket) {
    this.onPacket = onPacket;
  }

  push(chunk) {
    this.buffer += this.decoder.write(chunk);
    for (;;) {
      if (this.length === null) {
        const i = this.buffer.indexOf(DELIMITER);
        if (i === -1) return;
        const length = Number(this.buffer.slice(0, i));
        if (!Number.isInteger(length) || length < 0) throw new Error(`corrupted packet length "${this.buffer.slice(0, Math.min(i, 20))}"`);
        this.length = length;
        this.buffer = this.buffer.slice(i + 1);
      }
      if (this.buffer.length < this.length) return;
      const text = this.buffer.slice(0, this.length);
      this.buffer = this.buffer.slice(this.length);
      this.length = null;
      this.onPacket(JSON.parse(text));
    }
  }
}

const frame = (message) => {
  const json = JSON.stringify(message);
  return `${json.length}${DELIMITER}${json}`;
};

/**
 * Runs the load and resolves with
 * `{ completed, ok, errors, mismatches, timeouts, socketErrors, elapsedS, reqPerSec, latency: { p50, p90, p99, max } }`
 * (latencies in milliseconds). `check(response)` decides whether an answer counts as correct.
 */
export async function tcpLoad({
  host = '127.0.0.1',
  port,
  pattern,
  data,
  check = () => true,
  connections = 10,
  pipelining = 1,
  durationS = 10,
  drainTimeoutMs = 10_000,
}) {
  const latencies = [];
  const stats = { completed: 0, ok: 0, errors: 0, mismatches: 0, timeouts: 0, socketErrors: 0 };
  const firstError = { value: undefined };
  const stopHooks = [];
  const abortHooks = [];
  let sending = true;

  const runConnection = (index) =>
    new Promise((resolve) => {
      const inFlight = new Map(); // id → { sentAt, response }
      let seq = 0;
      let settled = false;
      const socket = connect({ host, port, noDelay: true });

      const finish = () => {
        if (settled) return;
        settled = true;
        socket.end();
        resolve();
      };
      const send = () => {
        const id = `${index}:${seq++}`;
        inFlight.set(id, { sentAt: performance.now(), response: undefined });
        socket.write(frame({ pattern, data, id }));
      };
      const reader = new FrameReader((packet) => {
        const entry = inFlight.get(packet.id);
        if (!entry) return;
        if (packet.response !== undefined) entry.response = packet.response;
        if (packet.err === undefined && !packet.isDisposed) return;
        inFlight.delete(packet.id);
        latencies.push(performance.now() - entry.sentAt);
        stats.completed++;
        if (packet.err !== undefined) {
          stats.errors++;
          firstError.value ??= packet.err;
        } else if (check(entry.response)) {
          stats.ok++;
        } else {
          stats.mismatches++;
          firstError.value ??= { unexpectedResponse: entry.response };
        }
        if (sending) send();
        else if (inFlight.size === 0) finish();
      });

      socket.once('connect', () => {
        for (let i = 0; i < pipelining; i++) send();
      });
      socket.on('data', (chunk) => {
        try {
          reader.push(chunk);
        } catch (error) {
          stats.socketErrors++;
          firstError.value ??= error.message;
          socket.destroy();
        }
      });
      socket.on('error', (error) => {
        stats.socketErrors++;
        firstError.value ??= error.message;
      });
      socket.on('close', () => {
        stats.timeouts += inFlight.size;
        inFlight.clear();
        finish();
      });
      stopHooks.push(() => {
        if (inFlight.size === 0) finish();
      });
      abortHooks.push(() => {
        if (settled) return;
        stats.timeouts += inFlight.size;
        inFlight.clear();
        socket.destroy();
        finish();
      });
    });

  const started = performance.now();
  const done = Promise.all(Array.from({ length: connections }, (_, i) => runConnection(i)));
  const stopTimer = setTimeout(() => {
    sending = false;
    for (const hook of stopHooks) hook();
  }, durationS * 1000);
  const abortTimer = setTimeout(
    () => {
      for (const hook of abortHooks) hook();
    },
    durationS * 1000 + drainTimeoutMs,
  );
  await done;
  clearTimeout(stopTimer);
  clearTimeout(abortTimer);
  const elapsedS = (performance.now() - started) / 1000;

  latencies.sort((a, b) => a - b);
  return {
    ...stats,
    firstError: firstError.value,
    connections,
    pipelining,
    elapsedS,
    reqPerSec: stats.completed / elapsedS,
    latency: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
  };
}
