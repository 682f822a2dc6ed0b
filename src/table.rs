//! Plain-text tables with columns as wide as their widest cell: `rstlab run`'s report and the
//! peer's.

/// Renders `rows` under `header`, columns separated by two spaces, the last one unpadded.
///
/// ```
/// let t = rstlab::table::render(&["step", "outcome"], &[vec!["write 1".into(), "ok(1)".into()]]);
/// assert_eq!(t, "step     outcome\nwrite 1  ok(1)\n");
/// ```
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    out
}
