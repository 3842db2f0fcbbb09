/**
 * The server's memory report (SIGUSR2): process memory, after a full GC when the server runs
 * with NODE_OPTIONS=--expose-gc, and the sizes of its MQTT tables.
 */
import type { ServerProcess } from './spawn-server.ts';
import { waitFor } from './wait.ts';

export type MemoryReport = Record<string, number> & { after_gc?: boolean };

export async function memoryReport(server: ServerProcess): Promise<MemoryReport> {
  const seen = server.logs.length;
  server.proc.kill('SIGUSR2');
  return (await waitFor(() => server.logs.slice(seen).find((l) => l.msg === 'memory report'), 5000, 'memory report')) as MemoryReport;
}
