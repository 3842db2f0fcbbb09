/**
 * The HTTP and MQTT integration suites on a real Redis Cluster (3 primaries, 3 replicas on
 * loopback), with one stream (STREAM_SHARDS=1: `sensor-data`, as the platform reads it) and
 * with six (`sensor-data:{0-0}` … `sensor-data:{5-1}`, two on each primary). Each suite has a cluster
 * of its own, started in its describe's beforeAll.
 */
import { describe } from 'bun:test';
import { httpIngestSuite } from '../integration/http-ingest.suite.ts';
import { mqttIngestSuite } from '../integration/mqtt-ingest.suite.ts';

for (const shards of [1, 6]) {
  const label = `cluster, ${shards} shard${shards > 1 ? 's' : ''} - `;
  describe(`${label}http`, () => httpIngestSuite(label, { cluster: { shards } }));
  describe(`${label}mqtt`, () => mqttIngestSuite(label, { cluster: { shards } }));
}
