/**
 * The one place where an ingest error code becomes an MQTT answer (MQTT 5 §2.4 reason codes;
 * MQTT 3.1.1 has none for PUBACK, so there the refusal is the rejects stream and the metric).
 * @module
 */
import { ErrorCode } from '../../core/errors.ts';

export const Reason = {
  success: 0x00,
  noMatchingSubscribers: 0x10,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecificError: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicNameInvalid: 0x90,
  packetIdentifierInUse: 0x91,
  packetIdentifierNotFound: 0x92,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  receiveMaximumExceeded: 0x93,
  topicFilterInvalid: 0x8f,
  noSubscriptionExisted: 0x11,
  sharedSubscriptionsNotSupported: 0x9e,
  subscriptionIdentifiersNotSupported: 0xa1,
  messageRateTooHigh: 0x96,
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export const NO_ACK = 'no-ack' as const;

/**
 * What a QoS 1/2 PUBLISH gets for a refused reading: a reason code (acknowledged as handled,
 * not stored), or NO_ACK when the reading could not be stored *yet* (queue down, saturated,
 * draining): the acknowledgement is held so the device keeps it and resends it [DESIGN §2].
 */
export const publishAnswer: Record<ErrorCode, Reason | typeof NO_ACK> = {
  INGEST_ERR_INVALID_READING: Reason.payloadFormatInvalid,
  INGEST_ERR_MALFORMED_PAYLOAD: Reason.payloadFormatInvalid,
  INGEST_ERR_INVALID_BATCH: Reason.payloadFormatInvalid,
  INGEST_ERR_INVALID_METADATA: Reason.payloadFormatInvalid,
  INGEST_ERR_INVALID_QUERY: Reason.implementationSpecificError,
  // already stored: the device may forget it
  INGEST_ERR_DUPLICATE: Reason.success,
  INGEST_ERR_PAYLOAD_TOO_LARGE: Reason.packetTooLarge,
  INGEST_ERR_UNSUPPORTED_MEDIA_TYPE: Reason.payloadFormatInvalid,
  INGEST_ERR_NOT_FOUND: Reason.topicNameInvalid,
  INGEST_ERR_METHOD_NOT_ALLOWED: Reason.implementationSpecificError,
  INGEST_ERR_QUEUE_UNAVAILABLE: NO_ACK,
  INGEST_ERR_QUEUE_SATURATED: NO_ACK,
  INGEST_ERR_SHUTTING_DOWN: NO_ACK,
  INGEST_ERR_TOO_MANY_CONNECTIONS: NO_ACK,
  INGEST_ERR_UNAUTHENTICATED: Reason.notAuthorized,
  INGEST_ERR_AUTH_UNAVAILABLE: NO_ACK,
  INGEST_ERR_FORBIDDEN: Reason.notAuthorized,
  INGEST_ERR_RATE_LIMITED: Reason.quotaExceeded,
  INGEST_ERR_INTERNAL: NO_ACK,
};
