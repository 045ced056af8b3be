//! A proof-of-reserves balances file (README, "Proof of reserves"): `balances::Format::detect`,
//! `parse_header` (CSV), `parse_block` over the rest, as `vigil reserves build` reads it, for a
//! snapshot of three assets.
//!
//! Property: the two ways a CSV line is read agree. A line without quotes is split on commas by
//! hand; the same line with its account field quoted goes through `csv_core` (the `csv`
//! crate's parser). Both accept it with the same account and balances, or both refuse it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::balances::{parse_block, parse_header, Format};

type Rows = Vec<(u64, String, Vec<u128>)>;

/// The rows `parse_block` reads, up to its first refusal, and the number of the line it
/// refused (none when it read the whole block).
fn rows(block: &[u8], first: u64, format: Format, cols: &[usize], assets: &[String]) -> (Rows, Option<u64>) {
    let mut out = Vec::new();
    let refused = parse_block(block, first, format, cols, assets, &mut |n, account, balances| {
        out.push((n, account.to_string(), balances.to_vec()));
    })
    .err()
    .map(|e| {
        let n = e.0.strip_prefix("line ").and_then(|r| r.split(':').next()?.parse().ok());
        n.unwrap_or_else(|| panic!("a refusal that names no line: {e}"))
    });
    (out, refused)
}

fuzz_target!(|data: &[u8]| {
    let assets: Vec<String> = ["BTC", "ETH", "USDT"].map(String::from).to_vec();
    let (cols, body) = match Format::detect(data) {
        Format::JsonLines => {
            let _ = rows(data, 1, Format::JsonLines, &[], &assets);
            return;
        }
        Format::Csv => {
            let end = data.iter().position(|&b| b == b'\n').map_or(data.len(), |i| i + 1);
            let Ok(header) = std::str::from_utf8(&data[..end]) else { return };
            let Ok(cols) = parse_header(header, &assets) else { return };
            (cols, &data[end..])
        }
    };
    let _ = rows(body, 2, Format::Csv, &cols, &assets);
    // The lines without quotes, as they are and with their account quoted, each set one block
    // (line numbers by position in it): both read alike, row by row, and refuse the same line.
    let (mut plain, mut quoted) = (Vec::new(), Vec::new());
    for line in body.split(|&b| b == b'\n') {
        // The line end (`\r`, before the `\n`) is not part of the last field.
        let (content, end) = match line.strip_suffix(b"\r") {
            Some(c) => (c, &b"\r"[..]),
            None => (line, &b""[..]),
        };
        if content.contains(&b'"') || content.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let comma = content.iter().position(|&b| b == b',').unwrap_or(content.len());
        plain.extend_from_slice(line);
        plain.push(b'\n');
        quoted.extend_from_slice(&[b"\"", &content[..comma], b"\"", &content[comma..], end, b"\n"].concat());
    }
    assert_eq!(
        rows(&plain, 2, Format::Csv, &cols, &assets),
        rows(&quoted, 2, Format::Csv, &cols, &assets),
        "quoting the account changed how a line reads"
    );
});
