import { InFlightWork } from './in-flight-work';

describe('InFlightWork', () => {
  it('is idle at once when nothing was started', async () => {
    const work = new InFlightWork();
    await expect(work.idle()).resolves.toBeUndefined();
    expect(work.describe()).toBe('nothing');
  });

  it('resolves idle() only when the last unit finishes, each finish counting once', async () => {
    const work = new InFlightWork();
    const http = work.start('http');
    const tcp = work.start('tcp');
    work.start('tcp')();
    expect(work.describe()).toBe('1 HTTP request, 1 TCP call');
    let idle = false;
    const waiting = work.idle().then(() => (idle = true));
    http();
    http();
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(work.size).toBe(1);
    tcp();
    await waiting;
    expect(idle).toBe(true);
    expect(work.size).toBe(0);
  });

  it('names every kind, plural or not', () => {
    const work = new InFlightWork();
    work.start('redis');
    work.start('redis');
    work.start('http');
    work.start('http');
    expect(work.describe()).toBe('2 HTTP requests, 2 Redis calls');
  });
});
