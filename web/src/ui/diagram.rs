//! A workflow drawn as inline SVG, on the server, with no service or script: a small layered
//! layout in the manner of Sugiyama.
//!
//! 1. Ranks (rows): the longest path from the initial state over the ordinary transitions,
//!    so every ordinary arrow points down and outcomes (refused, lapsed, withdrawn) sink to
//!    the bottom. `$return` edges are left out of the ranking (they point back up to the stage
//!    that asked); so is any transition that closes a cycle, found by a depth-first search
//!    from the initial state.
//! 2. An edge that spans several rows gets a small invisible waypoint in each row it crosses,
//!    so that it is routed between the boxes instead of through them.
//! 3. Order within each row: barycentre sweeps down and up, keeping the order with the fewest
//!    crossings.
//! 4. Drawing: boxes for states (initial: thick blue border; final: grey, double border;
//!    clock paused: dashed border), curves through the waypoints, arrowheads, and each
//!    edge's action placed where it overlaps no box and no other label when there is such a
//!    place. Return edges are dashed and purple; the legend under the figure says so in
//!    words.
//!
//! The SVG is an image (`role="img"`) named by its `<title>` and described by its `<desc>`;
//! the page puts the same facts in tables for anyone who cannot see it. Every piece of
//! workflow text is escaped. State labels are in the page's language, each `<text>` marked
//! with its `lang` and, for Arabic and Urdu, `direction="rtl"` with `unicode-bidi="embed"` so
//! that the words run right to left inside a box centred on `text-anchor="middle"`; the
//! identifiers on the edges and the English second lines stay `lang="en"`, left to right.
//! Colours are presentation attributes (the CSP forbids inline `style`).

use std::collections::HashMap;
use std::fmt::Write;

use corridor_engine::workflow::graph::{self, Edge};
use corridor_engine::workflow::{DurationUnit, Workflow};

const LINE: f64 = 18.0;
const BOX_PAD_Y: f64 = 12.0;
const GAP_X: f64 = 36.0;
/// Horizontal room for one waypoint of a long edge, and the gap beside it.
const WAYPOINT_WIDTH: f64 = 18.0;
const WAYPOINT_GAP: f64 = 10.0;
const GAP_Y: f64 = 84.0;
const MARGIN: f64 = 24.0;
const MIN_BOX_WIDTH: f64 = 150.0;
const MAX_BOX_WIDTH: f64 = 300.0;
/// Longest line of a state's label before it wraps.
const WRAP_CHARS: usize = 30;
/// Rough advance of one character: bold 14px and regular 12px sans-serif.
const CHAR_LABEL: f64 = 8.2;
const CHAR_SMALL: f64 = 6.8;
/// Barycentre sweeps tried (down, up, down...).
const SWEEPS: usize = 12;

const INK: &str = "#0b0c0c";
const EDGE: &str = "#505a5f";
const RETURN: &str = "#912b88";
const INITIAL: &str = "#1d70b8";
const TERMINAL_FILL: &str = "#f3f2f1";

/// Words the caller gives in the page's language.
pub struct DiagramText<'a> {
    pub title: &'a str,
    pub desc: &'a str,
    /// Prefix of element ids, unique on the page.
    pub id: &'a str,
    /// The page's language: the states' labels are drawn in it.
    pub lang: corridor_engine::lang::Lang,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn overlap(&self, o: &Rect) -> f64 {
        let w = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let h = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
    }
}

/// Where each state sits: its row and its place in the row.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Per state, in file order.
    pub rank: Vec<usize>,
    /// States of each row, left to right (indexes into `w.states`).
    pub rows: Vec<Vec<usize>>,
}

/// One thing in a row: a state's box, or the waypoint of a long edge.
#[derive(Debug, Clone)]
struct Node {
    state: Option<usize>,
    rank: usize,
}

