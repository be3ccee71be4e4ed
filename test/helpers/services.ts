import { inject } from 'vitest';

/**
 * Endpoints of the real services, resolved once per run by test/global-setup.ts (environment →
 * testcontainers → local scripts) and handed to every integration test through vitest's provide/inject.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated host:port list of Kafka bootstrap brokers. */
    kafkaBrokers: string;
    /** PostgreSQL URL (migrated to latest in its default schema). */
    databaseUrl: string;
    /** Where the services came from: 'env', 'testcontainers' or 'local'. */
    kafkaSource: string;
    databaseSource: string;
  }
}

export function kafkaBrokers(): string[] {
  return inject('kafkaBrokers')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

export function databaseUrl(): string {
  return inject('databaseUrl');
}
