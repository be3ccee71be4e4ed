/**
 * CRC-64-AVRO (Rabin) fingerprints of Avro schemas, as in the Avro specification ("Schema
 * Fingerprints"): the 64-bit fingerprint of the schema's Parsing Canonical Form (PCF), UTF-8 encoded.
 * avsc only offers md5/sha256 fingerprints, so the reference algorithm is implemented here with BigInt
 * (the table is built once; fingerprinting runs once per schema, not per record).
 */
import avro from 'avsc';

/** The spec's EMPTY constant: fingerprint of the empty string, and the polynomial's seed. */
export const CRC64_AVRO_EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;

const TABLE: readonly bigint[] = (() => {
  const t: bigint[] = new Array<bigint>(256);
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) {
      // fp = (fp >>> 1) ^ (EMPTY & -(fp & 1L))
      fp = (fp >> 1n) ^ ((fp & 1n) === 1n ? CRC64_AVRO_EMPTY : 0n);
    }
    t[i] = fp;
  }
  return t;
})();

/** CRC-64-AVRO of raw bytes (a string is UTF-8 encoded first). Unsigned 64-bit value. */
export function crc64Avro(data: Uint8Array | string): bigint {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fp = CRC64_AVRO_EMPTY;
  for (let i = 0; i < bytes.length; i++) {
    fp = ((fp >> 8n) ^ TABLE[Number((fp ^ BigInt(bytes[i])) & 0xffn)]) & MASK64;
  }
  return fp;
}

/** Same value as the Java/Python reference implementations print: a signed 64-bit integer. */
export function toSignedInt64(fp: bigint): bigint {
  return BigInt.asIntN(64, fp);
}

/**
 * Parsing Canonical Form of a schema, from avsc: `Type#schema()` without options drops doc, aliases,
 * defaults, order and logicalType, inlines full names and keeps the spec's key order
 * (name, type, fields, symbols, items, values, size). Checked against the spec's test vectors
 * (apache/avro share/test/data/schema-tests.txt) in test/unit/schemas/fingerprint.test.ts.
 */
export function canonicalForm(schema: avro.Schema | avro.Type): string {
  const type = avro.Type.isType(schema) ? (schema as avro.Type) : avro.Type.forSchema(schema as avro.Schema);
  return JSON.stringify(type.schema());
}
