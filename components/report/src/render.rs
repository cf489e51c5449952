//! Self-contained HTML for a report: no external CSS, fonts or scripts, so a
//! page renders the same when saved, emailed or printed to PDF offline.

use std::fmt::Write as _;

use strata_sdk::time::DateTime;

use crate::Report;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Pieces both layouts share, escaped once.
struct Fields {
    id: i64,
    title: String,
    symbol: String,
    timeframe: String,
    when: DateTime,
}

impl Fields {
    fn of(report: &Report) -> Self {
        Fields {
            id: report.id,
            title: escape(&report.title),
            symbol: escape(&report.symbol.to_uppercase()),
            timeframe: escape(&report.timeframe),
            when: DateTime::from_unix_micros(report.created_at_micros),
        }
    }

    fn long_date(&self) -> String {
        format!(
            "{} {} {}",
            self.when.day,
            self.when.month_name(),
            self.when.year
        )
    }
}

const WEB_CSS: &str = r#"
:root { --ink:#1c2430; --muted:#5f6b7a; --line:#e3e8ef; --accent:#2f6fed; --bg:#f5f7fb; --card:#fff; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 17px/1.65 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.site { background: #121a26; color: #fff; }
header.site .inner { max-width: 860px; margin: 0 auto; padding: 14px 24px; display: flex;
  align-items: center; justify-content: space-between; }
header.site .brand { font-weight: 700; letter-spacing: .04em; }
header.site .brand span { color: #7fa7ff; }
header.site a { color: #c9d6ea; text-decoration: none; font-size: 14px; }
header.site a:hover { color: #fff; }
main { max-width: 860px; margin: 32px auto 48px; padding: 0 24px; }
article { background: var(--card); border: 1px solid var(--line); border-radius: 14px;
  box-shadow: 0 1px 2px rgba(16,24,40,.04), 0 8px 24px rgba(16,24,40,.06); overflow: hidden; }
.hero { padding: 36px 40px 24px; border-bottom: 1px solid var(--line);
  background: linear-gradient(180deg, #fbfcff 0%, #fff 100%); }
.tags { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 14px; }
.tag { display: inline-block; padding: 3px 10px; border-radius: 999px; font-size: 13px;
  font-weight: 600; background: #eef3ff; color: var(--accent); }
.tag.muted { background: #f0f2f5; color: var(--muted); }
h1 { margin: 0 0 10px; font-size: clamp(26px, 4vw, 36px); line-height: 1.2; letter-spacing: -.01em; }
.meta { color: var(--muted); font-size: 14px; }
.content { padding: 28px 40px 40px; }
.content h2 { font-size: 22px; margin: 1.6em 0 .5em; }
.content h3 { font-size: 18px; margin: 1.4em 0 .4em; }
.content p { margin: 0 0 1em; }
.content a { color: var(--accent); }
.content img, .content svg { max-width: 100%; height: auto; }
.content table { width: 100%; border-collapse: collapse; margin: 1em 0; font-size: 15px; }
.content th, .content td { border-bottom: 1px solid var(--line); padding: 8px 10px; text-align: left; }
.content th { background: #f8fafc; font-weight: 600; }
.content blockquote { margin: 1em 0; padding: 8px 16px; border-left: 4px solid var(--accent);
  background: #f8faff; color: #344054; }
.content code { background: #f0f2f5; border-radius: 4px; padding: 1px 5px; font-size: .9em; }
footer.site { max-width: 860px; margin: 0 auto 40px; padding: 0 24px; color: var(--muted);
  font-size: 13px; display: flex; justify-content: space-between; gap: 16px; flex-wrap: wrap; }
@media (max-width: 600px) { .hero, .content { padding-left: 20px; padding-right: 20px; } }
@media print { header.site, footer.site { display: none; } body { background: #fff; }
  article { border: 0; box-shadow: none; } }
"#;

/// The report as a web page.
pub fn page(report: &Report) -> String {
    let f = Fields::of(report);
    let mut html = String::with_capacity(report.body.len() + WEB_CSS.len() + 2048);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {symbol} report</title>
<style>{css}</style>
</head>
<body>
<header class="site"><div class="inner">
<div class="brand">Strata <span>Research</span></div>
<a href="/reports/{id}/pdf-template">Print version</a>
</div></header>
<main>
<article>
<div class="hero">
<div class="tags"><span class="tag">{symbol}</span><span class="tag muted">{timeframe}</span></div>
<h1>{title}</h1>
<div class="meta">Published <time datetime="{iso}">{long_date}, {time} UTC</time> · Report #{id}</div>
</div>
<div class="content">
{body}
</div>
</article>
</main>
<footer class="site"><span>Report #{id} · {symbol} · {timeframe}</span><span>Generated by Strata</span></footer>
</body>
</html>
"#,
        title = f.title,
        symbol = f.symbol,
        timeframe = f.timeframe,
        id = f.id,
        css = WEB_CSS,
        iso = f.when.rfc3339(),
        long_date = f.long_date(),
        time = format_args!("{:02}:{:02}", f.when.hour, f.when.minute),
        body = report.body,
    );
    html
}

const PRINT_CSS: &str = r#"
@page { size: A4; margin: 24mm 18mm 22mm 18mm; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; background: #fff; color: #111; }
body { font: 10.5pt/1.5 Georgia, "Times New Roman", serif; }
.running-header, .running-footer { position: fixed; left: 0; right: 0;
  font: 8pt/1.2 "Helvetica Neue", Arial, sans-serif; color: #555;
  display: flex; justify-content: space-between; }
.running-header { top: -16mm; border-bottom: .4pt solid #999; padding-bottom: 2mm; }
.running-footer { bottom: -14mm; border-top: .4pt solid #999; padding-top: 2mm; }
.title-block { border-bottom: 1.2pt solid #111; padding-bottom: 5mm; margin-bottom: 7mm; }
.kicker { font: 600 8.5pt/1.2 "Helvetica Neue", Arial, sans-serif; letter-spacing: .12em;
  text-transform: uppercase; color: #444; margin-bottom: 3mm; }
h1 { font-size: 22pt; line-height: 1.15; margin: 0 0 3mm; }
.meta { font: 9pt/1.4 "Helvetica Neue", Arial, sans-serif; color: #444; }
.content h2 { font-size: 14pt; margin: 6mm 0 2mm; break-after: avoid; page-break-after: avoid; }
.content h3 { font-size: 12pt; margin: 5mm 0 2mm; break-after: avoid; page-break-after: avoid; }
.content p { margin: 0 0 3mm; orphans: 3; widows: 3; }
.content a { color: inherit; text-decoration: none; }
.content table { width: 100%; border-collapse: collapse; margin: 3mm 0; font-size: 9pt;
  break-inside: avoid; page-break-inside: avoid; }
.content th, .content td { border-bottom: .4pt solid #999; padding: 1.5mm 2mm; text-align: left; }
.content img, .content svg, .content figure { max-width: 100%; break-inside: avoid; page-break-inside: avoid; }
.content blockquote { margin: 3mm 0; padding-left: 4mm; border-left: 1.5pt solid #555; }
"#;

/// The report laid out for A4 printing (and HTML-to-PDF converters): no
/// navigation, and a running header and footer carrying the report id and
/// date on every page.
pub fn print_template(report: &Report) -> String {
    let f = Fields::of(report);
    let mut html = String::with_capacity(report.body.len() + PRINT_CSS.len() + 2048);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Report #{id} · {title}</title>
<style>{css}</style>
</head>
<body>
<div class="running-header"><span>Strata Research · {symbol} · {timeframe}</span><span>Report #{id}</span></div>
<div class="running-footer"><span>Report #{id} · {date}</span><span>Generated by Strata</span></div>
<div class="title-block">
<div class="kicker">{symbol} · {timeframe}</div>
<h1>{title}</h1>
<div class="meta">Report #{id} · Published {long_date}, {time} UTC</div>
</div>
<div class="content">
{body}
</div>
</body>
</html>
"#,
        id = f.id,
        title = f.title,
        symbol = f.symbol,
        timeframe = f.timeframe,
        css = PRINT_CSS,
        date = f.when.date(),
        long_date = f.long_date(),
        time = format_args!("{:02}:{:02}", f.when.hour, f.when.minute),
        body = report.body,
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            id: 7,
            symbol: "btc".into(),
            timeframe: "1d".into(),
            title: "Bulls & <bears>".into(),
            body: "<p>Trusted <strong>analysis</strong></p>".into(),
            created_at_micros: 1_709_210_096_000_000,
        }
    }

    #[test]
    fn escapes_text_but_not_the_trusted_body() {
        let html = page(&report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("Bulls &amp; &lt;bears&gt;"));
        assert!(!html.contains("<bears>"));
        assert!(html.contains("<p>Trusted <strong>analysis</strong></p>"));
        assert!(html.contains("29 February 2024, 12:34 UTC"));
        assert!(html.contains(r#"datetime="2024-02-29T12:34:56Z""#));
        assert!(html.contains(">BTC<"));
    }

    #[test]
    fn print_template_is_a4_with_id_and_date() {
        let html = print_template(&report());
        assert!(html.contains("size: A4"));
        assert!(html.contains("Report #7 · 2024-02-29"));
        assert!(!html.contains("<header class=\"site\""));
    }

    #[test]
    fn escape_covers_attribute_quotes() {
        assert_eq!(escape(r#"a"b'c"#), "a&quot;b&#39;c");
    }
}
