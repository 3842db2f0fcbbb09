import { MemoryBackend } from '../../src/queue/memory/index.ts';
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
