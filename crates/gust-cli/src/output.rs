//! How results reach stdout: aligned tables for people, the API's JSON for scripts.

use std::io::Write;

use anyhow::{Context, Result};

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns and short summaries, for people.
    Table,
    /// The API's JSON as the server sent it, for scripts.
    Json,
}

/// Renders rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders `key  value` lines with the values aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(format!("{key:<width$}   {value}").trim_end());
        out.push('\n');
    }
    out
}

/// Writes a response body to stdout as it came, ending with one newline.
pub fn print_raw(body: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(body).context("writing to stdout")?;
    if !body.ends_with(b"\n") {
        stdout.write_all(b"\n").context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["hello".to_string(), "python3.11".to_string()],
            vec!["a-much-longer-name".to_string(), "nodejs20.x".to_string()],
        ];
        let text = table(&["NAME", "RUNTIME"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME                 RUNTIME");
        assert_eq!(lines[1], "hello                python3.11");
        assert_eq!(lines[2], "a-much-longer-name   nodejs20.x");
    }

    #[test]
    fn key_values_align_and_trim() {
        let text = key_values(&[("Name", "hello".into()), ("Description", String::new())]);
        assert_eq!(text, "Name          hello\nDescription\n");
    }
}
