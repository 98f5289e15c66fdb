/**
 * @module admin
 * For admin keys: projects with their quotas and usage, each project's keys (revoke), and the
 * audit log. Another key gets the server's 403 here, shown as it is.
 */
import type { ApiKeyInfo, AuditEvent, Project } from '@airlock/protocol';
import { useState } from 'preact/hooks';
import { json } from './api.js';
import { usePoll } from './use-poll.js';

function Keys({ project }: { project: string }) {
  const { value, error, refresh } = usePoll(() => json<{ keys: ApiKeyInfo[] }>('GET', `/v1/projects/${encodeURIComponent(project)}/keys`), 5000, [project]);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const revoke = async (id: string) => {
    try {
      await json('DELETE', `/v1/keys/${encodeURIComponent(id)}`);
      refresh();
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
    }
  };
  if (error) return <p class="error">{error}</p>;
  return (
    <>
      {problem && <p class="error">{problem}</p>}
      <table class="keys">
        <thead>
          <tr>
            <th>Key</th>
            <th>Name</th>
            <th>Role</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Revoked</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(value?.keys ?? []).map((k) => (
            <tr data-key={k.id}>
              <td>{k.id}</td>
              <td>{k.name}</td>
              <td>{k.role}</td>
              <td>{k.createdAt}</td>
              <td>{k.expiresAt ?? 'never'}</td>
              <td class="revoked">{k.revokedAt ?? ''}</td>
              <td>
                {k.revokedAt === null && (
                  <button class="revoke" onClick={() => void revoke(k.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function AdminPage() {
  const projects = usePoll(() => json<{ projects: Project[] }>('GET', '/v1/projects'), 5000);
  const audit = usePoll(() => json<{ events: AuditEvent[] }>('GET', '/v1/audit?limit=50'), 5000);
  const [open, setOpen] = useState('default');
  return (
    <section>
      <h1>Projects</h1>
      {projects.error && <p class="error">{projects.error}</p>}
      <table class="projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Created</th>
            <th>Usage</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(projects.value?.projects ?? []).map((p) => (
            <tr data-project={p.name}>
              <td>{p.name}</td>
              <td>{p.createdAt}</td>
              <td>
                <code>{JSON.stringify(p.usage)}</code>
              </td>
              <td>
                <button onClick={() => setOpen(p.name)}>Keys</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Keys of {open}</h2>
      <Keys project={open} />
      <h1>Audit</h1>
      {audit.error && <p class="error">{audit.error}</p>}
      <table class="audit">
        <thead>
          <tr>
            <th>Time</th>
            <th>Key</th>
            <th>Project</th>
            <th>Action</th>
            <th>Target</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {(audit.value?.events ?? []).map((e) => (
            <tr>
              <td>{e.at}</td>
              <td>{e.keyId}</td>
              <td>{e.project}</td>
              <td>{e.action}</td>
              <td>{e.target ?? ''}</td>
              <td>{e.result}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
