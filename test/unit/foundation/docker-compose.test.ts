import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * docker-compose.yml cannot run on the development machine (no Docker engine); this keeps its shape
 * right: the services, images, ports, healthchecks and volumes the README promises, and the same Kafka
 * version as scripts/kafka.
 */

interface Service {
  image?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  healthcheck?: { test?: string[] | string; interval?: string; timeout?: string; retries?: number };
}
interface Compose {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const root = new URL('../../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as Compose;
const pom = readFileSync(new URL('scripts/kafka-pom/pom.xml', root), 'utf8');

describe('docker-compose.yml', () => {
  it('defines exactly kafka and postgres', () => {
    expect(Object.keys(compose.services ?? {}).sort()).toEqual(['kafka', 'postgres']);
  });

  it('runs the official Apache Kafka image at the version scripts/kafka pins, in KRaft mode', () => {
    const kafka = compose.services!.kafka!;
    const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(kafka.image).toBe(`apache/kafka:${pinned}`);
    const env = kafka.environment!;
    expect(String(env.KAFKA_PROCESS_ROLES).split(',').sort()).toEqual(['broker', 'controller']);
    expect(env).not.toHaveProperty('KAFKA_ZOOKEEPER_CONNECT');
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toBe('PLAINTEXT://localhost:9092');
    expect(String(env.KAFKA_CONTROLLER_QUORUM_VOTERS)).toMatch(/^1@[^:]+:9093$/);
    expect(Number(env.KAFKA_NODE_ID)).toBe(1);
    expect(Number(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR)).toBe(1);
    expect(Number(env.KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS)).toBe(0);
    // A KRaft cluster id is 16 bytes in URL-safe base64 without padding.
    const id = String(env.CLUSTER_ID);
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('runs PostgreSQL 16', () => {
    expect(compose.services!.postgres!.image).toMatch(/^postgres:16(\.\d+)?(-alpine|-bookworm)?$/);
  });

  it('publishes 9092 and 5432 on the host', () => {
    expect(compose.services!.kafka!.ports).toContain('9092:9092');
    expect(compose.services!.postgres!.ports).toContain('5432:5432');
  });

  it('has a healthcheck on every service', () => {
    for (const [name, svc] of Object.entries(compose.services!)) {
      const test = svc.healthcheck?.test;
      expect(test, name).toBeDefined();
      const cmd = Array.isArray(test) ? test : [test];
      expect(['CMD', 'CMD-SHELL'], name).toContain(cmd[0]);
      expect(svc.healthcheck!.interval, name).toMatch(/^\d+s$/);
      expect(svc.healthcheck!.retries, name).toBeGreaterThan(0);
    }
    expect((compose.services!.kafka!.healthcheck!.test as string[]).join(' ')).toContain(
      'kafka-topics.sh --bootstrap-server localhost:9092',
    );
    expect((compose.services!.postgres!.healthcheck!.test as string[]).join(' ')).toContain('pg_isready');
  });

  it('keeps data in named volumes declared at top level', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, svc] of Object.entries(compose.services!)) {
      expect(svc.volumes?.length, name).toBeGreaterThan(0);
      for (const v of svc.volumes!) {
        const [source, target] = v.split(':');
        expect(declared, `${name}: ${v}`).toContain(source);
        expect(target, name).toMatch(/^\//);
      }
    }
    expect(compose.services!.kafka!.volumes).toContain('kafka-data:/var/lib/kafka/data');
    expect(compose.services!.kafka!.environment!.KAFKA_LOG_DIRS).toBe('/var/lib/kafka/data');
    expect(compose.services!.postgres!.volumes).toContain('postgres-data:/var/lib/postgresql/data');
  });
});
