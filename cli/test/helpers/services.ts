/**
 * Real services behind the tunnel, each started on a loopback port of its own and stopped by
 * the caller: redis-server (no persistence, temp dir), `python3 -m http.server` over a
 * directory, a throwaway sshd (its own config, host key and authorized key, `-D -e`), and a
 * socat service that answers the SHA-256 of everything it read once its client half-closes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { hostPort, programPath, runProgram, spawnProc, startOnFreePort } from './programs.js';
import type { Proc } from './programs.js';

/** A started service: where it listens and how to stop it. */
export interface Service {
  readonly host: string;
  readonly port: number;
  readonly proc: Proc;
  /** Stops the service and removes its files. */
  stop(): Promise<void>;
}

/** A fresh temporary directory (mode 0700) and its remover. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `secsess-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** redis-server on `host` (127.0.0.1 or ::1), no RDB/AOF, its working dir a temp dir. */
export async function startRedis(host = '127.0.0.1'): Promise<Service> {
  const redis = programPath('redis-server');
  const { dir, remove } = await tempDir('redis');
  try {
    const { proc, port } = await startOnFreePort(
      host,
      (port) =>
        spawnProc(redis, [
          '--port',
          String(port),
          '--bind',
          host,
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--logfile',
          '',
        ]),
      (proc) => proc.waitFor(/Ready to accept connections/, 'redis readiness'),
    );
    return { host, port, proc, stop: async () => void (await proc.stop(), await remove()) };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** `python3 -m http.server` on `host`, port 0, serving `dir`. */
export async function startHttpServer(dir: string, host = '127.0.0.1'): Promise<Service> {
  const proc = spawnProc(programPath('python3'), [
    '-u',
    '-m',
    'http.server',
    '0',
    '--bind',
    host,
    '--directory',
    dir,
  ]);
  try {
    const m = await proc.waitFor(/Serving HTTP on \S+ port (\d+)/, 'the "Serving HTTP" line');
    return { host, port: Number(m[1]), proc, stop: async () => void (await proc.stop()) };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}

/**
 * socat on `host`, port 0: for each connection, sha256sum reads until the client's
 * half-close and its answer (`HEX  -\n`) goes back before the connection closes.
 */
export async function startSha256Service(host = '127.0.0.1'): Promise<Service> {
  const bind = host.includes(':') ? `TCP6-LISTEN:0,bind=[${host}]` : `TCP4-LISTEN:0,bind=${host}`;
  const proc = spawnProc(programPath('socat'), ['-d', '-d', `${bind},reuseaddr,fork`, 'EXEC:sha256sum']);
  try {
    const m = await proc.waitFor(/listening on AF=\d+ \S*:(\d+)/, 'the "listening on" line');
    return { host, port: Number(m[1]), proc, stop: async () => void (await proc.stop()) };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}

/** Writes `bytes` random bytes to `path` (1 MiB at a time); resolves with their SHA-256 (hex). */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let done = 0; done < bytes;) {
      const chunk = randomBytes(Math.min(1 << 20, bytes - done));
      hash.update(chunk);
      await file.write(chunk);
      done += chunk.length;
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** A throwaway sshd and what an `ssh` client needs to log in to it. */
export interface Sshd extends Service {
  /** The user ssh logs in as (the one running the tests). */
  readonly user: string;
  /** The client's private key (ed25519, no passphrase). */
  readonly identity: string;
  /** A known_hosts file holding the host key under `hostAlias`. */
  readonly knownHosts: string;
  readonly hostAlias: string;
}

/**
 * sshd on 127.0.0.1 and a free port, `-D -e` (foreground, log to stderr), with its own config,
 * a fresh host key and one authorized key; nothing under /etc/ssh is read or changed. As root
 * sshd needs its privilege separation directory /run/sshd, made here when missing.
 */
export async function startSshd(): Promise<Sshd> {
  const sshd = programPath('sshd');
  const keygen = programPath('ssh-keygen');
  const { dir, remove } = await tempDir('sshd');
  try {
    const user = userInfo().username;
    const hostKey = join(dir, 'host_ed25519');
    const identity = join(dir, 'id_ed25519');
    for (const path of [hostKey, identity]) {
      const r = await runProgram(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'secsess-test', '-f', path]);
      if (r.exit.code !== 0) throw new Error(`ssh-keygen failed: ${r.output}`);
    }
    const authorized = join(dir, 'authorized_keys');
    await writeFile(authorized, await readFile(`${identity}.pub`), { mode: 0o600 });
    const hostAlias = 'secsess-tunnel-test';
    const knownHosts = join(dir, 'known_hosts');
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    await writeFile(knownHosts, `${hostAlias} ${hostPub}\n`);
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
    const config = join(dir, 'sshd_config');
    const configText = (port: number): string =>
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorized}`,
        'PidFile none',
        'UsePAM no',
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${user}`,
        'LogLevel INFO',
        '',
      ].join('\n');
    const { proc, port } = await startOnFreePort(
      '127.0.0.1',
      (port) => {
        writeFileSync(config, configText(port));
        return spawnProc(sshd, ['-D', '-e', '-f', config]);
      },
      (proc) => proc.waitFor(/Server listening on 127\.0\.0\.1 port \d+/, 'the "Server listening" line'),
    );
    return {
      host: '127.0.0.1',
      port,
      proc,
      user,
      identity,
      knownHosts,
      hostAlias,
      stop: async () => void (await proc.stop(), await remove()),
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** `host:port` of a service, as the tunnel's flags and log lines write it. */
export function address(service: { host: string; port: number }): string {
  return hostPort(service.host, service.port);
}
