// Shared by bench/postgres/run.mjs and alternatives.mjs: the readings the benches store (in the
// server's stream field format) and a process's CPU time from /proc.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';

/** Fields of /proc/<pid>/stat after the command name (index 0 = state); undefined when gone. */
export function statFields(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
export const TICKS = 100; // USER_HZ on Linux
/** utime + stime of a process in seconds (from /proc), NaN when gone. */
export function cpuSeconds(pid) {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : NaN;
}

/** An enriched reading's stream fields as the server writes them. */
export function entry(i, t0) {
  const dev = `esp32-${String(i % 1000).padStart(4, '0')}`;
  const ts = new Date(t0 + i).toISOString();
  const id = randomUUID();
  const md = i % 2 === 0 ? `,"device_metadata":{"location":"HQ","room":"lab-${i % 40}","zone":"north","firmware_version":"1.4.2"}` : '';
  const data =
    `{"device_id":"${dev}","timestamp":"${ts}","sensors":{"ld2410":{"presence":${i % 3 === 0},"distance":${i % 600},"energy":${i % 100}},` +
    `"pir":{"motion_detected":${i % 2 === 0}},"mq134":{"gas_concentration":${(i % 900) + 0.5},"unit":"ppm"}},"received_at":"${ts}","message_id":"${id}"${md}}`;
  return ['data', data, 'device_id', dev, 'message_id', id];
}
