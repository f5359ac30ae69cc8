//! A state machine drawn as SVG, the way the Step Functions console draws it:
//! a Start circle, the states as rounded boxes from top to bottom, arrows for
//! `Next` and Choice rules (labelled with the rule, `Default` with
//! "Default"), dashed arrows for `Catch` (labelled with its errors), the
//! terminal states into an End circle; Parallel and Map states as dashed boxes
//! holding their branches side by side, or their processor. Each box is
//! coloured by the status the caller gives for it, with a legend.
//!
//! The picture is self-contained (no script, no external font or image), its
//! text escaped, and the same machine and statuses give the same bytes.
//!
//! A state is named to the status callback by its path: `["A"]` at the top,
//! `["P", "0", "B"]` for state `B` in branch 0 (the index in `Branches`) of
//! Parallel `P`, `["M", "B"]` for state `B` in Map `M`'s processor, and so on
//! down.
//!
//! # Layout
//! - this file: [`Status`], [`svg`], drawing.
//! - `layout`: rows, order in rows, coordinates, edge paths.
//! - `label`: the short text of Choice rules and catchers.

use std::fmt::Write;

use crate::definition::{StateKind, StateMachine};

mod label;
mod layout;

use layout::{f, Flow, Line, Shape};

/// How far a state got, as the picture shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not entered (yet).
    NotRun,
    /// Entered, not left.
    InProgress,
    /// Left normally.
    Succeeded,
    /// Failed, and the failure was not caught.
    Failed,
    /// Failed, and a catcher took over.
    Caught,
    /// Stopped because the execution was stopped.
    Cancelled,
}

impl Status {
    /// Every status, in the legend's order.
    pub const ALL: [Status; 6] = [
        Status::NotRun,
        Status::InProgress,
        Status::Succeeded,
        Status::Failed,
        Status::Caught,
        Status::Cancelled,
    ];

    /// The legend's words.
    pub fn label(self) -> &'static str {
        match self {
            Status::NotRun => "Not run",
            Status::InProgress => "In progress",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Caught => "Caught error",
            Status::Cancelled => "Cancelled",
        }
    }

    /// The `data-status` attribute's value.
    pub fn key(self) -> &'static str {
        match self {
            Status::NotRun => "not-run",
            Status::InProgress => "in-progress",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Caught => "caught",
            Status::Cancelled => "cancelled",
        }
    }

    /// (fill, border) colours.
    pub fn colours(self) -> (&'static str, &'static str) {
        match self {
            Status::NotRun => ("#ffffff", "#8d99a8"),
            Status::InProgress => ("#e6f1fc", "#0972d3"),
            Status::Succeeded => ("#e9f5e6", "#2e7d32"),
            Status::Failed => ("#fdecea", "#d13212"),
            Status::Caught => ("#fff3e0", "#e07700"),
            Status::Cancelled => ("#ececec", "#545b64"),
        }
    }
}

const MARGIN: f64 = 24.0;
const LEGEND_H: f64 = 40.0;
const INK: &str = "#16191f";
const MUTED: &str = "#5f6b7a";
const EDGE: &str = "#687078";

/// Draws `machine`, each state coloured by `status(path)`.
pub fn svg(machine: &StateMachine, status: &dyn Fn(&[&str]) -> Status) -> String {
    let flow = layout::flow(&machine.states, &machine.start_at, true, &[]);
    let legend_w: f64 = Status::ALL
        .iter()
        .map(|s| 28.0 + layout::text_width(s.label(), 11.0))
        .sum();
    let width = flow.width.max(legend_w) + 2.0 * MARGIN;
    let height = flow.height + LEGEND_H + 2.0 * MARGIN;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif">"#,
        w = f(width),
        h = f(height)
    );
    let title = machine.comment.as_deref().unwrap_or("State machine");
    let _ = write!(out, "<title>{}</title>", escape(title));
    let _ = write!(
        out,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="{EDGE}"/></marker></defs><rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let flow_x = MARGIN + (width - 2.0 * MARGIN - flow.width) / 2.0;
    draw_flow(&mut out, &flow, flow_x, MARGIN, status);
    draw_legend(&mut out, MARGIN, height - MARGIN - LEGEND_H / 2.0);
    out.push_str("</svg>");
    out
}

