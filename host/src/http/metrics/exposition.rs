//! The Prometheus text format, written by hand: it is small and stable,
//! and escaping every label value here is what keeps a guest- or
//! client-chosen string from forging a series.

use std::fmt::Write as _;

/// A Prometheus text-format document under construction.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

pub(super) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exposition {
    /// The `HELP` and `TYPE` lines of a metric.
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.write(name, labels, None, value);
    }

    pub(super) fn sample_with(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        extra: (&str, &str),
        value: f64,
    ) {
        self.write(name, labels, Some(extra), value);
    }

    fn write(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        let mut all: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            all.push(format!("{k}=\"{}\"", escape(v)));
        }
        if all.is_empty() {
            let _ = writeln!(self.text, "{name} {value}");
        } else {
            let _ = writeln!(self.text, "{name}{{{}}} {value}", all.join(","));
        }
    }

    /// A counter with one sample per cache tier.
    pub(super) fn per_tier(&mut self, name: &str, help: &str, l1: u64, l2: u64) {
        self.header(name, "counter", help);
        self.sample(name, &[("tier", "l1")], l1 as f64);
        self.sample(name, &[("tier", "l2")], l2 as f64);
    }

    /// A metric with one sample per value of one label.
    pub(super) fn per_label<'a>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        samples: impl IntoIterator<Item = (&'a str, f64)>,
    ) {
        self.header(name, kind, help);
        for (value, sample) in samples {
            self.sample(name, &[(label, value)], sample);
        }
    }

    /// A metric with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.header(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.text
    }
}
