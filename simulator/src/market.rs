//! The synthetic coin universe and its price model.
//!
//! Every number served by the simulator is a pure function of a coin's seed
//! and a unix timestamp. That keeps responses reproducible (two requests in
//! the same second agree, a pinned [`crate::Clock`] gives identical bodies)
//! while still letting prices drift over minutes, hours and days like a real
//! market would — which is what caches, charts and dashboards under test need.

use std::collections::HashMap;
use std::num::NonZeroU32;

use crate::prng::{hash_str, mix, unit_f64};

/// Seconds in one day.
const DAY: u64 = 86_400;

/// Well-known coins, listed in (base) market-cap order:
/// `(id, symbol, name, base price in USD, circulating supply, volatility, daily turnover)`.
///
/// Base prices and supplies are in the right ballpark so that demos look
/// familiar; volatility scales the random walk (stablecoins barely move) and
/// turnover is the share of market cap traded per day.
const WELL_KNOWN: &[(&str, &str, &str, f64, f64, f64, f64)] = &[
    ("bitcoin", "btc", "Bitcoin", 60_000.0, 19.7e6, 0.10, 0.03),
    ("ethereum", "eth", "Ethereum", 3_000.0, 120.2e6, 0.13, 0.05),
    ("tether", "usdt", "Tether", 1.0, 110.0e9, 0.001, 0.50),
    ("binancecoin", "bnb", "BNB", 580.0, 147.0e6, 0.12, 0.02),
    ("solana", "sol", "Solana", 150.0, 460.0e6, 0.18, 0.06),
    ("ripple", "xrp", "XRP", 0.60, 56.0e9, 0.15, 0.04),
    ("usd-coin", "usdc", "USDC", 1.0, 32.0e9, 0.001, 0.20),
    ("cardano", "ada", "Cardano", 0.60, 35.5e9, 0.16, 0.03),
    ("dogecoin", "doge", "Dogecoin", 0.14, 145.0e9, 0.20, 0.05),
    ("tron", "trx", "TRON", 0.12, 87.0e9, 0.10, 0.04),
    ("polkadot", "dot", "Polkadot", 7.0, 1.45e9, 0.16, 0.03),
    ("chainlink", "link", "Chainlink", 15.0, 587.0e6, 0.17, 0.04),
    ("litecoin", "ltc", "Litecoin", 80.0, 75.0e6, 0.13, 0.06),
    (
        "avalanche-2",
        "avax",
        "Avalanche",
        14.0,
        400.0e6,
        0.18,
        0.05,
    ),
    (
        "shiba-inu",
        "shib",
        "Shiba Inu",
        0.000_009,
        589.0e12,
        0.22,
        0.04,
    ),
];

/// Smooth-noise octaves `(period in seconds, weight)` summed into the log price.
///
/// Long periods give the multi-week trends visible on yearly charts, short
/// ones make consecutive minutes differ. The walk is bounded (the weights sum
/// to about 2.1 times the coin's volatility), so prices can never run off to
/// zero or infinity no matter how long the simulator runs.
const PRICE_OCTAVES: &[(f64, f64)] = &[
    (90.0 * 86_400.0, 0.80),
    (7.0 * 86_400.0, 0.60),
    (86_400.0, 0.35),
    (3.0 * 3_600.0, 0.20),
    (20.0 * 60.0, 0.10),
    (2.0 * 60.0, 0.04),
];

/// Salt separating the volume noise stream from the price noise streams.
const VOLUME_SALT: u64 = 0x5EED_0FA1_1B00_C0DE;

/// One simulated coin and the parameters of its price model.
#[derive(Debug, Clone)]
pub struct Coin {
    /// CoinGecko-style id, e.g. `bitcoin` or `coin-0016`.
    pub id: String,
    /// Lower-case ticker symbol, e.g. `btc`.
    pub symbol: String,
    /// Human readable name.
    pub name: String,
    /// Circulating supply; constant, so market cap moves with price only.
    pub circulating_supply: f64,
    base_price: f64,
    volatility: f64,
    turnover: f64,
    seed: u64,
}

/// Price, market cap and 24h volume of a coin at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Price in USD.
    pub price: f64,
    /// Market cap in USD (whole dollars).
    pub market_cap: f64,
    /// Rolling 24h traded volume in USD (whole dollars).
    pub total_volume: f64,
}

