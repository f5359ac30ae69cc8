//! Placing a machine's states: rows by longest path from `StartAt` (back
//! edges ignored), long edges threaded through placeholder points in the rows
//! they cross, one barycenter pass to order each row, rows centred and their
//! boxes aligned at the top (so an edge into a short box beside a tall one
//! stays short).
//! Parallel and Map states are boxes holding the layouts of their branches or
//! processor. Every coordinate is relative to its flow's top-left corner.

use std::collections::{BTreeMap, VecDeque};

use super::label;
use crate::definition::{State, StateKind};

/// A state's box height.
pub(super) const STATE_H: f64 = 46.0;
/// The Start and End circles' diameter.
pub(super) const CIRCLE: f64 = 36.0;
/// A container's header height (its name and type).
pub(super) const HEADER: f64 = 36.0;
const MIN_W: f64 = 130.0;
const MAX_W: f64 = 280.0;
const HGAP: f64 = 36.0;
const VGAP: f64 = 52.0;
const PAD: f64 = 16.0;
const LANE: f64 = 16.0;

/// Roughly how wide `text` is at `size` px in a sans-serif font.
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

/// A laid-out machine, branch or processor.
pub(super) struct Flow<'a> {
    pub nodes: Vec<Node<'a>>,
    pub edges: Vec<Edge>,
    pub width: f64,
    pub height: f64,
}

pub(super) enum Shape<'a> {
    Start,
    End,
    /// A state; containers carry their inner flows, placed relative to the box.
    State {
        state: &'a State,
        path: Vec<String>,
        inner: Vec<(f64, f64, Flow<'a>)>,
    },
    /// A point a long edge passes through; not drawn.
    Waypoint,
}

pub(super) struct Node<'a> {
    pub shape: Shape<'a>,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Node<'_> {
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line {
    /// `Next`, Choice rules, `Default`, Start and End.
    Solid,
    /// `Catch`.
    Dashed,
}

/// A drawn edge: its SVG path and its label with the label's centre.
pub(super) struct Edge {
    pub d: String,
    pub line: Line,
    pub label: Option<(String, f64, f64)>,
    /// A back edge's label sits right of its lane instead of centred.
    pub label_left_aligned: bool,
}

struct Link {
    from: usize,
    to: usize,
    line: Line,
    label: Option<String>,
}

/// Lays out `states` (a top-level machine when `top`: with Start and End).
pub(super) fn flow<'a>(
    states: &'a BTreeMap<String, State>,
    start: &str,
    top: bool,
    prefix: &[String],
) -> Flow<'a> {
    let mut nodes = Vec::new();
    if top {
        nodes.push(circle(Shape::Start));
    }
    let first_state = nodes.len();
    for (name, state) in states {
        let mut path = prefix.to_vec();
        path.push(name.clone());
        nodes.push(state_node(state, path));
    }
    let end = top.then(|| {
        nodes.push(circle(Shape::End));
        nodes.len() - 1
    });
    let index = |name: &str| {
        states
            .keys()
            .position(|k| k == name)
            .map(|i| i + first_state)
    };

    let mut links = Vec::new();
    let mut link = |from, to: Option<usize>, line, label: Option<String>| {
        if let Some(to) = to {
            links.push(Link {
                from,
                to,
                line,
                label,
            });
        }
    };
    if top {
        link(0, index(start), Line::Solid, None);
    }
    for (i, state) in states.values().enumerate() {
        let from = i + first_state;
        link(
            from,
            state.next.as_deref().and_then(index),
            Line::Solid,
            None,
        );
        if let StateKind::Choice { choices, default } = &state.kind {
            for c in choices {
                link(
                    from,
                    index(&c.next),
                    Line::Solid,
                    Some(label::rule(&c.rule)),
                );
            }
            link(
                from,
                default.as_deref().and_then(index),
                Line::Solid,
                Some("Default".into()),
            );
        }
        for c in &state.catch {
            link(
                from,
                index(&c.next),
                Line::Dashed,
                Some(label::errors(&c.error_equals)),
            );
        }
        let terminal = state.next.is_none() && !matches!(state.kind, StateKind::Choice { .. });
        if terminal {
            link(from, end, Line::Solid, None);
        }
    }

    let root = if top { Some(0) } else { index(start) };
    let (back, order) = depth_first(nodes.len(), &links, root);
    let mut rows = longest_path_rows(nodes.len(), &links, &back);
    if let Some(end) = end {
        let last = (0..nodes.len())
            .filter(|&i| i != end)
            .map(|i| rows[i])
            .max()
            .unwrap_or(0);
        rows[end] = last + 1;
    }
    place(nodes, links, back, order, rows)
}

