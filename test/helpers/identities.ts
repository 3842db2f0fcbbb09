/**
 * Identities for tests with AUTH_MODE on: the admin token the stacks are started with, and an
 * API key registered through the admin API (POST /api/v1/admin/devices).
 */
import { expect } from 'bun:test';

export const ADMIN = 'admin-token-for-tests-0123456789';

/** Registers `id` with `role` on the server at `base`; returns its API key. */
export async function registerKey(base: string, id: string, role: 'device' | 'subscriber' = 'device', admin = ADMIN): Promise<string> {
  const res = await fetch(`${base}/api/v1/admin/devices`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ device_id: id, role }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { api_key: string }).api_key;
}
