/** Duplicate keys in JSON text, against a reference that counts keys per object by hand. */
import { describe, expect, test } from 'bun:test';
import { duplicateKey, keysAndElements, keysInValue, NO_ELEMENTS, repeatedKey } from '../../../src/core/json-keys.ts';
import { parseJson, parseJsonBatch } from '../../../src/core/decode.ts';

const KEYS = ['a', 'b', 'device_id', 'x"y', 'é', 'a\\u0062'];
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;

/** Random JSON text built by hand (so keys may repeat) and whether any object repeats a key. */
function gen(depth: number): { text: string; dup: boolean } {
  const r = Math.random();
  if (depth > 3 || r < 0.3) return { text: pick(['1', '"s"', '"{\\"a\\":1,\\"a\\":2}"', 'null', 'true', '"]"', '","']), dup: false };
  if (r < 0.5) {
    const items = Array.from({ length: Math.floor(Math.random() * 3) }, () => gen(depth + 1));
    return { text: `[${items.map((i) => i.text).join(',')}]`, dup: items.some((i) => i.dup) };
  }
  const n = Math.floor(Math.random() * 4);
  const seen = new Set<string>();
  let dup = false;
  const parts: string[] = [];
  for (let k = 0; k < n; k++) {
    const raw = pick(KEYS);
    const key = JSON.parse(`"${raw.replace('"', '\\"')}"`) as string;
    if (seen.has(key)) dup = true;
    seen.add(key);
    const v = gen(depth + 1);
    dup ||= v.dup;
    parts.push(`"${raw.replace('"', '\\"')}" : ${v.text}`);
  }
  return { text: `{ ${parts.join(' , ')} }`, dup };
}

describe('json duplicate keys', () => {
  test('json keys - a repeated key in any object is found, escapes decoded ("ab" = "a\\u0062"); strings that look like JSON are not keys', () => {
    for (let i = 0; i < 5000; i++) {
      const { text, dup } = gen(0);
      JSON.parse(text); // the generator makes valid JSON
      expect([text, duplicateKey(text) !== undefined]).toEqual([text, dup]);
      // the cheap count agrees with the naming scan on every text
      expect([text, repeatedKey(text, JSON.parse(text)) !== undefined]).toEqual([text, dup]);
    }
  });

  test('json keys - the count: colons outside strings, escaped quotes and backslash runs inside them, nested values', () => {
    const texts = ['{"a":1}', '{"a\\\\":":","b\\"c:":"\\\\"}', '[{"x":{"y":[1,{"z":"a:b"}]}},{}]', '"s:t"', '{"__proto__":{"a":1}}', '{ "a" : 1 , "b" : [ ":" ] }'];
    for (const t of texts) expect([t, keysAndElements(t, NO_ELEMENTS)]).toEqual([t, keysInValue(JSON.parse(t))]);
    expect(repeatedKey('{"a":":","a":1}', JSON.parse('{"a":":","a":1}'))).toBe('a');
  });

  test('json keys - nesting deeper than the count recurses is decided by the iterative scan, either way', () => {
    const deep = (inner: string) => '{"a":'.repeat(5000) + inner + '}'.repeat(5000);
    expect(repeatedKey(deep('1'), JSON.parse(deep('1')))).toBeUndefined();
    const dup = deep('{"b":1,"b":2}');
    expect(repeatedKey(dup, JSON.parse(dup))).toBe('b');
  });

  test('json keys - the finding that matters: device_id twice is malformed (400), whichever value would win', () => {
    const v = parseJson('{"device_id":"dev-b","timestamp":"2026-01-01T00:00:00Z","device_id":"dev-a"}');
    expect(v).toBeInstanceOf(Error);
    expect(String((v as Error & { details?: string }).details ?? (v as Error).message)).toContain('device_id');
    expect(parseJson('{"device_id":"dev-a","sensors":{"pir":{"motion":true}}}')).toEqual({ device_id: 'dev-a', sensors: { pir: { motion: true } } });
    // the same key in two different objects is fine
    expect(parseJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe('json - a batch body and its elements\' text', () => {
  test('json - each object element of an array is found from its opening to its closing brace; other elements have none', () => {
    for (let run = 0; run < 300; run++) {
      const items = Array.from({ length: 1 + Math.floor(Math.random() * 5) }, () => gen(1).text);
      const text = ` [ ${items.join(' ,\n ')} ] `;
      const parsed = parseJsonBatch(text);
      const dup = parseJson(text);
      if (dup instanceof Error) {
        expect(parsed).toBeInstanceOf(Error);
        continue;
      }
      if (parsed instanceof Error) throw parsed;
      const values = parsed.value as unknown[];
      expect(parsed.elements).toHaveLength(2 * values.length);
      values.forEach((v, i) => {
        const [start, end] = [parsed.elements![2 * i]!, parsed.elements![2 * i + 1]!];
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
          expect(text.slice(start, end)).toBe(items[i]!.trim());
          expect(JSON.parse(text.slice(start, end))).toEqual(v);
        } else expect([start, end]).toEqual([0, 0]);
      });
    }
  });

  test('json - braces, commas and escaped quotes inside strings do not move an element\'s bounds', () => {
    const a = '{"device_id":"a,}{","note":"\\"},{\\\\","n":[1,{"x":"]"}]}';
    const b = '{"device_id":"b"}';
    const parsed = parseJsonBatch(`[${a},"{}",3,${b}]`);
    if (parsed instanceof Error) throw parsed;
    const text = `[${a},"{}",3,${b}]`;
    const e = parsed.elements!;
    expect(text.slice(e[0], e[1])).toBe(a);
    expect([e[2], e[3], e[4], e[5]]).toEqual([0, 0, 0, 0]);
    expect(text.slice(e[6], e[7])).toBe(b);
  });

  test('json - one object is no array: no elements; a repeated key in any element refuses the body', () => {
    const one = parseJsonBatch('{"device_id":"a"}');
    if (one instanceof Error) throw one;
    expect(one.elements).toBeUndefined();
    const dup = parseJsonBatch('[{"a":1},{"b":1,"b":2}]');
    expect(dup).toBeInstanceOf(Error);
    expect((dup as { details: string }).details).toContain('key "b" appears twice');
    expect(parseJsonBatch('[{"a":1},')).toBeInstanceOf(Error);
  });
});
