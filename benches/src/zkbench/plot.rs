//! The latency-by-percentile plot of a run, as a hand-written SVG: one curve per op type, x the
//! percentile on a log scale of `1 / (1 - p)` (ticks 0, 50, 90, 99, 99.9, ...), y the latency
//! in milliseconds on a linear scale from 0.

use std::fmt::Write;

use super::report::{fmt_ns, Report};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 240.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
/// Dash patterns per curve, so curves that coincide (set and watch-fire) stay visible.
const DASHES: [&str; 5] = ["none", "9 4", "3 3", "12 3 3 3", "1 2"];
/// Labels of the ticks at x = 1, 2, 3, ... (p = 100 (1 - 10^-x)).
const NINES: [&str; 7] = ["90", "99", "99.9", "99.99", "99.999", "99.9999", "99.99999"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The percentile at `x` on the plot's scale.
fn percentile_at(x: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-x))
}

/// A step of 1, 2 or 5 times a power of ten giving about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let k = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    k * mag
}

fn fmt_ms(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

/// The SVG document.
pub fn svg(r: &Report) -> String {
    let pw = WIDTH - LEFT - RIGHT;
    let ph = HEIGHT - TOP - BOTTOM;
    let curves: Vec<_> = r.types.iter().filter(|t| t.hist().count() > 0).collect();
    let max_count = curves.iter().map(|t| t.hist().count()).max().unwrap_or(1);
    // Up to the percentile where every curve has reached its max, within [99, 99.9999].
    let x_max = ((max_count as f64).log10().ceil()).clamp(2.0, 6.0);
    let y_max_ms = curves
        .iter()
        .map(|t| t.hist().percentile(percentile_at(x_max)) as f64 / 1e6)
        .fold(0.0, f64::max);
    let step = if y_max_ms > 0.0 {
        nice_step(y_max_ms)
    } else {
        0.2
    };
    let y_top = ((y_max_ms / step).ceil() * step).max(step);
    let px = |x: f64| LEFT + x / x_max * pw;
    let py = |ms: f64| TOP + ph - ms / y_top * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        esc(&format!("{}: latency by percentile", r.title()))
    );
    // Horizontal grid and y ticks.
    let mut v = 0.0;
    while v <= y_top + step / 2.0 {
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            fmt_ms(v, step)
        );
        v += step;
    }
    // Vertical grid and x ticks: 0, 50, then the nines.
    let mut ticks = vec![(0.0, "0"), (2f64.log10(), "50")];
    for k in 1..=x_max as usize {
        ticks.push((k as f64, NINES[k - 1]));
    }
    for (x, label) in ticks {
        let xx = px(x);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    // Axes and their titles.
    let _ = writeln!(
        s,
        r##"<path d="M{LEFT} {TOP} V{:.1} H{:.1}" fill="none" stroke="#000"/>"##,
        TOP + ph,
        LEFT + pw
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (%), log scale of 1/(1-p)</text>"#,
        LEFT + pw / 2.0,
        HEIGHT - 22.0
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency (ms)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // One curve per op type, sampled every 0.02 on the x scale.
    let steps = (x_max / 0.02).round() as usize;
    for (i, t) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for k in 0..=steps {
            let x = x_max * k as f64 / steps as f64;
            let ms = t.hist().percentile(percentile_at(x)) as f64 / 1e6;
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if k == 0 { "M" } else { " L" },
                px(x),
                py(ms)
            );
        }
        let dash = DASHES[i % DASHES.len()];
        let _ = writeln!(
            s,
            r#"<path class="curve" data-type="{}" d="{d}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            esc(t.name())
        );
        // Legend entry: name and samples, then the main figures on two lines.
        let ly = TOP + 10.0 + 56.0 * i as f64;
        let lx = LEFT + pw + 20.0;
        let h = t.hist();
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            esc(&format!("{} ({} samples)", t.name(), h.count())),
        );
        let lines = [
            format!(
                "p50 {}  p99 {}",
                fmt_ns(h.percentile(50.0)),
                fmt_ns(h.percentile(99.0))
            ),
            format!(
                "p99.9 {}  max {}",
                fmt_ns(h.percentile(99.9)),
                fmt_ns(h.max())
            ),
        ];
        for (k, text) in lines.iter().enumerate() {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#555">{}</text>"##,
                lx + 30.0,
                ly + 19.0 + 15.0 * k as f64,
                esc(text)
            );
        }
    }
    if curves.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no latency samples</text>"#,
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(10.0), 2.0);
        assert_eq!(nice_step(3.0), 1.0);
        assert_eq!(nice_step(0.42), 0.1);
        assert_eq!(fmt_ms(0.3, 0.1), "0.3");
        assert_eq!(fmt_ms(4.0, 2.0), "4");
        assert!((percentile_at(2.0) - 99.0).abs() < 1e-9);
        assert_eq!(esc("a<b&\"c\">"), "a&lt;b&amp;&quot;c&quot;&gt;");
    }
}
