/**
 * @module root-user
 * Whether a command may run as root: a runtime without root inside (bwrap maps one unprivileged uid)
 * refuses it with a message that says what to do instead.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { LiveSandbox } from './live.js';

export function rootInside(live: LiveSandbox, user: string | undefined): void {
  if (!live.runtime.description.rootInside && isRoot(user)) {
    throw new AirlockError(
      ErrorCode.ExecFailed,
      `${live.runtime.name} sandboxes have no root user (one unprivileged uid is mapped, to "user"); run the command as user, or use a runtime with root inside (runc, gvisor)`,
    );
  }
}

function isRoot(user: string | undefined): boolean {
  return user === 'root' || user === '0' || (user !== undefined && /^0:/.test(user));
}
