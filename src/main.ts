/**
 * Entry of the binary: parse the command line, load the config, dispatch.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
 * @module
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { helpText, parseCommandLine, UsageError } from './cli/args.ts';
import { isSingleExecutable, runPrimary } from './cli/cluster.ts';
import { consume, ConsumeUsageError } from './cli/consume.ts';
import { dlq } from './cli/dlq.ts';
import { healthcheck } from './cli/healthcheck.ts';
import { keys } from './cli/keys.ts';
import { rejects } from './cli/rejects.ts';
import { serve } from './cli/serve.ts';
import { configuredSensorTypes } from './cli/sensor-types.ts';
import { VERSION } from './cli/version.ts';
import { ConfigError, loadConfig, workerCount } from './config/load.ts';
import { checkServeTls } from './config/tls-files.ts';
import { sinks } from './consumer/sinks/index.ts';
import { createLogger } from './log/logger.ts';

function fail(message: string, code: number): never {
  process.stderr.write(`neurobuild-ingest: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let args;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError) fail(err.message, 2);
    throw err;
  }
  if (args.help) {
    process.stdout.write(helpText(VERSION) + '\n');
    return;
  }
  if (args.version) {
    process.stdout.write(VERSION + '\n');
    return;
  }
  let config;
  try {
    config = loadConfig(process.env, args.settings);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  // HTTPS/WSS certificate files: readable and a pair, else refused like any other bad setting
  if (args.command === 'serve') {
    try {
      checkServeTls(config);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      throw err;
    }
  }
  // SENSOR_TYPES_DIR: read and compiled now, so that a bad schema file is refused like any other bad setting
  if (args.command === 'serve' || args.command === 'consume' || args.command === 'rejects') {
    try {
      configuredSensorTypes(config);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      throw err;
    }
  }
  const log = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  switch (args.command) {
    case 'serve':
      try {
        const workers = workerCount(config, availableParallelism());
        if (workers > 1 && cluster.isPrimary) await runPrimary(config, log, workers);
        else await serve(config, log);
      } catch (err) {
        log.fatal({ err }, `cannot start: ${(err as Error).message}`);
        log.flush();
        process.exit(1);
      }
      return;
    case 'healthcheck':
      process.exit(await healthcheck(config));
    case 'consume':
    case 'dlq':
      try {
        if (args.command === 'consume') await consume(config, log, sinks, args.rest[0]);
        else await dlq(config, args.rest, (line) => process.stdout.write(line + '\n'));
      } catch (err) {
        if (err instanceof ConsumeUsageError) fail(err.message, 2);
        log.fatal({ err }, `${args.command} failed: ${(err as Error).message}`);
        log.flush();
        process.exit(1);
      }
      return;
    case 'rejects':
      try {
        process.exit(await rejects(config, args.rest, args.options, (line) => process.stdout.write(line + '\n')));
      } catch (err) {
        if (err instanceof ConsumeUsageError || err instanceof ConfigError) fail(err.message, 2);
        fail(`rejects failed: ${(err as Error).message}`, 1);
      }
    case 'keys':
      try {
        process.exit(await keys(config, args.rest, (line) => process.stdout.write(line + '\n')));
      } catch (err) {
        if (err instanceof ConsumeUsageError) fail(err.message, 2);
        fail(`keys failed: ${(err as Error).message}`, 1);
      }
    default:
      fail(`unknown command "${args.command}" (see --help)`, 2);
  }
}

/**
 * The command-line arguments. A worker of the single executable is started by the cluster
 * module as `<binary> <exec> ...args` with exec = the binary itself (see cli/cluster.ts): skip it.
 */
function commandLine(): string[] {
  const argv = process.argv.slice(2);
  if (cluster.isWorker && isSingleExecutable() && argv[0] === process.execPath) argv.shift();
  return argv;
}

main(commandLine()).catch((err: unknown) => fail(`unexpected error: ${(err as Error)?.stack ?? err}`, 1));
