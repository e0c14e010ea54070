//! A workflow drawn as inline SVG, on the server, with no service or script: a small layered
//! layout in the manner of Sugiyama.
//!
//! * Ranks: breadth-first from the initial state over the ordinary transitions, so the main
//!   route reads top to bottom. `$return` edges are left out of the ranking (they point back
//!   up and would otherwise pull the asking stages down); states reached by nothing go last.
//! * Order within a rank: the average position of the state's predecessors (one barycentre
//!   pass, top down), ties in file order. Enough to untangle workflows of a dozen states.
//! * Edges: downwards from the bottom of a box to the top of the next; upwards from the top
//!   of a box to the bottom of an earlier one; within a rank, an arc below the boxes. Where
//!   several edges meet a side, their ends are spread along it. Return edges are dashed and
//!   coloured differently, and the legend under the figure says so in words.
//!
//! The SVG is an image (`role="img"`) named by its `<title>` and described by its `<desc>`;
//! the page puts the same facts in a table for anyone who cannot see it. Every piece of
//! workflow text is escaped; the labels are the workflow's English and are marked `lang="en"`.
//! Colours are presentation attributes (the CSP forbids inline `style`).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;

use corridor_engine::workflow::Workflow;
use corridor_engine::workflow::graph::{self, Edge};

const BOX_HEIGHT_LINE: f64 = 18.0;
const BOX_PAD_Y: f64 = 12.0;
const GAP_X: f64 = 36.0;
const GAP_Y: f64 = 96.0;
const MARGIN: f64 = 24.0;
const MIN_BOX_WIDTH: f64 = 150.0;
const MAX_BOX_WIDTH: f64 = 300.0;
/// Longest line of a state's label before it wraps.
const WRAP_CHARS: usize = 30;
/// Rough advance of one character: bold 14px and regular 12px sans-serif.
const CHAR_LABEL: f64 = 8.2;
const CHAR_SMALL: f64 = 6.8;

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
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Top,
    Bottom,
}

/// Where each state sits: rank (row) and position within it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Per state, in file order.
    pub rank: Vec<usize>,
    pub order: Vec<usize>,
    /// States of each rank, left to right (indexes into `w.states`).
    pub rows: Vec<Vec<usize>>,
}

