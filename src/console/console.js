/*
 * The built-in console (issue 10): plain browser JavaScript, no framework, no build step.
 * - charts and tiles from GET <metrics_path> (Prometheus text, parsed by prom.js) every second;
 * - the device table from GET /api/v1/devices (the fleet state) every two seconds;
 * - the live tail over the WebSocket listener's live protocol (subscribe with filters).
 * With AUTH_MODE on, the admin token is asked for, kept in sessionStorage, and sent as
 * `Authorization: Bearer` (HTTP) and `?admin_token=` (WebSocket).
 * The elements carry data-* attributes with their latest numbers, for people and for tests.
 */
(function () {
  'use strict';

  var P = globalThis.NbProm;
  var TOKEN_KEY = 'neurobuild-ingest.admin-token';
  var WINDOW = 300; // chart points kept: five minutes at one per second
  var METRICS_MS = 1000;
  var DEVICES_MS = 2000;
  var DEVICE_LIMIT = 1000;
  var TAIL_MAX = 200;
  var P95_WINDOW_S = 60;
  var MIN_SPAN_S = 60;

  var $ = function (id) {
    return document.getElementById(id);
  };

  var config = null;
  var token = null;

  // ---- formatting ----

  function fmtRate(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    if (v === 0) return '0';
    if (v < 10) return v.toFixed(2);
    if (v < 1000) return v.toFixed(1);
    if (v < 1e6) return (v / 1000).toFixed(1) + 'k';
    return (v / 1e6).toFixed(2) + 'M';
  }

  function fmtCount(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    return Math.round(v).toLocaleString('en-US');
  }

  function fmtMs(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    if (v < 1) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return Math.round(v).toLocaleString('en-US');
  }

  function fmtAgo(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 1) return 'now';
    if (seconds < 90) return Math.round(seconds) + ' s ago';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min ago';
    if (seconds < 172800) return Math.round(seconds / 3600) + ' h ago';
    return Math.round(seconds / 86400) + ' d ago';
  }

  function pad(n, w) {
    return String(n).padStart(w || 2, '0');
  }

  /** Unix seconds → HH:MM:SS, local time (one line: uPlot's two-line date labels collide at a minute boundary). */
  function clock(t) {
    var d = new Date(t * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function fmtSkew(ms) {
    if (ms === null || ms === undefined) return '—';
    var sign = ms > 0 ? '+' : ms < 0 ? '−' : '';
    var a = Math.abs(ms);
    return sign + (a < 1000 ? a + ' ms' : (a / 1000).toFixed(a < 10000 ? 2 : 1) + ' s');
  }

  function setValue(id, value, text) {
    var el = $(id);
    el.dataset.value = value === null || value === undefined ? '' : String(value);
    el.textContent = text;
  }

  function status(which, state, title) {
    var el = $('status-' + which);
    el.dataset.state = state;
    el.title = title || '';
  }

  function notice(text) {
    var el = $('notice');
    el.textContent = text || '';
    el.hidden = !text;
  }

  // ---- admin token ----

  function authHeaders() {
    return config.auth && token ? { authorization: 'Bearer ' + token } : {};
  }

  function needsToken() {
    return config.auth && config.admin_api && !token;
  }

  function askToken(error) {
    $('login').hidden = false;
    $('login-error').textContent = error || '';
    $('logout').hidden = true;
    $('token').focus();
  }

  function forgetToken(error) {
    token = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage may be off: the token then lives only in this page
    }
    closeTail();
    askToken(error);
  }

  function setupAuth() {
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      token = null;
    }
    if (config.auth && !config.admin_api) {
      notice('Authentication is on and ADMIN_TOKEN is not set on this server: the charts, the device table and the live tail need the admin token.');
    } else if (needsToken()) askToken();
    else if (config.auth) $('logout').hidden = false;

    $('login').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var t = $('token').value.trim();
      if (!t) return;
      token = t;
      try {
        sessionStorage.setItem(TOKEN_KEY, t);
      } catch (e) {
        // kept in memory only
      }
      $('token').value = '';
      $('login').hidden = true;
      $('login-error').textContent = '';
      $('logout').hidden = false;
      pollDevicesNow();
      connectTail();
    });
    $('logout').addEventListener('click', function () {
      forgetToken();
    });
  }

  // ---- charts ----

  var charts = {};

  /** Whole-number tick steps for charts of counts (uPlot's defaults would put ticks at 0.5 connections). */
  var WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

  /** The latest value of a series, for the legend while the cursor is not on the chart. */
  function latest(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
    return null;
  }

  function makeChart(name, series, fmt, whole) {
    var el = $('chart-' + name);
    var target = el.querySelector('.plot');
    var data = [[]];
    for (var i = 0; i < series.length; i++) data.push([]);
    var opts = {
      width: Math.max(target.clientWidth, 300),
      height: 200,
      cursor: { drag: { x: false, y: false } },
      scales: {
        // before the first point (see push for the rest)
        x: {
          time: true,
          range: function (u, min, max) {
            var end = max === null || max === undefined ? Date.now() / 1000 : max;
            var start = min === null || min === undefined ? end : min;
            return [end - Math.max(MIN_SPAN_S, end - start), end];
          },
        },
        y: {
          range: function (u, min, max) {
            return [0, max > 0 ? max * 1.15 : 1];
          },
        },
      },
      axes: [
        {
          stroke: '#5d6778',
          grid: { stroke: '#eef1f5' },
          space: 70,
          size: 32,
          values: function (u, vals) {
            return vals.map(clock);
          },
        },
        {
          stroke: '#5d6778',
          grid: { stroke: '#eef1f5' },
          size: 56,
          values: function (u, vals) {
            return vals.map(fmt);
          },
        },
      ],
      series: [{}].concat(
        series.map(function (s) {
          return {
            label: s.label,
            stroke: s.color,
            width: 1.5,
            fill: s.fill,
            points: { show: false },
            value: function (u, v, seriesIdx, idx) {
              if (idx === null || idx === undefined) v = latest(u.data[seriesIdx]);
              return v === null || v === undefined ? '—' : fmt(v);
            },
          };
        }),
      ),
    };
    if (whole) opts.axes[1].incrs = WHOLE;
    charts[name] = { el: el, target: target, data: data, plot: new uPlot(opts, data, target) };
  }

  function push(name, t, values) {
    var c = charts[name];
    c.data[0].push(t);
    for (var i = 0; i < values.length; i++) c.data[i + 1].push(values[i]);
    if (c.data[0].length > WINDOW) for (var j = 0; j < c.data.length; j++) c.data[j].shift();
    // x: at least a minute wide, growing to the five minutes kept, ending at the latest point
    // (uPlot's own x auto-range spans 1,000 days around a single point); y re-ranges with it
    c.plot.setData(c.data, false);
    c.plot.setScale('x', { min: t - Math.max(MIN_SPAN_S, t - c.data[0][0]), max: t });
    c.plot.setLegend({}, false);
    var peak = 0;
    var first = c.data[1];
    for (var k = 0; k < first.length; k++) if (first[k] !== null && first[k] > peak) peak = first[k];
    c.el.dataset.points = String(c.data[0].length);
    c.el.dataset.peak = String(peak);
    c.el.dataset.last = values[0] === null || values[0] === undefined ? '' : String(values[0]);
  }

  function setupCharts() {
    makeChart(
      'ingest',
      [
        { label: 'total', color: '#2962c8', fill: 'rgba(41,98,200,.08)' },
        { label: 'http', color: '#1f8a4c' },
        { label: 'mqtt', color: '#8a4fc2' },
        { label: 'other', color: '#a7761b' },
      ],
      fmtRate,
    );
    makeChart(
      'errors',
      [
        { label: 'refused', color: '#c23b31', fill: 'rgba(194,59,49,.08)' },
        { label: 'duplicates', color: '#a7761b' },
      ],
      fmtRate,
    );
    makeChart(
      'latency',
      [
        { label: 'ingest p95', color: '#2962c8' },
        { label: 'queue append p95', color: '#8a4fc2' },
      ],
      fmtMs,
    );
    makeChart(
      'connections',
      [
        { label: 'total', color: '#2962c8' },
        { label: 'mqtt', color: '#8a4fc2' },
        { label: 'websocket', color: '#1f8a4c' },
      ],
      fmtCount,
      true,
    );
    var resize = function () {
      for (var name in charts) {
        var c = charts[name];
        c.plot.setSize({ width: Math.max(c.target.clientWidth, 300), height: 200 });
      }
    };
    if (typeof ResizeObserver === 'function') new ResizeObserver(resize).observe(document.querySelector('.charts'));
    else window.addEventListener('resize', resize);
  }

  // ---- metrics ----

  var prev = null;
  var histories = []; // [{ t, buckets }] of the ingest histogram, for the last-minute p95

  function snapshot(fam, t) {
    var ingested = P.by(fam, 'sensor_data_ingested_total', 'transport');
    var total = 0;
    for (var k in ingested) total += ingested[k];
    var http = ingested.http || 0;
    var mqtt = ingested.mqtt || 0;
    return {
      t: t,
      total: total,
      http: http,
      mqtt: mqtt,
      other: total - http - mqtt,
      refused: P.sum(fam, 'sensor_data_errors_total', function (l) {
        return l.error_type !== 'duplicate';
      }),
      duplicates: P.sum(fam, 'sensor_data_errors_total', { error_type: 'duplicate' }),
      ingestLatency: P.buckets(fam, 'sensor_data_processing_latency_seconds', { operation: 'ingest' }),
      appendLatency: P.buckets(fam, 'sensor_data_processing_latency_seconds', { operation: 'queue_append' }),
    };
  }

  function ms(seconds) {
    return seconds === null ? null : seconds * 1000;
  }

  function onMetrics(fam) {
    var t = Date.now() / 1000;
    var cur = snapshot(fam, t);
    var dt = prev ? t - prev.t : 0;
    var rate = function (k) {
      return prev ? P.rate(prev[k], cur[k], dt) : null;
    };
    if (prev) {
      push('ingest', t, [rate('total'), rate('http'), rate('mqtt'), rate('other')]);
      push('errors', t, [rate('refused'), rate('duplicates')]);
      push('latency', t, [ms(P.quantile(0.95, prev.ingestLatency, cur.ingestLatency)), ms(P.quantile(0.95, prev.appendLatency, cur.appendLatency))]);
      setValue('tile-ingest', rate('total'), fmtRate(rate('total')));
      setValue('tile-errors', rate('refused'), fmtRate(rate('refused')));
    }
    histories.push({ t: t, buckets: cur.ingestLatency });
    while (histories.length > 2 && histories[1].t <= t - P95_WINDOW_S) histories.shift();
    var p95 = ms(P.quantile(0.95, histories.length > 1 ? histories[0].buckets : null, cur.ingestLatency));
    setValue('tile-p95', p95, fmtMs(p95));

    var conns = P.by(fam, 'active_connections', 'connection_type');
    var mqttConns = conns.mqtt || 0;
    var wsConns = conns.websocket || 0;
    var allConns = 0;
    for (var c in conns) allConns += conns[c];
    push('connections', t, [allConns, mqttConns, wsConns]);
    setValue('tile-connections', allConns, fmtCount(allConns));
    var parts = [];
    for (var name in conns) parts.push(name + ' ' + fmtCount(conns[name]));
    $('tile-connections-by').textContent = parts.length ? parts.join(' · ') : 'none';

    var queues = P.by(fam, 'queue_size', 'queue_name');
    var q = config.queues;
    setValue('tile-queue', queues[q.queue], fmtCount(queues[q.queue]));
    setValue('tile-dlq', queues[q.dlq], fmtCount(queues[q.dlq]));
    setValue('tile-rejects', queues[q.rejects], fmtCount(queues[q.rejects]));
    var up = P.sum(fam, 'ingest_queue_up');
    var breaker = P.sum(fam, 'ingest_circuit_breaker_open');
    var upText = (fam.ingest_queue_up ? (up >= 1 ? 'up' : 'down') : '—') + (breaker > 0 ? ', breaker open' : '');
    setValue('tile-queue-up', fam.ingest_queue_up ? up : null, upText);
    $('tile-queue-up').className = 'value ' + (up >= 1 && breaker === 0 ? '' : 'error');
    $('tile-in-flight').textContent = 'in flight: ' + fmtCount(P.sum(fam, 'ingest_in_flight'));
    prev = cur;
  }

  function pollMetrics() {
    // with auth on, the public port serves metrics to the admin token only: wait for it
    if (config.auth && !token) {
      prev = null;
      status('metrics', 'wait', 'the admin token is needed for the metrics');
      setTimeout(pollMetrics, METRICS_MS);
      return;
    }
    fetch(config.metrics_path, { headers: authHeaders(), cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        onMetrics(P.parse(text));
        status('metrics', 'ok', 'GET ' + config.metrics_path + ' every second');
      })
      .catch(function (err) {
        // the next good scrape starts the rates afresh (the server may have restarted)
        prev = null;
        status('metrics', 'bad', String(err && err.message ? err.message : err));
      })
      .then(function () {
        setTimeout(pollMetrics, METRICS_MS);
      });
  }

  // ---- devices ----

  var devices = { list: [], total: 0, seenAt: 0, previous: {}, rates: {}, exact: null, timer: null, busy: false };

  /** The stats answer of one device in the shape of a list entry. */
  function summaryOf(s) {
    return {
      device_id: s.device_id,
      last_seen: s.last_seen,
      silent_for_s: s.last_seen ? Math.max(0, (Date.now() - Date.parse(s.last_seen)) / 1000) : null,
      readings: s.readings.total,
      rejected: s.rejected.total,
      last_reject_reason: s.rejected.last_reason,
      last_reject_at: s.rejected.last_at,
      clock_skew_ms: s.clock_skew_ms,
      completeness: s.sequence ? s.sequence.completeness : null,
      mqtt_connected: s.mqtt.connected,
    };
  }

  function cell(tr, text, cls, title) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function deviceRow(d, sinceFetch) {
    var tr = document.createElement('tr');
    tr.dataset.device = d.device_id;
    var silent = d.silent_for_s === null ? null : d.silent_for_s + sinceFetch;
    if (silent !== null && silent > 60) tr.className = 'silent';
    var first = cell(tr, '');
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'link';
    b.textContent = d.device_id;
    b.title = 'Show this device in the live tail';
    b.addEventListener('click', function () {
      $('tail-device').value = d.device_id;
      applyTailFilter();
    });
    first.appendChild(b);
    cell(tr, fmtAgo(silent), '', d.last_seen || '');
    var r = devices.rates[d.device_id];
    cell(tr, r === undefined || r === null ? '—' : fmtRate(r * 60) + '/min', 'num');
    cell(tr, fmtCount(d.readings), 'num');
    cell(tr, fmtCount(d.rejected), 'num');
    cell(tr, d.last_reject_reason || '', 'reason', d.last_reject_at || '');
    cell(tr, fmtSkew(d.clock_skew_ms), 'num');
    cell(tr, d.completeness === null || d.completeness === undefined ? '—' : (d.completeness * 100).toFixed(d.completeness === 1 ? 0 : 2) + ' %', 'num');
    var dot = cell(tr, d.mqtt_connected ? '● connected' : '○', d.mqtt_connected ? 'dot-on' : 'dot-off');
    dot.dataset.connected = String(!!d.mqtt_connected);
    return tr;
  }

  function renderDevices() {
    var query = $('device-search').value.trim();
    var q = query.toLowerCase();
    var shown = devices.list.filter(function (d) {
      return !q || d.device_id.toLowerCase().indexOf(q) !== -1;
    });
    // a fleet larger than one page: an exact id that is not among the latest heard is asked for by name
    if (q && shown.length === 0 && devices.exact && devices.exact.query === query && devices.exact.device) shown = [devices.exact.device];
    if (q && shown.length === 0 && /^[A-Za-z0-9_-]{1,128}$/.test(query) && (!devices.exact || devices.exact.query !== query)) lookupDevice(query);
    var since = devices.seenAt ? (Date.now() - devices.seenAt) / 1000 : 0;
    var body = $('devices').tBodies[0];
    body.replaceChildren.apply(
      body,
      shown.map(function (d) {
        return deviceRow(d, since);
      }),
    );
    var more = devices.total > devices.list.length ? ' (the ' + fmtCount(devices.list.length) + ' heard from last are searched)' : '';
    $('device-count').textContent = fmtCount(shown.length) + ' shown of ' + fmtCount(devices.total) + more;
    $('device-count').dataset.shown = String(shown.length);
  }

  function lookupDevice(query) {
    devices.exact = { query: query, device: null };
    fetch('/api/v1/devices/' + encodeURIComponent(query) + '/stats', { headers: authHeaders(), cache: 'no-store' })
      .then(function (res) {
        return res.ok ? res.json() : null;
      })
      .then(function (s) {
        if (!devices.exact || devices.exact.query !== query) return;
        devices.exact.device = s ? summaryOf(s) : null;
        if (s) renderDevices();
      })
      .catch(function () {});
  }

  function refused(res) {
    return res
      .json()
      .catch(function () {
        return {};
      })
      .then(function (body) {
        return body.details || body.error || 'HTTP ' + res.status;
      });
  }

  function pollDevices() {
    devices.timer = null;
    if (devices.busy) return;
    if (config.auth && (!config.admin_api || !token)) {
      status('devices', 'wait', config.admin_api ? 'waiting for the admin token' : 'ADMIN_TOKEN is not set on the server');
      return;
    }
    devices.busy = true;
    var sentWith = token;
    fetch('/api/v1/devices?limit=' + DEVICE_LIMIT, { headers: authHeaders(), cache: 'no-store' })
      .then(function (res) {
        if ((res.status === 401 || res.status === 403) && config.auth) {
          return refused(res).then(function (why) {
            if (token === sentWith) forgetToken('Refused: ' + why);
            status('devices', 'bad', why);
          });
        }
        if (!res.ok) {
          return refused(res).then(function (why) {
            status('devices', 'bad', why);
          });
        }
        return res.json().then(function (page) {
          var now = Date.now();
          var elapsed = devices.seenAt ? (now - devices.seenAt) / 1000 : 0;
          var rates = {};
          var previous = {};
          for (var i = 0; i < page.devices.length; i++) {
            var d = page.devices[i];
            previous[d.device_id] = d.readings;
            var before = devices.previous[d.device_id];
            // a device unseen at the last poll but listed now started from zero in between
            if (elapsed > 0) rates[d.device_id] = P.rate(before === undefined ? 0 : before, d.readings, elapsed);
          }
          devices.list = page.devices;
          devices.total = page.total;
          devices.previous = previous;
          devices.rates = rates;
          devices.seenAt = now;
          if (devices.exact && devices.exact.device) devices.exact = null;
          renderDevices();
          status('devices', 'ok', 'GET /api/v1/devices every two seconds');
          $('devices-note').hidden = config.fleet_state;
          $('devices-note').textContent = config.fleet_state ? '' : 'The fleet state is off on this server (DEVICE_STATE=off): the table stays empty.';
        });
      })
      .catch(function (err) {
        status('devices', 'bad', String(err && err.message ? err.message : err));
      })
      .then(function () {
        devices.busy = false;
        if (devices.timer === null) devices.timer = setTimeout(pollDevices, DEVICES_MS);
      });
  }

  function pollDevicesNow() {
    if (devices.timer !== null) clearTimeout(devices.timer);
    devices.timer = null;
    pollDevices();
  }

  function setupDevices() {
    $('device-search').addEventListener('input', renderDevices);
  }

  // ---- live tail ----

  var tail = { ws: null, entries: [], received: 0, paused: false, filters: {}, retryMs: 1000, timer: null, renderTimer: null };

  function wsUrl() {
    var q = ['mode=latest'];
    if (config.auth && token) q.push('admin_token=' + encodeURIComponent(token));
    return config.ws.scheme + '://' + location.hostname + ':' + config.ws.port + '/?' + q.join('&');
  }

  function closeTail() {
    clearTimeout(tail.timer);
    var ws = tail.ws;
    tail.ws = null;
    if (ws) ws.close(1000, 'console closed the tail');
    status('tail', 'wait', 'closed');
  }

  function connectTail() {
    clearTimeout(tail.timer);
    if (tail.ws) closeTail();
    if (!config.ws) return status('tail', 'bad', 'no WebSocket listener on this server (WS_PORT=0)');
    if (config.auth && !config.admin_api) return status('tail', 'wait', 'ADMIN_TOKEN is not set on the server');
    if (config.auth && !token) return status('tail', 'wait', 'waiting for the admin token');
    var ws = new WebSocket(wsUrl());
    var opened = false;
    tail.ws = ws;
    ws.onopen = function () {
      opened = true;
      tail.retryMs = 1000;
      subscribe();
    };
    ws.onmessage = function (ev) {
      var m;
      try {
        m = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (m.type === 'sensor-data') addReading(m.data);
      else if (m.type === 'subscribed') status('tail', 'ok', 'subscribed: ' + (JSON.stringify(m.filters) || '{}') + ', mode ' + m.mode);
      else if (m.type === 'error') status('tail', 'bad', m.message);
    };
    ws.onclose = function () {
      if (tail.ws !== ws) return;
      tail.ws = null;
      status('tail', 'bad', opened ? 'disconnected; reconnecting' : 'could not connect to ' + config.ws.scheme + '://' + location.hostname + ':' + config.ws.port + '; retrying');
      tail.timer = setTimeout(connectTail, tail.retryMs);
      tail.retryMs = Math.min(tail.retryMs * 2, 10000);
    };
  }

  function subscribe() {
    if (tail.ws && tail.ws.readyState === WebSocket.OPEN) tail.ws.send(JSON.stringify({ type: 'subscribe', filters: tail.filters }));
  }

  function readFilters() {
    var f = {};
    var ids = $('tail-device')
      .value.split(/[\s,]+/)
      .filter(Boolean);
    if (ids.length === 1) f.device_id = ids[0];
    else if (ids.length > 1) f.device_id = ids;
    var sensor = $('tail-sensor').value;
    if (sensor) f.sensor_type = sensor;
    return f;
  }

  function applyTailFilter() {
    tail.filters = readFilters();
    tail.entries = [];
    renderTail();
    subscribe();
  }

  function addReading(r) {
    tail.received++;
    if (tail.paused) return;
    tail.entries.unshift(r);
    if (tail.entries.length > TAIL_MAX) tail.entries.length = TAIL_MAX;
    if (tail.renderTimer === null) tail.renderTimer = setTimeout(renderTail, 100);
  }

  function describeValue(v) {
    return v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  function sensorsText(sensors) {
    var parts = [];
    for (var name in sensors) {
      var s = sensors[name];
      var fields = [];
      if (s !== null && typeof s === 'object') for (var k in s) fields.push(k + '=' + describeValue(s[k]));
      else fields.push(describeValue(s));
      parts.push(name + ' ' + fields.join(' '));
    }
    return parts.join(' · ');
  }

  function timeOf(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function tailItem(r) {
    var li = document.createElement('li');
    li.dataset.device = r.device_id;
    if (r.message_id) li.dataset.messageId = r.message_id;
    var time = document.createElement('time');
    time.dateTime = r.received_at || '';
    time.textContent = timeOf(r.received_at);
    time.title = 'received ' + (r.received_at || '?') + ', device time ' + (r.timestamp || '?');
    var dev = document.createElement('span');
    dev.className = 'dev';
    dev.textContent = r.device_id;
    var sensors = document.createElement('span');
    sensors.className = 'sensors';
    sensors.textContent = sensorsText(r.sensors || {});
    li.append(time, dev, sensors);
    var flags = [];
    if (r.backfill) flags.push('backfill');
    if (Array.isArray(r.quality)) flags = flags.concat(r.quality);
    if (flags.length) {
      var f = document.createElement('span');
      f.className = 'flag';
      f.textContent = flags.join(' ');
      li.append(f);
    }
    return li;
  }

  function renderTail() {
    tail.renderTimer = null;
    var list = $('tail');
    list.replaceChildren.apply(list, tail.entries.map(tailItem));
    $('tail-count').textContent = fmtCount(tail.received) + ' received' + (tail.paused ? ' (paused)' : '');
    $('tail-count').dataset.received = String(tail.received);
  }

  function setupTail() {
    var select = $('tail-sensor');
    (config.sensor_types || []).forEach(function (name) {
      var o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      select.appendChild(o);
    });
    $('tail-filter').addEventListener('submit', function (ev) {
      ev.preventDefault();
      applyTailFilter();
    });
    $('tail-pause').addEventListener('click', function () {
      tail.paused = !tail.paused;
      this.textContent = tail.paused ? 'Resume' : 'Pause';
      this.setAttribute('aria-pressed', String(tail.paused));
      renderTail();
    });
  }

  // ---- start ----

  fetch('/console/config.json', { cache: 'no-store' })
    .then(function (res) {
      if (!res.ok) throw new Error('GET /console/config.json: HTTP ' + res.status);
      return res.json();
    })
    .then(function (c) {
      config = c;
      $('tile-queue-name').textContent = 'Queue ' + c.queues.queue;
      $('tile-dlq-name').textContent = 'DLQ ' + c.queues.dlq;
      $('tile-rejects-name').textContent = 'Rejects ' + c.queues.rejects;
      setupAuth();
      setupCharts();
      setupDevices();
      setupTail();
      pollMetrics();
      pollDevices();
      connectTail();
      document.body.dataset.ready = 'true';
    })
    .catch(function (err) {
      notice('The console could not start: ' + (err && err.message ? err.message : err));
    });
})();
