/**
 * What a device id may be: the one rule for readings (the schema), topics, the fleet state, the
 * admin API and every credential that names a device (API key registration, JWT `sub`,
 * certificate CN). Letters, digits, `_` and `-`, 1 to 64 characters: safe in an MQTT topic level,
 * a Redis key and a URL path without escaping. Identities of other roles (subscribers) follow the
 * looser auth/identity.ts IDENTITY_ID_PATTERN.
 * @module
 */
export const DEVICE_ID_MAX_LENGTH = 64;
/** The rule as a JSON Schema / TypeBox `pattern`, the length checked by maxLength beside it. */
export const DEVICE_ID_PATTERN = '^[a-zA-Z0-9_-]+$';
/** The rule with its length, for messages and for code without a schema. */
export const DEVICE_ID_RULE = `^[a-zA-Z0-9_-]{1,${DEVICE_ID_MAX_LENGTH}}$`;
const DEVICE_ID = new RegExp(DEVICE_ID_RULE);

/** Whether `id` is a well-formed device id. */
export function validDeviceId(id: string): boolean {
  return DEVICE_ID.test(id);
}