/// Ranks by breadth-first search and order by barycentre.
pub fn layout(w: &Workflow) -> Layout {
    let n = w.states.len();
    let index: HashMap<&str, usize> = w.states.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let edges = graph::edges(w);
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges.iter().filter(|e| !e.returns) {
        if let (Some(&a), Some(&b)) = (index.get(e.from), index.get(e.to))
            && !next[a].contains(&b)
        {
            next[a].push(b);
        }
    }
    let mut rank: Vec<Option<usize>> = vec![None; n];
    let start = w.states.iter().position(|s| s.initial).unwrap_or(0);
    let mut queue = VecDeque::new();
    if n > 0 {
        rank[start] = Some(0);
        queue.push_back(start);
    }
    while let Some(i) = queue.pop_front() {
        let r = rank[i].unwrap_or(0);
        for &j in &next[i] {
            if rank[j].is_none() {
                rank[j] = Some(r + 1);
                queue.push_back(j);
            }
        }
    }
    let deepest = rank.iter().flatten().copied().max().unwrap_or(0);
    let unreached = deepest + 1;
    let rank: Vec<usize> = rank.into_iter().map(|r| r.unwrap_or(unreached)).collect();
    let rows_count = rank.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); rows_count];
    let mut order = vec![0usize; n];
    let mut prev: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (a, targets) in next.iter().enumerate() {
        for &b in targets {
            if rank[a] < rank[b] {
                prev[b].push(a);
            }
        }
    }
    for r in 0..rows_count {
        let mut members: Vec<(f64, usize)> = (0..n)
            .filter(|&i| rank[i] == r)
            .map(|i| {
                let placed: Vec<f64> = prev[i].iter().map(|&p| order[p] as f64 - (rows[rank[p]].len() as f64 - 1.0) / 2.0).collect();
                let centre = if placed.is_empty() { f64::MAX } else { placed.iter().sum::<f64>() / placed.len() as f64 };
                (centre, i)
            })
            .collect();
        // Stable: equal barycentres (and states without placed predecessors) keep file order.
        members.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        for (pos, (_, i)) in members.iter().enumerate() {
            order[*i] = pos;
        }
        rows[r] = members.into_iter().map(|(_, i)| i).collect();
    }
    Layout { rank, order, rows }
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
        parts.push(owner.clone());
    }
    if let Some(d) = &s.deadline {
        let unit = match (d.unit, d.amount) {
            (corridor_engine::workflow::DurationUnit::WorkingDays, 1) => "working day",
            (corridor_engine::workflow::DurationUnit::WorkingDays, _) => "working days",
            (corridor_engine::workflow::DurationUnit::Days, 1) => "day",
            (corridor_engine::workflow::DurationUnit::Days, _) => "days",
            (corridor_engine::workflow::DurationUnit::Hours, 1) => "hour",
            (corridor_engine::workflow::DurationUnit::Hours, _) => "hours",
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

/// The workflow as an `<svg>` element.
pub fn svg(w: &Workflow, text: &DiagramText) -> String {
    let lay = layout(w);
    let n = w.states.len();
    let labels: Vec<Vec<String>> = w.states.iter().map(|s| wrap(&s.label)).collect();
    let subs: Vec<String> = (0..n).map(|i| subline(w, i)).collect();
    let widest_label = labels.iter().flatten().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_LABEL;
    let widest_sub = subs.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_SMALL;
    let box_w = (widest_label.max(widest_sub) + 28.0).clamp(MIN_BOX_WIDTH, MAX_BOX_WIDTH);
    let max_lines = labels.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let box_h = BOX_PAD_Y * 2.0 + BOX_HEIGHT_LINE * (max_lines + 1.0);
    let widest_row = lay.rows.iter().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let inner_w = widest_row * box_w + (widest_row - 1.0) * GAP_X;
    let width = inner_w + 2.0 * MARGIN;
    let height = lay.rows.len().max(1) as f64 * (box_h + GAP_Y) - GAP_Y + 2.0 * MARGIN + 40.0;

    // Top-left corner of each box.
    let mut at = vec![Point { x: 0.0, y: 0.0 }; n];
    for (r, row) in lay.rows.iter().enumerate() {
        let row_w = row.len() as f64 * box_w + (row.len().saturating_sub(1)) as f64 * GAP_X;
        let x0 = MARGIN + (inner_w - row_w) / 2.0;
        for (pos, &i) in row.iter().enumerate() {
            at[i] = Point { x: x0 + pos as f64 * (box_w + GAP_X), y: MARGIN + r as f64 * (box_h + GAP_Y) };
        }
    }
    let centre_x = |i: usize| at[i].x + box_w / 2.0;

    let index: HashMap<&str, usize> = w.states.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let edges: Vec<(Edge, usize, usize)> = graph::edges(w)
        .into_iter()
        .filter_map(|e| Some((e.clone(), *index.get(e.from)?, *index.get(e.to)?)))
        .collect();

    // Which side of each box every edge leaves and enters by.
    let sides = |a: usize, b: usize| -> (Side, Side) {
        if lay.rank[b] > lay.rank[a] {
            (Side::Bottom, Side::Top)
        } else if lay.rank[b] < lay.rank[a] {
            (Side::Top, Side::Bottom)
        } else {
            (Side::Bottom, Side::Bottom)
        }
    };
    // Spread the ends meeting one side, ordered by where the other end is, so lines do not
    // start on top of each other.
    let mut attach: HashMap<(usize, Side), Vec<(f64, usize, bool)>> = HashMap::new();
    for (k, (_, a, b)) in edges.iter().enumerate() {
        let (sa, sb) = sides(*a, *b);
        attach.entry((*a, sa)).or_default().push((centre_x(*b), k, true));
        attach.entry((*b, sb)).or_default().push((centre_x(*a), k, false));
    }
    let mut ends: HashMap<(usize, bool), Point> = HashMap::new();
    for ((state, side), mut list) in attach {
        list.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal).then(x.1.cmp(&y.1)));
        let m = list.len() as f64;
        for (pos, (_, k, is_start)) in list.into_iter().enumerate() {
            let x = at[state].x + box_w * (pos as f64 + 1.0) / (m + 1.0);
            let y = match side {
                Side::Top => at[state].y,
                Side::Bottom => at[state].y + box_h,
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
    let _ = write!(out, r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#, escape(text.title), escape(text.desc));
    let _ = write!(
        out,
        r#"<defs><marker id="{id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE}"/></marker><marker id="{id}-arrow-return" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{RETURN}"/></marker></defs>"#
    );
    out.push_str(r#"<g lang="en">"#);

    // Edges first, so boxes sit on top of line ends.
    let mut label_marks: Vec<String> = Vec::new();
    let mut label_spots: Vec<Point> = Vec::new();
    for (k, (e, a, b)) in edges.iter().enumerate() {
        let (Some(&p0), Some(&p1)) = (ends.get(&(k, true)), ends.get(&(k, false))) else { continue };
        let (c0, c1) = if a == b || lay.rank[*a] == lay.rank[*b] {
            let dip = box_h * 0.2 + GAP_Y * 0.45;
            (Point { x: p0.x, y: p0.y + dip }, Point { x: p1.x, y: p1.y + dip })
        } else {
            let dy = (p1.y - p0.y) * 0.5;
            (Point { x: p0.x, y: p0.y + dy }, Point { x: p1.x, y: p1.y - dy })
        };
        let (colour, dash, marker) = if e.returns {
            (RETURN, r#" stroke-dasharray="6 4""#, format!("{id}-arrow-return"))
        } else {
            (EDGE, "", format!("{id}-arrow"))
        };
        let _ = write!(
            out,
            r#"<path class="diagram__edge{}" data-from="{}" data-to="{}" data-action="{}" d="M{},{} C{},{} {},{} {},{}" fill="none" stroke="{colour}" stroke-width="1.5"{dash} marker-end="url(#{marker})"/>"#,
            if e.returns { " diagram__edge--return" } else { "" },
            escape(e.from),
            escape(e.to),
            escape(e.action),
            f(p0.x), f(p0.y), f(c0.x), f(c0.y), f(c1.x), f(c1.y), f(p1.x), f(p1.y),
        );
        // Put the label on the curve where it is furthest from labels already placed.
        let spot = [0.5, 0.35, 0.65, 0.25, 0.75]
            .iter()
            .map(|t| cubic(p0, c0, c1, p1, *t))
            .max_by(|p, q| {
                let clearance = |c: &Point| label_spots.iter().map(|s| ((s.x - c.x) / 4.0).hypot(s.y - c.y)).fold(f64::MAX, f64::min);
                clearance(p).partial_cmp(&clearance(q)).unwrap_or(std::cmp::Ordering::Equal)
            })
            .unwrap_or(p0);
        label_spots.push(spot);
        label_marks.push(format!(
            r##"<text class="diagram__label" x="{}" y="{}" text-anchor="middle" font-size="12" fill="{}" stroke="#ffffff" stroke-width="4" paint-order="stroke">{}</text>"##,
            f(spot.x),
            f(spot.y + 4.0),
            if e.returns { RETURN } else { INK },
            escape(e.action),
        ));
    }

    for (i, s) in w.states.iter().enumerate() {
        let p = at[i];
        let (stroke, stroke_w) = if s.initial { (INITIAL, 3.0) } else { (INK, 1.5) };
        let fill = if s.terminal { TERMINAL_FILL } else { "#ffffff" };
        let _ = write!(out, r#"<g class="diagram__state" data-state="{}">"#, escape(&s.name));
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{}/>"#,
            f(p.x),
            f(p.y),
            f(box_w),
            f(box_h),
            if s.pauses_clock { r#" stroke-dasharray="4 3""# } else { "" },
        );
        if s.terminal {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="none" stroke="{INK}" stroke-width="1"/>"#,
                f(p.x + 4.0),
                f(p.y + 4.0),
                f(box_w - 8.0),
                f(box_h - 8.0),
            );
        }
        let cx = p.x + box_w / 2.0;
        for (line_no, line) in labels[i].iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="14" font-weight="bold" fill="{INK}">{}</text>"#,
                f(cx),
                f(p.y + BOX_PAD_Y + 14.0 + line_no as f64 * BOX_HEIGHT_LINE),
                escape(line),
            );
        }
        let _ = write!(
            out,
            r#"<text class="diagram__sub" x="{}" y="{}" text-anchor="middle" font-size="12" fill="{INK}">{}</text>"#,
            f(cx),
            f(p.y + BOX_PAD_Y + 14.0 + max_lines * BOX_HEIGHT_LINE),
            escape(&subs[i]),
        );
        out.push_str("</g>");
    }
    // Labels last: over lines and boxes, each with a white halo.
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
        let ctx = LintContext { templates_dir: root().join("config/templates/email"), calendars_dir: root().join("config/calendars") };
        let path = root().join("workflows").join(file);
        let source = std::fs::read_to_string(&path).expect("read workflow");
        parse_workflow(&path, &source, &ctx).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn text() -> DiagramText<'static> {
        DiagramText { title: "Diagram", desc: "States & transitions", id: "wf" }
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
    fn every_state_and_every_edge_is_drawn() {
        for file in ["it-business-visa.yaml", "market-access.yaml"] {
            let w = load(file);
            let svg = svg(&w, &text());
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(svg.contains(r#"role="img""#) && svg.contains(r#"aria-labelledby="wf-title wf-desc""#));
            assert!(svg.contains("<desc id=\"wf-desc\">States &amp; transitions</desc>"));
            for s in &w.states {
                assert_eq!(svg.matches(&format!("data-state=\"{}\"", s.name)).count(), 1, "{file}: {}", s.name);
                for line in wrap(&s.label) {
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
        w.states[0].label = "<script>alert(1)</script> & \"quotes\"".into();
        let svg = svg(&w, &DiagramText { title: "<b>", desc: "d", id: "x\"y" });
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("x&quot;y-title"));
    }

    #[test]
    fn long_labels_wrap_at_spaces() {
        assert_eq!(wrap("Short"), ["Short"]);
        assert_eq!(wrap("Waiting for the firm to send the information asked for"), ["Waiting for the firm to send", "the information asked for"]);
        assert_eq!(wrap(""), [""]);
    }
}
