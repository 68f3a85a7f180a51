/**
 * Dashboard logins: one user with a bcrypt password hash from the configuration
 * (`bearmon web hash-password`), sessions kept in memory under an unguessable id in an
 * HttpOnly, SameSite=Strict cookie, sliding expiry. A restart of `bearmon web` logs
 * everyone out (nothing about a session is stored).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

export const SESSION_COOKIE = 'bearmon_session';
/** Cost of the hashes `bearmon web hash-password` makes (≈ 0.1-0.3 s per check on a small machine). */
export const BCRYPT_ROUNDS = 11;

export interface Session {
  id: string;
  user: string;
  expiresAt: number;
}

/** `bearmon web hash-password`: the value for `[web] passwordHash`. */
export async function hashPassword(password: string): Promise<string> {
  if (password.length < 8) throw new Error('password: expected at least 8 characters');
  if (password.length > 72) throw new Error('password: expected at most 72 bytes (bcrypt ignores the rest)');
  return bcrypt.hash(password, BCRYPT_ROUNDS);
}

export class Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly options: { user: string; passwordHash: string | undefined; ttlMs: number; now?: () => number },
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Checks a login; a session on success. Always runs bcrypt, so a wrong user name costs the same time. */
  async login(user: string, password: string): Promise<Session | null> {
    const hash = this.options.passwordHash;
    // A fixed hash keeps the timing of "no password configured" or "unknown user" like a real check.
    const ok = await bcrypt.compare(password, hash ?? '$2b$11$dxu6Es8hhsL4.Ntko3/XoO56NS9Avb9egMY4QqabpNblasqLQjUHW');
    const userOk = user.length === this.options.user.length && timingSafeEqual(Buffer.from(user), Buffer.from(this.options.user));
    if (!ok || !userOk || !hash) return null;
    this.sweep();
    const session = { id: randomBytes(32).toString('base64url'), user, expiresAt: this.now() + this.options.ttlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The session of a cookie value, its expiry pushed forward; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return null;
    }
    session.expiresAt = this.now() + this.options.ttlMs;
    return session;
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}
