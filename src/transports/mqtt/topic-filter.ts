/**
 * MQTT topic filters: validity [MQTT-4.7.1] and matching with `+` and `#`, including the
 * rule that wildcards at the first level do not match topics starting with `$` [MQTT-4.7.2-1].
 * @module
 */

/** `#` only last and alone in its level, `+` alone in its level, not empty [MQTT-4.7.1-1..3]. */
export function validFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return false;
    if (l.includes('+') && l !== '+') return false;
  }
  return true;
}

export function matches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    // `a/#` also matches `a` itself [MQTT-4.7.1-2]
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