/// A quote plus the 24h statistics shown by `/coins/markets`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticker {
    /// The quote at the requested instant.
    pub quote: Quote,
    /// Highest sampled price over the preceding 24h.
    pub high_24h: f64,
    /// Lowest sampled price over the preceding 24h.
    pub low_24h: f64,
    /// Absolute price change versus 24h earlier.
    pub price_change_24h: f64,
    /// Relative price change versus 24h earlier, in percent.
    pub price_change_percentage_24h: f64,
}

impl Coin {
    fn new(
        id: String,
        symbol: String,
        name: String,
        base_price: f64,
        circulating_supply: f64,
        volatility: f64,
        turnover: f64,
    ) -> Self {
        let seed = hash_str(&id);
        Self {
            id,
            symbol,
            name,
            circulating_supply,
            base_price,
            volatility,
            turnover,
            seed,
        }
    }

    /// A synthetic long-tail coin at 1-based market-cap position `n`.
    ///
    /// Base market cap follows a power law so the tail keeps shrinking
    /// smoothly however many coins are requested; price level, volatility and
    /// turnover are drawn from the id's seed so every coin looks different.
    fn synthetic(n: usize) -> Self {
        let id = format!("coin-{n:04}");
        let seed = hash_str(&id);
        let u = |salt: u64| unit_f64(mix(seed ^ salt));
        let base_cap = 5.0e9 * (15.0 / n as f64).powf(1.5);
        // Log-uniform between 0.0001 and 100 USD.
        let base_price = 10f64.powf(-4.0 + 6.0 * u(1));
        Self::new(
            id,
            format!("c{n:04}"),
            format!("Coin {n:04}"),
            base_price,
            base_cap / base_price,
            0.12 + 0.20 * u(2),
            0.01 + 0.14 * u(3),
        )
    }

    /// Price in USD at unix time `t` (seconds). Always finite and positive.
    pub fn price_at(&self, t: u64) -> f64 {
        let t = t as f64;
        let walk: f64 = PRICE_OCTAVES
            .iter()
            .enumerate()
            .map(|(i, &(period, weight))| {
                weight * smooth_noise(mix(self.seed ^ (i as u64 + 1)), t / period)
            })
            .sum();
        self.base_price * (self.volatility * walk).exp()
    }

    /// Full quote at unix time `t` (seconds).
    pub fn quote_at(&self, t: u64) -> Quote {
        let price = self.price_at(t);
        let market_cap = price * self.circulating_supply;
        let activity = (0.35 * smooth_noise(self.seed ^ VOLUME_SALT, t as f64 / 10_800.0)).exp();
        Quote {
            price,
            market_cap: market_cap.round(),
            total_volume: (market_cap * self.turnover * activity).round(),
        }
    }

    /// Quote plus 24h high/low/change at unix time `t` (seconds).
    ///
    /// High and low are sampled every 15 minutes (and at `t` itself), which is
    /// cheap enough to do per request and guarantees `low <= price <= high`.
    pub fn ticker_at(&self, t: u64) -> Ticker {
        const SAMPLE_STEP: u64 = 15 * 60;
        let quote = self.quote_at(t);
        let (mut high, mut low) = (quote.price, quote.price);
        for k in 1..=DAY / SAMPLE_STEP {
            let p = self.price_at(t.saturating_sub(k * SAMPLE_STEP));
            high = high.max(p);
            low = low.min(p);
        }
        let before = self.price_at(t.saturating_sub(DAY));
        let change = quote.price - before;
        Ticker {
            quote,
            high_24h: high,
            low_24h: low,
            price_change_24h: change,
            price_change_percentage_24h: change / before * 100.0,
        }
    }

    /// Time series for `/coins/{id}/market_chart`, oldest first, ending at `now`.
    ///
    /// Granularity follows CoinGecko's automatic rules: 5-minute points for
    /// one day, hourly up to 90 days, daily beyond (capped at 365 days).
    pub fn chart(&self, now: u64, days: NonZeroU32) -> Vec<(u64, Quote)> {
        let (step, count) = chart_grid(days);
        (0..count)
            .rev()
            .map(|k| {
                let t = now.saturating_sub(k * step);
                (t, self.quote_at(t))
            })
            .collect()
    }
}

/// `(step in seconds, number of points)` for a market chart spanning `days`.
pub fn chart_grid(days: NonZeroU32) -> (u64, u64) {
    match days.get() {
        1 => (300, 288),
        d @ 2..=90 => (3_600, u64::from(d) * 24),
        d => (DAY, u64::from(d.min(365))),
    }
}

