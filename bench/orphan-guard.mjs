// Preloaded into the gatehouse process the bench starts (node --import): when the bench goes away
// without stopping it (killed hard), the IPC channel closes and the service shuts down as on SIGTERM.
if (process.channel) {
  // The channel alone must not keep the service alive once it has closed everything else.
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
