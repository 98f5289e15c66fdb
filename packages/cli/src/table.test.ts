import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SandboxInfo } from '@airlock/sdk';
import { formatPoolTable } from './commands/pools.js';
import { formatAge, formatSandboxTable, formatTable } from './table.js';

describe('formatTable', { timeout: 60_000 }, () => {
  it('aligns columns and trims trailing space', () => {
    assert.equal(
      formatTable(
        ['A', 'BB', 'C'],
        [
          ['xxx', 'y', ''],
          ['z', 'yyyy', 'q'],
        ],
      ),
      'A     BB     C\nxxx   y\nz     yyyy   q\n',
    );
  });

  it('prints only the header for no rows', () => {
    assert.equal(formatTable(['ID', 'STATE'], []), 'ID   STATE\n');
  });
});

describe('formatAge', { timeout: 60_000 }, () => {
  it('uses the largest whole unit', () => {
    assert.equal(formatAge(-5), '0s');
    assert.equal(formatAge(59_999), '59s');
    assert.equal(formatAge(60_000), '1m');
    assert.equal(formatAge(2 * 3600_000 + 5), '2h');
    assert.equal(formatAge(3 * 86400_000), '3d');
  });
});

describe('formatSandboxTable', { timeout: 60_000 }, () => {
  it('renders the ls columns', () => {
    const info: SandboxInfo = {
      id: 'sb-aaaaaaaaaaaaaaaaaaaa',
      state: 'running',
      runtime: 'gvisor',
      image: 'default',
      imageId: 'default',
      diskMiB: 2048,
      cpu: 0.5,
      memoryMiB: 512,
      pids: 256,
      timeout: null,
      metadata: { team: 'ml', env: 'dev' },
      envKeys: [],
      createdAt: '2025-01-01T00:00:00Z',
      startedAt: null,
      stoppedAt: null,
      expiresAt: null,
      stopReason: null,
      stopDetail: null,
      project: 'default',
      enforced: null,
      network: null,
      agent: { responsive: true, unresponsiveSince: null },
    };
    const text = formatSandboxTable([info], Date.parse('2025-01-01T00:05:00Z'));
    const [header, row] = text.split('\n');
    assert.match(header ?? '', /^ID\s+RUNTIME\s+STATE\s+IMAGE\s+CPU\s+MEM\s+AGE\s+LABELS$/);
    assert.deepEqual(row?.split(/\s{3,}/), ['sb-aaaaaaaaaaaaaaaaaaaa', 'gvisor', 'running', 'default', '0.5', '512Mi', '5m', 'team=ml,env=dev']);
  });
});

describe('pool table', { timeout: 60_000 }, () => {
  it('shows readiness, hits, misses and refill time, and says when there are no pools', () => {
    const pool = {
      runtime: 'gvisor' as const,
      image: 'default',
      cpu: 1,
      memoryMiB: 512,
      diskMiB: 2048,
      size: 4,
      ready: 3,
      starting: 1,
      hits: 10,
      misses: 2,
      refills: 13,
      refillFailures: 0,
      refillMs: { last: 170, p50: 162.7 },
      lastError: null,
    };
    const lines = formatPoolTable([pool]).split('\n');
    assert.match(lines[0]!, /^RUNTIME\s+IMAGE\s+CPU\s+MEM\s+DISK\s+READY\s+HITS\s+MISSES\s+REFILL P50\s+LAST ERROR$/);
    assert.match(lines[1]!, /^gvisor\s+default\s+1\s+512M\s+2048M\s+3\/4 \(\+1\)\s+10\s+2\s+162\.7 ms$/);
    assert.match(formatPoolTable([]), /no warm pools/);
  });
});
