/**
 * Three instances on the test Redis Cluster (3 primaries, 3 replicas) as one MQTT broker:
 * mqtt-instances.suite.ts. The control plane's keys share the `{mqtt}` tag (one slot); inboxes
 * and client-id claims are spread over the slots by instance and by client id.
 */
import { mqttInstancesSuite } from '../integration/mqtt-instances.suite.ts';

mqttInstancesSuite('cluster - ', { cluster: { shards: 1 } });
