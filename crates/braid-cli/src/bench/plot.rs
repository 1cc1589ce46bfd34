//! Throughput over time as a small hand-written SVG: one line per subflow (and per
//! direction), time on the x axis, Mbit/s on the y axis, a legend, and vertical
//! markers for events (a link going down). No dependency: the SVG is plain text.

use std::fmt::Write as _;

use braid_sim::metrics::Series;

/// One line: a value per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    /// Mbit/s in each bin, from time zero.
    pub mbps: Vec<f64>,
    pub dashed: bool,
}

impl Line {
    /// The bytes per bin of `series` as Mbit/s.
    pub fn from_series(label: impl Into<String>, series: &Series, dashed: bool) -> Line {
        let width = series.width().as_secs_f64();
        Line {
            label: label.into(),
            mbps: series
                .bytes()
                .iter()
                .map(|&b| b as f64 * 8.0 / width / 1e6)
                .collect(),
            dashed,
        }
    }

    /// The line with every `n` bins averaged into one.
    pub fn coarser(self, n: usize) -> Line {
        let n = n.max(1);
        Line {
            mbps: self
                .mbps
                .chunks(n)
                .map(|c| c.iter().sum::<f64>() / n as f64)
                .collect(),
            ..self
        }
    }
}

/// A plot of lines over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub title: String,
    /// A second line under the title (setup, result).
    pub subtitle: String,
    /// Width of a bin, seconds.
    pub bin_s: f64,
    pub lines: Vec<Line>,
    /// Vertical lines: (seconds, label).
    pub markers: Vec<(f64, String)>,
}

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 62.0;
const BOTTOM: f64 = 48.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to
/// `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let power = 10f64.powf(raw.log10().floor());
    let m = raw / power;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Trims a number's needless decimals: 2.50 -> "2.5", 10.0 -> "10".
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The plot as an SVG document.
pub fn svg(p: &Plot) -> String {
    let bins = p.lines.iter().map(|l| l.mbps.len()).max().unwrap_or(0);
    let t_max = (bins as f64 * p.bin_s)
        .max(p.markers.iter().map(|m| m.0).fold(0.0, f64::max))
        .max(p.bin_s);
    let y_data = p
        .lines
        .iter()
        .flat_map(|l| l.mbps.iter().copied())
        .fold(0.0, f64::max);
    let y_step = nice_step(y_data.max(1.0), 5.0);
    let y_max = (y_data / y_step).ceil().max(1.0) * y_step;
    let x_step = nice_step(t_max, 8.0);
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / t_max * pw;
    let y = |v: f64| TOP + ph - v / y_max * ph;

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(&p.title)
    );
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="40" fill="#444">{}</text>"##,
        escape(&p.subtitle)
    );
    // Grid and axes.
    let mut v = 0.0;
    while v <= y_max + y_step / 2.0 {
        let yy = y(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            num(v)
        );
        v += y_step;
    }
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            num(t)
        );
        t += x_step;
    }
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
        LEFT + pw / 2.0,
        HEIGHT - 10.0
    );
    let _ = writeln!(
        o,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">Mbit/s</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // Markers.
    for (t, label) in &p.markers {
        let xx = x(*t);
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#000" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            TOP + ph,
            xx + 3.0,
            TOP + 12.0,
            escape(label)
        );
    }
    // Lines: each bin's value at the middle of the bin.
    for (i, line) in p.lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        for (b, &v) in line.mbps.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", x((b as f64 + 0.5) * p.bin_s), y(v));
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"#,
            points.trim_end()
        );
        let ly = TOP + 10.0 + i as f64 * 18.0;
        let lx = LEFT + pw + 14.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            escape(&line.label)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarser_lines_average_their_bins() {
        let l = Line {
            label: String::new(),
            mbps: vec![1.0, 3.0, 5.0, 7.0, 9.0],
            dashed: false,
        };
        assert_eq!(l.coarser(2).mbps, [2.0, 6.0, 4.5]);
    }

    #[test]
    fn steps_are_one_two_or_five() {
        assert_eq!(nice_step(70.0, 5.0), 20.0);
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(nice_step(38.0, 8.0), 5.0);
    }

    #[test]
    fn an_svg_has_one_polyline_per_line_and_escapes_text() {
        let p = Plot {
            title: "a < b & c".into(),
            subtitle: String::new(),
            bin_s: 0.1,
            lines: vec![
                Line {
                    label: "x".into(),
                    mbps: vec![1.0, 2.0, 3.0],
                    dashed: false,
                },
                Line {
                    label: "y".into(),
                    mbps: vec![0.0; 5],
                    dashed: true,
                },
            ],
            markers: vec![(0.2, "down".into())],
        };
        let s = svg(&p);
        assert!(s.starts_with("<svg "));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("a &lt; b &amp; c"));
        assert!(!s.contains("NaN"));
    }
}
