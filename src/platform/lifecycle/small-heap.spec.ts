import { setFlagsFromString } from 'node:v8';

import { favourSmallHeap } from './small-heap';

jest.mock('node:v8', () => ({ setFlagsFromString: jest.fn() }));

const setFlags = setFlagsFromString as jest.MockedFunction<typeof setFlagsFromString>;

describe('favourSmallHeap', () => {
  beforeEach(() => setFlags.mockClear());

  it.each(['', '--enable-source-maps', '--max-old-space-size=512 --inspect'])('asks V8 to favour memory under node flags "%s"', (flags) => {
    expect(favourSmallHeap(flags)).toBe(true);
    expect(setFlags).toHaveBeenCalledWith('--optimize-for-size');
  });

  it.each(['--max-semi-space-size=16', '--max_semi_space_size=8', '--no-optimize-for-size', '--optimize_for_size'])(
    'leaves the heap to the operator who set "%s"',
    (flags) => {
      expect(favourSmallHeap(`--enable-source-maps ${flags}`)).toBe(false);
      expect(setFlags).not.toHaveBeenCalled();
    },
  );
});
