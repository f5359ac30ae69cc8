//! PNG line charts (plotters' bitmap backend).
//!
//! Text needs a TrueType font, loaded at run time from `GUST_BENCH_FONT` or the
//! usual system paths (Debian's `fonts-dejavu-core`, which `scripts/bench-deps`
//! installs). Without one the charts are still drawn, with lines and grid only, and
//! the run says so once.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// Where fonts usually are, in order of preference.
const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Environment variable naming a TTF font file for the charts.
pub const FONT_ENV: &str = "GUST_BENCH_FONT";

/// Series colours: gust first, then baselines and peers.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points, in order of x.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A named series.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// One chart panel.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Caption.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Lines.
    pub series: Vec<Series>,
    /// A vertical marker `(x, label)`, e.g. the idle TTL.
    pub vline: Option<(f64, String)>,
    /// Formats x tick labels (default: the number).
    pub x_ticks: Option<fn(&f64) -> String>,
    /// Draw y on a log10 scale (values must be positive; others are left out).
    pub y_log: bool,
}

/// Whether a font was found (loads it on first call).
pub fn have_font() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let from_env = std::env::var(FONT_ENV).ok();
        let candidates = from_env
            .iter()
            .map(String::as_str)
            .chain(FONT_CANDIDATES.iter().copied());
        for path in candidates {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        eprintln!(
            "note: no TrueType font found (set {FONT_ENV} or run scripts/bench-deps to install \
             fonts-dejavu-core); plots are drawn without text"
        );
        false
    })
}

/// Draws `charts` stacked in one PNG, each `width` x `height` pixels.
pub fn save(path: &Path, charts: &[Chart], width: u32, height: u32) -> Result<()> {
    let text = have_font();
    let total_height = height * charts.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, total_height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let panels = root.split_evenly((charts.len().max(1), 1));
    for (chart, area) in charts.iter().zip(panels.iter()) {
        draw(chart, area, text).map_err(|e| anyhow!("plot {}: {e}", path.display()))?;
    }
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw(chart: &Chart, area: &Area<'_>, text: bool) -> Result<(), Box<dyn std::error::Error>> {
    let chart = &transformed(chart);
    let (x0, x1, y0, y1) = bounds(chart);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(&chart.title, ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(70);
    } else {
        builder.x_label_area_size(4).y_label_area_size(4);
    }
    let mut ctx = builder.build_cartesian_2d(x0..x1, y0..y1)?;
    let formatter = chart.x_ticks.map(|f| move |x: &f64| f(x));
    let y_log = chart.y_log;
    let y_span = y1 - y0;
    let y_formatter = move |y: &f64| {
        if y_log {
            significant(10f64.powf(*y))
        } else if y_span >= 20.0 {
            format!("{y:.0}")
        } else {
            format!("{y:.1}")
        }
    };
    {
        let mut mesh = ctx.configure_mesh();
        if text {
            mesh.x_desc(chart.x_label.as_str())
                .y_desc(chart.y_label.as_str())
                .label_style(("sans-serif", 13))
                .axis_desc_style(("sans-serif", 15))
                .y_label_formatter(&y_formatter);
            if let Some(f) = &formatter {
                // Custom ticks label whole units (e.g. p90, p99, p99.9).
                mesh.x_label_formatter(f)
                    .x_labels((x1 - x0).round().max(1.0) as usize + 1);
            }
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
    }
    for (i, s) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Thick polylines get miter spikes at sharp turns: dense series use 1 px.
        let width = if s.points.len() > 200 { 1 } else { 2 };
        let drawn = ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            colour.stroke_width(width),
        ))?;
        if text {
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        }
        if s.points.len() <= 200 {
            ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    if let Some((x, label)) = &chart.vline {
        let style = BLACK.mix(0.5).stroke_width(1);
        ctx.draw_series(LineSeries::new([(*x, y0), (*x, y1)], style))?;
        if text {
            ctx.draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x + 0.01 * (x1 - x0), y1 - 0.05 * (y1 - y0)),
                ("sans-serif", 13),
            )))?;
        }
    }
    if text && !chart.series.is_empty() {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// `v` to three significant digits, without trailing zeros after the point.
fn significant(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = v.log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    let scale = 10f64.powi(digits - 2);
    let rounded = (v / scale).round() * scale;
    format!("{rounded:.decimals$}")
}

/// The chart with y in log10 when it asks for a log scale.
fn transformed(chart: &Chart) -> Chart {
    let mut out = chart.clone();
    if chart.y_log {
        for s in &mut out.series {
            s.points = s
                .points
                .iter()
                .filter(|p| p.1 > 0.0)
                .map(|&(x, y)| (x, y.log10()))
                .collect();
        }
    }
    out
}

/// X and Y ranges with some headroom; a linear Y starts at 0.
fn bounds(chart: &Chart) -> (f64, f64, f64, f64) {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if chart.y_log {
        if !y0.is_finite() || !y1.is_finite() {
            (y0, y1) = (0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.08).max(0.05);
        y0 -= pad;
        y1 += pad;
    } else {
        y0 = 0.0;
        if y1 <= 0.0 || !y1.is_finite() {
            y1 = 1.0;
        }
        y1 *= 1.12;
    }
    if let Some((x, _)) = chart.vline {
        x0 = x0.min(x);
        x1 = x1.max(x);
    }
    if !x0.is_finite() || !x1.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    (x0, x1, y0, y1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_show_three_digits() {
        assert_eq!(significant(2511.89), "2510");
        assert_eq!(significant(398.107), "398");
        assert_eq!(significant(1.58489), "1.58");
        assert_eq!(significant(0.0251), "0.0251");
    }

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        let chart = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series::new("a", vec![(1.0, 2.0), (2.0, 3.0)]),
                Series::new("b", vec![]),
            ],
            vline: Some((1.5, "ttl".into())),
            x_ticks: None,
            y_log: false,
        };
        let log = Chart {
            y_log: true,
            ..chart.clone()
        };
        save(&path, &[chart, log], 400, 300).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
