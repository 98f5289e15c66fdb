/**
 * @module sandboxes
 * The project's sandboxes: live state and stats (polled every 2 s), labels, create and destroy.
 */
import type { RuntimeName, Sandbox, SandboxStats } from '@airlock/protocol';
import { useState } from 'preact/hooks';
import { ApiError, formatBytes, json } from './api.js';
import { usePoll } from './use-poll.js';

const RUNTIME_CHOICES: RuntimeName[] = ['runc', 'gvisor', 'bwrap', 'microvm'];

async function readAll(): Promise<{ list: Sandbox[]; stats: Map<string, SandboxStats> }> {
  const { sandboxes } = await json<{ sandboxes: Sandbox[] }>('GET', '/v1/sandboxes');
  const stats = new Map<string, SandboxStats>();
  await Promise.all(
    sandboxes
      .filter((s) => s.state === 'running')
      .map(async (s) => {
        try {
          stats.set(s.id, await json<SandboxStats>('GET', `/v1/sandboxes/${encodeURIComponent(s.id)}/stats`));
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) throw e;
        }
      }),
  );
  return { list: sandboxes, stats };
}

export function SandboxesPage() {
  const { value, error, refresh } = usePoll(readAll, 2000);
  const [runtime, setRuntime] = useState<RuntimeName>('runc');
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);

  const act = async (what: string, run: () => Promise<unknown>) => {
    setBusy(what);
    setProblem(undefined);
    try {
      await run();
      refresh();
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section>
      <h1>Sandboxes</h1>
      <div class="toolbar">
        <select value={runtime} onChange={(e) => setRuntime((e.target as HTMLSelectElement).value as RuntimeName)} aria-label="runtime">
          {RUNTIME_CHOICES.map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
        <button
          id="create"
          disabled={busy !== undefined}
          onClick={() => act('create', () => json('POST', '/v1/sandboxes', { runtime, metadata: { 'created-by': 'dashboard' } }))}
        >
          {busy === 'create' ? 'Creating…' : 'Create sandbox'}
        </button>
      </div>
      {problem && <p class="error">{problem}</p>}
      {error && <p class="error">{error}</p>}
      {value === undefined ? (
        <p>Loading…</p>
      ) : value.list.length === 0 ? (
        <p>No sandboxes.</p>
      ) : (
        <table class="sandboxes">
          <thead>
            <tr>
              <th>ID</th>
              <th>Runtime</th>
              <th>State</th>
              <th>CPU</th>
              <th>Memory</th>
              <th>Disk</th>
              <th>Labels</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {value.list.map((s) => {
              const st = value.stats.get(s.id);
              return (
                <tr data-id={s.id}>
                  <td>
                    <a href={`#/sandboxes/${s.id}`}>{s.id}</a>
                  </td>
                  <td>{s.runtime}</td>
                  <td class={`state state-${s.state}`}>{s.state}</td>
                  <td class="cpu">{st?.cpu.percent != null ? `${st.cpu.percent.toFixed(1)}%` : '–'}</td>
                  <td class="mem">{st ? `${formatBytes(st.memory.currentBytes)} / ${formatBytes(st.memory.limitBytes)}` : '–'}</td>
                  <td>{st?.disk ? `${formatBytes(st.disk.usedBytes)} / ${formatBytes(st.disk.limitBytes)}` : '–'}</td>
                  <td>
                    {Object.entries(s.metadata)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                  <td>
                    {s.state !== 'destroyed' && (
                      <button
                        class="destroy"
                        disabled={busy !== undefined}
                        onClick={() => act(s.id, () => json('DELETE', `/v1/sandboxes/${encodeURIComponent(s.id)}`))}
                      >
                        Destroy
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
