//! The rollout curve as a chart: text for the terminal, SVG for a file.

use sluice_policy_sim::{Point, Report};

/// The part of the curve worth drawing: up to a tenth past the last change.
fn visible(report: &Report) -> &[Point] {
    let curve = &report.curve;
    let last_change = curve
        .windows(2)
        .rposition(|w| w[0].updated != w[1].updated || w[0].exposed != w[1].exposed)
        .map(|i| curve[i + 1].hours)
        .unwrap_or(0.0);
    let horizon = (last_change * 1.1).max(last_change + 2.0);
    let end = curve
        .iter()
        .position(|p| p.hours > horizon)
        .unwrap_or(curve.len());
    &curve[..end]
}

/// A chart of the updated share (`#`) and the exposed share (`.` where it is
/// above the updated one) over time, `width` columns by `height` rows.
pub fn text(report: &Report, width: usize, height: usize) -> String {
    let curve = visible(report);
    if curve.is_empty() {
        return String::from("(no data)\n");
    }
    let hours = curve[curve.len() - 1].hours.max(1.0);
    let column = |i: usize| -> &Point {
        let at = hours * i as f64 / (width.max(2) - 1) as f64;
        curve
            .iter()
            .rev()
            .find(|p| p.hours <= at)
            .unwrap_or(&curve[0])
    };
    let points: Vec<&Point> = (0..width).map(column).collect();
    let mut out = String::new();
    for row in (0..height).rev() {
        let level = (row as f64 + 0.5) / height as f64;
        let label = if row == height - 1 {
            "100%"
        } else if row == 0 {
            "  0%"
        } else if row == height / 2 {
            " 50%"
        } else {
            "    "
        };
        out.push_str(label);
        out.push_str(" |");
        for p in &points {
            out.push(if p.updated >= level {
                '#'
            } else if p.exposed >= level {
                '.'
            } else {
                ' '
            });
        }
        out.push('\n');
    }
    out.push_str("     +");
    out.push_str(&"-".repeat(width));
    out.push('\n');
    out.push_str(&format!(
        "      0 h{:>w$}\n",
        format!("{hours:.0} h"),
        w = width.saturating_sub(3)
    ));
    out.push_str("      # running the release   . installed it (incl. failed)\n");
    out
}

/// An SVG chart of the same curves, with the halt marked.
pub fn svg(report: &Report, title: &str) -> String {
    let (w, h, left, bottom, top, right) = (800.0, 400.0, 60.0, 40.0, 40.0, 20.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let curve = visible(report);
    let hours = curve.last().map(|p| p.hours).unwrap_or(1.0).max(1.0);
    let x = |hrs: f64| left + hrs / hours * plot_w;
    let y = |share: f64| top + (1.0 - share.clamp(0.0, 1.0)) * plot_h;
    let line = |pick: fn(&Point) -> f64| -> String {
        curve
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.hours), y(pick(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"24\" font-size=\"15\">{}</text>\n",
        escape(title)
    );
    for share in [0.0, 0.25, 0.5, 0.75, 1.0] {
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>\n",
            left + plot_w,
            left - 6.0,
            y(share) + 4.0,
            share * 100.0,
            y = y(share)
        ));
    }
    let step = if hours > 96.0 {
        24.0
    } else if hours > 24.0 {
        12.0
    } else {
        2.0
    };
    let mut tick = 0.0;
    while tick <= hours {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick:.0} h</text>\n",
            x(tick),
            h - bottom + 18.0
        ));
        tick += step;
    }
    out.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#e69f00\" stroke-width=\"2\" points=\"{}\"/>\n\
         <polyline fill=\"none\" stroke=\"#0072b2\" stroke-width=\"2\" points=\"{}\"/>\n",
        line(|p| p.exposed),
        line(|p| p.updated)
    ));
    if let Some(at) = report.halted_at_hours {
        out.push_str(&format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{top}\" y2=\"{1:.1}\" stroke=\"#d55e00\" stroke-dasharray=\"4 3\"/>\n\
             <text x=\"{2:.1}\" y=\"{3:.1}\" fill=\"#d55e00\">halted</text>\n",
            x(at),
            top + plot_h,
            x(at) + 4.0,
            top + 14.0
        ));
    }
    out.push_str(&format!(
        "<text x=\"{0:.1}\" y=\"{1:.1}\" fill=\"#0072b2\">running the release</text>\n\
         <text x=\"{0:.1}\" y=\"{2:.1}\" fill=\"#e69f00\">installed it (incl. failed)</text>\n</svg>\n",
        left + plot_w - 190.0,
        top + plot_h - 30.0,
        top + plot_h - 14.0
    ));
    out
}
