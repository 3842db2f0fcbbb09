/**
 * The HTTP and MQTT integration suites on a real Redis Cluster (3 primaries, 3 replicas on
 * loopback), with six shards and, with CLUSTER_LONG=1, also one stream (STREAM_SHARDS=1:
 * `sensor-data`, as the platform reads it); six (`sensor-data:{0-0}` … `sensor-data:{5-1}`, two on each primary). Each suite has a cluster
 * of its own, started in its describe's beforeAll.
 */
import { describe } from 'bun:test';
import { httpIngestSuite } from '../integration/http-ingest.suite.ts';
import { mqttIngestSuite } from '../integration/mqtt-ingest.suite.ts';

// npm test: six shards (the layout with hash tags, every primary busy); `npm run test:cluster-long`
// (CLUSTER_LONG=1) adds one shard, whose plain `sensor-data` name on Cluster the contract, SDK, CLI
// and MQTT-instances files cover in npm test as well
const SHARDS = process.env.CLUSTER_LONG === '1' ? [1, 6] : [6];

for (const shards of SHARDS) {
  const label = `cluster, ${shards} shard${shards > 1 ? 's' : ''} - `;
  describe(`${label}http`, () => httpIngestSuite(label, { cluster: { shards } }));
  describe(`${label}mqtt`, () => mqttIngestSuite(label, { cluster: { shards } }));
}
