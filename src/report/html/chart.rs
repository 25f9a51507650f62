//! One line chart as inline SVG: title, legend, axes with units and nice
//! ticks, optional right axis, linear or log y, shaded fault windows, and the
//! `data-*` attributes the page's hover script reads.
//!
//! Why a single generic chart: every time chart and the percentile spectrum
//! differ only in their x mapping and their series, so one renderer keeps
//! every chart's look (and its tests) in one place.

use std::fmt::Write as _;

use super::escape;
use super::scale::{self, Ticks};

/// Width of every chart's coordinate system (the SVG scales to the page).
const WIDTH: f64 = 1000.0;
/// Height of the plot area.
const PLOT_H: f64 = 230.0;
/// Font size of legend entries, for the width estimate that wraps the legend.
const LEGEND_CHAR_W: f64 = 7.5;

/// What the x axis shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum XAxis {
    /// Seconds since the run started, from `t0` to `t1`.
    Time { t0: f64, t1: f64 },
    /// HdrHistogram's percentile axis: x = log10(1/(1-p)), 0 to `decades`.
    Percentile { decades: u32 },
}

/// Linear or logarithmic y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum YScale {
    Linear,
    Log,
}

/// One y axis: its label (with unit) and scale.
#[derive(Debug, Clone)]
pub(crate) struct YAxis {
    pub(crate) label: String,
    pub(crate) scale: YScale,
}

/// One series, already downsampled; `points` are `(x, y)` in axis units (x in
/// seconds or percentile position), `y` NaN where there is no data.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) legend: String,
    pub(crate) unit: &'static str,
    pub(crate) color: &'static str,
    pub(crate) dash: &'static str,
    pub(crate) right: bool,
    pub(crate) points: Vec<(f64, f64)>,
}

/// A fault window shaded on time charts.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) label: String,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
}

/// A chart to draw.
#[derive(Debug, Clone)]
pub(crate) struct Chart<'a> {
    /// Prefix of the SVG's element ids; unique in the page.
    pub(crate) id: &'a str,
    pub(crate) title: &'a str,
    pub(crate) x: XAxis,
    pub(crate) left: YAxis,
    pub(crate) right: Option<YAxis>,
    pub(crate) lines: Vec<Line>,
    pub(crate) windows: &'a [Window],
}

/// A y axis resolved to ticks and a pixel mapping.
struct YMap {
    ticks: Ticks,
    log: bool,
    top: f64,
    bottom: f64,
}

impl YMap {
    fn new(axis: &YAxis, lines: &[&Line], top: f64, bottom: f64) -> Self {
        let log = axis.scale == YScale::Log;
        let ys = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && (!log || *y > 0.0));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        let ticks = if log {
            scale::log_extent(lo, hi)
        } else if lo > hi {
            scale::nice_extent(0.0, 1.0, 5)
        } else {
            // A little headroom so a series at its maximum is not hidden by the frame.
            let lo = lo.min(0.0);
            scale::nice_extent(lo, hi + (hi - lo) * 0.03, 5)
        };
        Self {
            ticks,
            log,
            top,
            bottom,
        }
    }

    /// Pixel row of `v`, or None where it cannot be drawn (NaN, ≤ 0 on log).
    fn px(&self, v: f64) -> Option<f64> {
        let (lo, hi, v) = if self.log {
            if v.is_nan() || v <= 0.0 {
                return None;
            }
            (self.ticks.lo.log10(), self.ticks.hi.log10(), v.log10())
        } else {
            (self.ticks.lo, self.ticks.hi, v)
        };
        if !v.is_finite() {
            return None;
        }
        let f = ((v - lo) / (hi - lo)).clamp(-0.05, 1.05);
        Some(self.bottom - f * (self.bottom - self.top))
    }

    fn label(&self, v: f64) -> String {
        let step = if self.log { v } else { self.ticks.step };
        scale::fmt_tick(v, step)
    }
}

