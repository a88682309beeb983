//! Aligned plain-text tables, with the last column cut to fit the line.

use std::io::{self, IsTerminal, Write};

/// Spaces between columns.
const GAP: usize = 2;
/// Line width when stdout is not a terminal (or its width is unknown).
const DEFAULT_WIDTH: usize = 160;
/// The last column keeps at least this many characters, however narrow the line.
const MIN_LAST: usize = 20;

/// Rows of cells under a header; numeric columns align right.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, all left-aligned.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            right_aligned: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Aligns the columns at these indexes to the right (numbers).
    pub fn right(mut self, columns: impl IntoIterator<Item = usize>) -> Self {
        for column in columns {
            if let Some(flag) = self.right_aligned.get_mut(column) {
                *flag = true;
            }
        }
        self
    }

    /// Adds a row; it should have one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }

    /// Writes the table, cutting the last column so a line fits in `line_width`.
    pub fn write(&self, out: &mut dyn Write, line_width: usize) -> io::Result<()> {
        let mut widths = self.widths();
        if let Some((last, rest)) = widths.split_last_mut() {
            let used: usize = rest.iter().map(|w| w + GAP).sum();
            *last = (*last).min(line_width.saturating_sub(used).max(MIN_LAST));
        }
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        self.write_line(out, &header, &widths)?;
        for row in &self.rows {
            self.write_line(out, row, &widths)?;
        }
        Ok(())
    }

    fn write_line(
        &self,
        out: &mut dyn Write,
        cells: &[String],
        widths: &[usize],
    ) -> io::Result<()> {
        let mut line = String::new();
        for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
            let cell = cut(cell, width);
            let last = i + 1 == cells.len();
            let pad = width.saturating_sub(cell.chars().count());
            if self.right_aligned[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                line.push_str(&" ".repeat(GAP));
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// `text` on one line, cut to `width` characters with a trailing `…` when longer.
pub fn cut(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        return flat;
    }
    let mut kept: String = flat.chars().take(width.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// The width of the terminal stdout writes to, or a default for pipes and files.
pub fn line_width() -> usize {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return DEFAULT_WIDTH;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_rows, columns)| usize::from(columns))
        .unwrap_or(DEFAULT_WIDTH)
}

/// `n` with thousands separators: `100000` becomes `100,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn cut_keeps_short_text_and_marks_long_text() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a long error message", 7), "a long…");
        assert_eq!(cut("two\nlines", 20), "two lines");
    }

    #[test]
    fn table_aligns_columns_and_cuts_the_last() {
        let mut table = Table::new(&["id", "name", "note"]).right([0]);
        table.row(vec!["7".into(), "a".into(), "x".repeat(50)]);
        table.row(vec!["100".into(), "bbb".into(), "y".into()]);
        let mut out = Vec::new();
        table.write(&mut out, 40).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], " id  name  note");
        assert!(lines[1].starts_with("  7  a     xxx"));
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[1].chars().count(), 40);
        assert_eq!(lines[2], "100  bbb   y");
    }
}
