import { Logger } from '@nestjs/common';

// Nest's default logger prints to stdout until an app sets its own: the client proxies of suites
// that run gatehouse only as processes would fill the run with its lines. TEST_LOGS=1 keeps them.
if (process.env.TEST_LOGS !== '1') Logger.overrideLogger(false);
