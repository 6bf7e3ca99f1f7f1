//! The HTML report: one self-contained page (inline CSS and SVG; nothing is fetched, nothing
//! runs) with the run's title, the end-of-run table, and three plots that overlay the targets
//! in the same colours: end-to-end latency per second, completions per second, and end-to-end
//! latency by percentile.
//!
//! The plots are drawn by `plotters` into SVG strings. Without a font feature it only
//! estimates text widths, which is enough: the browser lays out the `<text>` elements itself.
//! Each legend gets a strip of its own to the right of its chart, so it never hides a line.

use plotters::{
    chart::MeshStyle,
    coord::Shift,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{report::Report, stats::Second};

/// The size of each plot, legend strip included, in pixels.
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 420;

/// Target colours, in target order: the Okabe-Ito palette, which the common colour
/// blindnesses still tell apart, less its yellow, which is hard to see on white.
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

const FONT: &str = "sans-serif";
const BOLD_GRID: RGBColor = RGBColor(205, 205, 205);
const LIGHT_GRID: RGBColor = RGBColor(238, 238, 238);

/// The namespace attribute `plotters` gives each `<svg>`. Inline SVG in HTML needs none, and
/// leaving it out keeps the page free of any address.
const SVG_NAMESPACE: &str = r#" xmlns="http://www.w3.org/2000/svg""#;

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

/// Returns the report as one HTML page that needs nothing else to be read.
pub fn html(report: &Report) -> String {
    let title = format!(
        "{}: {}, {}",
        report.scenario,
        describe_shape(&report.shape),
        describe_length(&report.length, report.warmup_seconds)
    );
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str(&format!("<title>{}</title>\n", escape(&title)));
    page.push_str(STYLE);
    page.push_str("</head>\n<body>\n");
    page.push_str(&format!("<h1>{}</h1>\n", escape(&title)));
    page.push_str("<p class=\"targets\">");
    for (i, target) in report.targets.iter().enumerate() {
        page.push_str(&format!(
            "<span><i style=\"background:{}\"></i>{} <small>{}</small></span>",
            css_colour(colour(i)),
            escape(&target.name),
            escape(&target.address)
        ));
    }
    page.push_str("</p>\n");
    page.push_str(&table(report));
    let plots = [
        ("End-to-end latency per second", latency_over_time(report)),
        ("Completions per second", completions_over_time(report)),
        (
            "End-to-end latency by percentile",
            latency_by_percentile(report),
        ),
    ];
    for (heading, drawn) in plots {
        page.push_str(&format!("<h2>{heading}</h2>\n"));
        match drawn {
            Ok(svg) => page.push_str(&svg),
            Err(error) => page.push_str(&format!(
                "<p class=\"failed\">could not draw this plot: {}</p>",
                escape(&error.to_string())
            )),
        }
        page.push('\n');
    }
    page.push_str("</body>\n</html>\n");
    page
}

const STYLE: &str = "<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1140px; color: #222; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }
th { text-align: left; font-weight: normal; }
thead th { font-weight: bold; text-align: right; }
td { text-align: right; font-variant-numeric: tabular-nums; }
.targets span { margin-right: 2em; }
.targets i { display: inline-block; width: 1em; height: 1em; margin-right: 0.4em;
  vertical-align: -0.15em; }
.targets small { color: #666; }
.failed { color: #b00; }
svg { max-width: 100%; height: auto; }
</style>
";

/// The end-of-run table, from the same rows as the terminal's, then its notes.
fn table(report: &Report) -> String {
    let mut out = String::from("<table>\n<thead><tr><th></th>");
    for target in &report.targets {
        out.push_str(&format!("<th>{}</th>", escape(&target.name)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (label, cells) in report.rows() {
        out.push_str(&format!("<tr><th>{}</th>", escape(&label)));
        for cell in cells {
            out.push_str(&format!("<td>{}</td>", escape(&cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    let notes = report.notes();
    if !notes.is_empty() {
        out.push_str("<ul>\n");
        for note in notes {
            out.push_str(&format!("<li>{}</li>\n", escape(&note)));
        }
        out.push_str("</ul>\n");
    }
    out
}

/// p50 (solid) and p99 (dashed) of each second's completions. Seconds without any leave a
/// gap in the lines.
fn latency_over_time(report: &Report) -> DrawResult<String> {
    let mut legend = Vec::new();
    let mut lines = Vec::new();
    for (i, target) in report.targets.iter().enumerate() {
        let p50 = runs(&target.summary.timeline, |s| s.p50_ms);
        let p99 = runs(&target.summary.timeline, |s| s.p99_ms);
        legend.push(Entry::new(format!("{} p50", target.name), i, false));
        legend.push(Entry::new(format!("{} p99", target.name), i, true));
        lines.push((i, p50, p99));
    }
    let values = lines
        .iter()
        .flat_map(|(_, p50, p99)| p50.iter().chain(p99).flatten().map(|&(_, ms)| ms));
    let y = decades(values);
    let x = 0.0..seconds_measured(report);
    draw(legend_width(report), &legend, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y.log_scale())?;
        house_style(
            chart
                .configure_mesh()
                .x_desc("second of the measured window")
                .x_label_formatter(&|s| whole(*s))
                .y_desc("latency (ms, log scale)")
                .y_label_formatter(&|ms| number(*ms)),
        )
        .draw()?;
        for (i, p50, p99) in lines {
            let style = colour(i).stroke_width(2);
            for line in p50 {
                chart.draw_series(LineSeries::new(line, style))?;
            }
            for line in p99 {
                chart.draw_series(DashedLineSeries::new(line, 7, 4, style))?;
            }
        }
        Ok(())
    })
}

/// The axes' fonts and the grid's colours every plot shares.
fn house_style<'m, 'a, 'b, 's, X: Ranged, Y: Ranged>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, SVGBackend<'s>>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, SVGBackend<'s>> {
    mesh.axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .bold_line_style(BOLD_GRID)
        .light_line_style(LIGHT_GRID)
}

/// Iterations completed in each second of the measured window.
fn completions_over_time(report: &Report) -> DrawResult<String> {
    let mut legend = Vec::new();
    let mut highest = 0;
    for (i, target) in report.targets.iter().enumerate() {
        legend.push(Entry::new(target.name.clone(), i, false));
        let most = target.summary.timeline.iter().map(|s| s.completed).max();
        highest = highest.max(most.unwrap_or(0));
    }
    let x = 0.0..seconds_measured(report);
    let y = 0.0..(highest as f64 * 1.1).max(1.0);
    draw(legend_width(report), &legend, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)?;
        house_style(
            chart
                .configure_mesh()
                .x_desc("second of the measured window")
                .x_label_formatter(&|s| whole(*s))
                .y_desc("completions per second")
                .y_label_formatter(&|n| number(*n)),
        )
        .draw()?;
        for (i, target) in report.targets.iter().enumerate() {
            let points = target
                .summary
                .timeline
                .iter()
                .map(|s| (s.second as f64, s.completed as f64));
            chart.draw_series(LineSeries::new(points, colour(i).stroke_width(2)))?;
        }
        Ok(())
    })
}

/// The percentile spectrum: for each percentile, the end-to-end latency that many
/// iterations stayed within. The x axis counts nines (90%, 99%, 99.9%, ...), so the tail,
/// which a CDF squeezes against 1, gets as much room as the median.
fn latency_by_percentile(report: &Report) -> DrawResult<String> {
    let most_counted = report
        .targets
        .iter()
        .filter_map(|t| t.summary.end_to_end_latency_ms.as_ref().map(|p| p.count))
        .max()
        .unwrap_or(0);
    // One nine more than the count can tell apart would be empty: stop at the decade of it.
    let mut x_max: f64 = 100.0;
    while x_max < most_counted as f64 && x_max < 1e6 {
        x_max *= 10.0;
    }
    let mut legend = Vec::new();
    let mut lines = Vec::new();
    for (i, target) in report.targets.iter().enumerate() {
        legend.push(Entry::new(target.name.clone(), i, false));
        lines.push((i, spectrum(&target.summary.end_to_end_distribution, x_max)));
    }
    let y = decades(
        lines
            .iter()
            .flat_map(|(_, line)| line.iter().map(|&(_, ms)| ms)),
    );
    draw(legend_width(report), &legend, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d((1.0..x_max).log_scale(), y.log_scale())?;
        house_style(
            chart
                .configure_mesh()
                .x_desc("percentile (iterations at or below the latency)")
                .y_desc("end-to-end latency (ms, log scale)")
                .x_label_formatter(&|x| percentile(*x))
                .y_label_formatter(&|ms| number(*ms)),
        )
        .draw()?;
        for (i, line) in lines {
            chart.draw_series(LineSeries::new(line, colour(i).stroke_width(2)))?;
        }
        Ok(())
    })
}

/// Turns (latency ms, fraction at or below) into (1 / (1 - fraction), latency ms): only the
/// first latency at which each fraction is reached, and none for the latencies below the
/// fastest iteration. The last fraction, 1, lands on `x_max`.
fn spectrum(distribution: &[(f64, f64)], x_max: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut reached = 0.0;
    for &(ms, fraction) in distribution {
        if fraction <= reached {
            continue;
        }
        reached = fraction;
        let x = if fraction >= 1.0 {
            x_max
        } else {
            (1.0 / (1.0 - fraction)).min(x_max)
        };
        points.push((x, ms));
    }
    points
}

/// Splits a timeline into runs of seconds that had completions, as (second, `pick` of it).
fn runs(timeline: &[Second], pick: fn(&Second) -> f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for second in timeline {
        if second.completed == 0 {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push((second.second as f64, pick(second)));
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The seconds a timeline axis spans: the longest target's timeline, and at least one.
fn seconds_measured(report: &Report) -> f64 {
    let longest = report
        .targets
        .iter()
        .map(|t| t.summary.timeline.len())
        .max();
    longest.unwrap_or(0).max(2) as f64 - 1.0
}

/// The smallest range of whole decades that holds every positive value, for a log axis.
fn decades(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let mut low = f64::INFINITY;
    let mut high: f64 = 0.0;
    for value in values.filter(|v| v.is_finite() && *v > 0.0) {
        low = low.min(value);
        high = high.max(value);
    }
    if high == 0.0 {
        return 1.0..10.0;
    }
    let low = 10f64.powf(low.log10().floor());
    let high = 10f64.powf(high.log10().ceil()).max(low * 10.0);
    // A hair wider, so that rounding cannot drop the end decades' ticks and labels.
    low * 0.999..high * 1.001
}

/// A legend line: a label in a target's colour, solid or dashed.
struct Entry {
    label: String,
    colour: RGBColor,
    dashed: bool,
}

impl Entry {
    fn new(label: String, target: usize, dashed: bool) -> Self {
        Self {
            label,
            colour: colour(target),
            dashed,
        }
    }
}

/// The width of every plot's legend strip: enough for the longest target name and " p99".
fn legend_width(report: &Report) -> u32 {
    let longest = report.targets.iter().map(|t| t.name.chars().count()).max();
    let chars = u32::try_from(longest.unwrap_or(0)).unwrap_or(u32::MAX);
    chars
        .saturating_add(4)
        .saturating_mul(8)
        .saturating_add(64)
        .clamp(160, 360)
}

/// Draws one plot as an SVG string: `plot` gets the area left of the legend strip.
fn draw(
    legend_width: u32,
    legend: &[Entry],
    plot: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<()>,
) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (chart, key) = root.split_horizontally(WIDTH - legend_width);
        plot(&chart)?;
        draw_legend(&key, legend)?;
        root.present()?;
    }
    Ok(svg.replacen(SVG_NAMESPACE, "", 1))
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, legend: &[Entry]) -> DrawResult<()> {
    let text = TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, entry) in (0..).zip(legend) {
        let y = 24 + row * 24;
        let style = entry.colour.stroke_width(2);
        let segments: &[(i32, i32)] = if entry.dashed {
            &[(4, 11), (15, 22), (26, 33)]
        } else {
            &[(4, 33)]
        };
        for &(from, to) in segments {
            area.draw(&PathElement::new([(from, y), (to, y)], style))?;
        }
        area.draw(&Text::new(entry.label.as_str(), (40, y), text.clone()))?;
    }
    Ok(())
}

fn colour(target: usize) -> RGBColor {
    COLOURS[target % COLOURS.len()]
}

fn css_colour(RGBColor(r, g, b): RGBColor) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// An axis label for a plain number: no more digits than its size calls for.
fn number(value: f64) -> String {
    if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}").trim_end_matches(".0").to_string()
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// An axis label for whole numbers only, such as seconds; the ticks between stay unlabelled.
fn whole(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

/// An axis label for the percentile axis, where x is 1 / (1 - fraction): 50%, then one per
/// decade (0%, 90%, 99%, 99.9%, ...). The other ticks stay unlabelled.
fn percentile(x: f64) -> String {
    if (x - 2.0).abs() < 1e-9 {
        return "50%".into();
    }
    let nines = x.log10();
    if (nines - nines.round()).abs() > 1e-9 {
        return String::new();
    }
    let decimals = (nines.round() as usize).saturating_sub(2);
    format!("{:.decimals$}%", 100.0 * (1.0 - 1.0 / x))
}

/// Describes `Report::shape`, e.g. "closed loop of 50".
fn describe_shape(shape: &serde_json::Value) -> String {
    let kind = shape.get("kind").and_then(serde_json::Value::as_str);
    match kind {
        Some("closed") => match shape.get("concurrency") {
            Some(n) => format!("closed loop of {n} in flight"),
            None => "closed loop".into(),
        },
        Some("open") => match shape.get("rate").and_then(serde_json::Value::as_f64) {
            Some(rate) => format!("open loop at {}/s", number(rate)),
            None => "open loop".into(),
        },
        _ => shape.to_string(),
    }
}

/// Describes `Report::length` and the warm-up, e.g. "30 s after a 5 s warm-up".
fn describe_length(length: &serde_json::Value, warmup_seconds: f64) -> String {
    let measured = if let Some(seconds) = length.get("seconds").and_then(|s| s.as_f64()) {
        format!("{} s", number(seconds))
    } else if let Some(n) = length.get("iterations") {
        format!("{n} iterations")
    } else {
        length.to_string()
    };
    format!("{measured} after a {} s warm-up", number(warmup_seconds))
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        report::{Cpu, TargetReport},
        stats::{Percentiles, Summary},
    };

    /// A target whose iterations take about `ms` and complete `per_second` a second.
    fn target(name: &str, ms: f64, per_second: u64) -> TargetReport {
        let timeline = (0..5)
            .map(|second| Second {
                second,
                // A second with no completion, which the latency lines skip.
                completed: if second == 2 { 0 } else { per_second },
                p50_ms: if second == 2 { 0.0 } else { ms },
                p99_ms: if second == 2 { 0.0 } else { ms * 3.0 },
            })
            .collect();
        let completed = per_second * 4;
        TargetReport {
            name: name.into(),
            address: "127.0.0.1:7233".into(),
            summary: Summary {
                completed,
                seconds: 5.0,
                throughput: completed as f64 / 5.0,
                start_latency_ms: None,
                end_to_end_latency_ms: Some(Percentiles {
                    count: completed,
                    p50: ms,
                    p90: ms * 2.0,
                    p99: ms * 3.0,
                    p999: ms * 4.0,
                    max: ms * 5.0,
                }),
                workflow_task_schedule_to_start_ms: None,
                activity_task_schedule_to_start_ms: None,
                errors: BTreeMap::new(),
                retries: BTreeMap::new(),
                timeline,
                end_to_end_distribution: vec![
                    (ms / 4.0, 0.0),
                    (ms / 2.0, 0.0),
                    (ms, 0.5),
                    (ms * 2.0, 0.9),
                    (ms * 3.0, 0.99),
                    (ms * 5.0, 1.0),
                ],
            },
            cpu: Cpu::default(),
            server_cpu_ms_per_iteration: None,
            server_rss_bytes: None,
        }
    }

    fn report() -> Report {
        Report {
            scenario: "workflow_with_single_noop_activity".into(),
            shape: serde_json::json!({"kind": "closed", "concurrency": 50}),
            length: serde_json::json!({"seconds": 5.0}),
            warmup_seconds: 1.0,
            targets: vec![target("cairn", 12.0, 400), target("temporal", 30.0, 250)],
        }
    }

    /// The text of each `<text>` element of an SVG.
    fn texts(svg: &str) -> Vec<&str> {
        let ends = svg.split("</text>");
        let all: Vec<&str> = ends
            .map(|s| s.rsplit('>').next().unwrap_or("").trim())
            .collect();
        all[..all.len() - 1].to_vec()
    }

    #[test]
    fn page_has_a_plot_per_figure_with_every_target_in_each_legend() {
        let page = html(&report());
        let plots: Vec<&str> = page.split("<svg").skip(1).collect();
        assert_eq!(plots.len(), 3, "one <svg> per plot");
        for plot in plots {
            let plot = &plot[..plot.find("</svg>").expect("each <svg> is closed")];
            let texts = texts(plot);
            for name in ["cairn", "temporal"] {
                let named = texts.iter().any(|text| text.starts_with(name));
                assert!(named, "{name} in the legend of {texts:?}");
            }
        }
        assert!(page.contains("closed loop of 50 in flight, 5 s after a 1 s warm-up"));
        assert!(page.contains("<th>end-to-end p99 ms</th><td>36.0</td><td>90.0</td>"));
    }

    #[test]
    fn page_references_nothing_outside_itself() {
        let page = html(&report());
        assert!(!page.contains("http://"), "no http:// reference");
        assert!(!page.contains("https://"), "no https:// reference");
        assert!(!page.contains("<script"), "no script");
    }

    #[test]
    fn names_are_escaped() {
        let mut report = report();
        report.targets[0].name = "<b>&".into();
        let page = html(&report);
        assert!(!page.contains("<b>&"));
        assert!(page.contains("&lt;b&gt;&amp;"));
    }

    #[test]
    fn spectrum_starts_at_the_fastest_and_ends_at_the_edge() {
        let points = spectrum(
            &[(1.0, 0.0), (2.0, 0.5), (3.0, 0.5), (4.0, 0.75), (5.0, 1.0)],
            1000.0,
        );
        assert_eq!(points, vec![(2.0, 2.0), (4.0, 4.0), (1000.0, 5.0)]);
    }

    #[test]
    fn percentile_labels_count_nines() {
        assert_eq!(percentile(1.0), "0%");
        assert_eq!(percentile(2.0), "50%");
        assert_eq!(percentile(10.0), "90%");
        assert_eq!(percentile(100.0), "99%");
        assert_eq!(percentile(1000.0), "99.9%");
        assert_eq!(percentile(10_000.0), "99.99%");
        assert_eq!(percentile(30.0), "");
    }
}
