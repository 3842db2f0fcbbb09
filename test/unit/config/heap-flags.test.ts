/**
 * The young generation's size (src/config/heap-flags.ts): told apart on the command line and in
 * NODE_OPTIONS, given to workers unless set, and the one value everywhere a server is started
 * (the Dockerfile's NODE_OPTIONS, `npm start`). Under Node: a process started with the flag the
 * way the Dockerfile does has the larger new space.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SEMI_SPACE_FLAG, SEMI_SPACE_MB, semiSpaceSet, workerExecArgv } from '../../../src/config/heap-flags.ts';

const ROOT = path.resolve(import.meta.dir, '../../..');

describe('semi-space flag', () => {
  test('is seen on the command line and in NODE_OPTIONS, in either spelling', () => {
    expect(semiSpaceSet([], '')).toBe(false);
    expect(semiSpaceSet(['--max-semi-space-size=32'], '')).toBe(true);
    expect(semiSpaceSet(['--max_semi_space_size=8'], '')).toBe(true);
    expect(semiSpaceSet([], '--enable-source-maps  --max-semi-space-size=128')).toBe(true);
    expect(semiSpaceSet(['--max-old-space-size=512'], '--max-old-space-size=1')).toBe(false);
  });

  test('workers get it unless the operator chose a size', () => {
    expect(workerExecArgv(['--enable-source-maps'], '')).toEqual(['--enable-source-maps', SEMI_SPACE_FLAG]);
    expect(workerExecArgv(['--max-semi-space-size=16'], '')).toEqual(['--max-semi-space-size=16']);
    expect(workerExecArgv([], '--max-semi-space-size=16')).toEqual([]);
  });

  test('the Dockerfile and npm start use the same flag', () => {
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`^\\s*NODE_OPTIONS=${SEMI_SPACE_FLAG}\\s*$`, 'm'));
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`node ${SEMI_SPACE_FLAG} `);
  });

  test('NODE_OPTIONS sizes the new space of a Node process', () => {
    const newSpaceMiB = (nodeOptions: string): number => {
      // a young generation whose objects survive grows to its maximum (both semi-spaces reported)
      const script = "let k=[];for(let i=0;i<2e6;i++){k.push({i,s:'x'+i});if(k.length>200000)k=[]}const s=require('v8').getHeapSpaceStatistics().find(x=>x.space_name==='new_space');console.log(s.space_size/1048576)";
      const r = spawnSync('node', ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions } });
      expect(r.status).toBe(0);
      return Number(r.stdout.trim());
    };
    const sized = newSpaceMiB(SEMI_SPACE_FLAG);
    expect(sized).toBeGreaterThanOrEqual(SEMI_SPACE_MB);
    expect(sized).toBeGreaterThan(newSpaceMiB(''));
  }, 20_000);
});
