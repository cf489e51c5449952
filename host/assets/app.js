/* Strata · Crypto Market Dashboard — browser client.
 * No build step, no dependencies. Formatting helpers (Fmt) and the backoff
 * calculation are pure and exported for node unit tests at the bottom. */
'use strict';

(function (root) {
  const DASH = '\u2014'; // em dash for missing values

  function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }

  const groupFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

  const Fmt = {
    DASH,
    isNum,

    /** Compact USD: 2052814220651 -> "$2.05T", 140825265291 -> "$140.8B". */
    usdCompact(v) {
      if (!isNum(v)) return DASH;
      const sign = v < 0 ? '-' : '';
      const a = Math.abs(v);
      const units = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
      for (const [size, suffix] of units) {
        // Round first so 999.96B becomes $1.00T rather than $1000.0B.
        if (a >= size * 0.99995) {
          let n = a / size;
          if (n >= 999.95 && suffix !== 'T') continue; // let the larger unit take it
          const decimals = n >= 100 ? 1 : 2;
          return `${sign}$${n.toFixed(decimals)}${suffix}`;
        }
      }
      return `${sign}$${a.toFixed(2)}`;
    },

    /** Price with decimals adapted to magnitude. */
    price(v) {
      if (!isNum(v)) return DASH;
      const a = Math.abs(v);
      let opts;
      if (a === 0) opts = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
      else if (a >= 1) opts = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
      else if (a >= 0.01) opts = { minimumFractionDigits: 4, maximumFractionDigits: 4 };
      else opts = { minimumSignificantDigits: 2, maximumSignificantDigits: 4 };
      const s = new Intl.NumberFormat('en-US', opts).format(a);
      return `${v < 0 ? '-' : ''}$${s}`;
    },

    /** Unsigned percentage: 56.01 -> "56.01%". */
    pct(v, decimals = 2) {
      if (!isNum(v)) return DASH;
      return `${v.toFixed(decimals)}%`;
    },

    /** Signed percentage: 1.97 -> "+1.97%", -0.5 -> "-0.50%". */
    pctSigned(v, decimals = 2) {
      if (!isNum(v)) return DASH;
      const r = Number(v.toFixed(decimals));
      const sign = r > 0 ? '+' : r < 0 ? '-' : '';
      return `${sign}${Math.abs(r).toFixed(decimals)}%`;
    },

    /** Percentage with arrow for the table: "▲ 1.95%", "▼ 0.52%". */
    pctArrow(v, decimals = 2) {
      if (!isNum(v)) return DASH;
      const r = Number(v.toFixed(decimals));
      const arrow = r > 0 ? '\u25B2 ' : r < 0 ? '\u25BC ' : '';
      return `${arrow}${Math.abs(r).toFixed(decimals)}%`;
    },

    /** "up" / "down" / "flat" / null (unknown) for colouring. */
    trend(v) {
      if (!isNum(v)) return null;
      const r = Number(v.toFixed(2));
      return r > 0 ? 'up' : r < 0 ? 'down' : 'flat';
    },

    /** Integer with grouping: 1000 -> "1,000". */
    integer(v) {
      if (!isNum(v)) return DASH;
      return groupFmt.format(Math.round(v));
    },

    /** Accepts RFC3339 string, unix seconds / ms (number or numeric string). Returns Date or null. */
    parseTimestamp(v) {
      if (v === null || v === undefined || v === '') return null;
      let d;
      if (typeof v === 'number' || (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v))) {
        const n = Number(v);
        if (!Number.isFinite(n)) return null;
        d = new Date(Math.abs(n) >= 1e11 ? n : n * 1000); // >=1e11 looks like milliseconds
      } else if (typeof v === 'string') {
        d = new Date(v);
      } else if (v instanceof Date) {
        d = new Date(v.getTime());
      } else {
        return null;
      }
      return Number.isNaN(d.getTime()) ? null : d;
    },

    /** Local time-of-day string (HH:MM:SS in the browser's locale), or DASH. */
    localTime(v, locale) {
      const d = Fmt.parseTimestamp(v);
      if (!d) return DASH;
      return d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    },

    /** Compare two numbers for the flash effect: "up" / "down" / null. */
    changeDirection(prev, next) {
      if (!isNum(prev) || !isNum(next) || prev === next) return null;
      return next > prev ? 'up' : 'down';
    },
  };

  /** Reconnect delay in ms: 1s, 2s, 4s ... capped at 30s, plus up to 20% jitter (still capped). */
  function backoffDelay(attempt, rand = Math.random) {
    const base = Math.min(30000, 1000 * Math.pow(2, Math.max(0, attempt)));
    const jitter = base * 0.2 * rand();
    return Math.round(Math.min(30000, base + jitter));
  }

  /* ---------------------------------------------------------------- DOM --- */

  function el(doc, tag, className, text) {
    const e = doc.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setTrendClass(node, trend) {
    node.classList.remove('up', 'down', 'flat');
    if (trend) node.classList.add(trend);
  }

  /** Restart a CSS flash animation on node. */
  function flash(node, dir) {
    if (!dir) return;
    node.classList.remove('flash-up', 'flash-down');
    void node.offsetWidth; // force reflow so the animation restarts
    node.classList.add(dir === 'up' ? 'flash-up' : 'flash-down');
  }

  /** Render the summary cards. prev (optional) is the previous summary, for flashing. */
  function renderSummary(doc, data, prev) {
    const d = data || {};
    const p = prev || {};
    const set = (id, text, prevVal, nextVal) => {
      const node = doc.getElementById(id);
      if (!node) return null;
      node.textContent = text;
      if (prev) flash(node, Fmt.changeDirection(prevVal, nextVal));
      return node;
    };
    set('market-cap', Fmt.usdCompact(d.total_market_cap_usd), p.total_market_cap_usd, d.total_market_cap_usd);
    set('volume', Fmt.usdCompact(d.total_volume_usd), p.total_volume_usd, d.total_volume_usd);
    const ch = set('market-change', Fmt.pctSigned(d.market_cap_change_24h_pct),
      p.market_cap_change_24h_pct, d.market_cap_change_24h_pct);
    if (ch) {
      setTrendClass(ch, Fmt.trend(d.market_cap_change_24h_pct));
      const t = Fmt.trend(d.market_cap_change_24h_pct);
      const card = doc.getElementById('card-change');
      if (card) card.dataset.trend = t || 'none';
    }
    set('btc-dominance', Fmt.pct(d.btc_dominance_pct), p.btc_dominance_pct, d.btc_dominance_pct);
    set('eth-dominance', Fmt.pct(d.eth_dominance_pct), p.eth_dominance_pct, d.eth_dominance_pct);
    set('active-coins', Fmt.integer(d.active_cryptocurrencies), p.active_cryptocurrencies, d.active_cryptocurrencies);
    const meter = (id, v) => {
      const m = doc.getElementById(id);
      if (m) m.style.width = isNum(v) ? `${Math.max(0, Math.min(100, v))}%` : '0%';
    };
    meter('btc-meter', d.btc_dominance_pct);
    meter('eth-meter', d.eth_dominance_pct);
  }

  function coinHue(id) {
    let h = 0;
    for (const c of String(id || '')) h = (h * 31 + c.codePointAt(0)) % 360;
    return h;
  }

  /** Build one table row for a coin. prevCoin (optional) drives the flash classes. */
  function buildRow(doc, coin, prevCoin) {
    const tr = el(doc, 'tr');
    tr.dataset.coin = coin.id || '';
    const rank = el(doc, 'td', 'num col-rank', isNum(coin.rank) ? String(coin.rank) : DASH);

    const nameTd = el(doc, 'th', 'col-name');
    nameTd.scope = 'row';
    const wrap = el(doc, 'span', 'coin');
    const avatar = el(doc, 'span', 'coin-avatar', (coin.symbol || coin.name || '?').slice(0, 1).toUpperCase());
    avatar.setAttribute('aria-hidden', 'true');
    avatar.style.setProperty('--hue', String(coinHue(coin.id || coin.symbol)));
    const nm = el(doc, 'span', 'coin-name', coin.name || coin.id || DASH);
    const sym = el(doc, 'span', 'coin-symbol', (coin.symbol || '').toUpperCase());
    wrap.append(avatar, nm, sym);
    nameTd.append(wrap);

    const price = el(doc, 'td', 'num price', Fmt.price(coin.price_usd));
    const change = el(doc, 'td', 'num change', Fmt.pctArrow(coin.change_24h_pct));
    setTrendClass(change, Fmt.trend(coin.change_24h_pct));
    const t = Fmt.trend(coin.change_24h_pct);
    if (t === 'up' || t === 'down') change.setAttribute('aria-label', `${t} ${Math.abs(coin.change_24h_pct).toFixed(2)} percent`);
    const mcap = el(doc, 'td', 'num col-mcap', Fmt.usdCompact(coin.market_cap_usd));

    for (const cell of [price, change, mcap]) if (cell.textContent === DASH) cell.classList.add('missing');
    if (prevCoin) {
      const pd = Fmt.changeDirection(prevCoin.price_usd, coin.price_usd);
      if (pd) price.classList.add(pd === 'up' ? 'flash-up' : 'flash-down');
      const cd = Fmt.changeDirection(prevCoin.change_24h_pct, coin.change_24h_pct);
      if (cd) change.classList.add(cd === 'up' ? 'flash-up' : 'flash-down');
      const md = Fmt.changeDirection(prevCoin.market_cap_usd, coin.market_cap_usd);
      if (md) mcap.classList.add(md === 'up' ? 'flash-up' : 'flash-down');
    }
    tr.append(rank, nameTd, price, change, mcap);
    return tr;
  }

  /** Replace the table body with rows for coins; prevCoins is the previous list (or null). */
  function renderTable(doc, tbody, coins, prevCoins) {
    if (!tbody) return;
    const prevById = new Map();
    if (Array.isArray(prevCoins)) for (const c of prevCoins) if (c && c.id) prevById.set(c.id, c);
    const frag = doc.createDocumentFragment();
    const list = Array.isArray(coins) ? coins.filter(Boolean) : [];
    if (list.length === 0) {
      const tr = el(doc, 'tr', 'empty-row');
      const td = el(doc, 'td', null, 'No market data available.');
      td.colSpan = 5;
      tr.append(td);
      frag.append(tr);
    } else {
      for (const coin of list) frag.append(buildRow(doc, coin, prevCoins ? prevById.get(coin.id) : null));
    }
    tbody.replaceChildren(frag);
  }

  const STATE_TEXT = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
  };

  /** Update the connection indicator. */
  function renderConnection(doc, state, text) {
    const node = doc.getElementById('connection');
    if (!node) return;
    node.dataset.state = state;
    const t = doc.getElementById('connection-text');
    const label = text || STATE_TEXT[state] || state;
    if (t && t.textContent !== label) t.textContent = label;
    // The screen-reader text changes only with the state (not every countdown tick),
    // so the polite live region does not chatter.
    const sr = doc.getElementById('connection-sr');
    const srLabel = `Connection status: ${(STATE_TEXT[state] || state).replace('…', '').toLowerCase()}`;
    if (sr && sr.textContent !== srLabel) sr.textContent = srLabel;
  }

  /** Update the "last update" element with a timestamp and the counter. */
  function renderLastUpdate(doc, ts, count) {
    const node = doc.getElementById('last-update');
    if (!node) return;
    const d = Fmt.parseTimestamp(ts);
    node.textContent = d ? Fmt.localTime(d) : DASH;
    if (d) {
      node.setAttribute('datetime', d.toISOString());
      node.title = d.toString();
    }
    if (count !== undefined) node.dataset.updates = String(count);
  }

  /* ---------------------------------------------------------- Controller --- */

  function startApp(win) {
    const doc = win.document;
    const tbody = doc.getElementById('markets-body');
    const errorNote = doc.getElementById('error-note');
    let current = null;   // last rendered summary
    let updates = 0;
    let ws = null;
    let attempt = 0;
    let retryTimer = null;
    let countdownTimer = null;
    let gotWsData = false;

    function showError(msg) {
      if (!errorNote) return;
      if (msg) { errorNote.textContent = msg; errorNote.hidden = false; }
      else { errorNote.textContent = ''; errorNote.hidden = true; }
    }

    function apply(summary, ts) {
      if (!summary || typeof summary !== 'object') return;
      renderSummary(doc, summary, current);
      renderTable(doc, tbody, summary.top_coins, current ? current.top_coins : null);
      current = summary;
      const stamp = ts !== undefined && ts !== null ? ts : summary.updated_at;
      renderLastUpdate(doc, stamp, updates);
      showError(null);
    }

    async function fetchInitial() {
      try {
        const res = await win.fetch('/api/crypto/dashboard-summary', { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const data = await res.json();
        if (!gotWsData) apply(data, data.updated_at); // don't overwrite a newer WS snapshot
      } catch (err) {
        if (!current) showError(`Could not load summary (${err.message}). Waiting for live data…`);
      }
    }

    function wsUrl() {
      const proto = win.location.protocol === 'https:' ? 'wss:' : 'ws:';
      return `${proto}//${win.location.host}/ws`;
    }

    function clearTimers() {
      if (retryTimer) { win.clearTimeout(retryTimer); retryTimer = null; }
      if (countdownTimer) { win.clearInterval(countdownTimer); countdownTimer = null; }
    }

    function onMessage(ev) {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'dashboard_update' && msg.data) {
        gotWsData = true;
        updates += 1;
        apply(msg.data, msg.timestamp !== undefined ? msg.timestamp : msg.data.updated_at);
      }
      // Unknown message types are ignored on purpose.
    }

    function connect() {
      clearTimers();
      if (win.navigator && win.navigator.onLine === false) { renderConnection(doc, 'offline'); return; }
      renderConnection(doc, attempt === 0 ? 'connecting' : 'reconnecting', attempt === 0 ? undefined : 'Reconnecting…');
      let sock;
      try { sock = new win.WebSocket(wsUrl()); } catch (_) { scheduleReconnect(); return; }
      ws = sock;
      sock.addEventListener('open', () => {
        if (ws !== sock) return;
        renderConnection(doc, 'live');
      });
      sock.addEventListener('message', (ev) => {
        if (ws !== sock) return;
        attempt = 0; // reset backoff only once data flows (not merely on open)
        onMessage(ev);
      });
      sock.addEventListener('close', () => {
        if (ws !== sock) return;
        ws = null;
        scheduleReconnect();
      });
      sock.addEventListener('error', () => { /* close follows; handled there */ });
    }

    function scheduleReconnect() {
      clearTimers();
      if (win.navigator && win.navigator.onLine === false) { renderConnection(doc, 'offline'); return; }
      const delay = backoffDelay(attempt);
      attempt += 1;
      const due = Date.now() + delay;
      const tick = () => {
        const secs = Math.max(1, Math.round((due - Date.now()) / 1000));
        renderConnection(doc, 'reconnecting', `Reconnecting in ${secs}s`);
      };
      tick();
      countdownTimer = win.setInterval(tick, 250);
      retryTimer = win.setTimeout(connect, delay);
    }

    win.addEventListener('offline', () => {
      clearTimers();
      if (ws) { const s = ws; ws = null; try { s.close(); } catch (_) { /* ignore */ } }
      renderConnection(doc, 'offline');
    });
    win.addEventListener('online', () => {
      attempt = 0;
      if (!ws) connect();
    });

    renderConnection(doc, 'connecting');
    fetchInitial();
    connect();

    return {
      get state() { const n = doc.getElementById('connection'); return n && n.dataset.state; },
      get updates() { return updates; },
    };
  }

  const api = { Fmt, backoffDelay, renderSummary, renderTable, renderConnection, renderLastUpdate, buildRow, startApp };

  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  }
  if (typeof window !== 'undefined' && typeof document !== 'undefined') {
    root.StrataDashboard = api;
    const boot = () => { api.app = startApp(window); };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
    else boot();
  }
})(typeof globalThis !== 'undefined' ? globalThis : this);