/// The layered graph: states and waypoints, the rows, and each edge's path of nodes.
struct Layered<'w> {
    edges: Vec<(Edge<'w>, usize, usize)>,
    rank: Vec<usize>,
    nodes: Vec<Node>,
    rows: Vec<Vec<usize>>,
    /// Per edge: node ids from its source to its target.
    chains: Vec<Vec<usize>>,
}

/// Ranks by longest path over the ordinary transitions, without those that close a cycle.
fn ranks(w: &Workflow, edges: &[(Edge, usize, usize)]) -> Vec<usize> {
    let n = w.states.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, a, b) in edges {
        if !e.returns && a != b && !next[*a].contains(b) {
            next[*a].push(*b);
        }
    }
    // Depth-first from the initial state, then from any state not reached: an edge to a
    // state still on the stack closes a cycle and is left out. Reverse post-order of the
    // rest is a topological order.
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut colour = vec![WHITE; n];
    let mut post: Vec<usize> = Vec::with_capacity(n);
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); n];
    let start = w.states.iter().position(|s| s.initial).unwrap_or(0);
    let roots = std::iter::once(start).chain(0..n);
    for root in roots {
        if n == 0 || colour[root] != WHITE {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = GREY;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&u) = next[v].get(*i) {
                *i += 1;
                match colour[u] {
                    WHITE => {
                        forward[v].push(u);
                        colour[u] = GREY;
                        stack.push((u, 0));
                    }
                    BLACK => forward[v].push(u),
                    _ => {} // closes a cycle
                }
            } else {
                colour[v] = BLACK;
                post.push(v);
                stack.pop();
            }
        }
    }
    let mut rank = vec![0usize; n];
    for &v in post.iter().rev() {
        for &u in &forward[v] {
            rank[u] = rank[u].max(rank[v] + 1);
        }
    }
    rank
}

/// Number of crossing segments between each pair of neighbouring rows.
fn crossings(rows: &[Vec<usize>], segments: &[(usize, usize)], pos: &[usize]) -> usize {
    let mut count = 0;
    for row in &rows[..rows.len().saturating_sub(1)] {
        let here: Vec<(usize, usize)> =
            segments.iter().filter(|(u, _)| row.contains(u)).map(|(u, l)| (pos[*u], pos[*l])).collect();
        for (i, a) in here.iter().enumerate() {
            for b in &here[i + 1..] {
                if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                    count += 1;
                }
            }
        }
    }
    count
}

