/** PINGREQ → PINGRESP [MQTT-3.12.4-1]. */
import type { MqttConnection } from '../connection.ts';

export function handlePingreq(c: MqttConnection): void {
  c.send({ cmd: 'pingresp' });
}
