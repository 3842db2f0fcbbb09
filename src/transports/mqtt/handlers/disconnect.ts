/** DISCONNECT from the client: close cleanly, discarding the will [MQTT-3.14.4-3] unless v5 asked for it (0x04). */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';

const DISCONNECT_WITH_WILL = 0x04;

export function handleDisconnect(c: MqttConnection, p: IDisconnectPacket): void {
  c.disconnectedByClient(c.protocolVersion === 5 && p.reasonCode === DISCONNECT_WITH_WILL);
}
