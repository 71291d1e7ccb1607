import { FrameGate, GateEvent } from './frame-gate.js';

const LIMITS = { maxLength: 60, maxSkippedLength: 300, maxDigits: 4 };

const frame = (body: string): string => `${body.length}#${body}`;
const request = (id: string, pad = ''): string => JSON.stringify({ pattern: 'p', data: { pad }, id });

/** Feeds the stream in the pieces given and gathers what the gate says. */
function run(pieces: string[], limits = LIMITS): { passed: string; others: GateEvent[] } {
  const gate = new FrameGate(limits);
  let passed = '';
  const others: GateEvent[] = [];
  for (const piece of pieces) {
    for (const event of gate.push(piece)) {
      if (event.kind === 'frames') passed += event.text;
      else others.push(event);
    }
  }
  return { passed, others };
}

/** Every way of cutting the stream in two, three pieces. */
function splits(stream: string): string[][] {
  const out: string[][] = [[stream]];
  for (let i = 1; i < stream.length; i += 1) {
    out.push([stream.slice(0, i), stream.slice(i)]);
    for (let j = i + 1; j < stream.length; j += 7) out.push([stream.slice(0, i), stream.slice(i, j), stream.slice(j)]);
  }
  return out;
}

describe('FrameGate', () => {
  const small = [frame(request('a')), frame('{"x":"#12#"}'), frame(request('b', 'é€😀'))].join('');

  it('passes frames within the limit through unchanged, pipelined or cut anywhere', () => {
    for (const pieces of splits(small)) {
      expect(run(pieces)).toEqual({ passed: small, others: [] });
    }
  });

  it('passes a frame of exactly the limit, and an empty one for the parser to refuse', () => {
    const body = 'x'.repeat(LIMITS.maxLength);
    expect(run([frame(body), '0#', frame('{}')])).toEqual({ passed: `${frame(body)}0#${frame('{}')}`, others: [] });
  });

  it('drops a frame over the limit unread, names the id at its end, and passes the frames around it', () => {
    const big = request('req-7', 'y'.repeat(80));
    const stream = frame(request('a')) + frame(big) + frame(request('b'));
    for (const pieces of splits(stream)) {
      expect(run(pieces)).toEqual({
        passed: frame(request('a')) + frame(request('b')),
        others: [{ kind: 'oversize', length: big.length, skipped: true, id: 'req-7' }],
      });
    }
  });

  it('names no id when the frame does not end with one', () => {
    for (const body of [
      JSON.stringify({ id: 'first', data: 'z'.repeat(60) }),
      JSON.stringify({ pad: 'z'.repeat(60), data: { id: 'nested' } }),
      'q'.repeat(100),
    ]) {
      expect(run([frame(body)]).others).toEqual([{ kind: 'oversize', length: body.length, skipped: true, id: undefined }]);
    }
  });

  it('reads nothing more after a frame too long to read through', () => {
    const gate = new FrameGate(LIMITS);
    expect(gate.push(`${frame('{}')}301#${'w'.repeat(50)}`)).toEqual([
      { kind: 'frames', text: frame('{}') },
      { kind: 'oversize', length: 301, skipped: false },
    ]);
    expect(gate.push(`${'w'.repeat(251)}${frame('{}')}`)).toEqual([]);
  });

  it('refuses a length header that is too long or not a number, whatever follows', () => {
    const cases: Array<[string, string]> = [
      ['12345', 'a length header of more than 4 digits'],
      ['1'.repeat(100), 'a length header of more than 4 digits'],
      ['12x#{}', 'a length header that is not a number'],
      ['-1#', 'a length header that is not a number'],
      [' 2#{}', 'a length header that is not a number'],
      ['#{}', 'a length header that is not a number'],
    ];
    for (const [stream, reason] of cases) {
      const gate = new FrameGate(LIMITS);
      expect(gate.push(stream).filter((e) => e.kind !== 'frames')).toEqual([{ kind: 'broken', reason }]);
      expect(gate.push(frame('{}'))).toEqual([]);
    }
  });

  it('counts as holding only inside a length header or a dropped frame', () => {
    const gate = new FrameGate(LIMITS);
    expect(gate.holding).toBe(false);
    gate.push('1');
    expect(gate.holding).toBe(true);
    gate.push('0#{"a"');
    // Inside a frame that passed on: the parser behind holds it (and times it out).
    expect(gate.holding).toBe(false);
    gate.push(':1234}');
    expect(gate.holding).toBe(false);
    gate.push(`70#${'v'.repeat(69)}`);
    expect(gate.holding).toBe(true);
    gate.push('v');
    expect(gate.holding).toBe(false);
  });
});