fn layered(w: &Workflow) -> Layered<'_> {
    let index: HashMap<&str, usize> = w.states.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let edges: Vec<(Edge, usize, usize)> = graph::edges(w)
        .into_iter()
        .filter_map(|e| {
            let (a, b) = (*index.get(e.from)?, *index.get(e.to)?);
            Some((e, a, b))
        })
        .collect();
    let rank = ranks(w, &edges);
    let mut nodes: Vec<Node> = (0..w.states.len()).map(|i| Node { state: Some(i), rank: rank[i] }).collect();
    let mut chains = Vec::with_capacity(edges.len());
    for (_, a, b) in &edges {
        let (ra, rb) = (rank[*a], rank[*b]);
        let mut chain = vec![*a];
        let between: Vec<usize> = if ra < rb {
            (ra + 1..rb).collect()
        } else if ra > rb {
            (rb + 1..ra).rev().collect()
        } else {
            vec![]
        };
        for r in between {
            nodes.push(Node { state: None, rank: r });
            chain.push(nodes.len() - 1);
        }
        chain.push(*b);
        chains.push(chain);
    }
    let row_count = rank.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); row_count];
    for (id, node) in nodes.iter().enumerate() {
        rows[node.rank].push(id);
    }
    // Segments between neighbouring rows, upper end first.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for chain in &chains {
        for pair in chain.windows(2) {
            let (u, v) = (pair[0], pair[1]);
            if nodes[u].rank + 1 == nodes[v].rank {
                segments.push((u, v));
            } else if nodes[v].rank + 1 == nodes[u].rank {
                segments.push((v, u));
            }
        }
    }
    let mut upper: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut lower: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (u, l) in &segments {
        lower[*u].push(*l);
        upper[*l].push(*u);
    }
    let positions = |rows: &[Vec<usize>]| {
        let mut pos = vec![0usize; nodes.len()];
        for row in rows {
            for (i, id) in row.iter().enumerate() {
                pos[*id] = i;
            }
        }
        pos
    };
    let mut best = rows.clone();
    let mut best_crossings = crossings(&rows, &segments, &positions(&rows));
    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let order: Vec<usize> =
            if down { (1..row_count).collect() } else { (0..row_count.saturating_sub(1)).rev().collect() };
        for r in order {
            let pos = positions(&rows);
            let centre = |id: usize| pos[id] as f64 - (rows[nodes[id].rank].len() as f64 - 1.0) / 2.0;
            let mut keyed: Vec<(f64, usize)> = rows[r]
                .iter()
                .map(|&id| {
                    let near = if down { &upper[id] } else { &lower[id] };
                    let key = if near.is_empty() {
                        centre(id)
                    } else {
                        near.iter().map(|&o| centre(o)).sum::<f64>() / near.len() as f64
                    };
                    (key, id)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            rows[r] = keyed.into_iter().map(|(_, id)| id).collect();
        }
        let c = crossings(&rows, &segments, &positions(&rows));
        if c < best_crossings {
            best_crossings = c;
            best = rows.clone();
        }
    }
    Layered { edges, rank, nodes, rows: best, chains }
}

/// Rows and places of the states (waypoints left out).
pub fn layout(w: &Workflow) -> Layout {
    let g = layered(w);
    let rows = g.rows.iter().map(|row| row.iter().filter_map(|id| g.nodes[*id].state).collect()).collect();
    Layout { rank: g.rank, rows }
}

