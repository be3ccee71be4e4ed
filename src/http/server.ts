/**
 * The small HTTP server of `gensemble serve` (node:http, no framework):
 *   GET /metrics  Prometheus text format from the prom-client registry
 *   GET /healthz  200 while the process is alive
 *   GET /readyz   200 when every readiness check passes (consumers joined, DB reachable), else 503
 *                 with a JSON body naming the failing checks
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { GensembleError } from '../errors.js';

export type ReadinessCheck = () => Promise<boolean | string> | boolean | string;

export interface HttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** name → check; a check passes when it returns true, fails with false or a reason string. */
  readiness: Record<string, ReadinessCheck>;
  logger?: Logger;
  /** Per-check timeout (ms, default 2000). */
  checkTimeoutMs?: number;
}

export class HttpServerError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('HTTP_SERVER_FAILED', message, { cause });
  }
}

export interface RunningHttpServer {
  server: Server;
  /** "http://host:port" actually bound (port 0 picks a free one). */
  url: string;
  close(): Promise<void>;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      Promise.resolve().then(check),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`timed out after ${timeoutMs} ms`), timeoutMs);
      }),
    ]);
    return r === true ? true : r === false ? 'not ready' : r;
  } catch (e) {
    return (e as Error)?.message ?? String(e);
  } finally {
    clearTimeout(timer);
  }
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export async function startHttpServer(o: HttpServerOptions): Promise<RunningHttpServer> {
  const timeout = o.checkTimeoutMs ?? 2000;
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n', 'text/plain; charset=utf-8');
    }
    if (path === '/metrics') {
      const body = await o.registry.metrics();
      return send(res, 200, body, o.registry.contentType);
    }
    if (path === '/healthz')
      return send(res, 200, JSON.stringify({ status: 'ok' }) + '\n', 'application/json');
    if (path === '/readyz') {
      const names = Object.keys(o.readiness);
      const results = await Promise.all(names.map((n) => runCheck(o.readiness[n], timeout)));
      const checks: Record<string, string> = {};
      let ok = true;
      names.forEach((n, i) => {
        checks[n] = results[i] === true ? 'ok' : String(results[i]);
        if (results[i] !== true) ok = false;
      });
      return send(
        res,
        ok ? 200 : 503,
        JSON.stringify({ status: ok ? 'ready' : 'not ready', checks }) + '\n',
        'application/json',
      );
    }
    return send(res, 404, 'not found\n', 'text/plain; charset=utf-8');
  };
  const server = createServer((req, res) => {
    handler(req, res).catch((e: unknown) => {
      o.logger?.error({ err: (e as Error)?.message }, 'http handler failed');
      if (!res.headersSent) send(res, 500, 'internal error\n', 'text/plain; charset=utf-8');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new HttpServerError(`cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`, e));
    server.once('error', onError);
    server.listen(o.port, o.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  o.logger?.info({ url }, 'http server listening (/metrics, /healthz, /readyz)');
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