/// Formats a data value for `data-p` compactly ("12.5", "NaN").
fn fmt_data(v: f64) -> String {
    if !v.is_finite() {
        return "NaN".to_owned();
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Lays legend entries out in rows: `(row, x)` per entry and the row count.
fn legend_layout(lines: &[Line], left: f64, right: f64) -> (Vec<(usize, f64)>, usize) {
    let mut out = Vec::with_capacity(lines.len());
    let (mut row, mut x) = (0, left);
    for l in lines {
        let w = 30.0 + l.legend.chars().count() as f64 * LEGEND_CHAR_W + 22.0;
        if x + w > right && x > left {
            row += 1;
            x = left;
        }
        out.push((row, x));
        x += w;
    }
    (out, row + 1)
}

/// Renders `c` as one `<svg class="chart">` element.
pub(crate) fn render(c: &Chart<'_>) -> String {
    let left = 78.0;
    // The same margins on every chart, so stacked time charts line up.
    let right = WIDTH - 78.0;
    let (legend, rows) = legend_layout(&c.lines, left, right);
    let top = 34.0 + 18.0 * rows as f64 + 10.0;
    let bottom = top + PLOT_H;
    let height = bottom + 46.0;
    let (u0, u1) = match c.x {
        XAxis::Time { t0, t1 } => (t0, if t1 > t0 { t1 } else { t0 + 1.0 }),
        XAxis::Percentile { decades } => (0.0, f64::from(decades.max(1))),
    };
    let xpx = |u: f64| left + (u - u0) / (u1 - u0) * (right - left);
    let side = |r: bool| c.lines.iter().filter(|l| l.right == r).collect::<Vec<_>>();
    let ly = YMap::new(&c.left, &side(false), top, bottom);
    let ry = c
        .right
        .as_ref()
        .map(|a| YMap::new(a, &side(true), top, bottom));
    let id = escape(c.id);
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}" data-x0="{left}" data-x1="{right}" data-u0="{u0}" data-u1="{u1}" data-xk="{xk}"><title>{t}</title>"#,
        t = escape(c.title),
        xk = if matches!(c.x, XAxis::Time { .. }) {
            "time"
        } else {
            "pct"
        },
    );
    let _ = write!(
        s,
        r##"<defs><clipPath id="{id}-clip"><rect x="{left}" y="{top}" width="{w}" height="{PLOT_H}"/></clipPath><pattern id="{id}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fbe3d6"/><line x1="0" y1="0" x2="0" y2="8" stroke="#d6604d" stroke-width="2.5" stroke-opacity="0.55"/></pattern></defs>"##,
        w = right - left,
    );
    let _ = write!(
        s,
        r#"<text class="ctitle" x="{left}" y="22">{}</text><rect class="plot" x="{left}" y="{top}" width="{w}" height="{PLOT_H}"/>"#,
        escape(c.title),
        w = right - left,
    );
    let fault_labels = draw_fault_windows(&mut s, c, &id, &xpx, (u0, u1), (top, bottom));
    draw_y_axis(&mut s, &ly, &c.left, left, right, false);
    if let (Some(ry), Some(axis)) = (&ry, &c.right) {
        draw_y_axis(&mut s, ry, axis, left, right, true);
    }
    draw_x_axis(&mut s, c.x, (u0, u1), &xpx, bottom);
    let mut any = false;
    for l in &c.lines {
        let y = if l.right {
            ry.as_ref().unwrap_or(&ly)
        } else {
            &ly
        };
        any |= draw_line(&mut s, l, &id, &xpx, y);
    }
    if !any {
        let _ = write!(
            s,
            r#"<text class="nodata" x="{}" y="{}" text-anchor="middle">no data</text>"#,
            (left + right) / 2.0,
            (top + bottom) / 2.0
        );
    }
    s.push_str(&fault_labels);
    for (l, (row, x)) in c.lines.iter().zip(&legend) {
        let y = 40.0 + 18.0 * *row as f64;
        let _ = write!(
            s,
            r#"<g class="legend"><line x1="{x:.1}" y1="{ly}" x2="{x2:.1}" y2="{ly}" stroke="{c}" stroke-width="3" stroke-dasharray="{d}"/><text x="{tx:.1}" y="{y}">{t}</text></g>"#,
            ly = y - 4.0,
            x2 = x + 24.0,
            c = l.color,
            d = l.dash,
            tx = x + 30.0,
            t = escape(&l.legend),
        );
    }
    let _ = write!(
        s,
        r#"<line class="hair" x1="0" x2="0" y1="{top}" y2="{bottom}" visibility="hidden"/></svg>"#
    );
    s
}

