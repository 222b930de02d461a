/**
 * A stand-in for a small or read-only filesystem, for where none can be mounted (no root): the real
 * node:fs underneath, with the bytes of the files written through it counted against a quota. A write that
 * would go over it fails as the kernel's does (ENOSPC, after the file was created: the zero-byte temp files
 * a full tmpfs leaves), removing and renaming keep the count, and `readOnly` makes every change fail with
 * EROFS. `quota` may be changed at any time (space freed or taken by someone else).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { nodeStateFs, type StateFileHandle, type StateFs } from '../../src/util/state-fs.js';

function errno(code: 'ENOSPC' | 'EROFS', syscall: string, file: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'read-only file system';
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${file}'`), { code, errno: code === 'ENOSPC' ? -28 : -30, syscall, path: file });
}

export class QuotaFs implements StateFs {
  /** Bytes by file, for the files written through this stand-in. */
  private readonly sizes = new Map<string, number>();
  readOnly = false;
  /** Write calls refused for lack of space. */
  refusedWrites = 0;

  constructor(public quota: number) {}

  get used(): number {
    let n = 0;
    for (const v of this.sizes.values()) n += v;
    return n;
  }

  private change(syscall: string, file: string): void {
    if (this.readOnly) throw errno('EROFS', syscall, file);
  }

  private reserve(file: string, bytes: number): void {
    const key = path.resolve(file);
    if (this.used - (this.sizes.get(key) ?? 0) + bytes > this.quota) {
      this.refusedWrites++;
      throw errno('ENOSPC', 'write', file);
    }
    this.sizes.set(key, bytes);
  }

  async mkdir(dir: string): Promise<void> {
    if (existsSync(dir)) return; // as on a read-only mount: mkdir -p of an existing folder succeeds
    this.change('mkdir', dir);
    await nodeStateFs.mkdir(dir);
  }
  readdir(dir: string): Promise<string[]> {
    return nodeStateFs.readdir(dir);
  }
  readFile(file: string): Promise<Buffer> {
    return nodeStateFs.readFile(file);
  }
  async writeFile(file: string, data: string, flag: 'w' | 'wx'): Promise<void> {
    this.change('open', file);
    await nodeStateFs.writeFile(file, '', flag);
    this.sizes.set(path.resolve(file), 0);
    this.reserve(file, Buffer.byteLength(data));
    await nodeStateFs.writeFile(file, data, 'w');
  }
  async open(file: string, flags: 'w' | 'r' | 'a'): Promise<StateFileHandle> {
    if (flags === 'r') return nodeStateFs.open(file, 'r');
    this.change('open', file);
    const key = path.resolve(file);
    const fh = await nodeStateFs.open(file, flags);
    if (flags === 'w' || !this.sizes.has(key)) this.sizes.set(key, flags === 'a' && existsSync(file) ? statSync(file).size : 0);
    return {
      writeFile: async (data: string | Uint8Array) => {
        this.change('write', file);
        const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
        this.reserve(file, (flags === 'a' ? (this.sizes.get(key) ?? 0) : 0) + bytes);
        await fh.writeFile(data);
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  }
  async rename(from: string, to: string): Promise<void> {
    this.change('rename', from);
    await nodeStateFs.rename(from, to);
    const size = this.sizes.get(path.resolve(from));
    this.sizes.delete(path.resolve(from));
    if (size !== undefined) this.sizes.set(path.resolve(to), size);
  }
  async link(existing: string, newPath: string): Promise<void> {
    this.change('link', newPath);
    await nodeStateFs.link(existing, newPath);
  }
  async rm(file: string): Promise<void> {
    this.change('unlink', file);
    await nodeStateFs.rm(file);
    this.sizes.delete(path.resolve(file));
  }
  realpath(p: string): Promise<string> {
    return nodeStateFs.realpath(p);
  }
  async truncate(file: string, len: number): Promise<void> {
    this.change('truncate', file);
    await nodeStateFs.truncate(file, len);
    const key = path.resolve(file);
    if (this.sizes.has(key)) this.sizes.set(key, Math.min(len, this.sizes.get(key) ?? 0));
  }
}
