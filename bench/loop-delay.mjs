// Preloaded into a gatehouse process the bench starts (node --import): reports the main thread's
// event-loop delay over the IPC channel, so a measurement can say whether the loop itself was
// blocked (and for how long) rather than guess it from the latencies of the requests it served.
// Ask with `{ type: 'loop-delay', id, reset }`; the answer is `{ type: 'loop-delay', id, p50, p99, max, count }` in ms.
import { monitorEventLoopDelay } from 'node:perf_hooks';

if (process.channel) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on('message', (message) => {
    if (message?.type !== 'loop-delay') return;
    process.send?.({
      type: 'loop-delay',
      id: message.id,
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      count: histogram.count,
    });
    if (message.reset) histogram.reset();
  });
  // A 'message' listener holds the channel again: it must not keep the service alive either.
  process.channel.unref();
}
