/**
 * Replay a data file of a declared (tabular) kind — the CSV or JSONL that `gensemble train` and
 * `gensemble score` read — into the kind's topic as Avro records of the kind's own schema: key = the
 * record id, single-object encoding (Confluent framing when a schema registry is configured). A `label`
 * column goes into the `label` header, as for transactions; the record itself carries no label.
 *
 * Records are written as the file has them, after the reader's coercion to the schema's field types
 * (an empty CSV cell of an optional field is null), and are not checked against the kind's features:
 * a record the consumers cannot score (a null in a feature whose `missing` is "reject") is sent, and
 * the stream dead-letters it, as it would a producer's.
 *
 * Library: `replayTabular(options)`. CLI: `gensemble replay records --kind NAME --file PATH ...`.
 */
import { basename } from 'node:path';
import { UNLABELLED } from '../data/labels.js';
import { tabularKind, type TabularRecord } from '../kinds/tabular/index.js';
import { readTabularFile } from '../kinds/tabular/read.js';
import { kindFields, type TabularKindSpec } from '../kinds/tabular/spec.js';
import { producerCodec } from './codec.js';
import { ReplayError } from './errors.js';
import {
  passThroughOptions,
  runLabelledReplay,
  type ReplayMessage,
  type ReplayPassThroughOptions,
  type ReplaySummary,
} from './runner.js';

export interface ReplayTabularOptions extends Omit<ReplayPassThroughOptions, 'topic'> {
  spec: TabularKindSpec;
  file: string;
  /** Default: the kind's declared topic. */
  topic?: string;
  /**
   * Prefix of the record ids (string ids only). From the second pass of `loop` on, `-p<pass>` is
   * appended, so a looped replay does not repeat ids (a repeated id is the same record to the stream).
   */
  idPrefix?: string;
  /** '' = single-object encoding; a URL = Confluent wire format through that registry. */
  schemaRegistryUrl?: string;
}

export interface ReplayTabularSummary extends ReplaySummary {
  kind: string;
  /** Records sent with label 1 / 0 (null counts when the file has no label column). */
  frauds: number | null;
  normals: number | null;
  hasLabels: boolean;
}

export async function replayTabular(o: ReplayTabularOptions): Promise<ReplayTabularSummary> {
  const spec = o.spec;
  const idIsString = kindFields(spec).find((f) => f.name === spec.id)?.base === 'string';
  if (!idIsString && (o.idPrefix !== undefined || o.loop)) {
    throw new ReplayError(
      'REPLAY_NUMERIC_ID',
      `kind ${spec.name}: the record id ${spec.id} is a number, so --id-prefix and --loop (which makes ids unique per pass) cannot apply`,
    );
  }
  const rows = await readTabularFile(spec, o.file, {
    validate: false,
    ...(o.limit !== undefined && !o.loop ? { limit: o.limit } : {}),
  });
  const topic = o.topic ?? spec.topic;
  const codec = await producerCodec(tabularKind(spec).record, topic, o.schemaRegistryUrl ?? '');
  const prefix = o.idPrefix ?? '';
  const source = basename(o.file);
  function* pass(p: number): Iterable<ReplayMessage> {
    for (let i = 0; i < rows.records.length; i++) {
      let rec: TabularRecord = rows.records[i];
      let key = rows.ids[i];
      if (idIsString && (prefix !== '' || p > 0)) {
        key = `${prefix}${key}${p > 0 ? `-p${p}` : ''}`;
        rec = { ...rec, [spec.id]: key };
      }
      const headers: Record<string, string> = { source, row: String(i + 1) };
      if (rows.labels && rows.labels[i] !== UNLABELLED) headers.label = String(rows.labels[i]);
      // The kind's feature checks are the consumers' to make (they dead-letter what fails them).
      yield { key, value: codec.encode(rec, { validate: false }), headers };
    }
  }
  const summary = await runLabelledReplay(
    pass,
    {
      ...passThroughOptions({ ...o, topic }),
      passSize: rows.records.length,
      ...(o.onSent ? { onSent: o.onSent } : {}),
    },
    rows.labels !== null,
  );
  return { ...summary, kind: spec.name };
}
