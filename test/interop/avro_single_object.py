#!/usr/bin/env python3
"""Independent Avro implementation for interop tests: Apache Avro for Python (Debian python3-avro).

  write SCHEMA.avsc RECORDS.json   -> JSON on stdout: canonical forms, fingerprint, hex messages
  read  SCHEMA.avsc < messages.json -> JSON on stdout: decoded records

Messages are Avro single-object encoded (C3 01, 8-byte little-endian CRC-64-AVRO fingerprint of the
schema's Parsing Canonical Form, binary body). python3-avro 1.11 has neither single-object encoding
nor fingerprints, so both are written here from the Avro specification. Its canonical form keeps
logical types as {"type":"long"} (the spec says "long"), so logicalType attributes are stripped from
the schema before parsing: they do not change the binary encoding, and [STRIP] removes them anyway.
Fields of type bytes are passed as hex strings in JSON.
"""
import io
import json
import sys

import avro.io
import avro.schema

EMPTY = 0xC15D213AA4D7A795


def _table():
    t = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        t.append(fp)
    return t


TABLE = _table()


def crc64_avro(data: bytes) -> int:
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
    return fp


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def bytes_fields(schema_json):
    return {f["name"] for f in schema_json.get("fields", []) if f["type"] == "bytes"}


def main():
    mode, schema_path = sys.argv[1], sys.argv[2]
    with open(schema_path) as fh:
        raw = json.load(fh)
    raw_schema = avro.schema.parse(json.dumps(raw))
    schema = avro.schema.parse(json.dumps(strip_logical(raw)))
    pcf = schema.canonical_form
    fp = crc64_avro(pcf.encode("utf-8"))
    header = b"\xc3\x01" + fp.to_bytes(8, "little")
    bfields = bytes_fields(raw)

    if mode == "write":
        with open(sys.argv[3]) as fh:
            records = json.load(fh)
        writer = avro.io.DatumWriter(schema)
        messages = []
        for rec in records:
            rec = {k: (bytes.fromhex(v) if k in bfields else v) for k, v in rec.items()}
            buf = io.BytesIO()
            writer.write(rec, avro.io.BinaryEncoder(buf))
            messages.append((header + buf.getvalue()).hex())
        signed = fp - (1 << 64) if fp >= (1 << 63) else fp
        json.dump(
            {
                "canonical_form": pcf,
                "raw_canonical_form": raw_schema.canonical_form,
                "fingerprint_hex": fp.to_bytes(8, "little").hex(),
                "fingerprint_signed": str(signed),
                "messages": messages,
            },
            sys.stdout,
        )
    elif mode == "read":
        reader = avro.io.DatumReader(schema)
        out = []
        for hexmsg in json.load(sys.stdin):
            msg = bytes.fromhex(hexmsg)
            if msg[:2] != b"\xc3\x01":
                raise SystemExit("bad marker")
            if msg[2:10] != header[2:10]:
                raise SystemExit("fingerprint mismatch: %s != %s" % (msg[2:10].hex(), header[2:10].hex()))
            body = io.BytesIO(msg[10:])
            rec = reader.read(avro.io.BinaryDecoder(body))
            if body.tell() != len(msg) - 10:
                raise SystemExit("trailing bytes")
            out.append({k: (v.hex() if isinstance(v, bytes) else v) for k, v in rec.items()})
        json.dump(out, sys.stdout)
    else:
        raise SystemExit("usage: avro_single_object.py write|read SCHEMA [RECORDS]")


if __name__ == "__main__":
    main()
