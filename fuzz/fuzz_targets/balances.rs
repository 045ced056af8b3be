//! A proof-of-reserves balances file (README, "Proof of reserves"): `balances::Format::detect`,
//! `parse_header` (CSV), `parse_block` over the rest, as `vigil reserves build` reads it, for a
//! snapshot of three assets.
//!
//! Property: the two ways a CSV line is read agree. A line without quotes is split on commas by
//! hand; the same line with its account field quoted goes through the `csv` crate. Both accept
//! it with the same account and balances, or both refuse it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::balances::{parse_block, parse_header, Format};

type Rows = Vec<(u64, String, Vec<u128>)>;

fn rows(block: &[u8], first: u64, format: Format, cols: &[usize], assets: &[String]) -> Option<Rows> {
    let mut out = Vec::new();
    parse_block(block, first, format, cols, assets, &mut |n, account, balances| {
        out.push((n, account.to_string(), balances.to_vec()));
    })
    .ok()?;
    Some(out)
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
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        // The line end (`\r`, before the `\n`) is not part of the last field.
        let (content, end) = match line.strip_suffix(b"\r") {
            Some(c) => (c, &b"\r"[..]),
            None => (line, &b""[..]),
        };
        if content.contains(&b'"') || content.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = 2 + i as u64;
        let comma = content.iter().position(|&b| b == b',').unwrap_or(content.len());
        let quoted = [b"\"", &content[..comma], b"\"", &content[comma..], end].concat();
        assert_eq!(
            rows(line, n, Format::Csv, &cols, &assets),
            rows(&quoted, n, Format::Csv, &cols, &assets),
            "line {n}: quoting the account changed how it reads"
        );
    }
});