/// C1-continuous value noise in `[-1, 1]`: random knots at integer `x`,
/// smoothstep-interpolated in between, so prices never jump.
fn smooth_noise(seed: u64, x: f64) -> f64 {
    let floor = x.floor();
    let frac = x - floor;
    let k = floor as i64;
    let knot = |k: i64| unit_f64(mix(seed ^ mix(k as u64))) * 2.0 - 1.0;
    let (a, b) = (knot(k), knot(k + 1));
    let s = frac * frac * (3.0 - 2.0 * frac);
    a + (b - a) * s
}

/// Market-wide aggregates for `/global`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSnapshot {
    /// Sum of all market caps now.
    pub total_market_cap: f64,
    /// Sum of all 24h volumes now.
    pub total_volume: f64,
    /// Change of the total market cap versus 24h earlier, in percent.
    pub market_cap_change_percentage_24h: f64,
    /// `(symbol, share of total market cap in percent)` for the top 10 coins.
    pub dominance: Vec<(String, f64)>,
}

/// The full set of simulated coins with lookup indexes.
#[derive(Debug, Clone)]
pub struct Market {
    coins: Vec<Coin>,
    by_id: HashMap<String, usize>,
    by_symbol: HashMap<String, usize>,
}

impl Market {
    /// Builds a universe of `count` coins: the well-known ones first (truncated
    /// if `count` is smaller), then synthetic `coin-NNNN` entries.
    pub fn new(count: usize) -> Self {
        let coins: Vec<Coin> = (1..=count)
            .map(|n| match WELL_KNOWN.get(n - 1) {
                Some(&(id, symbol, name, price, supply, vol, turnover)) => Coin::new(
                    id.to_owned(),
                    symbol.to_owned(),
                    name.to_owned(),
                    price,
                    supply,
                    vol,
                    turnover,
                ),
                None => Coin::synthetic(n),
            })
            .collect();
        let by_id = coins
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let by_symbol = coins
            .iter()
            .enumerate()
            .map(|(i, c)| (c.symbol.clone(), i))
            .collect();
        Self {
            coins,
            by_id,
            by_symbol,
        }
    }

    /// All coins in base market-cap order.
    pub fn coins(&self) -> &[Coin] {
        &self.coins
    }

    /// Number of coins.
    pub fn len(&self) -> usize {
        self.coins.len()
    }

    /// Whether the universe is empty.
    pub fn is_empty(&self) -> bool {
        self.coins.is_empty()
    }

