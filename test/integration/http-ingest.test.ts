import { httpIngestSuite } from './http-ingest.suite.ts';

httpIngestSuite();
