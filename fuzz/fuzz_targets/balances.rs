//! A proof-of-reserves balances file (README, "Proof of reserves"): `balances::Format::detect`,
//! `parse_header` (CSV), `parse_block` over the rest, as `vigil reserves build` reads it, for a
//! snapshot of three assets.
//!
//! Properties: every row handed on has an account of 1 to 256 bytes without control characters
//! and one balance per asset; a CSV line without quotes (split on commas by hand) reads the same
//! as that line with its account field quoted (read by the `csv` crate): the same account and
//! balances, or an error both ways.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::balances::{parse_block, parse_header, Format, ACCOUNT_MAX};

type Rows = Vec<(u64, String, Vec<u128>)>;

fn rows(block: &[u8], first: u64, format: Format, cols: &[usize], assets: &[String]) -> Result<Rows, String> {
    let mut out = Vec::new();
    parse_block(block, first, format, cols, assets, &mut |n, account, balances| {
        assert!(!account.is_empty() && account.len() <= ACCOUNT_MAX && !account.chars().any(char::is_control));
        assert_eq!(balances.len(), assets.len());
        out.push((n, account.to_string(), balances.to_vec()));
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let assets: Vec<String> = ["BTC", "ETH", "USDT"].map(String::from).to_vec();
    let (format, cols, body, first) = match Format::detect(data) {
        Format::JsonLines => (Format::JsonLines, Vec::new(), data, 1),
        Format::Csv => {
            let end = data.iter().position(|&b| b == b'\n').map_or(data.len(), |i| i + 1);
            let Ok(header) = std::str::from_utf8(&data[..end]) else { return };
            let Ok(cols) = parse_header(header, &assets) else { return };
            (Format::Csv, cols, &data[end..], 2)
        }
    };
    let Ok(got) = rows(body, first, format, &cols, &assets) else { return };
    if format == Format::Csv {
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.contains(&b'"') || line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let n = first + i as u64;
            let comma = line.iter().position(|&b| b == b',').unwrap_or(line.len());
            let quoted = [b"\"", &line[..comma], b"\"", &line[comma..]].concat();
            let plain: Rows = got.iter().filter(|r| r.0 == n).cloned().collect();
            assert_eq!(rows(&quoted, n, format, &cols, &assets), Ok(plain), "line {n}: quoting the account changed it");
        }
    }
});