    /// Looks a coin up by id, case-insensitively.
    pub fn by_id(&self, id: &str) -> Option<&Coin> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.coins[i])
    }

    /// Looks a coin up by symbol, case-insensitively.
    pub fn by_symbol(&self, symbol: &str) -> Option<&Coin> {
        self.by_symbol
            .get(&symbol.to_ascii_lowercase())
            .map(|&i| &self.coins[i])
    }

    /// Every coin with its quote at `t`, sorted by live market cap (descending).
    ///
    /// Ranks are recomputed from live caps, so neighbours in the long tail can
    /// swap places over time just like on the real site.
    pub fn ranked_at(&self, t: u64) -> Vec<(&Coin, Quote)> {
        let mut ranked: Vec<(&Coin, Quote)> =
            self.coins.iter().map(|c| (c, c.quote_at(t))).collect();
        ranked.sort_by(|a, b| b.1.market_cap.total_cmp(&a.1.market_cap));
        ranked
    }

    /// Market-wide aggregates at `t`.
    pub fn global_at(&self, t: u64) -> GlobalSnapshot {
        let ranked = self.ranked_at(t);
        let total_market_cap: f64 = ranked.iter().map(|(_, q)| q.market_cap).sum();
        let total_volume: f64 = ranked.iter().map(|(_, q)| q.total_volume).sum();
        let cap_before: f64 = self
            .coins
            .iter()
            .map(|c| c.quote_at(t.saturating_sub(DAY)).market_cap)
            .sum();
        let share = |cap: f64| {
            if total_market_cap > 0.0 {
                cap / total_market_cap * 100.0
            } else {
                0.0
            }
        };
        let change = if cap_before > 0.0 {
            (total_market_cap - cap_before) / cap_before * 100.0
        } else {
            0.0
        };
        GlobalSnapshot {
            total_market_cap,
            total_volume,
            market_cap_change_percentage_24h: change,
            dominance: ranked
                .iter()
                .take(10)
                .map(|(c, q)| (c.symbol.clone(), share(q.market_cap)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_714_564_800; // 2024-05-01T12:00:00Z

    fn days(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("test uses non-zero days")
    }

    #[test]
    fn prices_are_finite_and_positive_over_a_year() {
        let market = Market::new(200);
        for coin in market.coins() {
            for h in (0..365 * 24).step_by(7) {
                let p = coin.price_at(T0 + h * 3_600);
                assert!(p.is_finite() && p > 0.0, "{} at +{h}h: {p}", coin.id);
            }
        }
    }

    #[test]
    fn same_time_gives_same_price() {
        let a = Market::new(50);
        let b = Market::new(50);
        for (x, y) in a.coins().iter().zip(b.coins()) {
            assert_eq!(x.quote_at(T0), y.quote_at(T0));
        }
    }

    #[test]
    fn prices_move_over_minutes_but_not_jump() {
        let btc = Market::new(1).coins()[0].clone();
        let p0 = btc.price_at(T0);
        let p1 = btc.price_at(T0 + 600);
        assert_ne!(p0, p1);
        assert!(
            (p1 / p0 - 1.0).abs() < 0.05,
            "10 minutes moved {p0} -> {p1}"
        );
    }

    #[test]
    fn bitcoin_stays_near_its_base_price() {
        let market = Market::new(15);
        let btc = market.by_id("bitcoin").expect("bitcoin exists");
        let p = btc.price_at(T0);
        assert!((30_000.0..120_000.0).contains(&p), "{p}");
    }

    #[test]
    fn well_known_coins_come_first_then_synthetic_ones() {
        let market = Market::new(20);
        assert_eq!(market.len(), 20);
        assert_eq!(market.coins()[0].id, "bitcoin");
        assert_eq!(market.coins()[1].symbol, "eth");
        let c = &market.coins()[15];
        assert_eq!(
            (c.id.as_str(), c.symbol.as_str(), c.name.as_str()),
            ("coin-0016", "c0016", "Coin 0016")
        );
    }

    #[test]
    fn lookups_are_case_insensitive() {
        let market = Market::new(20);
        assert_eq!(
            market.by_symbol("BTC").map(|c| c.id.as_str()),
            Some("bitcoin")
        );
        assert_eq!(
            market.by_id("Ethereum").map(|c| c.symbol.as_str()),
            Some("eth")
        );
        assert!(market.by_id("nope").is_none());
    }

    #[test]
    fn ticker_high_low_bracket_the_price() {
        for coin in Market::new(30).coins() {
            let t = coin.ticker_at(T0);
            assert!(t.low_24h <= t.quote.price && t.quote.price <= t.high_24h);
            assert!(t.price_change_percentage_24h.is_finite());
        }
    }

    #[test]
    fn chart_point_counts_follow_granularity_rules() {
        let btc = Market::new(1).coins()[0].clone();
        assert_eq!(btc.chart(T0, days(1)).len(), 288);
        assert_eq!(btc.chart(T0, days(2)).len(), 48);
        assert_eq!(btc.chart(T0, days(30)).len(), 720);
        assert_eq!(btc.chart(T0, days(90)).len(), 2_160);
        assert_eq!(btc.chart(T0, days(91)).len(), 91);
        assert_eq!(btc.chart(T0, days(10_000)).len(), 365);
    }

    #[test]
    fn chart_ends_now_with_even_spacing() {
        let btc = Market::new(1).coins()[0].clone();
        let chart = btc.chart(T0, days(7));
        assert_eq!(chart.last().map(|p| p.0), Some(T0));
        assert!(chart.windows(2).all(|w| w[1].0 - w[0].0 == 3_600));
    }

    #[test]
    fn global_dominance_is_led_by_bitcoin() {
        let g = Market::new(100).global_at(T0);
        assert_eq!(g.dominance.first().map(|d| d.0.as_str()), Some("btc"));
        assert!(g.total_market_cap > 1.0e12);
        let total: f64 = g.dominance.iter().map(|d| d.1).sum();
        assert!(total <= 100.0 + 1e-9);
    }

    #[test]
    fn empty_market_has_zero_totals() {
        let g = Market::new(0).global_at(T0);
        assert_eq!(g.total_market_cap, 0.0);
        assert!(g.dominance.is_empty());
    }
}