fn circle<'a>(shape: Shape<'a>) -> Node<'a> {
    Node {
        shape,
        x: 0.0,
        y: 0.0,
        w: CIRCLE,
        h: CIRCLE,
    }
}

/// A state's box, with its branches or processor laid out inside.
fn state_node<'a>(state: &'a State, path: Vec<String>) -> Node<'a> {
    let title_w = text_width(&label::shorten(&state.name, 34), 12.0) + 32.0;
    let mut inner = Vec::new();
    match &state.kind {
        StateKind::Parallel { branches } => {
            for (i, b) in branches.iter().enumerate() {
                let mut prefix = path.clone();
                prefix.push(i.to_string());
                inner.push(flow(&b.states, &b.start_at, false, &prefix));
            }
        }
        StateKind::Map(map) => inner.push(flow(
            &map.processor.states,
            &map.processor.start_at,
            false,
            &path,
        )),
        _ => {}
    }
    if inner.is_empty() && !matches!(state.kind, StateKind::Parallel { .. }) {
        let w = title_w.clamp(MIN_W, MAX_W);
        return Node {
            shape: Shape::State {
                state,
                path,
                inner: Vec::new(),
            },
            x: 0.0,
            y: 0.0,
            w,
            h: STATE_H,
        };
    }
    let content_w: f64 =
        inner.iter().map(|f| f.width).sum::<f64>() + HGAP * inner.len().saturating_sub(1) as f64;
    let content_h = inner.iter().map(|f| f.height).fold(0.0, f64::max);
    let w = (content_w + 2.0 * PAD).max(title_w.max(MIN_W));
    let mut x = (w - content_w) / 2.0;
    let mut placed = Vec::new();
    for f in inner {
        let fw = f.width;
        placed.push((x, HEADER + PAD / 2.0, f));
        x += fw + HGAP;
    }
    Node {
        shape: Shape::State {
            state,
            path,
            inner: placed,
        },
        x: 0.0,
        y: 0.0,
        w,
        h: HEADER + PAD / 2.0 + content_h + PAD,
    }
}

