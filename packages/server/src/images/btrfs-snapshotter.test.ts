import { BtrfsSnapshotter } from './btrfs-snapshotter.js';
import { snapshotterConformance } from './snapshotter-conformance.js';
import { newDataDir } from '@airlock/testkit/harness.js';

snapshotterConformance('btrfs', () => BtrfsSnapshotter.open(newDataDir('snapshotter'), 512 * 1024 * 1024));
