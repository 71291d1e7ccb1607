'use strict';
/*
 * Preloaded into services that tests start as processes: their stdin is a pipe from the test run,
 * which closes when the run ends, however it ends (killed included). The service then ends too,
 * rather than living on and holding its ports.
 */
process.stdin.on('end', () => process.exit(70));
process.stdin.on('error', () => process.exit(70));
process.stdin.resume();
// The pipe alone must not keep the service alive, nor change how it exits.
process.stdin.unref();
