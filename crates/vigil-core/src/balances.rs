//! Reading the exchange's balances file for a proof-of-reserves snapshot (README, "Proof of
//! reserves"): CSV with an `account,BTC,ETH,…` header, or JSON lines
//! `{"account": "…", "balances": {"BTC": "…"}}` (an asset left out is zero). Balances are whole
//! numbers of minor units: no sign, no fraction, no exponent.
//!
//! Pure parsing of bytes already read (the server's `reserves::build` reads the file in blocks of
//! whole lines and parses them in parallel); every bad row is an error naming its line, never a
//! panic. Behind the `balances` feature (it brings the `csv` crate), which the browser build
//! does without.

use crate::event::Amount;

/// Longest account id, in bytes.
pub const ACCOUNT_MAX: usize = 256;

/// What is wrong with a balances file, naming its line (`line 12: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BalancesError(pub String);

macro_rules! fail {
    ($($t:tt)*) => { return Err(BalancesError(format!($($t)*))) };
}

/// The two input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// JSON lines when the file's first byte that is not white space is `{`, else CSV.
    pub fn detect(start: &[u8]) -> Format {
        match start.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// A CSV header line (`account,BTC,ETH`, without or with its line end): for each column after
/// the account, the index of its asset in `assets`. Every column must name a snapshot asset
/// once; assets without a column are zero.
pub fn parse_header(header: &str, assets: &[String]) -> Result<Vec<usize>, BalancesError> {
    let names: Vec<&str> = header.trim_end_matches(['\r', '\n']).split(',').map(str::trim).collect();
    if names.first() != Some(&"account") {
        fail!("line 1: the header must start with \"account\", then one column per asset");
    }
    let cols = names.iter().skip(1).map(|h| asset_index(assets, 1, h)).collect::<Result<Vec<_>, _>>()?;
    for (i, c) in cols.iter().enumerate() {
        if cols[..i].contains(c) {
            fail!("line 1: asset {} has two columns", assets[*c]);
        }
    }
    Ok(cols)
}

/// A balance in minor units, as written in a field (surrounding spaces allowed).
pub fn parse_balance(line: u64, asset: &str, s: &str) -> Result<u128, BalancesError> {
    let s = s.trim();
    if s.starts_with('-') {
        fail!("line {line}: negative balance {s} for {asset}");
    }
    if s.contains(['.', 'e', 'E']) {
        fail!("line {line}: balance {s:?} for {asset} is not a whole number of minor units");
    }
    Amount::parse(s).map(|a| a.0).map_err(|e| BalancesError(format!("line {line}: {asset}: {e}")))
}

fn check_account(line: u64, a: &str) -> Result<(), BalancesError> {
    if a.is_empty() || a.len() > ACCOUNT_MAX || a.chars().any(char::is_control) {
        fail!("line {line}: the account id must be 1 to {ACCOUNT_MAX} bytes without control characters");
    }
    Ok(())
}

fn asset_index(assets: &[String], line: u64, name: &str) -> Result<usize, BalancesError> {
    match assets.iter().position(|a| a == name) {
        Some(i) => Ok(i),
        None => fail!("line {line}: unknown asset {name:?}; this snapshot's assets are {}", assets.join(", ")),
    }
}

/// A CSV line with quotes, read as the `csv` crate reads a record: by its parser, `csv_core`,
/// with the same defaults (comma, double quotes, `""` for a quote). The parser is built once
/// and reset for each line (building it per line cost more than reading the line).
struct QuotedLine {
    parser: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl QuotedLine {
    fn new() -> QuotedLine {
        QuotedLine { parser: csv_core::Reader::new(), out: vec![0; 256], ends: vec![0; 8] }
    }

    /// Reads `line` (no line end in it) as one record: how many fields it has, or `None` when
    /// it holds no record. `csv_core` never refuses input; it reads a field as best it can.
    fn read(&mut self, line: &[u8]) -> Option<usize> {
        self.parser.reset();
        let (mut input, mut nout, mut nend) = (line, 0, 0);
        loop {
            let (res, nin, o, e) = self.parser.read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            (input, nout, nend) = (&input[nin..], nout + o, nend + e);
            match res {
                // All of the line was read: an empty input next says it ended.
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                csv_core::ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                csv_core::ReadRecordResult::Record => return Some(nend),
                csv_core::ReadRecordResult::End => return None,
            }
        }
    }

    /// Field `i` of the record [`QuotedLine::read`] read last.
    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.out[start..self.ends[i]]
    }
}

/// A balance in a CSV field: the fast path for plain digits, else [`parse_balance`]'s checks
/// and messages.
fn csv_balance(line: u64, asset: &str, f: &[u8]) -> Result<u128, BalancesError> {
    if !f.is_empty() && f.len() <= 38 && (f[0] != b'0' || f.len() == 1) && f.iter().all(u8::is_ascii_digit) {
        return Ok(f.iter().fold(0u128, |acc, d| acc * 10 + (d - b'0') as u128));
    }
    parse_balance(line, asset, std::str::from_utf8(f).unwrap_or("(not UTF-8)"))
}

/// Calls `row` for each account of one block of a balances file (whole lines, without the CSV
/// header; `first` is the number of its first line), with the account and its balances (one
/// per asset, in `assets` order) borrowed. `cols` is [`parse_header`]'s answer (empty for JSON
/// lines). Blank lines are skipped. Stops at the first bad row, naming its line.
///
/// A CSV line without quotes is split on commas (fields trimmed of ASCII spaces); a line with
/// quotes goes through `csv_core` (the `csv` crate's parser, with its defaults), and its fields
/// are trimmed the same way.
pub fn parse_block(
    block: &[u8],
    first: u64,
    format: Format,
    cols: &[usize],
    assets: &[String],
    row: &mut dyn FnMut(u64, &str, &[u128]),
) -> Result<(), BalancesError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct JsonRow {
        account: String,
        balances: std::collections::BTreeMap<String, serde_json::Value>,
    }
    let mut balances = vec![0u128; assets.len()];
    let mut quoted = None;
    for (i, line) in block.split(|&b| b == b'\n').enumerate() {
        let n = first + i as u64;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if format == Format::Csv && line.contains(&b'\r') {
            // The `csv` crate would end the record there, the split on commas would not.
            fail!("line {n}: a carriage return inside the line");
        }
        balances.iter_mut().for_each(|b| *b = 0);
        match format {
            Format::JsonLines => {
                let r: JsonRow = serde_json::from_slice(line).map_err(|e| BalancesError(format!("line {n}: {e}")))?;
                for (name, v) in &r.balances {
                    let i = asset_index(assets, n, name)?;
                    let Some(s) = v.as_str() else {
                        fail!("line {n}: the {name} balance must be a string of minor units, e.g. \"1250\", not {v}");
                    };
                    balances[i] = parse_balance(n, name, s)?;
                }
                check_account(n, &r.account)?;
                row(n, &r.account, &balances);
            }
            Format::Csv if !line.contains(&b'"') => {
                let count = line.iter().filter(|&&b| b == b',').count() + 1;
                if count != cols.len() + 1 {
                    fail!("line {n}: {count} fields; the header has {}", cols.len() + 1);
                }
                let mut fields = line.split(|&b| b == b',').map(|f| f.trim_ascii());
                let account = fields.next().unwrap_or_default();
                for (f, &c) in fields.zip(cols) {
                    balances[c] = csv_balance(n, &assets[c], f)?;
                }
                let Ok(account) = std::str::from_utf8(account) else {
                    fail!("line {n}: the account id is not UTF-8");
                };
                check_account(n, account)?;
                row(n, account, &balances);
            }
            Format::Csv => {
                let rec = quoted.get_or_insert_with(QuotedLine::new);
                let Some(len) = rec.read(line) else { continue };
                if len != cols.len() + 1 {
                    fail!("line {n}: {len} fields; the header has {}", cols.len() + 1);
                }
                for (i, &c) in (1..len).zip(cols) {
                    balances[c] = csv_balance(n, &assets[c], rec.field(i).trim_ascii())?;
                }
                let Ok(account) = std::str::from_utf8(rec.field(0).trim_ascii()) else {
                    fail!("line {n}: the account id is not UTF-8");
                };
                check_account(n, account)?;
                row(n, account, &balances);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::QuotedLine;

    /// One parser reads line after line as the `csv` crate reads each alone: quotes, commas
    /// and `""` inside them, empty fields, a field a quote opens and the line ends.
    #[test]
    fn a_quoted_line_reads_as_the_csv_crate_reads_it_whatever_came_before() {
        let cases: &[(&str, &[&str])] = &[
            (r#""b,c",0,17"#, &["b,c", "0", "17"]),
            ("a,5,0", &["a", "5", "0"]),
            (r#""say ""hi""",1"#, &[r#"say "hi""#, "1"]),
            (r#""",,"x""#, &["", "", "x"]),
            (r#""open,1"#, &["open,1"]),
            (r#""b,c",0,17"#, &["b,c", "0", "17"]),
        ];
        let mut q = QuotedLine::new();
        for (line, want) in cases {
            let n = q.read(line.as_bytes()).expect("a record");
            let got: Vec<&[u8]> = (0..n).map(|i| q.field(i)).collect();
            let want: Vec<&[u8]> = want.iter().map(|f| f.as_bytes()).collect();
            assert_eq!(got, want, "{line}");
        }
    }
}
