/**
 * The admin API (Authorization: Bearer <ADMIN_TOKEN>): register a device or subscriber and get
 * its API key (shown once), rotate it, revoke it (every instance forgets it within a second and
 * drops its live MQTT and WebSocket connections), look it up, import keys issued elsewhere.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { identityIdRefusal } from '../../../auth/identity.ts';
import { importKeys, parseKeyImport } from '../../../auth/key-import.ts';
import { ErrorCode, IngestError } from '../../../core/errors.ts';
import type { IngestItem } from '../../../core/item.ts';
import type { HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';
import { adminRefusal, internalError, receiveItem, refuse } from './ingest-request.ts';

function badRequest(details: string): IngestError {
  return new IngestError(ErrorCode.INVALID_METADATA, 'Invalid request', details);
}

/** The parsed JSON body of an admin request, or undefined once it was refused (400 naming the `expected` shape). */
function jsonBody(ctx: HttpContext, reply: Reply, item: IngestItem, expected: string): { doc: unknown } | undefined {
  try {
    return { doc: JSON.parse(Buffer.from(item.payload).toString('utf8')) };
  } catch {
    refuse(ctx, reply, badRequest(`body must be JSON: ${expected}`));
    return undefined;
  }
}

/** POST /api/v1/admin/devices {"device_id", "role"?: "device" | "subscriber"} → 201 with the key. */
export function registerDevice(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(
      ctx,
      res,
      req,
      (reply, item) => {
        const parsed = jsonBody(ctx, reply, item, '{"device_id": "...", "role"?: "device" | "subscriber"}');
        if (parsed === undefined) return;
        const body = parsed.doc as { device_id?: unknown; role?: unknown } | null;
        const id = body?.device_id;
        const role = body?.role ?? 'device';
        if (role !== 'device' && role !== 'subscriber') return refuse(ctx, reply, badRequest('role must be "device" or "subscriber"'));
        const refused = identityIdRefusal(id, role, 'device_id');
        if (refused !== undefined || typeof id !== 'string') return refuse(ctx, reply, badRequest(refused ?? 'device_id must be a string'));
        ctx.auth.store.hashOf(id).then(async (existing) => {
          if (existing) return refuse(ctx, reply, new IngestError(ErrorCode.DUPLICATE, 'Already registered', `${id} has a key; rotate or revoke it`));
          const key = await ctx.auth.issueKey(id, role);
          ctx.log.info({ device_id: id, role }, 'admin: key issued');
          reply.json('201 Created', { message: 'Registered; the key is shown only now', device_id: id, role, api_key: key });
        }).catch((err: unknown) => internalError(ctx, reply, err));
      },
      { access: 'admin' },
    );
}

/**
 * POST /api/v1/admin/keys/import {"keys": [{"device_id", "key", "role"?}]} → 200 with the count:
 * keys issued elsewhere, stored hashed; each replaces its identity's key on every instance.
 * Nothing is stored unless every entry is valid.
 */
export function importKeysRoute(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(
      ctx,
      res,
      req,
      (reply, item) => {
        const parsed = jsonBody(ctx, reply, item, '{"keys": [{"device_id", "key", "role"?}, ...]}');
        if (parsed === undefined) return;
        const entries = parseKeyImport(parsed.doc);
        if (typeof entries === 'string') return refuse(ctx, reply, badRequest(entries));
        importKeys(ctx.auth.store, entries).then((n) => {
          ctx.log.info({ keys: n }, 'admin: keys imported');
          reply.json('200 OK', { message: 'Imported', imported: n });
        }).catch((err: unknown) => internalError(ctx, reply, err));
      },
      { access: 'admin' },
    );
}

/** POST /api/v1/admin/devices/:id/rotate → a new key; the old one stops working everywhere. */
export function rotateKey(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const id = req.getParameter(0) ?? '';
    receiveItem(
      ctx,
      res,
      req,
      (reply) => {
        ctx.auth.store.lookupId(id).then(async (record) => {
          if (!record) return refuse(ctx, reply, new IngestError(ErrorCode.NOT_FOUND, 'Not found', `${id} has no key`));
          const key = await ctx.auth.issueKey(id, record.role);
          ctx.log.info({ device_id: id }, 'admin: key rotated');
          reply.json('200 OK', { message: 'Rotated; the key is shown only now', device_id: id, role: record.role, api_key: key });
        }).catch((err: unknown) => internalError(ctx, reply, err));
      },
      { access: 'admin' },
    );
  };
}

/** A body-less admin route on /api/v1/admin/devices/:id: the token checked, then `work` with the id. */
function adminById(ctx: HttpContext, work: (reply: Reply, id: string) => Promise<void>) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const reply = new Reply(res);
    const refused = adminRefusal(ctx, req.getHeader('authorization'));
    if (refused) return refuse(ctx, reply, refused);
    work(reply, req.getParameter(0) ?? '').catch((err: unknown) => internalError(ctx, reply, err));
  };
}

/** DELETE /api/v1/admin/devices/:id → revoked (its key, and JWTs issued before now). */
export function revokeDevice(ctx: HttpContext) {
  return adminById(ctx, async (reply, id) => {
    const had = await ctx.auth.revoke(id);
    ctx.log.info({ device_id: id, had_key: had }, 'admin: revoked');
    reply.json('200 OK', { message: 'Revoked', device_id: id, had_key: had });
  });
}

/** GET /api/v1/admin/devices/:id → its role and when its key was issued (never the key). */
export function getDevice(ctx: HttpContext) {
  return adminById(ctx, async (reply, id) => {
    const record = await ctx.auth.store.lookupId(id);
    if (!record) return refuse(ctx, reply, new IngestError(ErrorCode.NOT_FOUND, 'Not found', `${id} has no key`));
    reply.json('200 OK', { device_id: id, role: record.role, key_created_at: record.created_at });
  });
}
