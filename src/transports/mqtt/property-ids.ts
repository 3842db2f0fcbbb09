/** MQTT 5 property identifiers of PUBLISH (MQTT 5 §2.2.2.2), for the hand-written PUBLISH decoder and encoder. */
export const PropertyId = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionIdentifier: 0x0b,
  topicAlias: 0x23,
  userProperty: 0x26,
} as const;
