//! `latency.svg`, written by hand: x is the time an op was invoked (s), y its latency on a
//! log scale, one circle per completed op coloured by outcome (ok green, fail orange, info
//! red), at most one per pixel and outcome; fault periods are shaded rectangles labelled at
//! the top.
//!
//! Element classes, for tools and tests: `rect.fault` (one per fault), `circle.ok`,
//! `circle.fail`, `circle.info` (one per pixel with completed ops of that outcome), `g.axis`,
//! `g.legend`.

use std::fmt::Write;

use super::{samples, Fault};
use crate::history::{Op, Type};

const W: f64 = 1200.0;
const H: f64 = 560.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Escapes text for an SVG text node or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn class(t: Type) -> (&'static str, &'static str) {
    match t {
        Type::Ok => ("ok", "#2a9d8f"),
        Type::Fail => ("fail", "#f4a261"),
        _ => ("info", "#e63946"),
    }
}

fn fault_colour(i: usize) -> &'static str {
    const C: [&str; 6] = [
        "#8ecae6", "#cdb4db", "#ffd166", "#b5e48c", "#f28482", "#a3a3a3",
    ];
    C[i % C.len()]
}

/// The plot.
pub fn latency(history: &[Op], faults: &[Fault]) -> String {
    let pts = samples(history);
    let x_max_ns = pts
        .iter()
        .map(|p| p.invoke_ns + p.latency_ns)
        .chain(faults.iter().map(|f| f.end_ns))
        .chain(history.last().map(|o| o.time_ns))
        .max()
        .unwrap_or(0)
        .max(1_000_000_000);
    // Latency range in whole decades (ns), at least 10us..1s.
    let (mut lo_e, mut hi_e) = (4i32, 9i32);
    for p in &pts {
        let l = (p.latency_ns.max(1) as f64).log10();
        lo_e = lo_e.min(l.floor() as i32);
        hi_e = hi_e.max(l.ceil() as i32);
    }
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |ns: u64| LEFT + pw * (ns as f64 / x_max_ns as f64);
    let y = |ns: u64| {
        let l = (ns.max(1) as f64).log10();
        TOP + ph * (1.0 - (l - lo_e as f64) / (hi_e - lo_e) as f64)
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<title>Latency over time</title>
<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>"#
    );

    // Fault periods.
    let _ = writeln!(s, r#"<g class="faults">"#);
    for (i, f) in faults.iter().enumerate() {
        let (x0, x1) = (x(f.start_ns), x(f.end_ns.max(f.start_ns)));
        let label = escape(&f.label);
        let _ = writeln!(
            s,
            r#"<rect class="fault" x="{x0:.1}" y="{TOP:.1}" width="{:.1}" height="{ph:.1}" fill="{}" fill-opacity="0.35"><title>{label} {}-{}</title></rect>"#,
            (x1 - x0).max(1.0),
            fault_colour(i),
            super::text::secs(f.start_ns),
            super::text::secs(f.end_ns),
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#555">{label}</text>"##,
            x0 + 2.0,
            TOP + 12.0 + 12.0 * (i % 3) as f64,
        );
    }
    let _ = writeln!(s, "</g>");

    // Axes: decades on y, ~10 ticks on x.
    let _ = writeln!(s, r##"<g class="axis" stroke="#999" fill="#333">"##);
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        TOP + ph
    );
    for e in lo_e..=hi_e {
        let ns = 10u64.pow(e.max(0) as u32);
        let yy = y(ns);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke-opacity="0.25"/><text x="{:.1}" y="{:.1}" text-anchor="end" stroke="none">{}</text>"#,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            decade(e)
        );
    }
    let step = nice_step(x_max_ns as f64 / 1e9 / 10.0);
    let mut t = 0.0;
    while t * 1e9 <= x_max_ns as f64 {
        let xx = x((t * 1e9) as u64);
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" stroke="none">{}</text>"#,
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 18.0,
            trim_float(t)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" stroke="none">time (s)</text>"#,
        LEFT + pw / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" stroke="none" transform="rotate(-90 16 {:.1})">latency</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    let _ = writeln!(s, "</g>");

    // Points: ok first, so fail and info are drawn on top. One circle per pixel and outcome:
    // a 30-minute run has millions of ops, and circles on the same pixel look like one (the
    // legend counts every op).
    let _ = writeln!(s, r#"<g class="points" fill-opacity="0.7">"#);
    let mut drawn = std::collections::HashSet::new();
    for pass in [Type::Ok, Type::Fail, Type::Info] {
        for p in pts.iter().filter(|p| class(p.typ).0 == class(pass).0) {
            let (cls, colour) = class(p.typ);
            let (cx, cy) = (x(p.invoke_ns).round(), y(p.latency_ns).round());
            if !drawn.insert((cls, cx as i64, cy as i64)) {
                continue;
            }
            let _ = writeln!(
                s,
                r#"<circle class="{cls}" cx="{cx:.0}" cy="{cy:.0}" r="1.8" fill="{colour}"/>"#
            );
        }
    }
    let _ = writeln!(s, "</g>");

    // Legend.
    let _ = writeln!(s, r#"<g class="legend">"#);
    for (i, t) in [Type::Ok, Type::Fail, Type::Info].into_iter().enumerate() {
        let (cls, colour) = class(t);
        let n = pts.iter().filter(|p| class(p.typ).0 == cls).count();
        let lx = LEFT + 10.0 + 110.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<circle cx="{lx:.1}" cy="20" r="4" fill="{colour}"/><text x="{:.1}" y="24">{cls} ({n})</text>"#,
            lx + 8.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{:.1}" y="14" width="12" height="12" fill="{}" fill-opacity="0.35"/><text x="{:.1}" y="24">fault ({})</text>"#,
        LEFT + 340.0,
        fault_colour(0),
        LEFT + 356.0,
        faults.len()
    );
    let _ = writeln!(s, "</g>\n</svg>");
    s
}

/// A power of ten of nanoseconds as a label: `10us`, `1ms`, `100ms`, `10s`.
fn decade(e: i32) -> String {
    let (unit, base) = match e {
        ..=2 => ("ns", 0),
        3..=5 => ("us", 3),
        6..=8 => ("ms", 6),
        _ => ("s", 9),
    };
    format!("1{}{unit}", "0".repeat((e.max(0) - base) as usize))
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn trim_float(t: f64) -> String {
    let s = format!("{t:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
