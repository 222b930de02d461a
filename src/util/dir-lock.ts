/**
 * An exclusive lock on a state directory (the outbox, snapshots): a lock file holding the owner's pid, so
 * two daemons started in one folder cannot interleave their entries or delete each other's files.
 *
 * The file is written in full beside the lock and hard-linked into place (link fails if the name exists),
 * so a lock file is never seen half-written. A lock whose pid is no longer alive on this host (or is our
 * own pid without being ours: a container restarted as pid 1 again) is stale and taken over. Two
 * processes taking over the same stale lock in the same instant could both succeed; starting two daemons
 * at once over a crashed one's lock is the only way to get there.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, InspectdError } from '../errors.js';
import { nodeStateFs, type StateFs } from './state-fs.js';

export const LOCK_FILE = '.inspectd.lock';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  token: string;
}

/** Directories locked by this process (resolved path -> token): a second lock on one is refused too. */
const heldHere = new Map<string, string>();

export class DirLock {
  private readonly dir: string;
  private token: string | null = null;
  /** The directory's real path while held: the in-process key (two spellings of one folder are one lock). */
  private key: string | null = null;

  /** `what` names the directory in messages: 'outbox directory', 'snapshots directory'. */
  constructor(
    dir: string,
    private readonly what: string,
    private readonly configKey: string,
    private readonly fs: StateFs = nodeStateFs,
  ) {
    this.dir = path.resolve(dir);
  }

  get file(): string {
    return path.join(this.dir, LOCK_FILE);
  }

  /**
   * Takes the lock; the directory must exist. Throws LOCKED (naming the directory and the holder's pid)
   * when another live process holds it; file system errors (EACCES, EROFS, ENOSPC) are thrown as they are.
   * Returns the pid of a stale lock taken over, if any.
   */
  async acquire(): Promise<{ staleFrom?: number }> {
    if (this.token) return {};
    const key = await this.fs.realpath(this.dir);
    if (heldHere.has(key)) throw this.held(process.pid, os.hostname());
    const info: LockInfo = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: randomUUID() };
    const tmp = path.join(this.dir, `${LOCK_FILE}.${process.pid}.${info.token.slice(0, 8)}.tmp`);
    let staleFrom: number | undefined;
    await this.fs.writeFile(tmp, JSON.stringify(info) + '\n', 'wx');
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.fs.link(tmp, this.file);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw err;
        }
        const holder = await readLock(this.fs, this.file);
        if (holder && !isStale(holder)) throw this.held(holder.pid, holder.host);
        staleFrom = holder?.pid;
        await this.fs.rm(this.file);
      }
    } finally {
      await this.fs.rm(tmp);
    }
    this.token = info.token;
    this.key = key;
    heldHere.set(key, info.token);
    return staleFrom !== undefined ? { staleFrom } : {};
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    const token = this.token;
    if (!token) return;
    this.token = null;
    if (this.key && heldHere.get(this.key) === token) heldHere.delete(this.key);
    this.key = null;
    const holder = await readLock(this.fs, this.file);
    if (holder?.token === token) await this.fs.rm(this.file);
  }

  private held(pid: number, host: string): InspectdError {
    const who = host !== os.hostname() ? `pid ${pid} on host ${host}` : pid === process.pid ? `this process, pid ${pid}` : `pid ${pid}`;
    return new InspectdError(
      ErrorCodes.LOCKED,
      `${this.what} ${this.dir} is in use by another inspectd (${who}; lock file ${this.file}): stop that instance, or give this one its own ${this.configKey}`,
    );
  }
}

/** The lock's owner, or null when the file is gone or unreadable (a lock no one can prove is held). */
async function readLock(fs: StateFs, file: string): Promise<LockInfo | null> {
  try {
    const raw = JSON.parse((await fs.readFile(file)).toString('utf8')) as Partial<LockInfo>;
    if (typeof raw.pid !== 'number' || !Number.isInteger(raw.pid) || raw.pid <= 0 || typeof raw.host !== 'string' || typeof raw.token !== 'string') return null;
    return { pid: raw.pid, host: raw.host, startedAt: String(raw.startedAt), token: raw.token };
  } catch {
    return null;
  }
}

/** A lock of another host cannot be checked: it is held. On this host: stale once its pid is gone (or is us). */
function isStale(holder: LockInfo): boolean {
  if (holder.host !== os.hostname()) return false;
  // Our pid, but not a lock we hold (acquire() checked): left by an earlier process that had our pid.
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