fn draw_flow(out: &mut String, flow: &Flow, x: f64, y: f64, status: &dyn Fn(&[&str]) -> Status) {
    let _ = write!(out, r#"<g transform="translate({} {})">"#, f(x), f(y));
    for edge in &flow.edges {
        let (class, dash) = match edge.line {
            Line::Solid => ("edge", ""),
            Line::Dashed => ("edge catch", r#" stroke-dasharray="5 4""#),
        };
        let _ = write!(
            out,
            r#"<path class="{class}" d="{}" fill="none" stroke="{EDGE}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>"#,
            edge.d
        );
    }
    for node in &flow.nodes {
        match &node.shape {
            Shape::Start | Shape::End => {
                let text = if matches!(node.shape, Shape::Start) {
                    "Start"
                } else {
                    "End"
                };
                let (cx, cy) = (node.x + node.w / 2.0, node.y + node.h / 2.0);
                let _ = write!(
                    out,
                    r##"<g class="terminal"><circle cx="{cx}" cy="{cy}" r="{r}" fill="#f2f3f3" stroke="{MUTED}" stroke-width="1.4"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="10" fill="{INK}">{text}</text></g>"##,
                    cx = f(cx),
                    cy = f(cy),
                    r = f(node.w / 2.0),
                    ty = f(cy + 3.5),
                );
            }
            Shape::State { state, path, inner } => {
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                let st = status(&names);
                let (fill, stroke) = st.colours();
                let container =
                    !inner.is_empty() || matches!(state.kind, StateKind::Parallel { .. });
                let kind = kind_name(&state.kind);
                let _ = write!(
                    out,
                    r#"<g class="state" data-path="{}" data-status="{}"><title>{} ({kind}): {}</title>"#,
                    escape(&path.join("/")),
                    st.key(),
                    escape(&state.name),
                    st.label()
                );
                let dash = if container {
                    r#" stroke-dasharray="6 4""#
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dash}/>"#,
                    f(node.x),
                    f(node.y),
                    f(node.w),
                    f(node.h)
                );
                let name = escape(&label::shorten(&state.name, 34));
                let cx = f(node.x + node.w / 2.0);
                let (name_y, kind_y) = if container {
                    (node.y + 16.0, node.y + 29.0)
                } else {
                    (node.y + 20.0, node.y + 35.0)
                };
                let _ = write!(
                    out,
                    r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="12" font-weight="bold" fill="{INK}">{name}</text><text x="{cx}" y="{}" text-anchor="middle" font-size="10" fill="{MUTED}">{kind}</text>"#,
                    f(name_y),
                    f(kind_y)
                );
                for pair in inner.windows(2) {
                    let (x1, _, left) = &pair[0];
                    let x = node.x + (x1 + left.width + pair[1].0) / 2.0;
                    let _ = write!(
                        out,
                        r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{stroke}" stroke-opacity="0.5" stroke-dasharray="3 4"/>"#,
                        f(node.y + layout::HEADER),
                        f(node.y + node.h - 8.0),
                        x = f(x)
                    );
                }
                for (ix, iy, sub) in inner {
                    draw_flow(out, sub, node.x + ix, node.y + iy, status);
                }
                out.push_str("</g>");
            }
            Shape::Waypoint => {}
        }
    }
    for edge in &flow.edges {
        let Some((text, lx, ly)) = &edge.label else {
            continue;
        };
        let w = layout::text_width(text, 10.0) + 8.0;
        let left = if edge.label_left_aligned {
            *lx
        } else {
            lx - w / 2.0
        };
        let _ = write!(
            out,
            r##"<g class="edge-label"><rect x="{}" y="{}" width="{}" height="15" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="#d5dbdb"/><text x="{}" y="{}" text-anchor="middle" font-size="10" fill="{INK}">{}</text></g>"##,
            f(left),
            f(ly - 7.5),
            f(w),
            f(left + w / 2.0),
            f(ly + 3.5),
            escape(text)
        );
    }
    out.push_str("</g>");
}

fn draw_legend(out: &mut String, x: f64, y: f64) {
    let _ = write!(
        out,
        r#"<g class="legend" transform="translate({} {})">"#,
        f(x),
        f(y)
    );
    let mut at = 0.0;
    for s in Status::ALL {
        let (fill, stroke) = s.colours();
        let _ = write!(
            out,
            r#"<rect x="{}" y="-7" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="1.6"/><text x="{}" y="4" font-size="11" fill="{INK}">{}</text>"#,
            f(at),
            f(at + 19.0),
            s.label()
        );
        at += 28.0 + layout::text_width(s.label(), 11.0);
    }
    out.push_str("</g>");
}

fn kind_name(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Pass { .. } => "Pass",
        StateKind::Task(_) => "Task",
        StateKind::Choice { .. } => "Choice",
        StateKind::Wait(_) => "Wait",
        StateKind::Succeed => "Succeed",
        StateKind::Fail { .. } => "Fail",
        StateKind::Parallel { .. } => "Parallel",
        StateKind::Map(_) => "Map",
    }
}

/// Text made safe for SVG content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
