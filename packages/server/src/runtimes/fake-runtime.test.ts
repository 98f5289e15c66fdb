import { FakeHost, FakeRuntime } from './fake-runtime.js';
import { runtimeContract } from './runtime-contract.js';

const host = new FakeHost();
runtimeContract({
  name: 'fake',
  make: () => new FakeRuntime(host),
  spec: async (id) => ({
    id,
    rootfs: { kind: 'directory', path: '/fake', readonly: true, mounts: [] },
    cpu: 1,
    memoryMiB: 128,
    pids: 64,
    hostIds: { base: 1_000_000, size: 65_536 },
    network: { kind: 'none' },
  }),
});
