/** `inspectd batch` inputs: folders (walked, filtered by globs), list files and videos, expanded into an ordered work list. */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';

export type WorkItem = { kind: 'image'; path: string } | { kind: 'video'; path: string };

export const DEFAULT_IMAGE_GLOBS = ['*.{jpg,jpeg,png,bmp,webp,tif,tiff}'];
const VIDEO_EXTENSIONS = new Set(['.mp4', '.mkv', '.avi', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.ts', '.mjpeg', '.h264', '.h265']);
/** A URL (rtsp://, http://, udp://, ...) is a stream for ffmpeg, never a file; a Windows drive letter is not a scheme. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]+:\/\//i;

export function isVideoPath(p: string): boolean {
  return URL_SCHEME.test(p) || VIDEO_EXTENSIONS.has(path.extname(p).toLowerCase());
}

/**
 * A glob as a case-insensitive RegExp: `*` and `?` within one path segment, `**` across segments, `{a,b}`
 * alternatives, `[...]` classes. A glob without `/` matches the file's name, one with `/` its path below the folder.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      depth++;
      re += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      re += ')';
    } else if (c === ',' && depth > 0) re += '|';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\\]]/g, '\\$&');
  }
  if (depth > 0) throw new InspectdError(ErrorCodes.USAGE, `--include '${glob}': unclosed '{'`);
  return new RegExp(`^${re}$`, 'i');
}

export function globMatcher(globs: readonly string[]): (relPath: string) => boolean {
  const compiled = globs.map((g) => ({ re: globToRegExp(g), byName: !g.includes('/') }));
  return (rel) => {
    const posix = rel.split(path.sep).join('/');
    const name = path.posix.basename(posix);
    return compiled.some((g) => g.re.test(g.byName ? name : posix));
  };
}

/** Files below `dir` (recursive, sorted by path, symlinked folders not followed) that `match` accepts. */
async function walk(dir: string, match: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  // Bounded by the tree: each folder is read once.
  const visit = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel === '' ? e.name : path.join(rel, e.name);
      if (e.isDirectory()) await visit(r);
      else if ((e.isFile() || e.isSymbolicLink()) && match(r)) out.push(path.join(dir, r));
    }
  };
  await visit('');
  return out;
}

export interface InputOptions {
  /** Positional inputs: folders, image files, video files, stream URLs. */
  inputs: readonly string[];
  /** --list files: one image or video path per line (blank lines and `#` comments skipped). */
  lists: readonly string[];
  /** --video inputs: decoded by ffmpeg whatever their name. */
  videos: readonly string[];
  /** --include globs for folders (default DEFAULT_IMAGE_GLOBS; a matched video file is decoded as a video). */
  include: readonly string[];
}

/**
 * The work list in the order given: a folder expands to its matching files, sorted. A missing input is a
 * usage error (nothing has run yet, so the user fixes the command); unreadable files fail later, one line each.
 */
export async function expandInputs(opts: InputOptions): Promise<WorkItem[]> {
  const match = globMatcher(opts.include.length > 0 ? opts.include : DEFAULT_IMAGE_GLOBS);
  const items: WorkItem[] = [];
  const file = (p: string): WorkItem => (isVideoPath(p) ? { kind: 'video', path: p } : { kind: 'image', path: p });
  for (const input of opts.inputs) {
    if (URL_SCHEME.test(input)) {
      items.push({ kind: 'video', path: input });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = (await stat(input)).isDirectory();
    } catch (err) {
      // A missing file is reported with the others as a failure line: a list of 10,000 should not stop for one.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        items.push(file(input));
        continue;
      }
      throw new InspectdError(ErrorCodes.USAGE, `${input}: cannot read: ${errorMessage(err)}`, { cause: err });
    }
    if (isDir) items.push(...(await walk(input, match)).map(file));
    else items.push(file(input));
  }
  for (const list of opts.lists) {
    let text: string;
    try {
      text = await readFile(list, 'utf8');
    } catch (err) {
      throw new InspectdError(ErrorCodes.USAGE, `--list ${list}: cannot read: ${errorMessage(err)}`, { cause: err });
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line !== '' && !line.startsWith('#')) items.push(file(line));
    }
  }
  for (const v of opts.videos) items.push({ kind: 'video', path: v });
  return items;
}
