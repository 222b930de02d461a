/** DirLock: one owner per state directory, named with its pid when refused; stale locks are taken over. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DirLock, LOCK_FILE } from '../../src/util/dir-lock.js';

function tmp(t: import('node:test').TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function lockText(pid: number, token = 'someone-else'): string {
  return JSON.stringify({ pid, host: os.hostname(), startedAt: new Date().toISOString(), token }) + '\n';
}

/** A live process that is not us. */
function otherProcess(t: import('node:test').TestContext): number {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  return child.pid!;
}

test('a second lock on a directory is refused with the directory, the holder pid and the key to change; release frees it', async (t) => {
  const dir = tmp(t);
  const a = new DirLock(dir, 'outbox directory', 'outbox.dir');
  await a.acquire();
  const info = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number };
  assert.equal(info.pid, process.pid);
  const b = new DirLock(path.join(dir, '.'), 'outbox directory', 'outbox.dir');
  await assert.rejects(b.acquire(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_LOCKED');
    assert.ok(err.message.includes(dir), err.message);
    assert.match(err.message, new RegExp(`pid ${process.pid}`));
    assert.match(err.message, /outbox\.dir/);
    return true;
  });
  await a.release();
  await a.release(); // idempotent
  await b.acquire();
  await b.release();
  assert.deepEqual(readdirSync(dir), [], 'no lock or temp file left behind');
});

test('a lock held by another live process is refused, naming its pid', async (t) => {
  const dir = tmp(t);
  const pid = otherProcess(t);
  writeFileSync(path.join(dir, LOCK_FILE), lockText(pid));
  await assert.rejects(new DirLock(dir, 'snapshots directory', 'snapshots.dir').acquire(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_LOCKED');
    assert.match(err.message, new RegExp(`snapshots directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another inspectd \\(pid ${pid};`));
    return true;
  });
  assert.equal(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, pid, 'the holder keeps its lock');
});

test('a stale lock (its process is gone, or it names our pid without being ours) is taken over', async (t) => {
  const dir = tmp(t);
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const gone = await new Promise<number>((resolve) => child.once('exit', () => resolve(child.pid!)));
  writeFileSync(path.join(dir, LOCK_FILE), lockText(gone));
  const lock = new DirLock(dir, 'outbox directory', 'outbox.dir');
  assert.deepEqual(await lock.acquire(), { staleFrom: gone });
  assert.equal(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  await lock.release();

  writeFileSync(path.join(dir, LOCK_FILE), lockText(process.pid, 'an-earlier-process'));
  const again = new DirLock(dir, 'outbox directory', 'outbox.dir');
  assert.deepEqual(await again.acquire(), { staleFrom: process.pid });
  await again.release();
});

test('release() leaves a lock that is no longer ours in place', async (t) => {
  const dir = tmp(t);
  const lock = new DirLock(dir, 'outbox directory', 'outbox.dir');
  await lock.acquire();
  const pid = otherProcess(t);
  writeFileSync(path.join(dir, LOCK_FILE), lockText(pid)); // someone removed ours and took it
  await lock.release();
  assert.equal(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, pid);
});
