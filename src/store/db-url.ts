import { GensembleError } from '../errors.js';

/** The database used when DATABASE_URL is not set (this project's development machine). */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** DATABASE_URL is not a usable PostgreSQL connection URL. */
export class DatabaseUrlError extends GensembleError {
  constructor(message: string) {
    super('DATABASE_URL_INVALID', message);
  }
}

/** The parts of a PostgreSQL URL gensemble cares about (password never included). */
export interface DatabaseUrlParts {
  host: string;
  port: number;
  database: string;
  user: string;
}

/** DATABASE_URL from the environment, or the default when unset or empty. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const v = env.DATABASE_URL;
  return v === undefined || v.trim() === '' ? DEFAULT_DATABASE_URL : v.trim();
}

/** Validate a postgres:// or postgresql:// URL; throws DatabaseUrlError naming what is wrong. */
export function parseDatabaseUrl(url: string): DatabaseUrlParts {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DatabaseUrlError(`DATABASE_URL is not a URL: ${redactDatabaseUrl(url)}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(
      `DATABASE_URL must start with postgres:// or postgresql://, got ${u.protocol}//`,
    );
  }
  if (u.hostname === '') throw new DatabaseUrlError('DATABASE_URL has no host');
  const port = u.port === '' ? 5432 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DatabaseUrlError(`DATABASE_URL has an invalid port: ${u.port}`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) {
    throw new DatabaseUrlError('DATABASE_URL must name one database, e.g. postgres://user@host:5432/dbname');
  }
  const user = u.username === '' ? 'postgres' : decodeURIComponent(u.username);
  return { host: u.hostname, port, database, user };
}

/** The URL with any password replaced by `***`, safe for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}
