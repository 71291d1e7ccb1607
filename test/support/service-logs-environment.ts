import { TestEnvironment } from 'jest-environment-node';

/** What this environment reads of jest-circus's events. */
interface TestEvent {
  name: string;
  test?: { errors: unknown[] };
}

/**
 * jest's node environment (what `testEnvironment: 'node'` names), plus one thing: the log lines the
 * services under test wrote during a failing test are shown with its failure, as the run is quiet
 * otherwise (test-app.ts keeps them in __gatehouseServiceLogs unless TEST_LOGS=1).
 */
export default class ServiceLogsEnvironment extends TestEnvironment {
  handleTestEvent(event: TestEvent): void {
    const logs = (this.global as { __gatehouseServiceLogs?: string[] }).__gatehouseServiceLogs;
    if (!logs) return;
    if (event.name === 'test_start') logs.length = 0;
    if (event.name === 'test_done' && event.test && event.test.errors.length > 0 && logs.length > 0) {
      const shown = new Error(`the services under test logged (last ${logs.length} lines):\n${logs.join('\n')}`);
      shown.stack = shown.message;
      event.test.errors.push(shown);
    }
  }
}
