/*
 * The console's arithmetic on Prometheus text, with no DOM: parse an exposition, add up a
 * family, turn two scrapes into rates, and a histogram's buckets into a quantile (as
 * PromQL's histogram_quantile does). A classic script: it defines globalThis.NbProm, which
 * console.js uses in the browser and the unit tests use under Bun.
 */
(function () {
  'use strict';

  var LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

  function unescape(v) {
    return v.replace(/\\(["\\n])/g, function (_, c) {
      return c === 'n' ? '\n' : c;
    });
  }

  function number(text) {
    if (text === '+Inf' || text === 'Inf') return Infinity;
    if (text === '-Inf') return -Infinity;
    return Number(text);
  }

  /** Exposition text → { name: [{ labels, value }] } (comments skipped, timestamps ignored). */
  function parse(text) {
    var out = Object.create(null);
    var lines = text.split('\n');
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line === '' || line.charCodeAt(0) === 35 /* # */) continue;
      var brace = line.indexOf('{');
      var space = line.indexOf(' ');
      var name, labels = {}, rest;
      if (brace !== -1 && (space === -1 || brace < space)) {
        name = line.slice(0, brace);
        var close = line.lastIndexOf('}');
        if (close < brace) continue;
        var body = line.slice(brace + 1, close);
        LABEL.lastIndex = 0;
        var m;
        while ((m = LABEL.exec(body)) !== null) labels[m[1]] = unescape(m[2]);
        rest = line.slice(close + 1).trim();
      } else {
        if (space === -1) continue;
        name = line.slice(0, space);
        rest = line.slice(space + 1).trim();
      }
      var value = number(rest.split(' ')[0]);
      (out[name] || (out[name] = [])).push({ labels: labels, value: value });
    }
    return out;
  }

  /** Sum of a family's samples whose labels pass `where` (an object of equal values, or a function). */
  function sum(families, name, where) {
    var samples = families[name] || [];
    var total = 0;
    for (var i = 0; i < samples.length; i++) {
      if (matches(samples[i].labels, where)) total += samples[i].value;
    }
    return total;
  }

  function matches(labels, where) {
    if (!where) return true;
    if (typeof where === 'function') return where(labels);
    for (var k in where) if (labels[k] !== where[k]) return false;
    return true;
  }

  /** { labelValue: sum } of a family grouped by one label. */
  function by(families, name, label) {
    var samples = families[name] || [];
    var out = {};
    for (var i = 0; i < samples.length; i++) {
      var key = samples[i].labels[label];
      if (key === undefined) continue;
      out[key] = (out[key] || 0) + samples[i].value;
    }
    return out;
  }

  /** Per second between two counter values; null across a reset (a restarted server) or without a previous scrape. */
  function rate(previous, current, seconds) {
    if (previous === undefined || previous === null || !(seconds > 0) || current < previous) return null;
    return (current - previous) / seconds;
  }

  /** The cumulative buckets of one histogram series: [{ le, count }] sorted by le. */
  function buckets(families, name, where) {
    var samples = families[name + '_bucket'] || [];
    var byLe = {};
    for (var i = 0; i < samples.length; i++) {
      var s = samples[i];
      if (s.labels.le === undefined) continue;
      if (!matches(s.labels, where)) continue;
      byLe[s.labels.le] = (byLe[s.labels.le] || 0) + s.value;
    }
    return Object.keys(byLe)
      .map(function (le) {
        return { le: number(le), count: byLe[le] };
      })
      .sort(function (a, b) {
        return a.le - b.le;
      });
  }

  /**
   * The q-quantile of the observations made between two scrapes of the same histogram
   * (`before` may be null: since the start), interpolated linearly inside its bucket;
   * null when nothing was observed in between.
   */
  function quantile(q, before, after) {
    var prev = {};
    if (before) for (var i = 0; i < before.length; i++) prev[before[i].le] = before[i].count;
    var deltas = after.map(function (b) {
      return { le: b.le, count: b.count - (prev[b.le] || 0) };
    });
    if (deltas.length === 0) return null;
    var total = deltas[deltas.length - 1].count;
    if (!(total > 0) || deltas.some(function (d) { return d.count < 0; })) return null;
    var rank = q * total;
    var lower = 0;
    var below = 0;
    for (var j = 0; j < deltas.length; j++) {
      var d = deltas[j];
      if (d.count >= rank) {
        if (d.le === Infinity) return lower;
        var inBucket = d.count - below;
        return inBucket > 0 ? lower + ((d.le - lower) * (rank - below)) / inBucket : d.le;
      }
      lower = d.le;
      below = d.count;
    }
    return lower;
  }

  globalThis.NbProm = { parse: parse, sum: sum, by: by, rate: rate, buckets: buckets, quantile: quantile };
})();
