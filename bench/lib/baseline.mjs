// An earlier tree's server bundle, for benchmarks that run it beside this tree's in the same run
// (same machine, same minutes: the only fair comparison on two shared cores).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.mjs';

/**
 * Bundles `ref`'s server into `dir` (its src/, scripts/ and package.json taken with `git archive`,
 * this tree's node_modules linked: a ref whose dependencies differ needs its own install) with
 * that ref's own scripts/bundle.mjs. Returns the bundle's path and the ref's short commit.
 * @returns {{ file: string, commit: string, nodeOptions: string }} nodeOptions: what the ref's Dockerfile sets
 */
export function bundleRef(ref, dir) {
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT, encoding: 'utf8' }).trim();
  fs.mkdirSync(dir, { recursive: true });
  const archive = spawnSync('sh', ['-c', `git archive ${JSON.stringify(ref)} src scripts package.json | tar -x -C ${JSON.stringify(dir)}`], { cwd: ROOT, encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr}`);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const built = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: dir, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`bundling ${ref}: ${built.stderr}`);
  const dockerfile = spawnSync('git', ['show', `${ref}:Dockerfile`], { cwd: ROOT, encoding: 'utf8' }).stdout ?? '';
  return { file: path.join(dir, 'dist/neurobuild-ingest.cjs'), commit, nodeOptions: deployedNodeOptions(dockerfile) };
}

/** The NODE_OPTIONS a Dockerfile's ENV sets ('' when none): a server is measured as it is deployed. */
export function deployedNodeOptions(dockerfile) {
  return dockerfile.match(/^\s*(?:ENV\s+)?NODE_OPTIONS=("[^"]*"|\S*)/m)?.[1].replace(/^"|"$/g, '') ?? '';
}

/** This tree's HEAD, short, with "+ uncommitted changes" when src/ differs from it. */
export function thisTree() {
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  return `${head}${dirty ? ' + uncommitted changes' : ''}`;
}
