import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A TCP port that was free a moment ago on 127.0.0.1 (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const taken = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The low end of the kernel's ephemeral range (the ports listen(0) and outgoing connections take). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/**
 * A port for a Redis Cluster node: it and its cluster bus port (port + 10000) were both free a
 * moment ago on 127.0.0.1, and neither is held by another caller of this function in this process
 * (until releaseClusterPort()).
 * Picked at random from 20000 up to where the bus port would enter the kernel's ephemeral range
 * (32768 on Linux: 20000–22767, so that neither port races freePort() or an outgoing
 * connection of another test); 20000–45000 when that range leaves too little room.
 */
export async function freeClusterPort(): Promise<number> {
  const low = 20_000;
  const eph = ephemeralLow();
  const high = eph - 10_001 >= low + 1_000 ? eph - 10_001 : 45_000;
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (taken.has(port) || taken.has(port + 10_000) || taken.has(port - 10_000)) continue;
    taken.add(port); // before the checks, so that concurrent calls never pick the same port (a busy one stays taken)
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error(`no free port p with p + 10000 free in ${low}–${high}`);
}

/** Gives a port of freeClusterPort() back once its node is gone (one bun process runs every test file). */
export function releaseClusterPort(port: number): void {
  taken.delete(port);
}
