/**
 * A real mosquitto broker for integration tests: loopback only, a free port, a temp config,
 * killed by pid. restart() brings it back on the same port (broker-outage tests).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface MosquittoHandle {
  port: number;
  url: string;
  /** Stops it: SIGTERM, or `signal` (SIGKILL: a broker that dies without closing its connections). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops (if running) and starts again on the same port; `auth` replaces the one password (auth brokers only). */
  restart(change?: { auth?: { username: string; password: string }; signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  /** Stops the broker but keeps its folder (its database, with persistence): restart() brings it back as it was. */
  down(signal?: NodeJS.Signals): Promise<void>;
  /** Replaces the ACL file and makes the running broker reload it (SIGHUP); brokers started with `acl` only. */
  setAcl(text: string): Promise<void>;
}

export function mosquittoBinary(): string | null {
  if (process.env.MOSQUITTO_BIN) return process.env.MOSQUITTO_BIN;
  for (const p of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto']) {
    if (existsSync(p)) return p;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'mosquitto'))) return path.join(dir, 'mosquitto');
  }
  return null;
}

/** node:test `skip` value: false when mosquitto is installed, else the reason (a visible skip). */
export function mosquittoSkip(): false | string {
  return mosquittoBinary() ? false : 'mosquitto not installed (apt-get install mosquitto)';
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Brokers still running; killed if the test process exits without stopping them (a crashed test). */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
}

export interface MosquittoOptions {
  port?: number;
  /** Serve MQTT over TLS with these PEM files (server certificate for 127.0.0.1). */
  tls?: { ca: string; cert: string; key: string; requireClientCert?: boolean };
  /** Require this user/password (a password file is generated with mosquitto_passwd). */
  auth?: { username: string; password: string };
  /** A whole mosquitto.conf instead of the generated one (tls/auth ignored), given the port and the broker's own folder. */
  config?: (port: number, dir: string) => string;
  /** An acl_file's text (mosquitto reloads it on SIGHUP: setAcl). */
  acl?: string;
  /** Keep sessions and queued messages across restart() (persistence on, saved every second and at exit). */
  persistence?: boolean;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoHandle> {
  const bin = mosquittoBinary();
  if (!bin) throw new Error('mosquitto not found: install it (apt-get install mosquitto) or set MOSQUITTO_BIN');
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-mosq-'));
  // Started as root, mosquitto drops to its own user before reading the password file.
  chmodSync(dir, opts.persistence ? 0o777 : 0o755); // a broker that dropped to its own user writes its database here
  const conf = path.join(dir, 'mosquitto.conf');
  // set_tcp_nodelay: without it mosquitto's writes to subscribers meet Nagle + delayed ACK (~40 ms stalls).
  const lines = [`listener ${port} 127.0.0.1`, 'set_tcp_nodelay true', 'log_dest stderr', 'log_type error'];
  lines.push(...(opts.persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1'] : ['persistence false']));
  const aclFile = path.join(dir, 'acl');
  let aclText = opts.acl;
  if (aclText !== undefined) lines.push(`acl_file ${aclFile}`);
  if (opts.tls) {
    lines.push(`cafile ${opts.tls.ca}`, `certfile ${opts.tls.cert}`, `keyfile ${opts.tls.key}`);
    if (opts.tls.requireClientCert) lines.push('require_certificate true');
  }
  let pwText: string | null = null;
  const pwfile = path.join(dir, 'passwd');
  const passwordFile = (auth: { username: string; password: string }): string => {
    const r = spawnSync('mosquitto_passwd', ['-b', '-c', pwfile, auth.username, auth.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd failed (install mosquitto-clients/mosquitto): ${r.stderr ?? r.error?.message ?? ''}`);
    return readFileSync(pwfile, 'utf8'); // rewritten by launch(): restart() after stop() works too
  };
  if (opts.auth) {
    pwText = passwordFile(opts.auth);
    lines.push('allow_anonymous false', `password_file ${pwfile}`);
  } else {
    lines.push('allow_anonymous true');
  }
  const confText = opts.config ? opts.config(port, dir) : lines.join('\n') + '\n';
  let child: ChildProcess | null = null;
  let stderr = '';

  const launch = async (): Promise<void> => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(conf, confText);
    if (aclText !== undefined) writeFileSync(aclFile, aclText, { mode: 0o644 });
    if (pwText !== null) {
      writeFileSync(pwfile, pwText);
      chmodSync(pwfile, 0o644);
    }
    // A restart may race the kernel releasing the port: retry the launch a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      stderr = '';
      const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      track(proc);
      proc.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4000) stderr += d.toString();
      });
      let exited = false;
      proc.once('exit', () => {
        exited = true;
      });
      for (let i = 0; i < 100 && !exited; i++) {
        if (await canConnect(port)) return;
        await sleep(50);
      }
      if (!exited) {
        await kill();
        break;
      }
      child = null;
      await sleep(200);
    }
    throw new Error(`mosquitto did not start on 127.0.0.1:${port}: ${stderr.trim()}`);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    async stop(signal) {
      await kill(signal);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(change = {}) {
      await kill(change.signal);
      if (change.downMs) await sleep(change.downMs);
      if (change.auth) {
        if (pwText === null) throw new Error('restart({auth}) needs a broker started with auth');
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        pwText = passwordFile(change.auth);
      }
      await launch();
    },
    down: (signal) => kill(signal),
    async setAcl(text) {
      if (aclText === undefined) throw new Error('setAcl() needs a broker started with acl');
      aclText = text;
      writeFileSync(aclFile, text, { mode: 0o644 });
      (child as ChildProcess | null)?.kill('SIGHUP');
      await sleep(200); // the reload is asynchronous, and says nothing on success
    },
  };
}
