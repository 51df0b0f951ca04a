//! The chart of a load report, as SVG text written here (no plotting crate): dispatch p50 and
//! p99 and API p99 against the offered rate, both axes logarithmic (the saturation search
//! multiplies the rate per step, and latencies span milliseconds to seconds), with the
//! 100 ms dispatch limit of the saturation rule drawn across.

use std::fmt::Write as _;

use crate::load::report::RunReport;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its legend.
    pub name: &'static str,
    /// Its colour (CSS).
    pub color: &'static str,
    /// `(offered tasks/s, latency ms)` points.
    pub points: Vec<(f64, f64)>,
}

/// The series of `runs`: dispatch p50, dispatch p99, API p99.
#[must_use]
pub fn series(runs: &[RunReport]) -> Vec<Series> {
    let line = |name, color, pick: fn(&RunReport) -> f64| Series {
        name,
        color,
        points: runs.iter().map(|r| (r.offered_per_s, pick(r))).collect(),
    };
    vec![
        line("dispatch p50", "#1f77b4", |r| r.dispatch.p50_ms),
        line("dispatch p99", "#d62728", |r| r.dispatch.p99_ms),
        line("API p99", "#2ca02c", |r| r.api.p99_ms),
    ]
}

/// A log-scaled axis over `[lo, hi]` (decades), mapped onto `[from, to]` pixels.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Axis {
    /// The decades around the positive `values` (one decade when they are all equal).
    fn around(values: impl Iterator<Item = f64>, from: f64, to: f64) -> Self {
        let (mut min, mut max) = (f64::INFINITY, 0.0f64);
        for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        if !min.is_finite() {
            (min, max) = (1.0, 10.0);
        }
        let lo = min.log10().floor();
        let hi = max.log10().ceil().max(lo + 1.0);
        Self { lo, hi, from, to }
    }

    fn at(&self, value: f64) -> f64 {
        let v = value.max(10f64.powf(self.lo)).log10();
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    fn decades(&self) -> impl Iterator<Item = f64> {
        (self.lo as i32..=self.hi as i32).map(|e| 10f64.powi(e))
    }
}

/// The SVG document of `series` under `title`.
#[must_use]
pub fn svg(title: &str, series: &[Series]) -> String {
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let x = Axis::around(points().map(|p| p.0), LEFT, WIDTH - RIGHT);
    let y = Axis::around(points().map(|p| p.1).chain([100.0]), HEIGHT - BOTTOM, TOP);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>
"#,
        WIDTH / 2.0,
        escape(title)
    );
    for d in x.decades() {
        let px = x.at(d);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            label(d)
        );
    }
    for d in y.decades() {
        let py = y.at(d);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            label(d)
        );
    }
    let limit = y.at(100.0);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{limit:.1}" x2="{:.1}" y2="{limit:.1}" stroke="#999" stroke-dasharray="6 4"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">offered tasks/s (log)</text><text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency, ms (log)</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 12.0,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let coords: Vec<String> = s
            .points
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", x.at(px), y.at(py)))
            .collect();
        if coords.len() > 1 {
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                coords.join(" ")
            );
        }
        for c in &coords {
            let (cx, cy) = c.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                out,
                r#"<circle cx="{cx}" cy="{cy}" r="3.5" fill="{}"/>"#,
                s.color
            );
        }
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let lx = WIDTH - RIGHT + 15.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 20.0,
            s.color,
            lx + 26.0,
            ly + 4.0,
            escape(s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A decade's label: `0.1`, `1`, `10`, `1k`, `10k`.
fn label(value: f64) -> String {
    if value >= 1000.0 {
        format!("{}k", value / 1000.0)
    } else {
        format!("{value}")
    }
}

/// `text` with the XML special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every tag closes in order (or closes itself) and that the root is `<svg>`.
    fn assert_well_formed(doc: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut rest = doc;
        let mut roots = 0;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("every tag ends") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "a tag inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "closing {name}");
            } else if !tag.ends_with('/') {
                let name = tag
                    .split_whitespace()
                    .next()
                    .expect("a tag name")
                    .to_owned();
                if open.is_empty() {
                    roots += 1;
                    assert_eq!(name, "svg", "the root is svg");
                }
                open.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert_eq!(roots, 1);
    }

    #[test]
    fn the_chart_is_well_formed_svg_with_one_line_per_series() {
        let series = vec![
            Series {
                name: "dispatch p50",
                color: "#000",
                points: vec![(50.0, 1.2), (100.0, 1.5), (200.0, 3.0)],
            },
            Series {
                name: "API <p99> & more",
                color: "#f00",
                points: vec![(50.0, 4.0), (100.0, 80.0), (200.0, 2_500.0)],
            },
        ];
        let doc = svg("load & saturation", &series);
        assert_well_formed(&doc);
        assert_eq!(doc.matches("<polyline").count(), 2);
        assert_eq!(doc.matches("<circle").count(), 6);
        assert!(doc.contains("load &amp; saturation"));
        assert!(doc.contains("API &lt;p99&gt; &amp; more"));
        assert!(!doc.contains("NaN") && !doc.contains("inf"), "{doc}");
    }

    #[test]
    fn a_single_run_or_no_data_still_draws_an_axis() {
        let one = vec![Series {
            name: "x",
            color: "#000",
            points: vec![(50.0, 0.0)],
        }];
        let doc = svg("one", &one);
        assert_well_formed(&doc);
        assert_eq!(doc.matches("<circle").count(), 1);
        assert_eq!(doc.matches("<polyline").count(), 0);
        let empty = svg("none", &[]);
        assert_well_formed(&empty);
        assert!(!empty.contains("NaN"));
    }

    #[test]
    fn log_axes_put_decades_evenly() {
        let axis = Axis::around([3.0, 450.0].into_iter(), 0.0, 300.0);
        assert_eq!((axis.lo, axis.hi), (0.0, 3.0));
        assert!((axis.at(10.0) - 100.0).abs() < 1e-9);
        assert!((axis.at(100.0) - 200.0).abs() < 1e-9);
        assert_eq!(axis.at(0.0), 0.0, "zero sits on the lowest decade");
        assert_eq!(label(10_000.0), "10k");
        assert_eq!(label(0.1), "0.1");
    }
}
