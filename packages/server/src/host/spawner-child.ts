/**
 * @module spawner-child
 * The spawner process (spawner.ts): runs the commands its parent sends over the IPC channel and
 * answers each with its result. It exits when the parent goes, so it never outlives the server.
 */
import { spawnCommand } from './spawn-command.js';
import type { SpawnReply, SpawnRequest } from './spawner.js';

process.on('disconnect', () => process.exit(0));
process.on('message', (m: SpawnRequest) => {
  const reply = (r: SpawnReply) => process.send?.(r);
  spawnCommand(m.argv, m.options).then(
    (result) => reply({ id: m.id, result }),
    (e: NodeJS.ErrnoException) => reply({ id: m.id, error: { message: e.message, code: e.code } }),
  );
});
