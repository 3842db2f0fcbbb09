/**
 * Deployment files (Dockerfile, docker-compose.yml, deploy/) against the server itself: every
 * YAML and JSON file parses, probes and ports are the server's real routes and defaults, alert
 * and dashboard queries name metrics the server exports, and promtool accepts the rules.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parseAllDocuments } from 'yaml';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { apiRoutes } from '../../src/transports/http/server.ts';
import type { HttpContext } from '../../src/transports/http/context.ts';

const ROOT = resolve(import.meta.dir, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const defaults = Value.Default(ConfigSchema, {}) as Record<string, unknown>;

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}
/** A parsed YAML/JSON document: untyped on purpose, the assertions say what must be there. */
type Doc = any;
function yamlDocs(p: string): Doc[] {
  const docs = parseAllDocuments(read(p));
  for (const d of docs) expect(d.errors.map((e) => `${p}: ${e.message}`)).toEqual([]);
  return docs.map((d) => d.toJS());
}

const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 });
const metricNames = new Set(
  metrics.registry
    .getMetricsAsArray()
    .flatMap((m) => (String(m.type) === 'histogram' ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])),
);
const routes = apiRoutes({ metricsPath: defaults.METRICS_PATH, metrics, scrapeMetrics: metrics.scrape, auth: { enabled: false } } as unknown as HttpContext);
const getPaths = new Set(routes.filter((r) => r.method === 'get').map((r) => r.path));

