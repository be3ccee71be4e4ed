/**
 * Listening side of the analyst console: the hono app of app.ts on its own port (CONSOLE_HOST,
 * default 127.0.0.1 = loopback only; CONSOLE_PORT), next to the /metrics server of `gensemble serve`.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { GensembleError } from '../errors.js';
import { MIN_TOKEN_LENGTH } from './auth.js';
import { createConsoleApp, type ConsoleAppOptions } from './app.js';

export class ConsoleConfigError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('E_CONSOLE_CONFIG', message, { cause });
  }
}

export interface ConsoleServerOptions extends ConsoleAppOptions {
  host: string;
  port: number;
}

export interface RunningConsole {
  /** "http://host:port" actually bound (port 0 picks a free one). */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Refuses to start without a token of at least 16 characters (there is no default credential). */
export function checkConsoleToken(token: string | undefined): string {
  if (!token)
    throw new ConsoleConfigError(
      'the analyst console needs CONSOLE_TOKEN (a secret of at least 16 characters, e.g. `openssl rand -base64 24`); there is no default credential. Set it, or turn the console off (--no-console / CONSOLE=off)',
    );
  if (token.length < MIN_TOKEN_LENGTH)
    throw new ConsoleConfigError(`CONSOLE_TOKEN must have at least ${MIN_TOKEN_LENGTH} characters`);
  return token;
}

export async function startConsole(o: ConsoleServerOptions): Promise<RunningConsole> {
  checkConsoleToken(o.token);
  const app = createConsoleApp(o);
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new ConsoleConfigError(`console cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`, e),
      );
    server.once('error', onError);
    server.listen(o.port, o.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  o.logger?.info({ url }, 'analyst console listening');
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
