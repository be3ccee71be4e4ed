/**
 * An in-process stand-in for a Confluent Schema Registry over HTTP: just the endpoints the
 * @kafkajs/confluent-schema-registry client calls to register a schema and to fetch one by id
 * (GET/PUT /config/{subject}, POST /subjects/{subject}/versions, GET /schemas/ids/{id}). No
 * compatibility checks. Enough to run the real client (and `SCHEMA_REGISTRY_URL`) end to end where no
 * real registry is available.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSchemaRegistry {
  url: string;
  /** Schema text by id, as registered. */
  schemas: Map<number, string>;
  /** GET /schemas/ids requests served (a consumer fetching writer schemas). */
  fetches: number;
  close(): Promise<void>;
}

export async function startFakeSchemaRegistry(): Promise<FakeSchemaRegistry> {
  const schemas = new Map<number, string>();
  const bySubject = new Map<string, Map<string, number>>();
  const config = new Map<string, string>();
  const state = { fetches: 0 };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(body));
  };
  const body = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length
      ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
      : {};
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let m: RegExpExecArray | null;
      if ((m = /^\/config\/([^/]+)$/.exec(url.pathname))) {
        const subject = decodeURIComponent(m[1]);
        if (req.method === 'PUT') {
          const b = await body(req);
          config.set(subject, String(b.compatibility));
          return send(res, 200, { compatibility: b.compatibility });
        }
        const c = config.get(subject);
        return c === undefined
          ? send(res, 404, { error_code: 40401, message: 'Subject not found' })
          : send(res, 200, { compatibilityLevel: c });
      }
      if ((m = /^\/subjects\/([^/]+)\/versions$/.exec(url.pathname)) && req.method === 'POST') {
        const subject = decodeURIComponent(m[1]);
        const schema = String((await body(req)).schema);
        const versions = bySubject.get(subject) ?? new Map<string, number>();
        bySubject.set(subject, versions);
        let id = versions.get(schema);
        if (id === undefined) {
          id = [...schemas.entries()].find(([, s]) => s === schema)?.[0] ?? schemas.size + 1;
          schemas.set(id, schema);
          versions.set(schema, id);
        }
        return send(res, 200, { id });
      }
      if ((m = /^\/schemas\/ids\/(\d+)$/.exec(url.pathname))) {
        state.fetches++;
        const s = schemas.get(Number(m[1]));
        return s === undefined
          ? send(res, 404, { error_code: 40403, message: 'Schema not found' })
          : send(res, 200, { schema: s });
      }
      send(res, 404, { error_code: 404, message: `not implemented: ${req.method} ${url.pathname}` });
    })().catch((e: unknown) => send(res, 500, { message: String(e) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    schemas,
    get fetches() {
      return state.fetches;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
