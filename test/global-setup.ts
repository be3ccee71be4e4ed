import type { TestProject } from 'vitest/node';
import { createKnex, migrateLatest } from '../src/store/knex.js';
import { redactDatabaseUrl } from '../src/store/db-url.js';
import {
  dockerAvailable,
  resolveKafka,
  resolvePostgres,
  type ResolvedService,
} from './helpers/resolve-services.js';
import './helpers/services.js'; // ProvidedContext typing

/**
 * Global setup of the `integration` project: find (or start) a real Kafka broker and PostgreSQL,
 * migrate the database to latest, and hand both endpoints to the tests (inject('kafkaBrokers'),
 * inject('databaseUrl'); also exported as KAFKA_BROKERS / DATABASE_URL to the test workers).
 * Order: environment → testcontainers (Docker) → local scripts. What this setup started, its
 * teardown stops; services it found running are left alone.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const needDocker = !process.env.KAFKA_BROKERS?.trim() || !process.env.DATABASE_URL?.trim();
  const docker = needDocker ? await dockerAvailable() : false;

  const started: ResolvedService[] = [];
  const teardown = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const [kafka, db] = await Promise.all([resolveKafka(docker), resolvePostgres(docker)]);
    started.push(kafka, db);

    const knex = createKnex({ databaseUrl: db.url, pool: { min: 0, max: 1 } });
    try {
      await migrateLatest(knex);
    } finally {
      await knex.destroy();
    }

    project.provide('kafkaBrokers', kafka.url);
    project.provide('databaseUrl', db.url);
    project.provide('kafkaSource', kafka.source);
    project.provide('databaseSource', db.source);
    process.env.KAFKA_BROKERS = kafka.url;
    process.env.DATABASE_URL = db.url;
    process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
    console.log(
      `[global-setup] kafka ${kafka.url} (${kafka.source}), postgres ${redactDatabaseUrl(db.url)} ` +
        `(${db.source}), migrated; ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    await teardown().catch(() => {});
    throw err;
  }
  return teardown;
}