/// Shades each fault window over the plot; returns their labels (drawn last,
/// over the series), each moved down a row when it would overlap another.
fn draw_fault_windows(
    s: &mut String,
    c: &Chart<'_>,
    id: &str,
    xpx: &dyn Fn(f64) -> f64,
    (u0, u1): (f64, f64),
    (top, bottom): (f64, f64),
) -> String {
    let mut labels = String::new();
    if !matches!(c.x, XAxis::Time { .. }) {
        return labels;
    }
    let mut row_ends: Vec<f64> = Vec::new();
    for w in c.windows {
        let (a, b) = (w.start_s.max(u0), w.end_s.min(u1));
        if a.is_nan() || b.is_nan() || a > b {
            continue;
        }
        let (xa, xb) = (xpx(a), xpx(b).max(xpx(a) + 2.0));
        let label = escape(&w.label);
        let _ = write!(
            s,
            r#"<rect class="fault" x="{xa:.1}" y="{top}" width="{:.1}" height="{PLOT_H}" fill="url(#{id}-hatch)"><title>fault {label}: {}–{} s</title></rect>"#,
            xb - xa,
            fmt_data(w.start_s),
            fmt_data(w.end_s),
        );
        let width = w.label.chars().count() as f64 * 6.9 + 6.0;
        let x = (xa + 3.0).min(xpx(u1) - width).max(xpx(u0));
        let row = row_ends
            .iter()
            .position(|&end| end < x)
            .unwrap_or(row_ends.len());
        if row == row_ends.len() {
            row_ends.push(0.0);
        }
        row_ends[row] = x + width;
        let y = (top + 14.0 + 14.0 * row as f64).min(bottom - 4.0);
        let _ = write!(
            labels,
            r#"<text class="flabel" x="{x:.1}" y="{y}">{label}</text>"#
        );
    }
    labels
}

fn draw_y_axis(s: &mut String, y: &YMap, axis: &YAxis, left: f64, right: f64, on_right: bool) {
    for &v in &y.ticks.values {
        let Some(py) = y.px(v) else { continue };
        if on_right {
            let _ = write!(
                s,
                r#"<line class="tick" x1="{right}" x2="{}" y1="{py:.1}" y2="{py:.1}"/><text class="yr" x="{}" y="{:.1}">{}</text>"#,
                right + 5.0,
                right + 8.0,
                py + 4.0,
                y.label(v)
            );
        } else {
            let _ = write!(
                s,
                r#"<line class="grid" x1="{left}" x2="{right}" y1="{py:.1}" y2="{py:.1}"/><text class="yl" x="{}" y="{:.1}">{}</text>"#,
                left - 6.0,
                py + 4.0,
                y.label(v)
            );
        }
    }
    let mid = (y.top + y.bottom) / 2.0;
    let (x, rot) = if on_right {
        (WIDTH - 12.0, 90)
    } else {
        (16.0, -90)
    };
    let _ = write!(
        s,
        r#"<text class="alabel" transform="translate({x},{mid}) rotate({rot})">{}</text>"#,
        escape(&axis.label)
    );
}

fn draw_x_axis(
    s: &mut String,
    x: XAxis,
    (u0, u1): (f64, f64),
    xpx: &dyn Fn(f64) -> f64,
    bottom: f64,
) {
    let (ticks, label): (Vec<(f64, String)>, String) = match x {
        XAxis::Time { .. } => {
            let unit = scale::time_unit(u1 - u0);
            let t = scale::ticks_within(u0 / unit.seconds, u1 / unit.seconds, 8);
            let ticks = t
                .values
                .iter()
                .map(|&v| (v * unit.seconds, scale::fmt_tick(v, t.step)))
                .collect();
            (ticks, format!("time since start ({})", unit.name))
        }
        XAxis::Percentile { decades } => (
            (0..=decades.max(1))
                .map(|k| (f64::from(k), scale::percentile_label(k)))
                .collect(),
            "percentile (log scale of 1/(1−p))".to_owned(),
        ),
    };
    for (u, text) in ticks {
        let px = xpx(u);
        let _ = write!(
            s,
            r#"<line class="vgrid" x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{bottom}"/><text class="xl" x="{px:.1}" y="{}">{text}</text>"#,
            bottom - PLOT_H,
            bottom + 17.0
        );
    }
    let _ = write!(
        s,
        r#"<text class="alabel" x="{}" y="{}">{label}</text>"#,
        xpx((u0 + u1) / 2.0),
        bottom + 38.0
    );
}

