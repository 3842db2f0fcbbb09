import { mqttIngestSuite } from './mqtt-ingest.suite.ts';

mqttIngestSuite();
