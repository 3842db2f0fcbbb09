/**
 * The built-in console's files, embedded in the bundle (and so in the single binary): each
 * `with { type: 'text' }` import becomes a string at build time (scripts/bundle.mjs; Bun
 * loads them the same way for the tests), so nothing is read from disk at run time. The
 * charts are uPlot's own minified build, served as it is published.
 * @module
 */
import { createHash } from 'node:crypto';
import uplotJs from 'uplot/dist/uPlot.iife.min.js' with { type: 'text' };
import uplotCss from 'uplot/dist/uPlot.min.css' with { type: 'text' };
import consoleCss from './console.css' with { type: 'text' };
import consoleJs from './console.js' with { type: 'text' };
import indexHtml from './index.html' with { type: 'text' };
import promJs from './prom.js' with { type: 'text' };

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator of the bytes (quoted, as sent in the ETag header). */
  readonly etag: string;
}

function asset(text: string, contentType: string): ConsoleAsset {
  const body = Buffer.from(text, 'utf8');
  return Object.freeze({ body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The page served at `/`. */
// Bun's types say an .html import is an HTMLBundle (its dev server's); with type 'text' it is a string
export const consoleIndex: ConsoleAsset = asset(indexHtml as unknown as string, 'text/html; charset=utf-8');

/** The files under `/console/<name>`. */
export const consoleFiles: ReadonlyMap<string, ConsoleAsset> = new Map([
  ['console.js', asset(consoleJs, JS)],
  ['prom.js', asset(promJs, JS)],
  ['console.css', asset(consoleCss, CSS)],
  ['uPlot.iife.min.js', asset(uplotJs, JS)],
  ['uPlot.min.css', asset(uplotCss, CSS)],
]);
