/** Three instances on one redis-server as one MQTT broker: mqtt-instances.suite.ts. */
import { mqttInstancesSuite } from './mqtt-instances.suite.ts';

mqttInstancesSuite();
