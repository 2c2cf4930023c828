//! Output that is a table: JSON lines with `--json`, else left-aligned columns
//! like `kafka-consumer-groups.sh --describe` prints (every column as wide as
//! its widest cell or heading, two spaces apart).

use super::Out;
use super::json::Json;

/// A table collected row by row and printed at the end (the widths need every row).
pub struct Table {
    headings: Vec<&'static str>,
    rows: Vec<(Json, Vec<String>)>,
}

impl Table {
    pub fn new(headings: &[&'static str]) -> Self {
        Table { headings: headings.to_vec(), rows: Vec::new() }
    }

    /// Adds a row: its JSON line and its cells for people (one per heading).
    pub fn row(&mut self, json: Json, cells: Vec<String>) {
        self.rows.push((json, cells));
    }

    /// Prints the JSON lines, or the aligned table (the headings even with no rows).
    pub fn print(self, out: &mut Out) {
        let mut widths: Vec<usize> = self.headings.iter().map(|h| h.len()).collect();
        for (_, cells) in &self.rows {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.chars().count());
            }
        }
        let headings: Vec<String> = self.headings.iter().map(|&h| h.to_owned()).collect();
        out.human(&format_row(&widths, &headings));
        for (json, cells) in &self.rows {
            out.line(json, || format_row(&widths, cells));
        }
    }
}

fn format_row(widths: &[usize], cells: &[String]) -> String {
    let mut line = String::new();
    for (i, (w, c)) in widths.iter().zip(cells).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        if i + 1 == cells.len() {
            line.push_str(c);
        } else {
            line.push_str(&format!("{c:<w$}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let cells = ["a".to_owned(), "bbb".to_owned(), "c".to_owned()];
        assert_eq!(format_row(&[5, 3, 9], &cells), "a      bbb  c");
    }
}