/// Back edges (those closing a cycle, found depth-first from `root` and then
/// from every node not yet seen) and the preorder of the nodes.
fn depth_first(n: usize, links: &[Link], root: Option<usize>) -> (Vec<bool>, Vec<usize>) {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (l, link) in links.iter().enumerate() {
        out[link.from].push(l);
    }
    let mut colour = vec![0u8; n];
    let mut back = vec![false; links.len()];
    let mut order = vec![usize::MAX; n];
    let mut seen = 0;
    for r in root.into_iter().chain(0..n) {
        if colour[r] != 0 {
            continue;
        }
        colour[r] = 1;
        order[r] = seen;
        seen += 1;
        let mut stack = vec![(r, 0usize)];
        while let Some(&(v, i)) = stack.last() {
            if let Some(&l) = out[v].get(i) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let w = links[l].to;
                match colour[w] {
                    0 => {
                        colour[w] = 1;
                        order[w] = seen;
                        seen += 1;
                        stack.push((w, 0));
                    }
                    1 => back[l] = true,
                    _ => {}
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    (back, order)
}

/// Each node's row: the longest path to it over forward edges.
fn longest_path_rows(n: usize, links: &[Link], back: &[bool]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (l, link) in links.iter().enumerate().filter(|(l, _)| !back[*l]) {
        indegree[link.to] += 1;
        out[link.from].push(l);
    }
    let mut rows = vec![0; n];
    let mut queue: VecDeque<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = queue.pop_front() {
        for &l in &out[v] {
            let w = links[l].to;
            rows[w] = rows[w].max(rows[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                queue.push_back(w);
            }
        }
    }
    rows
}

fn place<'a>(
    mut nodes: Vec<Node<'a>>,
    links: Vec<Link>,
    back: Vec<bool>,
    order: Vec<usize>,
    rows: Vec<usize>,
) -> Flow<'a> {
    let mut row_of = rows;
    let mut key: Vec<f64> = order.iter().map(|&o| o as f64).collect();
    // Each forward link as the chain of nodes it passes through.
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for (l, link) in links.iter().enumerate() {
        let mut chain = vec![link.from];
        if !back[l] {
            // The first waypoint of a labelled edge is as wide as the label,
            // so the row keeps room for it.
            let label_w = link
                .label
                .as_ref()
                .map_or(10.0, |t| text_width(t, 10.0) + 12.0);
            for r in row_of[link.from] + 1..row_of[link.to] {
                let w = if r == row_of[link.from] + 1 {
                    label_w
                } else {
                    10.0
                };
                nodes.push(Node {
                    shape: Shape::Waypoint,
                    x: 0.0,
                    y: 0.0,
                    w,
                    h: 0.0,
                });
                row_of.push(r);
                key.push(key[link.from] + 0.5);
                chain.push(nodes.len() - 1);
            }
        }
        chain.push(link.to);
        chains.push(chain);
    }
    let row_count = row_of.iter().max().map_or(0, |m| m + 1);
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); row_count];
    for v in 0..nodes.len() {
        grid[row_of[v]].push(v);
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (l, chain) in chains.iter().enumerate() {
        if !back[l] {
            for pair in chain.windows(2) {
                preds[pair[1]].push(pair[0]);
            }
        }
    }
    // Order rows: by preorder, then by the mean place of each node's parents.
    let mut place_in_row = vec![0.0; nodes.len()];
    for (r, row) in grid.iter_mut().enumerate() {
        row.sort_by(|a, b| key[*a].total_cmp(&key[*b]));
        if r > 0 {
            let len = row.len() as f64;
            let bary: Vec<f64> = row
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let above: Vec<f64> = preds[v]
                        .iter()
                        .filter(|&&p| row_of[p] + 1 == r)
                        .map(|&p| place_in_row[p])
                        .collect();
                    if above.is_empty() {
                        (i as f64 + 0.5) / len
                    } else {
                        above.iter().sum::<f64>() / above.len() as f64
                    }
                })
                .collect();
            let mut ranked: Vec<(f64, usize)> = bary.into_iter().zip(row.iter().copied()).collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(key[a.1].total_cmp(&key[b.1])));
            *row = ranked.into_iter().map(|(_, v)| v).collect();
        }
        let len = row.len() as f64;
        for (i, &v) in row.iter().enumerate() {
            place_in_row[v] = (i as f64 + 0.5) / len;
        }
    }
    // Coordinates: rows centred on the widest.
    let row_widths: Vec<f64> = grid
        .iter()
        .map(|row| {
            row.iter().map(|&v| nodes[v].w).sum::<f64>() + HGAP * row.len().saturating_sub(1) as f64
        })
        .collect();
    let content_w = row_widths.iter().copied().fold(0.0, f64::max);
    let mut row_top = Vec::new();
    let mut row_h = Vec::new();
    let mut y = 0.0;
    for (row, row_width) in grid.iter().zip(&row_widths) {
        let h = row.iter().map(|&v| nodes[v].h).fold(0.0, f64::max);
        let mut x = (content_w - row_width) / 2.0;
        for &v in row {
            nodes[v].x = x;
            nodes[v].y = y;
            x += nodes[v].w + HGAP;
        }
        row_top.push(y);
        row_h.push(h);
        y += h + VGAP;
    }
    let height = (y - VGAP).max(0.0);

    let mut edges = Vec::new();
    let mut lanes = 0usize;
    let mut right_edge = content_w;
    let mut seen_pairs: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (l, link) in links.into_iter().enumerate() {
        let repeat = seen_pairs.entry((link.from, link.to)).or_insert(0);
        let shift = *repeat as f64 * 14.0;
        *repeat += 1;
        let (a, b) = (&nodes[link.from], &nodes[link.to]);
        if back[l] {
            // Up a lane just right of everything in the rows it spans.
            let (low, high) = (row_of[link.to], row_of[link.from]);
            let beside = (0..nodes.len())
                .filter(|&v| (low..=high).contains(&row_of[v]))
                .map(|v| nodes[v].x + nodes[v].w)
                .fold(0.0, f64::max);
            let lane_x = beside + LANE * (lanes % 4 + 1) as f64;
            let wobble = ((lanes % 3) as f64 - 1.0) * 6.0;
            lanes += 1;
            let (y1, y2) = (a.cy() + wobble, b.cy() - wobble);
            let d = format!(
                "M{} {}H{}V{}H{}",
                f(a.x + a.w),
                f(y1),
                f(lane_x),
                f(y2),
                f(b.x + b.w)
            );
            let label_w = link
                .label
                .as_ref()
                .map_or(0.0, |t| text_width(t, 10.0) + 12.0);
            right_edge = right_edge.max(lane_x + label_w + 4.0);
            let label = link
                .label
                .map(|t| (t, lane_x + 4.0, (y1 + y2) / 2.0 + shift));
            edges.push(Edge {
                d,
                line: link.line,
                label,
                label_left_aligned: true,
            });
            continue;
        }
        // Straight down out of the source's row (a short box in a tall row),
        // a curve into each row crossed and straight through it, a curve in.
        let row_bottom = |r: usize| row_top[r] + row_h[r];
        let mut at = (a.cx(), a.y + a.h);
        let mut d = format!("M{} {}", f(at.0), f(at.1));
        if at.1 < row_bottom(row_of[link.from]) {
            at.1 = row_bottom(row_of[link.from]);
            d.push_str(&format!("V{}", f(at.1)));
        }
        let mut first_curve = None;
        let mut curve_to = |d: &mut String, from: (f64, f64), to: (f64, f64)| {
            let my = (from.1 + to.1) / 2.0;
            d.push_str(&format!(
                "C{} {} {} {} {} {}",
                f(from.0),
                f(my),
                f(to.0),
                f(my),
                f(to.0),
                f(to.1)
            ));
            first_curve.get_or_insert((from, to));
        };
        for &w in &chains[l][1..chains[l].len() - 1] {
            let (x, r) = (nodes[w].cx(), row_of[w]);
            curve_to(&mut d, at, (x, row_top[r]));
            at = (x, row_bottom(r));
            d.push_str(&format!("V{}", f(at.1)));
        }
        curve_to(&mut d, at, (b.cx(), b.y));
        // Labels sit two thirds down the first curve, where edges leaving one
        // state have spread apart but the arrowhead is still clear.
        let label = match (link.label, first_curve) {
            (Some(t), Some((from, to))) => {
                let (lx, ly) = along_curve(from, to, 0.65);
                Some((t, lx, ly + shift))
            }
            _ => None,
        };
        edges.push(Edge {
            d,
            line: link.line,
            label,
            label_left_aligned: false,
        });
    }
    Flow {
        nodes,
        edges,
        width: right_edge,
        height,
    }
}

/// The point at `t` on the curve drawn from `a` down to `b` (vertical
/// tangents at both ends, as the edges are drawn).
fn along_curve((x1, y1): (f64, f64), (x2, y2): (f64, f64), t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (w0, w1, w2, w3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    let my = (y1 + y2) / 2.0;
    (
        x1 * (w0 + w1) + x2 * (w2 + w3),
        y1 * w0 + my * (w1 + w2) + y2 * w3,
    )
}

/// A coordinate, rounded for a stable, short SVG.
pub(super) fn f(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}