describe('deploy files', () => {
  test('every YAML and JSON file under deploy/ and docker-compose.yml parses', () => {
    const all = [...files('deploy'), 'docker-compose.yml', 'docker-compose.cluster.yml'];
    const yamls = all.filter((f) => /\.ya?ml$/.test(f));
    const jsons = all.filter((f) => f.endsWith('.json'));
    expect(yamls.length).toBeGreaterThanOrEqual(8);
    expect(jsons.length).toBeGreaterThanOrEqual(1);
    for (const f of yamls) expect(yamlDocs(f).length).toBeGreaterThan(0);
    for (const f of jsons) expect(() => JSON.parse(read(f))).not.toThrow();
  });

  test('Kubernetes Deployment: probes on real routes, ports are the defaults, drain fits the grace period', () => {
    const [dep] = yamlDocs('deploy/k8s/deployment.yaml');
    expect(dep.kind).toBe('Deployment');
    const spec = dep.spec.template.spec;
    const c = spec.containers[0];
    const ports = Object.fromEntries(c.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(ports).toEqual({ http: defaults.PORT, websocket: defaults.WS_PORT, mqtt: defaults.MQTT_PORT, metrics: defaults.METRICS_PORT });
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      expect(getPaths.has(probe.httpGet.path)).toBe(true);
      expect(probe.httpGet.port).toBe('http');
    }
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    expect(c.resources.requests.cpu && c.resources.limits.memory).toBeTruthy();
    const env = Object.fromEntries(c.env.map((e: Doc) => [e.name, e.value]));
    for (const name of Object.keys(env)) expect(name in ConfigSchema.properties || name === 'NODE_ENV').toBe(true);
    const preStopSeconds = Number(c.lifecycle.preStop.exec.command[1]);
    const drainSeconds = Number(env.SHUTDOWN_TIMEOUT_MS ?? defaults.SHUTDOWN_TIMEOUT_MS) / 1000;
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + drainSeconds);
    expect(dep.metadata.annotations?.['prometheus.io/port'] ?? dep.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(defaults.METRICS_PORT));
  });

  test('Kubernetes Service, HPA and PDB select the Deployment and use its named ports', () => {
    const [dep] = yamlDocs('deploy/k8s/deployment.yaml');
    const labels = dep.spec.template.metadata.labels;
    const named = new Set(dep.spec.template.spec.containers[0].ports.map((p: Doc) => p.name));
    const [svc] = yamlDocs('deploy/k8s/service.yaml');
    expect(svc.spec.selector).toEqual(labels);
    expect(svc.spec.ports.map((p: Doc) => p.name).sort()).toEqual(['http', 'metrics', 'mqtt', 'websocket']);
    for (const p of svc.spec.ports) expect(named.has(p.targetPort)).toBe(true);
    const [hpa] = yamlDocs('deploy/k8s/hpa.yaml');
    expect(hpa.spec.scaleTargetRef.name).toBe(dep.metadata.name);
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([3, 10]);
    const targets = Object.fromEntries(hpa.spec.metrics.map((m: Doc) => [m.resource.name, m.resource.target.averageUtilization]));
    expect(targets).toEqual({ cpu: 70, memory: 80 });
    const [pdb] = yamlDocs('deploy/k8s/pdb.yaml');
    expect(pdb.kind).toBe('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
  });

  test('docker-compose: Redis with the append-only file, optional Mosquitto, the service on the default ports', () => {
    const [compose] = yamlDocs('docker-compose.yml');
    expect(compose.services.redis.command).toContain('--appendonly');
    expect(compose.services.redis.command[compose.services.redis.command.indexOf('--appendonly') + 1]).toBe('yes');
    expect(compose.services.mosquitto.profiles).toEqual(['bridge']);
    const svc = compose.services['data-ingestion'];
    const published = svc.ports.map((p: string) => Number(p.split(':')[1]));
    expect(published).toEqual(expect.arrayContaining([defaults.PORT, defaults.WS_PORT, defaults.MQTT_PORT, defaults.METRICS_PORT]));
    expect(svc.environment.REDIS_HOST).toBe('redis');
  });

  test('Dockerfile: two stages, non-root runtime with only the binary, HEALTHCHECK on /health, the ports exposed', () => {
    const df = read('Dockerfile');
    expect(df).toMatch(/^FROM node:20-bookworm AS build$/m);
    expect(df).toMatch(/^FROM debian:bookworm-slim$/m);
    expect(df).toMatch(/^USER 10001:10001$/m);
    expect(df).toMatch(/^HEALTHCHECK .*\n\s+CMD \["\/usr\/local\/bin\/neurobuild-ingest", "healthcheck"\]/m);
    const exposed = df.match(/^EXPOSE (.*)$/m)![1]!.split(/\s+/).map(Number);
    expect(exposed.sort()).toEqual([defaults.MQTT_PORT, defaults.MQTT_TLS_PORT, defaults.PORT, defaults.WS_PORT, defaults.METRICS_PORT].sort() as number[]);
    expect(df.match(/^COPY --from=build (\S+)/m)?.[1]).toBe('/src/dist/neurobuild-ingest');
  });

  test('alert rules and dashboard query only metrics the server exports', () => {
    const [rules] = yamlDocs('deploy/monitoring/alerts.yml');
    const alerts = rules.groups.flatMap((g: Doc) => g.rules);
    expect(alerts.map((r: Doc) => r.alert)).toEqual(expect.arrayContaining(['HighErrorRate', 'QueueBacklog', 'QueueShardBacklog', 'ServiceDown', 'IngestBackpressure', 'SlowRedisRoundTrip']));
    const dashboard = JSON.parse(read('deploy/monitoring/grafana-dashboard.json'));
    const exprs = [...alerts.map((r: Doc) => r.expr), ...dashboard.panels.flatMap((p: Doc) => p.targets.map((t: Doc) => t.expr))];
    const used = new Set(exprs.flatMap((e: string) => e.match(/\b[a-z_]+(?=\{|\[)/g) ?? []).filter((n: string) => !['rate', 'sum', 'max', 'min', 'by', 'up'].includes(n)));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect(`${name}: ${metricNames.has(name)}`).toBe(`${name}: true`);
    const titles = dashboard.panels.map((p: Doc) => p.title.toLowerCase()).join(' | ');
    for (const t of ['ingestion rate', 'error rate', 'p95', 'active connections', 'queue size', 'per shard']) expect(titles).toContain(t);
  });

  const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
  test.skipIf(!promtool)('promtool check rules and config (Debian package prometheus)', () => {
    const rules = spawnSync('promtool', ['check', 'rules', 'deploy/monitoring/alerts.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(rules.stdout + rules.stderr).toContain('SUCCESS');
    expect(rules.status).toBe(0);
    const config = spawnSync('promtool', ['check', 'config', 'deploy/monitoring/prometheus.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(config.status).toBe(0);
    // the rules' own unit tests (alerts.test.yml): the per-shard backlog fires on a shard stream's name
    const unit = spawnSync('promtool', ['test', 'rules', 'deploy/monitoring/alerts.test.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(unit.stdout + unit.stderr).toContain('SUCCESS');
    expect(unit.status).toBe(0);
  });
  test('gateway: nginx and Kong send each protocol to the server\'s default port, set X-Forwarded-For on every proxied location, PROXY protocol on MQTT', () => {
    const nginx = read('deploy/gateway/nginx.conf');
    const upstreams = [...nginx.matchAll(/server data-ingestion:(\d+);/g)].map((m) => Number(m[1]));
    expect(upstreams).toEqual([defaults.PORT, defaults.WS_PORT, defaults.MQTT_PORT, defaults.MQTT_TLS_PORT].map(Number));
    // nginx inherits proxy_set_header only into locations that set none: each proxied location sets X-Forwarded-For itself
    const locations = [...nginx.matchAll(/location ([^{]+)\{([^}]*)\}/g)];
    expect(locations.length).toBe(5);
    for (const [, where, body] of locations) expect(`${where}: ${body!.includes('X-Forwarded-For $proxy_add_x_forwarded_for')}`).toBe(`${where}: true`);
    expect(nginx.match(/proxy_protocol on;/g)?.length).toBe(2);
    for (const path of ['/health', '/ready']) expect(getPaths.has(path)).toBe(true);
    expect(getPaths.has('/ws')).toBe(false);

    const [kong] = yamlDocs('deploy/gateway/kong.yml');
    expect(kong._format_version).toBe('3.0');
    const byName = Object.fromEntries(kong.services.map((svc: Doc) => [svc.name, svc]));
    expect(byName['data-ingestion'].url).toBe(`http://data-ingestion:${defaults.PORT}`);
    expect(byName['data-ingestion-live'].url).toBe(`http://data-ingestion:${defaults.WS_PORT}/`);
    expect(byName['data-ingestion-mqtt-ws'].routes[0].paths).toEqual(['~/mqtt$']);
    for (const [name, port] of [['data-ingestion-mqtt', defaults.MQTT_PORT], ['data-ingestion-mqtts', defaults.MQTT_TLS_PORT]] as const) {
      expect(byName[name]).toMatchObject({ protocol: 'tcp', host: 'data-ingestion', port });
      expect(byName[name].routes[0]).toMatchObject({ protocols: ['tcp'], destinations: [{ port }] });
    }
    expect(read('deploy/gateway/kong.yml')).toContain('KONG_NGINX_SPROXY_PROXY_PROTOCOL=on');
  });
  test('Redis Cluster variants: compose and Kubernetes run init-cluster.sh over six nodes, the ingest instances get settings the server knows, pointing at those nodes', () => {
    const known = (name: string) => name in ConfigSchema.properties || name === 'NODE_ENV';
    // compose: six cluster-mode nodes, the one-shot init over all of them, three ingest instances
    const compose = parseAllDocuments(read('docker-compose.cluster.yml'), { merge: true })[0]!.toJS({}) as Doc;
    const nodes = Object.keys(compose.services).filter((n) => /^redis-\d$/.test(n));
    expect(nodes).toHaveLength(6);
    for (const n of nodes) expect(compose.services[n].command.slice(0, 3)).toEqual(['redis-server', '--cluster-enabled', 'yes']);
    const init = compose.services['redis-cluster-init'];
    expect(init.entrypoint).toEqual(['sh', '/init-cluster.sh']);
    expect(init.command).toEqual(nodes.map((n) => `${n}:6379`));
    expect(init.volumes[0]).toStartWith('./deploy/redis-cluster/init-cluster.sh:');
    const instances = Object.keys(compose.services).filter((n) => n.startsWith('ingest-'));
    expect(instances).toHaveLength(3);
    for (const i of instances) {
      const env = compose.services[i].environment;
      for (const name of Object.keys(env)) expect(`${name}: ${known(name)}`).toBe(`${name}: true`);
      expect(env.REDIS_CLUSTER_NODES.split(',')).toEqual(nodes.map((n) => `${n}:6379`));
      expect(Value.Check(ConfigSchema.properties.STREAM_SHARDS, Number(env.STREAM_SHARDS))).toBe(true);
      expect(compose.services[i].depends_on['redis-cluster-init'].condition).toBe('service_completed_successfully');
    }
    const published = instances.flatMap((i) => compose.services[i].ports.map((p: string) => p.split(':')[0]));
    expect(new Set(published).size).toBe(published.length);

    // Kubernetes: the StatefulSet's pods are the Job's arguments, the ConfigMap is the script, the
    // overlay replaces the base's REDIS_HOST with REDIS_CLUSTER_NODES naming every pod
    const [svc, sts] = yamlDocs('deploy/k8s/redis-cluster/statefulset.yaml');
    expect([svc.kind, svc.spec.clusterIP, sts.kind, sts.spec.serviceName]).toEqual(['Service', 'None', 'StatefulSet', svc.metadata.name]);
    const pods = Array.from({ length: sts.spec.replicas }, (_, i) => `${sts.metadata.name}-${i}.${svc.metadata.name}:6379`);
    expect(pods).toHaveLength(6);
    const [job] = yamlDocs('deploy/k8s/redis-cluster/job.yaml');
    expect(job.spec.template.spec.containers[0].args).toEqual(pods);
    const [cm] = yamlDocs('deploy/k8s/redis-cluster/configmap.yaml');
    expect(cm.metadata.name).toBe(job.spec.template.spec.volumes[0].configMap.name);
    expect(cm.data['init-cluster.sh']).toBe(read('deploy/redis-cluster/init-cluster.sh'));
    const [kz] = yamlDocs('deploy/k8s/redis-cluster/kustomization.yaml');
    expect(kz.resources).toEqual(['configmap.yaml', 'statefulset.yaml', 'job.yaml', '..']);
    const [base] = yamlDocs('deploy/k8s/kustomization.yaml');
    expect(base.resources.sort()).toEqual(['deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'service.yaml']);
    const [dep] = yamlDocs('deploy/k8s/deployment.yaml');
    const ops = parseAllDocuments(kz.patches[0].patch)[0]!.toJS() as Doc[];
    const [testOp, replace, ...adds] = ops;
    expect(testOp).toEqual({ op: 'test', path: '/spec/template/spec/containers/0/env/2/name', value: 'REDIS_HOST' });
    expect(dep.spec.template.spec.containers[0].env[2].name).toBe('REDIS_HOST');
    expect(replace.value).toEqual({ name: 'REDIS_CLUSTER_NODES', value: pods.join(',') });
    for (const a of adds) expect(`${a.value.name}: ${known(a.value.name)}`).toBe(`${a.value.name}: true`);
  });
});
