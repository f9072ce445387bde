//! Small self-contained SVG charts for the evaluation report: a person opens them in any
//! browser. Hand-written rather than a plotting crate: three chart kinds, no fonts to embed.

use std::fmt::Write;

const W: f64 = 520.0;
const H: f64 = 400.0;
const L: f64 = 70.0; // left margin
const B: f64 = 55.0; // bottom margin
const T: f64 = 40.0;
const R: f64 = 20.0;
const COLOURS: [&str; 8] = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        esc(title)
    )
}

/// A line chart. `series`: (name, points); x and y ranges are given so curves of several runs
/// share axes. `log_x` for top-k curves.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x_range: (f64, f64),
    y_range: (f64, f64),
    log_x: bool,
) -> String {
    let fx = |x: f64| {
        let (a, b) = if log_x { (x_range.0.max(1e-9).ln(), x_range.1.ln()) } else { x_range };
        let v = if log_x { x.max(1e-9).ln() } else { x };
        L + (v - a) / (b - a).max(1e-12) * (W - L - R)
    };
    let fy = |y: f64| H - B - (y - y_range.0) / (y_range.1 - y_range.0).max(1e-12) * (H - B - T);
    let mut s = header(title);
    // Axes and grid.
    let _ = writeln!(s, "<rect x=\"{L}\" y=\"{T}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>", W - L - R, H - B - T);
    for i in 0..=5 {
        let y = y_range.0 + (y_range.1 - y_range.0) * i as f64 / 5.0;
        let py = fy(y);
        let _ = writeln!(s, "<line x1=\"{L}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>", W - R);
        let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{y:.2}</text>", L - 6.0, py + 4.0);
    }
    let ticks: Vec<f64> = if log_x {
        let mut t = Vec::new();
        let mut v = 1.0;
        while v <= x_range.1 * 1.0001 {
            if v >= x_range.0 {
                t.push(v);
            }
            v *= 10.0;
        }
        t
    } else {
        (0..=5).map(|i| x_range.0 + (x_range.1 - x_range.0) * i as f64 / 5.0).collect()
    };
    for x in ticks {
        let px = fx(x);
        let _ = writeln!(s, "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{T}\" y2=\"{}\" stroke=\"#eee\"/>", H - B);
        let _ = writeln!(s, "<text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", H - B + 16.0, trim(x));
    }
    let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", (L + W - R) / 2.0, H - 14.0, esc(x_label));
    let _ = writeln!(
        s,
        "<text x=\"16\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0})\">{1}</text>",
        (T + H - B) / 2.0,
        esc(y_label)
    );
    for (k, (name, pts)) in series.iter().enumerate() {
        let c = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", fx(x), fy(y))).collect();
        let _ = writeln!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
        for &(x, y) in pts {
            let _ = writeln!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{c}\"/>", fx(x), fy(y));
        }
        let ly = T + 16.0 + 16.0 * k as f64;
        let _ = writeln!(s, "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{c}\"/>", L + 10.0, ly - 4.0);
        let _ = writeln!(s, "<text x=\"{}\" y=\"{ly}\">{}</text>", L + 28.0, esc(name));
    }
    s.push_str("</svg>\n");
    s
}

fn trim(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.2}") }
}

/// A normalised confusion matrix as a heat map, rows = true class.
pub fn confusion(title: &str, classes: &[String], normalised: &[Vec<f64>]) -> String {
    let n = classes.len().max(1);
    let cell = ((W - 150.0).min(H - 130.0) / n as f64).floor();
    let (x0, y0) = (120.0, 60.0);
    let mut s = header(title);
    for (i, row) in normalised.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let shade = (255.0 - v * 200.0).round() as u8;
            let (x, y) = (x0 + j as f64 * cell, y0 + i as f64 * cell);
            let _ = writeln!(s, "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({shade},{shade},255)\" stroke=\"white\"/>");
            let colour = if v > 0.6 { "white" } else { "black" };
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{colour}\">{v:.2}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 4.0
            );
        }
        let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", x0 - 6.0, y0 + (i as f64 + 0.5) * cell + 4.0, esc(&classes[i]));
    }
    for (j, c) in classes.iter().enumerate() {
        let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x0 + (j as f64 + 0.5) * cell, y0 + n as f64 * cell + 16.0, esc(c));
    }
    let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted class</text>", x0 + n as f64 * cell / 2.0, y0 + n as f64 * cell + 36.0);
    let _ = writeln!(s, "<text x=\"14\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">true class</text>", y0 + n as f64 * cell / 2.0);
    s.push_str("</svg>\n");
    s
}

/// A reliability diagram: accuracy against stated confidence for each non-empty bin, raw and
/// calibrated, beside the diagonal a calibrated model follows.
pub fn reliability(title: &str, before: &aurora_hash::calibrate::Reliability, after: &aurora_hash::calibrate::Reliability) -> String {
    let points = |r: &aurora_hash::calibrate::Reliability| -> Vec<(f64, f64)> {
        r.bins.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect()
    };
    let series = [
        ("perfectly calibrated".to_string(), vec![(0.0, 0.0), (1.0, 1.0)]),
        (format!("softmax (ECE {:.3})", before.ece), points(before)),
        (format!("calibrated (ECE {:.3})", after.ece), points(after)),
    ];
    lines(title, "stated confidence (top class)", "accuracy", &series, (0.0, 1.0), (0.0, 1.0), false)
}
