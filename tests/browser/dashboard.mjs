#!/usr/bin/env node
// Browser smoke test for the Strata live dashboard.
//
// Usage: node tests/browser/dashboard.mjs <base-url> <screenshot-path> [--timeout-ms 30000]
//
// Loads <base-url>, waits for #connection[data-state="live"], then for the
// WebSocket snapshot (data-updates >= 1, short grace), records data-updates,
// waits until it increases (a scheduled live update arrived) and
// #market-cap has text, saves a full-page screenshot and prints one JSON line.
// Exit 0 on success, 1 on failure/timeout, 2 on bad usage.
//
// Needs: npm install (in tests/browser) for playwright-core, and Debian's
// Chromium at /usr/bin/chromium (apt-get install -y chromium).

import { chromium } from 'playwright-core';

const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function parseArgs(argv) {
  const pos = [];
  let timeoutMs = 30000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout-ms') {
      timeoutMs = Number(argv[++i]);
    } else if (a.startsWith('--timeout-ms=')) {
      timeoutMs = Number(a.slice('--timeout-ms='.length));
    } else {
      pos.push(a);
    }
  }
  if (pos.length !== 2 || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return null;
  return { baseUrl: pos[0], screenshot: pos[1], timeoutMs };
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const args = parseArgs(process.argv.slice(2));
if (!args) {
  out({ ok: false, error: 'usage: node dashboard.mjs <base-url> <screenshot-path> [--timeout-ms 30000]' });
  process.exit(2);
}

const deadline = Date.now() + args.timeoutMs;
const remaining = () => Math.max(1, deadline - Date.now());

let browser;
let step = 'launch';
const consoleErrors = [];
let exitCode = 1;
// Hard stop in case something hangs outside playwright's own timeouts.
const watchdog = setTimeout(() => {
  out({ ok: false, error: `timed out after ${args.timeoutMs} ms (hard watchdog) during: ${step}` });
  process.exit(1);
}, args.timeoutMs + 15000);

try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: LAUNCH_ARGS,
    timeout: remaining(),
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  step = 'load page';
  await page.goto(args.baseUrl, { waitUntil: 'domcontentloaded', timeout: remaining() });

  step = 'wait for #connection[data-state="live"]';
  await page.waitForSelector('#connection[data-state="live"]', { state: 'attached', timeout: remaining() });

  // The server sends its cached snapshot right after connecting; give it a
  // moment so that the increase we wait for is a *subsequent* live update.
  step = 'wait for WebSocket snapshot';
  await page
    .waitForFunction(() => Number(document.querySelector('#last-update')?.dataset.updates || 0) >= 1, null,
      { timeout: Math.min(3000, remaining()), polling: 100 })
    .catch(() => { /* no snapshot: fine, the first update then counts */ });

  const readUpdates = () => page.$eval('#last-update', (e) => Number(e.dataset.updates || 0));
  const updatesBefore = await readUpdates();

  step = `wait for data-updates to exceed ${updatesBefore} and #market-cap to have text`;
  await page.waitForFunction(
    (before) => {
      const n = Number(document.querySelector('#last-update')?.dataset.updates || 0);
      const cap = (document.querySelector('#market-cap')?.textContent || '').trim();
      return n > before && cap.length > 0;
    },
    updatesBefore,
    { timeout: remaining(), polling: 100 },
  );
  const updatesAfter = await readUpdates();

  step = 'screenshot';
  // animations: 'disabled' fast-forwards the value-change flashes to their end
  // state, so the screenshot shows the settled page.
  await page.screenshot({ path: args.screenshot, fullPage: true, animations: 'disabled', timeout: remaining() });

  out({ ok: true, updates_before: updatesBefore, updates_after: updatesAfter, screenshot: args.screenshot });
  exitCode = 0;
} catch (err) {
  const msg = (err && err.message ? err.message : String(err)).split('\n')[0];
  const res = { ok: false, error: `${step}: ${msg}` };
  if (consoleErrors.length) res.console_errors = consoleErrors.slice(0, 5);
  out(res);
  exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
}
process.exit(exitCode);
