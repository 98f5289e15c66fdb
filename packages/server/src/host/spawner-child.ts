/**
 * @module spawner-child
 * The spawner process (spawner.ts): runs the commands its parent sends over the IPC channel and
 * answers each with its result. It exits when the parent goes, so it never outlives the server.
 */
import { DetachedStartError, spawnCommand, spawnDetached } from './spawn-command.js';
import type { SpawnReply, SpawnRequest } from './spawner.js';

process.on('disconnect', () => process.exit(0));
process.on('message', (m: SpawnRequest) => {
  const reply = (r: SpawnReply) => process.send?.(r);
  const failed = (e: NodeJS.ErrnoException) =>
    reply({ id: m.id, error: { message: e.message, code: e.code, ...(e instanceof DetachedStartError ? { timedOut: e.timedOut } : {}) } });
  if (m.kind === 'detached') spawnDetached(m.argv, m.options).then((started) => reply({ id: m.id, started }), failed);
  else spawnCommand(m.argv, m.options).then((result) => reply({ id: m.id, result }), failed);
});
