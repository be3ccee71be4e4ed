/**
 * Authentication of the analyst console.
 *
 * - One shared secret, CONSOLE_TOKEN, from the environment (no default; at least 16 characters).
 * - Browsers log in with it once (form with the token and the analyst's name) and get a session
 *   cookie: random 256-bit id, HttpOnly, SameSite=Strict, Path=/, kept in memory (a restart logs
 *   everyone out), expiring after `ttlMs` without use.
 * - Scripts may send `Authorization: Bearer <token>` instead (no cookie, so no CSRF exposure).
 * - Every state-changing request of a session carries the session's CSRF token (hidden form field
 *   `_csrf` or header `x-csrf-token`), compared in constant time. SameSite=Strict already keeps the
 *   cookie off cross-site requests; the token is the second, independent guard.
 * - The login form itself is protected the same way by a pre-login cookie (double submit), and failed
 *   logins are rate-limited.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'gensemble_session';
export const LOGIN_COOKIE = 'gensemble_login';
export const MIN_TOKEN_LENGTH = 16;

export interface Session {
  id: string;
  csrf: string;
  /** Who reviews (the name given at login), stored with each review. */
  reviewer: string;
  expiresAt: number;
}

/** Constant-time string equality (compares SHA-256 digests, so lengths leak nothing either). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export interface SessionStoreOptions {
  /** Idle lifetime of a session (ms, default 12 h). */
  ttlMs?: number;
  /** Failed logins allowed per minute before every login is refused for the rest of it (default 20). */
  maxFailuresPerMinute?: number;
  now?: () => number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly ttlMs: number;
  private readonly maxFailures: number;
  private readonly now: () => number;
  private failures: { minute: number; count: number } = { minute: 0, count: 0 };

  constructor(
    private readonly token: string,
    o: SessionStoreOptions = {},
  ) {
    if (token.length < MIN_TOKEN_LENGTH)
      throw new Error(`the console token must have at least ${MIN_TOKEN_LENGTH} characters`);
    this.ttlMs = o.ttlMs ?? 12 * 3_600_000;
    this.maxFailures = o.maxFailuresPerMinute ?? 20;
    this.now = o.now ?? Date.now;
  }

  /** The configured token, checked in constant time. */
  checkToken(candidate: string): boolean {
    return safeEqual(candidate, this.token);
  }

  /** Too many failed logins this minute: refuse without checking. */
  get lockedOut(): boolean {
    return (
      this.failures.minute === Math.floor(this.now() / 60_000) && this.failures.count >= this.maxFailures
    );
  }

  /** A session for a correct token, or null (and the failure counted). */
  login(candidate: string, reviewer: string): Session | null {
    if (this.lockedOut) return null;
    if (!this.checkToken(candidate)) {
      const minute = Math.floor(this.now() / 60_000);
      if (this.failures.minute !== minute) this.failures = { minute, count: 0 };
      this.failures.count++;
      return null;
    }
    this.sweep();
    const s: Session = {
      id: randomToken(),
      csrf: randomToken(),
      reviewer,
      expiresAt: this.now() + this.ttlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session of a cookie value (its lifetime extended), or null. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return null;
    }
    s.expiresAt = this.now() + this.ttlMs;
    return s;
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}
