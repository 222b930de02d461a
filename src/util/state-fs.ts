/**
 * The file operations of the state directories (outbox, its lock): node:fs/promises by default. Tests pass
 * a stand-in through the constructors to meet a full or read-only disk where no small filesystem can be
 * mounted (test/helpers/quota-fs.ts).
 */
import { promises as fsp } from 'node:fs';

export interface StateFileHandle {
  /** Writes at the file's end when opened 'a'. */
  writeFile(data: string | Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface StateFs {
  /** mkdir -p */
  mkdir(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Buffer>;
  /** flag 'wx' fails with EEXIST when the file exists. */
  writeFile(file: string, data: string, flag: 'w' | 'wx'): Promise<void>;
  /** 'a': append (created when missing), for the outbox's segment log. */
  open(file: string, flags: 'w' | 'r' | 'a'): Promise<StateFileHandle>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  /** rm -f */
  rm(file: string): Promise<void>;
  realpath(p: string): Promise<string>;
  /** Cuts a file to len bytes (a torn log tail, a refused append). */
  truncate(file: string, len: number): Promise<void>;
}

export const nodeStateFs: StateFs = {
  mkdir: async (dir) => void (await fsp.mkdir(dir, { recursive: true })),
  readdir: (dir) => fsp.readdir(dir),
  readFile: (file) => fsp.readFile(file),
  writeFile: (file, data, flag) => fsp.writeFile(file, data, { flag }),
  open: (file, flags) => fsp.open(file, flags),
  rename: (from, to) => fsp.rename(from, to),
  link: (existing, newPath) => fsp.link(existing, newPath),
  rm: (file) => fsp.rm(file, { force: true }),
  realpath: (p) => fsp.realpath(p),
  truncate: (file, len) => fsp.truncate(file, len),
};