/// Draws one series (breaking at gaps, dotting isolated points); true if
/// anything was drawn.
fn draw_line(s: &mut String, l: &Line, id: &str, xpx: &dyn Fn(f64) -> f64, y: &YMap) -> bool {
    let mut d = String::with_capacity(l.points.len() * 14);
    let mut dots = Vec::new();
    let (mut run, mut first) = (0usize, (0.0, 0.0));
    for &(u, v) in &l.points {
        match y.px(v) {
            Some(py) => {
                let px = xpx(u);
                let _ = write!(d, "{}{px:.1} {py:.1}", if run == 0 { 'M' } else { 'L' });
                if run == 0 {
                    first = (px, py);
                }
                run += 1;
            }
            None => {
                if run == 1 {
                    dots.push(first);
                }
                run = 0;
            }
        }
    }
    if run == 1 {
        dots.push(first);
    }
    if d.is_empty() {
        return false;
    }
    let data: Vec<String> = l
        .points
        .iter()
        .map(|&(u, v)| format!("{},{}", fmt_data(u), fmt_data(v)))
        .collect();
    let _ = write!(
        s,
        r#"<path class="series" clip-path="url(#{id}-clip)" d="{d}" stroke="{c}" stroke-dasharray="{dash}" data-n="{n}" data-u="{unit}" data-p="{p}"/>"#,
        c = l.color,
        dash = l.dash,
        n = escape(&l.name),
        unit = l.unit,
        p = data.join(" "),
    );
    for (px, py) in dots {
        let _ = write!(
            s,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="2.5" fill="{}"/>"#,
            l.color
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(right: bool, points: Vec<(f64, f64)>) -> Line {
        Line {
            name: "n".into(),
            legend: "legend <x>".into(),
            unit: "ms",
            color: "#000",
            dash: "none",
            right,
            points,
        }
    }

    #[test]
    fn draws_frame_legend_windows_and_right_axis() {
        let windows = [Window {
            label: "1 shutdown".into(),
            start_s: 10.0,
            end_s: 20.0,
        }];
        let c = Chart {
            id: "c1",
            title: "T & t",
            x: XAxis::Time { t0: 0.0, t1: 60.0 },
            left: YAxis {
                label: "sessions".into(),
                scale: YScale::Linear,
            },
            right: Some(YAxis {
                label: "events/s".into(),
                scale: YScale::Linear,
            }),
            lines: vec![
                line(false, vec![(0.0, 1.0), (60.0, 5.0)]),
                line(true, vec![(30.0, 7.0)]),
            ],
            windows: &windows,
        };
        let svg = render(&c);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("T &amp; t"));
        assert!(svg.contains("legend &lt;x&gt;"));
        assert_eq!(svg.matches(r#"class="fault""#).count(), 1);
        assert!(svg.contains(">1 shutdown<"));
        assert!(svg.contains(r#"class="yr""#), "right axis ticks");
        assert!(svg.contains("<circle"), "isolated point is dotted");
        assert!(svg.contains("time since start (s)"));
    }

    #[test]
    fn log_axis_skips_non_positive_values_and_empty_chart_says_no_data() {
        let c = Chart {
            id: "c2",
            title: "t",
            x: XAxis::Percentile { decades: 3 },
            left: YAxis {
                label: "ms".into(),
                scale: YScale::Log,
            },
            right: None,
            lines: vec![line(false, vec![(0.0, 0.0), (1.0, -1.0)])],
            windows: &[],
        };
        let svg = render(&c);
        assert!(svg.contains("no data"));
        assert!(svg.contains(">99.9%<"));
    }
}
