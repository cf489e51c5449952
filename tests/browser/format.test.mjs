// Unit tests for the formatting helpers in host/assets/app.js.
// Run: node --test tests/browser/format.test.mjs   (no npm install needed)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const app = require(path.join(here, '..', '..', 'host', 'assets', 'app.js'));
const { Fmt, backoffDelay } = app;
const DASH = '\u2014';

test('module exports helpers without touching the DOM', () => {
  assert.equal(typeof Fmt, 'object');
  for (const k of ['usdCompact', 'price', 'pct', 'pctSigned', 'pctArrow', 'integer', 'parseTimestamp', 'localTime', 'changeDirection', 'trend']) {
    assert.equal(typeof Fmt[k], 'function', k);
  }
  assert.equal(typeof backoffDelay, 'function');
  assert.equal(typeof app.renderTable, 'function');
});

test('usdCompact formats big numbers compactly', () => {
  assert.equal(Fmt.usdCompact(2052814220651.0), '$2.05T');
  assert.equal(Fmt.usdCompact(140825265291.0), '$140.8B');
  assert.equal(Fmt.usdCompact(1149845929346.0), '$1.15T');
  assert.equal(Fmt.usdCompact(56_123_000_000), '$56.12B');
  assert.equal(Fmt.usdCompact(12_340_000), '$12.34M');
  assert.equal(Fmt.usdCompact(123_456), '$123.5K');
  assert.equal(Fmt.usdCompact(999.5), '$999.50');
  assert.equal(Fmt.usdCompact(0), '$0.00');
  assert.equal(Fmt.usdCompact(-3_500_000_000), '-$3.50B');
});

test('usdCompact rolls over to the next unit instead of printing 1000.0', () => {
  assert.equal(Fmt.usdCompact(999_960_000_000), '$1.00T');
  assert.equal(Fmt.usdCompact(999_940_000_000), '$999.9B');
  assert.equal(Fmt.usdCompact(999_990_000), '$1.00B');
});

test('missing or non-finite numbers render as an em dash', () => {
  for (const v of [null, undefined, NaN, Infinity, '12', {}]) {
    assert.equal(Fmt.usdCompact(v), DASH);
    assert.equal(Fmt.price(v), DASH);
    assert.equal(Fmt.pct(v), DASH);
    assert.equal(Fmt.pctSigned(v), DASH);
    assert.equal(Fmt.pctArrow(v), DASH);
    assert.equal(Fmt.integer(v), DASH);
  }
});

test('price uses adaptive decimals', () => {
  assert.equal(Fmt.price(58367.81), '$58,367.81');
  assert.equal(Fmt.price(3120.5), '$3,120.50');
  assert.equal(Fmt.price(1), '$1.00');
  assert.equal(Fmt.price(0.999712), '$0.9997');
  assert.equal(Fmt.price(0.0523), '$0.0523');
  assert.equal(Fmt.price(0.00001234), '$0.00001234');
  assert.equal(Fmt.price(0.000012345678), '$0.00001235');
  assert.equal(Fmt.price(0), '$0.00');
});

test('percentages: plain, signed and with arrows', () => {
  assert.equal(Fmt.pct(56.01), '56.01%');
  assert.equal(Fmt.pct(18.1), '18.10%');
  assert.equal(Fmt.pctSigned(1.97), '+1.97%');
  assert.equal(Fmt.pctSigned(-0.5), '-0.50%');
  assert.equal(Fmt.pctSigned(0), '0.00%');
  assert.equal(Fmt.pctSigned(-0.001), '0.00%', 'rounds to zero without a sign');
  assert.equal(Fmt.pctArrow(1.95), '\u25B2 1.95%');
  assert.equal(Fmt.pctArrow(-2.3), '\u25BC 2.30%');
  assert.equal(Fmt.pctArrow(0), '0.00%');
});

test('trend and changeDirection', () => {
  assert.equal(Fmt.trend(1.2), 'up');
  assert.equal(Fmt.trend(-1.2), 'down');
  assert.equal(Fmt.trend(0.001), 'flat');
  assert.equal(Fmt.trend(null), null);
  assert.equal(Fmt.changeDirection(1, 2), 'up');
  assert.equal(Fmt.changeDirection(2, 1), 'down');
  assert.equal(Fmt.changeDirection(2, 2), null);
  assert.equal(Fmt.changeDirection(null, 2), null);
  assert.equal(Fmt.changeDirection(2, undefined), null);
});

test('integer groups thousands', () => {
  assert.equal(Fmt.integer(1000), '1,000');
  assert.equal(Fmt.integer(12345678), '12,345,678');
  assert.equal(Fmt.integer(7), '7');
});

test('parseTimestamp handles RFC3339, unix seconds and milliseconds', () => {
  const iso = '2026-11-25T17:20:39Z';
  const ms = Date.UTC(2026, 10, 25, 17, 20, 39);
  assert.equal(Fmt.parseTimestamp(iso).getTime(), ms);
  assert.equal(Fmt.parseTimestamp('2026-11-25T18:20:39+01:00').getTime(), ms);
  assert.equal(Fmt.parseTimestamp(ms / 1000).getTime(), ms);
  assert.equal(Fmt.parseTimestamp(String(ms / 1000)).getTime(), ms);
  assert.equal(Fmt.parseTimestamp(ms).getTime(), ms);
  assert.equal(Fmt.parseTimestamp(ms / 1000 + 0.5).getTime(), ms + 500);
  for (const bad of [null, undefined, '', 'not a date', {}, NaN]) {
    assert.equal(Fmt.parseTimestamp(bad), null, String(bad));
  }
});

test('localTime renders a time of day or a dash', () => {
  const s = Fmt.localTime('2026-11-25T17:20:39Z', 'en-GB');
  assert.match(s, /^\d{2}:\d{2}:\d{2}$/);
  assert.equal(Fmt.localTime(1764091239, 'en-GB'), Fmt.localTime(new Date(1764091239000), 'en-GB'));
  assert.equal(Fmt.localTime('garbage'), DASH);
  assert.equal(Fmt.localTime(null), DASH);
});

test('backoffDelay: 1s, 2s, 4s ... capped at 30s, jitter bounded', () => {
  const noJitter = () => 0;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelay(a, noJitter)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  const maxJitter = () => 0.999999;
  assert.ok(backoffDelay(0, maxJitter) >= 1000 && backoffDelay(0, maxJitter) <= 1200);
  assert.ok(backoffDelay(3, maxJitter) > 8000 && backoffDelay(3, maxJitter) <= 9600);
  assert.equal(backoffDelay(10, maxJitter), 30000);
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay(2);
    assert.ok(d >= 4000 && d <= 4800, String(d));
  }
});
