import { MemoryBackend } from '../../src/queue/memory/index.ts';
import { runFleetStoreContract } from './fleet-store.contract.ts';
import { runQueueBackendContract } from './queue-backend.contract.ts';

runQueueBackendContract('memory', async (dedupeWindowMs) => {
  const backend = new MemoryBackend({ maxLen: 1000, dedupeWindowMs });
  await backend.start();
  return {
    backend,
    readStream: async () => backend.entries(),
    readRejects: async () => backend.rejectEntries(),
    dispose: () => backend.close(),
  };
}, false);

runFleetStoreContract('memory', async (keepMs?: number) => ({ store: new MemoryBackend({ maxLen: 10, dedupeWindowMs: 0, ...(keepMs ? { deviceStateKeepMs: keepMs } : {}) }).fleet }));
