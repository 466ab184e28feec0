/**
 * `--listen systemd`: socket activation. systemd (or any launcher that follows its
 * convention, sd_listen_fds(3)) passes listening sockets from fd 3 on and says so in
 * LISTEN_FDS (how many) and LISTEN_PID (the process they are for, so a child that inherits
 * the environment does not take them too). secsess takes the first, fd 3.
 */
import { CliError, CliErrorCode } from '../errors.js';

/** The first socket systemd passes (SD_LISTEN_FDS_START). */
export const SYSTEMD_FD = 3;

/**
 * The fd of the listening socket systemd passed to this process. Unsets LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES, as `sd_listen_fds(1)` does, so that nothing started from
 * here takes the socket for its own.
 *
 * @throws CliError ERR_LISTEN_FDS when no socket was passed to this process
 */
export function systemdListenFd(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number {
  const fds = env['LISTEN_FDS'];
  const forPid = env['LISTEN_PID'];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDNAMES'];
  if (fds === undefined || forPid === undefined) {
    throw new CliError(
      CliErrorCode.LISTEN_FDS,
      '--listen systemd: no socket was passed (LISTEN_FDS and LISTEN_PID are not set); ' +
        'start secsess from a systemd .socket unit, or give --listen HOST:PORT',
    );
  }
  if (!/^[0-9]+$/.test(forPid) || Number(forPid) !== pid) {
    throw new CliError(
      CliErrorCode.LISTEN_FDS,
      `--listen systemd: LISTEN_PID is ${forPid}, not this process (${pid}): the sockets are another process's`,
    );
  }
  if (!/^[0-9]+$/.test(fds) || Number(fds) < 1) {
    throw new CliError(
      CliErrorCode.LISTEN_FDS,
      `--listen systemd: LISTEN_FDS is "${fds}": no socket was passed`,
    );
  }
  return SYSTEMD_FD;
}
