/**
 * The codec a producer writes with: Avro single-object encoding by default, the Confluent wire format
 * (schema registered under `<topic>-value`) when SCHEMA_REGISTRY_URL is set.
 */
import {
  ConfluentCodec,
  SingleObjectCodec,
  createSchemaRegistry,
  type RecordCodec,
  type RecordSpec,
} from '../schemas/index.js';

export async function producerCodec<T>(
  spec: RecordSpec<T>,
  topic: string,
  schemaRegistryUrl: string,
): Promise<RecordCodec<T>> {
  if (schemaRegistryUrl === '') return new SingleObjectCodec(spec);
  return ConfluentCodec.create(spec, createSchemaRegistry(schemaRegistryUrl), `${topic}-value`);
}