/// Break a label into lines of at most [`WRAP_CHARS`] characters, at spaces.
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WRAP_CHARS {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text for XML character data and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The second line of a state's box: who holds it and for how long.
fn subline(w: &Workflow, i: usize) -> String {
    let s = &w.states[i];
    let mut parts: Vec<String> = Vec::new();
    if let Some(owner) = &s.owner {
        parts.push(owner.to_string());
    }
    if let Some(d) = &s.deadline {
        let unit = match (d.unit, d.amount) {
            (DurationUnit::WorkingDays, 1) => "working day",
            (DurationUnit::WorkingDays, _) => "working days",
            (DurationUnit::Days, 1) => "day",
            (DurationUnit::Days, _) => "days",
            (DurationUnit::Hours, 1) => "hour",
            (DurationUnit::Hours, _) => "hours",
        };
        parts.push(format!("{} {unit}", d.amount));
    }
    if s.pauses_clock {
        parts.push("clock paused".into());
    }
    if s.terminal && parts.is_empty() {
        parts.push("end".into());
    }
    parts.join(" · ")
}

fn cubic(p0: Point, c0: Point, c1: Point, p1: Point, t: f64) -> Point {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    Point { x: a * p0.x + b * c0.x + c * c1.x + d * p1.x, y: a * p0.y + b * c0.y + c * c1.y + d * p1.y }
}

fn f(v: f64) -> String {
    format!("{:.1}", v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Top,
    Bottom,
}

/// The workflow as an `<svg>` element.
pub fn svg(w: &Workflow, text: &DiagramText) -> String {
    let g = layered(w);
    let n = w.states.len();
    let labels: Vec<Vec<String>> = w.states.iter().map(|s| wrap(s.label.get(text.lang))).collect();
    let subs: Vec<String> = (0..n).map(|i| subline(w, i)).collect();
    let widest_label = labels.iter().flatten().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_LABEL;
    let widest_sub = subs.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_SMALL;
    let box_w = (widest_label.max(widest_sub) + 28.0).clamp(MIN_BOX_WIDTH, MAX_BOX_WIDTH);
    let max_lines = labels.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let box_h = BOX_PAD_Y * 2.0 + LINE * (max_lines + 1.0);
    let width_of = |id: usize| if g.nodes[id].state.is_some() { box_w } else { WAYPOINT_WIDTH };
    let row_width = |row: &[usize]| {
        let mut total = 0.0;
        for (i, id) in row.iter().enumerate() {
            total += width_of(*id);
            if i > 0 {
                let both_boxes = g.nodes[row[i - 1]].state.is_some() && g.nodes[*id].state.is_some();
                total += if both_boxes { GAP_X } else { WAYPOINT_GAP };
            }
        }
        total
    };
    let inner_w = g.rows.iter().map(|r| row_width(r)).fold(box_w, f64::max);
    let self_loops = g.edges.iter().any(|(_, a, b)| a == b);
    let loop_room = if self_loops { 120.0 } else { 0.0 };
    let width = inner_w + 2.0 * MARGIN + loop_room;
    let rows = g.rows.len().max(1) as f64;
    let height = rows * (box_h + GAP_Y) - GAP_Y + 2.0 * MARGIN + GAP_Y * 0.6;
    let row_top = |r: usize| MARGIN + r as f64 * (box_h + GAP_Y);

    // Centre of every node (states: their box's top-left is centre minus half the size).
    let mut cx = vec![0.0f64; g.nodes.len()];
    for row in &g.rows {
        let mut x = MARGIN + (inner_w - row_width(row)) / 2.0;
        for (i, id) in row.iter().enumerate() {
            if i > 0 {
                let both_boxes = g.nodes[row[i - 1]].state.is_some() && g.nodes[*id].state.is_some();
                x += if both_boxes { GAP_X } else { WAYPOINT_GAP };
            }
            cx[*id] = x + width_of(*id) / 2.0;
            x += width_of(*id);
        }
    }
    let box_of = |state: usize| Rect { x: cx[state] - box_w / 2.0, y: row_top(g.rank[state]), w: box_w, h: box_h };

    // Which side of its box each edge leaves and enters by, and where along it: the ends
    // meeting one side are spread out in the order of where they come from.
    // (where the other end is, edge, whether this is the edge's start)
    type Ends = Vec<(f64, usize, bool)>;
    let mut attach: HashMap<(usize, Side), Ends> = HashMap::new();
    for (k, (_, a, b)) in g.edges.iter().enumerate() {
        if a == b {
            continue;
        }
        let chain = &g.chains[k];
        let (ra, rb) = (g.rank[*a], g.rank[*b]);
        let (sa, sb) = if ra < rb {
            (Side::Bottom, Side::Top)
        } else if ra > rb {
            (Side::Top, Side::Bottom)
        } else {
            (Side::Bottom, Side::Bottom)
        };
        attach.entry((*a, sa)).or_default().push((cx[chain[1]], k, true));
        attach.entry((*b, sb)).or_default().push((cx[chain[chain.len() - 2]], k, false));
    }
    let mut ends: HashMap<(usize, bool), Point> = HashMap::new();
    for ((state, side), mut list) in attach {
        list.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal).then(x.1.cmp(&y.1)));
        let m = list.len() as f64;
        let b = box_of(state);
        for (pos, (_, k, is_start)) in list.into_iter().enumerate() {
            let x = b.x + box_w * (pos as f64 + 1.0) / (m + 1.0);
            let y = match side {
                Side::Top => b.y,
                Side::Bottom => b.y + box_h,
            };
            ends.insert((k, is_start), Point { x, y });
        }
    }

    let mut out = String::new();
    let id = escape(text.id);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="Arial, Helvetica, sans-serif">"#,
        w = f(width),
        h = f(height),
    );
    let _ = write!(
        out,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(text.title),
        escape(text.desc)
    );
    let _ = write!(
        out,
        r#"<defs><marker id="{id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE}"/></marker><marker id="{id}-arrow-return" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{RETURN}"/></marker></defs>"#
    );
    out.push_str(r#"<g lang="en">"#);

    // Edges first, so that boxes sit over the ends of lines; labels last, over everything.
    let boxes: Vec<Rect> = (0..n).map(&box_of).collect();
    let mut placed: Vec<Rect> = Vec::new();
    let mut label_marks: Vec<String> = Vec::new();
    for (k, (e, a, b)) in g.edges.iter().enumerate() {
        // Each drawn piece: (start, control, control, end); pieces across a gap between rows
        // may carry the label.
        let mut pieces: Vec<(Point, Point, Point, Point, bool)> = Vec::new();
        if a == b {
            let r = box_of(*a);
            let (p0, p1) = (Point { x: r.x + r.w, y: r.y + r.h * 0.3 }, Point { x: r.x + r.w, y: r.y + r.h * 0.7 });
            pieces.push((
                p0,
                Point { x: p0.x + 50.0, y: p0.y - 12.0 },
                Point { x: p1.x + 50.0, y: p1.y + 12.0 },
                p1,
                true,
            ));
        } else if g.rank[*a] == g.rank[*b] {
            let (Some(&p0), Some(&p1)) = (ends.get(&(k, true)), ends.get(&(k, false))) else { continue };
            let dip = GAP_Y * 0.45;
            pieces.push((p0, Point { x: p0.x, y: p0.y + dip }, Point { x: p1.x, y: p1.y + dip }, p1, true));
        } else {
            let (Some(&p0), Some(&p1)) = (ends.get(&(k, true)), ends.get(&(k, false))) else { continue };
            let down = g.rank[*a] < g.rank[*b];
            let mut points = vec![(p0, false)];
            for &wp in &g.chains[k][1..g.chains[k].len() - 1] {
                let (top, bottom) = (row_top(g.nodes[wp].rank), row_top(g.nodes[wp].rank) + box_h);
                let (first, second) = if down { (top, bottom) } else { (bottom, top) };
                points.push((Point { x: cx[wp], y: first }, false));
                points.push((Point { x: cx[wp], y: second }, true));
            }
            points.push((p1, false));
            for pair in points.windows(2) {
                let ((p, _), (q, through_row)) = (pair[0], pair[1]);
                if through_row {
                    pieces.push((p, p, q, q, false));
                } else {
                    let dy = (q.y - p.y) / 2.0;
                    pieces.push((p, Point { x: p.x, y: p.y + dy }, Point { x: q.x, y: q.y - dy }, q, true));
                }
            }
        }
        let Some(first) = pieces.first() else { continue };
        let mut d = format!("M{},{}", f(first.0.x), f(first.0.y));
        for (_, c0, c1, q, _) in &pieces {
            let _ = write!(d, " C{},{} {},{} {},{}", f(c0.x), f(c0.y), f(c1.x), f(c1.y), f(q.x), f(q.y));
        }
        let (colour, dash, marker) = if e.returns {
            (RETURN, r#" stroke-dasharray="6 4""#, format!("{id}-arrow-return"))
        } else {
            (EDGE, "", format!("{id}-arrow"))
        };
        let _ = write!(
            out,
            r#"<path class="diagram__edge{}" data-from="{}" data-to="{}" data-action="{}" d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"{dash} marker-end="url(#{marker})"/>"#,
            if e.returns { " diagram__edge--return" } else { "" },
            escape(e.from),
            escape(e.to),
            escape(e.action),
        );

        // The label: the first spot along the edge that covers no box and no other label,
        // else the one that covers least.
        let label_w = e.action.chars().count() as f64 * CHAR_SMALL + 6.0;
        let rect_at = |p: Point| Rect { x: p.x - label_w / 2.0, y: p.y - 9.0, w: label_w, h: 16.0 };
        let mut best: Option<(f64, Point)> = None;
        'search: for (p, c0, c1, q, gap) in &pieces {
            if !gap {
                continue;
            }
            for t in [0.5, 0.35, 0.65, 0.2, 0.8] {
                let spot = cubic(*p, *c0, *c1, *q, t);
                let r = rect_at(spot);
                let cover: f64 = boxes.iter().chain(placed.iter()).map(|o| r.overlap(o)).sum();
                if best.is_none_or(|(c, _)| cover < c) {
                    best = Some((cover, spot));
                }
                if cover == 0.0 {
                    break 'search;
                }
            }
        }
        let Some((_, spot)) = best else { continue };
        placed.push(rect_at(spot));
        label_marks.push(format!(
            r##"<text class="diagram__label" x="{}" y="{}" text-anchor="middle" font-size="12" fill="{}" stroke="#ffffff" stroke-width="4" paint-order="stroke">{}</text>"##,
            f(spot.x),
            f(spot.y + 4.0),
            if e.returns { RETURN } else { INK },
            escape(e.action),
        ));
    }

    for (i, s) in w.states.iter().enumerate() {
        let r = box_of(i);
        let (stroke, stroke_w) = if s.initial { (INITIAL, 3.0) } else { (INK, 1.5) };
        let fill = if s.terminal { TERMINAL_FILL } else { "#ffffff" };
        let _ = write!(out, r#"<g class="diagram__state" data-state="{}">"#, escape(&s.name));
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{}/>"#,
            f(r.x),
            f(r.y),
            f(r.w),
            f(r.h),
            if s.pauses_clock { r#" stroke-dasharray="4 3""# } else { "" },
        );
        if s.terminal {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="none" stroke="{INK}" stroke-width="1"/>"#,
                f(r.x + 4.0),
                f(r.y + 4.0),
                f(r.w - 8.0),
                f(r.h - 8.0),
            );
        }
        let centre = r.x + r.w / 2.0;
        for (line_no, line) in labels[i].iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="14" font-weight="bold" fill="{INK}" lang="{}" direction="{}" unicode-bidi="embed">{}</text>"#,
                f(centre),
                f(r.y + BOX_PAD_Y + 14.0 + line_no as f64 * LINE),
                text.lang.code(),
                text.lang.dir(),
                escape(line),
            );
        }
        let _ = write!(
            out,
            r#"<text class="diagram__sub" x="{}" y="{}" text-anchor="middle" font-size="12" fill="{INK}">{}</text>"#,
            f(centre),
            f(r.y + BOX_PAD_Y + 14.0 + max_lines * LINE),
            escape(&subs[i]),
        );
        out.push_str("</g>");
    }
    for m in label_marks {
        out.push_str(&m);
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use corridor_engine::workflow::{LintContext, parse_workflow};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn load(file: &str) -> Workflow {
        let ctx = LintContext {
            templates_dir: root().join("config/templates/email"),
            calendars_dir: root().join("config/calendars"),
            languages: corridor_engine::lang::LANGS.to_vec(),
        };
        let path = root().join("workflows").join(file);
        let source = std::fs::read_to_string(&path).expect("read workflow");
        parse_workflow(&path, &source, &ctx).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn text() -> DiagramText<'static> {
        DiagramText { title: "Diagram", desc: "States & transitions", id: "wf", lang: corridor_engine::lang::Lang::En }
    }

    #[test]
    fn ranks_follow_the_main_route_from_the_initial_state() {
        let w = load("it-business-visa.yaml");
        let lay = layout(&w);
        let rank = |name: &str| lay.rank[w.states.iter().position(|s| s.name == name).expect("state")];
        assert_eq!(rank("draft"), 0);
        assert_eq!(rank("ministry_review"), 1);
        assert_eq!(rank("ministry_approval"), 2);
        assert!(rank("security_clearance") > rank("ministry_approval"));
        assert!(rank("embassy_decision") > rank("security_clearance"));
        assert!(rank("visa_issued") > rank("embassy_decision"));
        // Every state is in exactly one row.
        let placed: usize = lay.rows.iter().map(Vec::len).sum();
        assert_eq!(placed, w.states.len());
    }

    #[test]
    fn ordinary_arrows_point_down_and_outcomes_sink() {
        for file in ["it-business-visa.yaml", "market-access.yaml"] {
            let w = load(file);
            let lay = layout(&w);
            let rank = |name: &str| lay.rank[w.states.iter().position(|s| s.name == name).expect("state")];
            for e in graph::edges(&w).iter().filter(|e| !e.returns && e.from != e.to) {
                assert!(rank(e.to) > rank(e.from), "{file}: {} -> {} ({})", e.from, e.to, e.action);
            }
            // Every row holds its states once, and the waypoints of long edges are not states.
            let mut seen: Vec<usize> = lay.rows.iter().flatten().copied().collect();
            seen.sort();
            assert_eq!(seen, (0..w.states.len()).collect::<Vec<_>>(), "{file}");
        }
    }

    #[test]
    fn a_cycle_of_ordinary_transitions_still_lays_out() {
        let mut w = load("it-business-visa.yaml");
        // A "reopen" from a final state back to the first review closes a cycle.
        let mut reopen = w.transitions[0].clone();
        reopen.action = "reopen".into();
        reopen.from = vec!["visa_refused".into()];
        reopen.to = corridor_engine::workflow::Target::State("ministry_review".into());
        w.transitions.push(reopen);
        let svg = svg(&w, &text());
        assert!(svg.contains(r#"data-action="reopen""#));
        assert_eq!(layout(&w).rank[0], 0);
    }

    #[test]
    fn every_state_and_every_edge_is_drawn() {
        for file in ["it-business-visa.yaml", "market-access.yaml"] {
            let w = load(file);
            let svg = svg(&w, &text());
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(svg.contains(r#"role="img""#) && svg.contains(r#"aria-labelledby="wf-title wf-desc""#));
            assert!(svg.contains("<desc id=\"wf-desc\">States &amp; transitions</desc>"));
            for s in &w.states {
                assert_eq!(svg.matches(&format!("data-state=\"{}\"", s.name)).count(), 1, "{file}: {}", s.name);
                for line in wrap(s.label.en()) {
                    assert!(svg.contains(&format!(">{}</text>", escape(&line))), "{file}: label of {}", s.name);
                }
            }
            let edges = graph::edges(&w);
            assert_eq!(svg.matches("<path class=\"diagram__edge").count(), edges.len(), "{file}");
            let returns = edges.iter().filter(|e| e.returns).count();
            assert!(returns > 0, "{file} has return edges");
            assert_eq!(svg.matches("diagram__edge--return").count(), returns);
            assert_eq!(svg.matches("stroke-dasharray=\"6 4\"").count(), returns, "return edges are dashed");
            for bad in ["NaN", "=\"inf", "=\"-inf", "inf,", ",inf", " Minf", " Cinf"] {
                assert!(!svg.contains(bad), "{file}: coordinates are finite ({bad})");
            }
        }
    }

    #[test]
    fn workflow_text_is_escaped() {
        let mut w = load("it-business-visa.yaml");
        w.states[0].label = corridor_engine::text::Text::same("<script>alert(1)</script> & \"quotes\"");
        let svg = svg(&w, &DiagramText { title: "<b>", desc: "d", id: "x\"y", lang: corridor_engine::lang::Lang::En });
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("x&quot;y-title"));
    }

    #[test]
    fn long_labels_wrap_at_spaces() {
        assert_eq!(wrap("Short"), ["Short"]);
        assert_eq!(
            wrap("Waiting for the firm to send the information asked for"),
            ["Waiting for the firm to send", "the information asked for"]
        );
        assert_eq!(wrap(""), [""]);
    }
}
