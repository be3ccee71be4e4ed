import { defineConfig } from 'vitest/config';

/**
 * Two projects, both run by `npm test` (`vitest run`):
 * - unit: pure logic, no services, no global setup;
 * - integration: real Kafka and PostgreSQL found or started by test/global-setup.ts.
 * Run one with `npx vitest run --project unit` (or `integration`).
 */
export default defineConfig({
  test: {
    // Stopping a broker the global setup started can take a few seconds.
    teardownTimeout: 60_000,
    // This machine has 2 cores: two test files at a time across both projects.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
        },
      },
    ],
  },
});
