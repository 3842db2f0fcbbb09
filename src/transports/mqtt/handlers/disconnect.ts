/** DISCONNECT from the client: close cleanly [MQTT-3.14.4-1]. */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';

export function handleDisconnect(c: MqttConnection, _p: IDisconnectPacket): void {
  c.state = 'closed';
  c.socket.end();
}
