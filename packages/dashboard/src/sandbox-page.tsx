/**
 * @module sandbox-page
 * One sandbox: its stats (live), a terminal, a file browser with upload and download, its
 * processes, and its network policy and egress events when it has a network.
 */
import type { FileEntry, NetworkDetails, NetworkEvent, ProcessInfo, Sandbox, SandboxStats } from '@airlock/protocol';
import { useRef, useState } from 'preact/hooks';
import { call, formatBytes, json } from './api.js';
import { Terminal } from './terminal.js';
import { usePoll } from './use-poll.js';

const enc = encodeURIComponent;

function Stats({ id }: { id: string }) {
  const { value: s, error } = usePoll(() => json<SandboxStats>('GET', `/v1/sandboxes/${enc(id)}/stats`), 1000, [id]);
  if (error) return <p class="error">{error}</p>;
  if (!s) return <p>Reading stats…</p>;
  return (
    <dl class="stats">
      <dt>CPU</dt>
      <dd id="stat-cpu">
        {s.cpu.percent === null ? '–' : `${s.cpu.percent.toFixed(1)}%`} of {s.cpu.limitCores} core(s), {s.cpu.usageSeconds.toFixed(2)} s used
      </dd>
      <dt>Memory</dt>
      <dd id="stat-mem">
        {formatBytes(s.memory.currentBytes)} of {formatBytes(s.memory.limitBytes)} (peak {formatBytes(s.memory.peakBytes)})
      </dd>
      <dt>Pids</dt>
      <dd>
        {s.pids.current} {s.pids.scope === 'host' ? '(host tasks)' : ''}
      </dd>
      <dt>Disk</dt>
      <dd>{s.disk ? `${formatBytes(s.disk.usedBytes)} of ${formatBytes(s.disk.limitBytes)}` : '–'}</dd>
      <dt>Network</dt>
      <dd>{s.network ? `${formatBytes(s.network.rxBytes)} in, ${formatBytes(s.network.txBytes)} out` : 'no network'}</dd>
    </dl>
  );
}

function Files({ id }: { id: string }) {
  const [path, setPath] = useState('/home/user');
  const { value, error, refresh } = usePoll(() => json<{ entries: FileEntry[] }>('GET', `/v1/sandboxes/${enc(id)}/files/list?path=${enc(path)}`), 5000, [
    id,
    path,
  ]);
  const input = useRef<HTMLInputElement>(null);
  const [note, setNote] = useState<string | undefined>(undefined);
  const join = (name: string) => `${path.replace(/\/$/, '')}/${name}`;
  const upload = async () => {
    const files = input.current?.files;
    if (!files || files.length === 0) return;
    for (const f of Array.from(files)) await call('PUT', `/v1/sandboxes/${enc(id)}/files?path=${enc(join(f.name))}`, f);
    setNote(`uploaded ${files.length} file(s)`);
    input.current!.value = '';
    refresh();
  };
  const download = async (name: string) => {
    const blob = await (await call('GET', `/v1/sandboxes/${enc(id)}/files?path=${enc(join(name))}`)).blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  return (
    <div class="files">
      <div class="toolbar">
        <input class="path" value={path} onChange={(e) => setPath((e.target as HTMLInputElement).value)} aria-label="directory" />
        {path !== '/' && <button onClick={() => setPath(path.replace(/\/[^/]*\/?$/, '') || '/')}>Up</button>}
        <input type="file" ref={input} multiple aria-label="files to upload" />
        <button id="upload" onClick={() => void upload().catch((e: Error) => setNote(e.message))}>
          Upload
        </button>
      </div>
      {note && <p class="note">{note}</p>}
      {error && <p class="error">{error}</p>}
      <table class="file-list">
        <tbody>
          {(value?.entries ?? []).map((e) => (
            <tr data-name={e.name}>
              <td>
                {e.type === 'dir' ? (
                  <a href="javascript:void 0" onClick={() => setPath(join(e.name))}>
                    {e.name}/
                  </a>
                ) : (
                  e.name
                )}
              </td>
              <td>{e.type === 'dir' ? '' : formatBytes(e.size)}</td>
              <td>{e.type === 'file' && <button onClick={() => void download(e.name)}>Download</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Processes({ id }: { id: string }) {
  const { value } = usePoll(() => json<{ processes: ProcessInfo[] }>('GET', `/v1/sandboxes/${enc(id)}/processes`), 3000, [id]);
  return (
    <table class="processes">
      <thead>
        <tr>
          <th>Process</th>
          <th>Command</th>
          <th>State</th>
          <th>Exit</th>
        </tr>
      </thead>
      <tbody>
        {(value?.processes ?? []).map((p) => (
          <tr>
            <td>{p.id}</td>
            <td>{p.command}</td>
            <td>{p.state}</td>
            <td>{p.exitCode ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Network({ id }: { id: string }) {
  const details = usePoll(() => json<NetworkDetails>('GET', `/v1/sandboxes/${enc(id)}/network`), 5000, [id]);
  const events = usePoll(() => json<{ events: NetworkEvent[] }>('GET', `/v1/sandboxes/${enc(id)}/network/events`), 3000, [id]);
  if (details.error) return <p>No network (loopback only).</p>;
  if (!details.value) return null;
  return (
    <div>
      <p>
        Egress: <code>{JSON.stringify(details.value.egress)}</code>, peers <code>{details.value.peers}</code>, address {details.value.address ?? '–'}
      </p>
      <table>
        <tbody>
          {(events.value?.events ?? []).slice(-50).map((e) => (
            <tr>
              <td>{e.time}</td>
              <td>{e.kind}</td>
              <td class={`verdict-${e.verdict}`}>{e.verdict}</td>
              <td>{e.name ?? e.address}</td>
              <td>{e.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function SandboxPage({ id }: { id: string }) {
  const { value: s, error } = usePoll(() => json<Sandbox>('GET', `/v1/sandboxes/${enc(id)}`), 3000, [id]);
  if (error) return <p class="error">{error}</p>;
  if (!s) return <p>Loading…</p>;
  return (
    <section>
      <h1>
        {s.id} <span class={`state state-${s.state}`}>{s.state}</span>
      </h1>
      <p>
        {s.runtime}, {s.cpu} CPU, {s.memoryMiB} MiB, image {s.image}
      </p>
      {s.state === 'running' ? (
        <>
          <h2>Stats</h2>
          <Stats id={id} />
          <h2>Terminal</h2>
          <Terminal sandbox={id} />
          <h2>Files</h2>
          <Files id={id} />
          <h2>Processes</h2>
          <Processes id={id} />
          <h2>Network</h2>
          <Network id={id} />
        </>
      ) : (
        <p>
          Stopped: {s.stopReason} {s.stopDetail ?? ''}
        </p>
      )}
    </section>
  );
}
