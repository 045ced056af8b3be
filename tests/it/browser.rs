//! The web page in a real browser: Debian's Chromium, headless, against the real `vigil demo`
//! on loopback — directly, and through a proxy that tampers with what the server says. The
//! page must show every fact verified, and every lie as a failure.

use crate::support::{
    balance_fragment, get_json, get_text, note_size, proxy, record_of, vigil, wait_checkpoint_size, RunningDemo, Tamper,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `vigil demo` serving the page from `web/` (whose `vigil.wasm` `scripts/test` builds first).
fn demo() -> RunningDemo {
    assert!(
        repo().join("web/vigil.wasm").exists(),
        "web/vigil.wasm is missing: run ./scripts/test (it builds the page's verifier)"
    );
    RunningDemo::start()
}

/// Loads `url` in headless Chromium with the profile in `profile` (its localStorage persists
/// between calls with the same folder) and returns the DOM once the page settled; optionally
/// saves a screenshot.
fn chromium(url: &str, profile: &Path, screenshot: Option<(&Path, u32)>) -> String {
    let mut cmd = Command::new("chromium");
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=30000");
    match screenshot {
        Some((p, width)) => cmd.arg(format!("--window-size={width},2600")).arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).stderr(Stdio::null()).output().expect("chromium (./scripts/test installs it)");
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The page's summary: (state, verified, failed).
fn summary(dom: &str) -> (String, u64, u64) {
    let at = dom.find("id=\"summary\"").expect("the page has a summary");
    let tag = &dom[at..at + dom[at..].find('>').unwrap()];
    let attr = |name: &str| {
        tag.split(&format!("{name}=\"")).nth(1).map(|v| v[..v.find('"').unwrap()].to_string()).unwrap_or_default()
    };
    (attr("data-state"), attr("data-verified").parse().unwrap_or(0), attr("data-failed").parse().unwrap_or(0))
}

/// The demo loads with everything verified — the checkpoint, every entry of the incident, the
/// SAFU fund, the reserves — and "verify my balance" accepts a real secret and refuses a wrong
/// one, and a real secret with another account's id. A screenshot of the page is kept for
/// every run.
#[test]
fn the_demo_page_verifies_everything_and_checks_a_balance() {
    let demo = demo();
    let profile = tempfile::tempdir().unwrap();
    let (account, secret) = demo.record(1);
    let good = balance_fragment(&account, &secret);
    let dom = chromium(&format!("{}/#{good}", demo.public), profile.path(), None);
    let (state, verified, failed) = summary(&dom);
    assert_eq!((state.as_str(), failed), ("done", 0), "{dom}");
    assert!(verified >= 30, "{verified} checks");
    assert!(!dom.contains("data-verified=\"no\""), "{dom}");
    // Every entry of the incident's timeline is there, each marked verified.
    let timeline = dom.matches("<li data-seq=").count();
    assert!(timeline >= 25, "{timeline} timeline entries");
    assert!(dom.contains("id=\"balance-ok\""), "{dom}");
    assert!(dom.contains(&vigil::demo::INCIDENT.to_string()));
    // The checkpoint is cosigned by both demo witnesses, as the pinned policy requires.
    assert!(dom.contains("witnessed: 2 of 2 witnesses cosigned (2 required)"), "{dom}");
    assert!(dom.contains("witness-1.example at") && dom.contains("witness-2.example at"), "{dom}");
    // How old each cosignature is, by the browser's clock: the demo's witnesses cosign as the
    // log grows, so minutes at most.
    let parts: Vec<&str> = dom.split(" ago)").collect();
    let ages: Vec<&str> = parts[..parts.len() - 1].iter().filter_map(|s| s.rsplit('(').next()).collect();
    assert!(ages.len() >= 2 && ages.iter().all(|a| a.ends_with(" min") && a.len() <= 6), "{ages:?}: {dom}");
    assert!(dom.contains("Pinned witnesses (2 of 2 must cosign)"), "{dom}");
    // The demo log is small enough to be read whole: every listing is checked complete.
    assert!(dom.contains("the whole log: all "), "{dom}");
    for what in
        ["the list of incidents", "its timeline", "the listing of contributions and payouts", "the list of snapshots"]
    {
        assert!(dom.contains(&format!("{what}: complete")), "{what}: {dom}");
    }

    let wrong = secret.chars().rev().collect::<String>();
    let (other, _) = demo.record(2);
    for (account, secret) in [(account.as_str(), wrong.as_str()), (other.as_str(), secret.as_str())] {
        let dom = chromium(&format!("{}/#{}", demo.public, balance_fragment(account, secret)), profile.path(), None);
        assert!(dom.contains("id=\"balance-bad\""), "{account} {secret}: {dom}");
        assert!(!dom.contains("id=\"balance-ok\""), "{account} {secret}: {dom}");
    }

    // Screenshots of the page, desktop and phone width, kept in the target dir.
    for (name, width) in [("vigil-page.png", 1000), ("vigil-page-phone.png", 420)] {
        let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        chromium(&format!("{}/#{good}", demo.public), profile.path(), Some((&shot, width)));
        assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "screenshot {}", shot.display());
        println!("screenshot: {}", shot.display());
    }
}

/// Edits a JSON body in place.
fn edit_json(body: &mut Vec<u8>, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
    edit(&mut v);
    *body = serde_json::to_vec(&v).unwrap();
}

/// A tamper that edits the JSON answers to `path` (every path under it, when it ends in `/`).
fn json_at(path: &'static str, edit: impl Fn(&mut serde_json::Value) + Send + 'static) -> Tamper {
    Box::new(move |p, _, b| {
        if p == path || (path.ends_with('/') && p.starts_with(path)) {
            edit_json(b, &edit);
        }
    })
}

/// Pads an incident's timeline (`v`, its JSON) with `entry` (of another incident, or of none):
/// a copy of its first item with the entry's `seq` and `bytes` and `proof`.
fn pad_timeline(v: &mut serde_json::Value, entry: &serde_json::Value, proof: serde_json::Value) {
    let t = v["timeline"].as_array_mut().unwrap();
    let mut foreign = t[0].clone();
    foreign["seq"] = entry["seq"].clone();
    foreign["bytes"] = entry["bytes"].clone();
    foreign["inclusion_proof"] = proof;
    t.push(foreign);
}

/// One tamper, then the other, on every answer.
fn both(first: Tamper, then: Tamper) -> Tamper {
    Box::new(move |p, s, b| {
        first(p, s, b);
        then(p, s, b);
    })
}

/// The page finished with every check passed, and checked something.
fn assert_clean(dom: &str, what: &str) {
    let (state, verified, failed) = summary(dom);
    assert_eq!((state.as_str(), failed), ("done", 0), "{what}: {dom}");
    assert!(verified > 0, "{what}: nothing verified: {dom}");
}

/// Changes one character right after the first `marker` in a body (keeping it valid JSON or
/// base64): `0`↔`1` for hex and digits, `A`↔`B` otherwise.
fn flip_after(body: &mut [u8], marker: &[u8]) {
    let at = body.windows(marker.len()).position(|w| w == marker).expect("marker in body") + marker.len();
    body[at] = match body[at] {
        b'0' => b'1',
        b'A' => b'B',
        b'1'..=b'9' | b'a'..=b'f' => b'0',
        _ => b'A',
    };
}

/// Flips a bit inside a user's liabilities proof (`/v1/reserves/{id}/proof/{record}`).
fn flip_liabilities_proof(path: &str, body: &mut [u8]) {
    if path.contains("/proof/") {
        let n = body.len();
        body[n - 40] ^= 1;
    }
}

/// Each kind of lie, through a tampering proxy, shows on the page as a failure: a checkpoint
/// signature, an entry of the incident's timeline, an inclusion proof, an entry bundle (the
/// SAFU entries are read from tiles), a reserves total, a user's liabilities proof, and a
/// checkpoint rolled back behind one this browser saw.
#[test]
fn a_lying_server_is_caught_by_the_page() {
    let demo = demo();
    let (url, tamper) = proxy(demo.public.clone());
    let (account, secret) = demo.record(2);
    let good = balance_fragment(&account, &secret);
    let set = |f: Tamper| *tamper.lock().unwrap() = f;
    // A SAFU contribution (of no incident) with its proof to the served checkpoint, to pad a
    // timeline with.
    let padding = {
        let public = &demo.public;
        let entry = get_json(&format!("{public}/v1/entries?kind=safu_contribution&limit=1"))["entries"][0].clone();
        let size = note_size(get_text(&format!("{public}/checkpoint")));
        let proof = get_json(&format!("{public}/v1/proofs/inclusion?seq={}&size={size}", entry["seq"]));
        serde_json::json!({"seq": entry["seq"], "bytes": entry["bytes"], "inclusion_proof": proof})
    };
    // (what, the lie, what the page must show, how many failures it counts: `None` for at least
    // one, as when a lie shows in several checks; one lie is one failure in the page's total
    // however many places show it, an incomplete listing being also why a section's summary is
    // not verified)
    let cases: Vec<(&str, Tamper, &str, Option<u64>)> = vec![
        (
            "the log's checkpoint signature",
            Box::new(|p, _, b| {
                if p == "/checkpoint" {
                    // The first signature line is the log's own: `— <origin> <base64>`.
                    let line = b.windows(5).position(|w| w == "\n\n—".as_bytes()).unwrap() + 2;
                    let sig = line + b[line..].iter().skip(4).position(|&c| c == b' ').unwrap() + 5;
                    let at = sig + 10;
                    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                }
            }),
            "Could not verify the checkpoint",
            None,
        ),
        (
            "the page's witness policy made unreadable (it must not fall back to the log's word)",
            Box::new(|p, _, b| {
                if p == "/" {
                    let meta = br#"vigil-witness-policy" content=""#;
                    let at = b.windows(meta.len()).position(|w| w == meta).unwrap() + meta.len();
                    b.insert(at, b'x');
                }
            }),
            "Could not verify the checkpoint: the page's witness policy does not read",
            Some(1),
        ),
        (
            "a witness's cosignature removed",
            Box::new(|p, _, b| {
                if p == "/checkpoint" {
                    // The last line is a witness's cosignature: without it, 1 of the 2 required.
                    let cut = b[..b.len() - 1].iter().rposition(|&c| c == b'\n').unwrap() + 1;
                    b.truncate(cut);
                }
            }),
            "checkpoint is not witnessed: 1 of the 2",
            None,
        ),
        (
            "an entry of the timeline",
            Box::new(|p, _, b| {
                if p.starts_with("/v1/incidents/") {
                    flip_after(b, b"\"bytes\":\"02000000");
                }
            }),
            "data-verified=\"no\"",
            None,
        ),
        (
            "an inclusion proof",
            Box::new(|p, _, b| {
                if p.starts_with("/v1/incidents/") {
                    flip_after(b, b"\"hashes\":[\"");
                }
            }),
            "data-verified=\"no\"",
            None,
        ),
        (
            "an entry bundle (tile)",
            Box::new(|p, _, b| {
                if p.starts_with("/tile/entries/") {
                    if let Some(at) = b.windows(17).position(|w| w == b"safu_contribution") {
                        b[at + 16] = b'o';
                    }
                }
            }),
            "data-verified=\"no\"",
            None,
        ),
        (
            "a reserves total",
            Box::new(|p, _, b| {
                if p == "/v1/reserves" {
                    flip_after(b, b"\"liabilities\":\"");
                }
            }),
            "other totals than the logged entry",
            None,
        ),
        (
            "an entry of the timeline given twice (its withdrawal would count twice as lost)",
            json_at("/v1/incidents/", |v| {
                let t = v["timeline"].as_array_mut().unwrap();
                t.push(t[0].clone());
            }),
            "is given twice",
            Some(1),
        ),
        (
            "a SAFU contribution listed twice (the balance would count it twice)",
            json_at("/v1/entries", |v| {
                let e = v["entries"].as_array_mut().unwrap();
                // The contributions' listing only: the payouts' is read apart.
                if let Some(first) =
                    e.first().filter(|f| f["statement"]["event"]["kind"] == "safu_contribution").cloned()
                {
                    e.push(first);
                }
            }),
            "the entry listing does not go strictly forward",
            Some(1),
        ),
        (
            "a snapshot listed under another entry's number",
            json_at("/v1/reserves", |v| {
                let seq = v["snapshots"][0]["seq"].as_u64().unwrap();
                v["snapshots"][0]["seq"] = (seq + 1).into();
            }),
            "NOT VERIFIED: not this snapshot",
            Some(1),
        ),
        (
            "an entry left out of the timeline (the close: the incident would look open)",
            json_at("/v1/incidents/", |v| {
                v["timeline"].as_array_mut().unwrap().pop();
            }),
            "its timeline leaves out",
            Some(1),
        ),
        (
            "a SAFU movement left out of the listing",
            json_at("/v1/entries", |v| {
                let e = v["entries"].as_array_mut().unwrap();
                if !e.is_empty() {
                    e.remove(0);
                }
            }),
            "the listing of contributions and payouts leaves out",
            Some(1),
        ),
        (
            "every snapshot left out of the list (the page would say there are none)",
            Box::new(|p, _, b| {
                if p == "/v1/reserves" {
                    *b = br#"{"snapshots":[]}"#.to_vec();
                }
            }),
            "the list of snapshots leaves out",
            Some(1),
        ),
        (
            "a page of the entry listing longer than asked for (the page would fetch without end)",
            json_at("/v1/entries", |v| {
                let e = v["entries"].as_array_mut().unwrap();
                if let Some(last) = e.last().cloned() {
                    let seq = last["seq"].as_u64().unwrap();
                    for i in 1..=1001 - e.len() as u64 {
                        let mut more = last.clone();
                        more["seq"] = (seq + i).into();
                        e.push(more);
                    }
                }
            }),
            "more than the 1000 asked for",
            Some(1),
        ),
        (
            "a snapshot listed twice (each listed is fetched)",
            json_at("/v1/reserves", |v| {
                let s = v["snapshots"].as_array_mut().unwrap();
                s.push(s[0].clone());
            }),
            "is listed twice",
            Some(1),
        ),
        (
            "an entry of another incident padded into a timeline",
            json_at("/v1/incidents/", move |v| pad_timeline(v, &padding, padding["inclusion_proof"].clone())),
            "not of this incident",
            Some(1),
        ),
        (
            "a fake snapshot listed, and a user's liabilities proof (the balance's failure still counts)",
            Box::new(|p, _, b| {
                if p == "/v1/reserves" {
                    edit_json(b, |v| {
                        v["snapshots"].as_array_mut().unwrap().push(serde_json::json!({"snapshot": "fake", "seq": 0}));
                    });
                }
                flip_liabilities_proof(p, b);
            }),
            "id=\"balance-bad\"",
            Some(2),
        ),
        ("a user's liabilities proof", Box::new(|p, _, b| flip_liabilities_proof(p, b)), "id=\"balance-bad\"", Some(1)),
    ];
    for (what, t, want, failures) in cases {
        set(t);
        let profile = tempfile::tempdir().unwrap();
        let dom = chromium(&format!("{url}/#{good}"), profile.path(), None);
        let (state, _, failed) = summary(&dom);
        assert!(dom.contains(want), "{what}: the page does not show {want:?}: {dom}");
        match failures {
            Some(n) => assert_eq!(failed, n, "{what}: failures counted: {dom}"),
            None => assert!(failed > 0, "{what}: summary {state} failed={failed}"),
        }
    }

    // A browser's first visit under `first` is clean; a second, with the same profile, under
    // `then` shows each of `want` and counts a failure.
    let revisit = |what: &str, first: Tamper, then: Tamper, want: &[&str]| {
        let profile = tempfile::tempdir().unwrap();
        set(first);
        assert_clean(&chromium(&url, profile.path(), None), &format!("{what}: the first visit"));
        set(then);
        let dom = chromium(&url, profile.path(), None);
        for w in want {
            assert!(dom.contains(w), "{what}: the page does not show {w:?}: {dom}");
        }
        assert!(summary(&dom).2 > 0, "{what}: the summary counts it: {dom}");
    };
    let serve_checkpoint = |note: String| -> Tamper {
        Box::new(move |p, _, b| {
            if p == "/checkpoint" {
                *b = note.clone().into_bytes();
            }
        })
    };
    let untouched = || -> Tamper { Box::new(|_, _, _| {}) };

    // A browser that saw the log before it grows, for the withheld consistency proof below.
    let withheld = tempfile::tempdir().unwrap();
    set(untouched());
    assert_clean(&chromium(&url, withheld.path(), None), "a withheld consistency proof: the first visit");

    // A rollback: the browser saw a checkpoint, the server then serves an older one.
    let old = get_text(&format!("{}/checkpoint", demo.public));
    let events = demo.dir.path().join("events.jsonl");
    // Of the demo's incident: a view stated against the grown log has an entry past the old one,
    // an alarm that brings in an ordinary withdrawal no earlier alarm refers to.
    let first_withdrawal = get_json(&format!("{}/v1/entries?kind=withdrawal&limit=1", demo.public));
    let later = serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "later",
        "incident": vigil::demo::INCIDENT, "refs": [first_withdrawal["entries"][0]["seq"]]});
    // And an alarm of no incident, past the old checkpoint too, to pad such a view with below.
    let stray = serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "stray"});
    std::fs::write(&events, format!("{later}\n{stray}\n")).unwrap();
    demo.append("risk", &events);
    // The witnesses cosign the grown log in their next round.
    let grown = note_size(wait_checkpoint_size(&demo.public, note_size(&old) + 2));
    revisit("a rollback", untouched(), serve_checkpoint(old.clone()), &["ROLLBACK", "earlier-checkpoint.txt"]);

    // Views stated against a newer checkpoint than the one served and read whole (the log grew
    // while the page loaded: the demo appends every few seconds): not a failure, but the entry
    // past the checkpoint read whole is shown as proven included only, and the timeline's
    // completeness is checked up to it.
    set(serve_checkpoint(old.clone()));
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&url, profile.path(), None);
    let size = note_size(&old);
    for want in [
        format!("after the checkpoint read whole ({size} entries): proven included only"),
        format!("its timeline up to entry {}: complete", size - 1),
    ] {
        assert!(dom.contains(&want), "a newer view: {want:?} in {dom}");
    }
    assert_eq!(summary(&dom).2, 0, "a newer view is no failure: {dom}");
    // The browser remembers the newer checkpoint it verified in the views, not only the one
    // served first: served the older one again, it sees a rollback.
    let dom = chromium(&url, profile.path(), None);
    assert!(dom.contains("ROLLBACK"), "a rollback behind a view's checkpoint: {dom}");
    // Such a view without the incident's entries past the checkpoint read whole (the later
    // alarm, and the withdrawal only it refers to): its figures are complete only up to that
    // checkpoint, and said so, not a failure.
    let brought = first_withdrawal["entries"][0]["seq"].clone();
    set(both(
        serve_checkpoint(old.clone()),
        json_at("/v1/incidents/", move |v| {
            v["timeline"].as_array_mut().unwrap().retain(|t| t["seq"].as_u64().unwrap() < size && t["seq"] != brought)
        }),
    ));
    let dom = chromium(&url, tempfile::tempdir().unwrap().path(), None);
    let want = format!("of a newer tree than the one read whole ({size} entries), complete only up to it");
    assert!(dom.contains(&want), "a newer view without the entries past the checkpoint read whole: {dom}");
    assert_eq!(summary(&dom).2, 0, "a newer view without the entries past it: no failure: {dom}");

    // Such a view padded with an entry past the checkpoint read whole that is of no incident:
    // not of this one, as before the checkpoint, and one failure.
    let alarms = get_json(&format!("{}/v1/entries?kind=alarm&after={}", demo.public, size - 1));
    let stray = alarms["entries"].as_array().unwrap().iter().find(|e| e["statement"]["event"]["summary"] == "stray");
    let stray = stray.expect("the stray alarm is listed").clone();
    let stray_seq = stray["seq"].clone();
    let public = demo.public.clone();
    set(both(
        serve_checkpoint(old.clone()),
        json_at("/v1/incidents/", move |v| {
            let at = format!("{public}/v1/proofs/inclusion?seq={}&size={}", stray["seq"], v["checkpoint_size"]);
            pad_timeline(v, &stray, get_json(&at));
        }),
    ));
    let dom = chromium(&url, tempfile::tempdir().unwrap().path(), None);
    let li = &dom[dom.find(&format!("<li data-seq=\"{stray_seq}\"")).expect("the stray alarm is shown")..];
    let li = &li[..li.find("</li>").unwrap()];
    assert!(li.contains("not of this incident"), "a newer view padded: {li}");
    assert_eq!(summary(&dom).2, 1, "a newer view padded: counted once: {dom}");

    // A fork: a second demo log under the same key differs at its first reserve snapshot (fresh
    // secrets), so its checkpoint of the story is a different tree; shown to a browser that saw
    // the first log's, it is refused.
    let other = self::demo();
    // As many entries as the first log now has (two alarms were appended to it above).
    other.append("risk", &events);
    let forked = wait_checkpoint_size(&other.public, grown);
    revisit(
        "a fork",
        untouched(),
        serve_checkpoint(forked),
        &["FORK: the checkpoint served now does not extend", "served-checkpoint.txt"],
    );

    // A server that withholds the consistency proof from a checkpoint this browser saw: not
    // taken as checked, and counted before the summary is drawn.
    let no_proof: Tamper = Box::new(|p, _, b| {
        if p == "/v1/proofs/consistency" {
            *b = b"not a proof".to_vec();
        }
    });
    set(no_proof);
    let dom = chromium(&url, withheld.path(), None);
    assert!(dom.contains("NOT CHECKED: the server did not give the proof"), "a withheld consistency proof: {dom}");
    assert!(summary(&dom).2 > 0, "a withheld consistency proof: counted: {dom}");

    // The key and policy this browser pinned on its first visit: a page served later with a
    // weaker witness policy is a warning.
    let page = get_text(&format!("{}/", demo.public));
    assert!(page.contains("&quot;quorum&quot;:2"), "the policy the tamperer weakens: {page}");
    let weaker: Tamper = Box::new(|p, _, b| {
        if p == "/" {
            let html = String::from_utf8(b.clone()).unwrap();
            *b = html.replace("&quot;quorum&quot;:2", "&quot;quorum&quot;:1").into_bytes();
        }
    });
    revisit("a weaker witness policy", untouched(), weaker, &["KEY OR POLICY CHANGED"]);

    // A new snapshot (its own custody attestation, through the CLI) logged past the checkpoint
    // read whole: verified in part, as is a user's balance in it, neither counted as a failure.
    let before = get_text(&format!("{}/checkpoint", demo.public));
    let keys = RunningDemo::keys();
    let key = |name: &str| keys.join(name).to_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let f = work.path().join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let att = file(
        "att.jsonl",
        r#"{"kind":"reserve_attestation","asset":"BTC","wallet":"cold-btc-9","address":"bc1qnine","balance":"900","block_height":900000,"as_of_ms":1}"#,
    );
    let (code, signed, err) = vigil(&["sign", "--key", &key("custody.key"), &att]);
    assert_eq!(code, 0, "{err}");
    let (signed, balances) = (file("signed.jsonl", &signed), file("por-new.csv", "account,BTC\na,500\nb,300\n"));
    let records = work.path().join("por-new.records.csv");
    let reserves = vigil::demo::reserves_dir_of(&demo.data());
    #[rustfmt::skip]
    let (code, _, err) = vigil(&["reserves", "build", "--balances", &balances, "--reserves", &signed,
        "--snapshot", "por-new", "--url", &demo.internal, "--key", &key("treasury.key"),
        "--reserves-dir", reserves.to_str().unwrap(), "--records", records.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    wait_checkpoint_size(&demo.public, note_size(&before) + 2);
    let (account, secret) = record_of(&records, 1);
    let fragment = balance_fragment(&account, &secret);
    set(serve_checkpoint(before));
    let dom = chromium(&format!("{url}/#{fragment}"), tempfile::tempdir().unwrap().path(), None);
    let past = "snapshot por-new <span class=\"partly\" data-verified=\"partly\">⚠ after the checkpoint read whole";
    assert_eq!(dom.matches(past).count(), 2, "a newer snapshot, in the list and in the balance: {dom}");
    assert!(dom.contains("id=\"balance-ok\""), "a balance in a newer snapshot: {dom}");
    assert_eq!(summary(&dom).2, 0, "a newer snapshot is no failure: {dom}");

    // A later snapshot counting the attestations an earlier one counted, logged past the
    // checkpoint read whole: refused by the rules between snapshots (one failure), and the
    // latest snapshot shown is then said not to be the latest.
    let before = get_text(&format!("{}/checkpoint", demo.public));
    let snapshots = |public: &str| get_json(&format!("{public}/v1/entries?kind=reserve_snapshot"))["entries"].clone();
    let mut copy = snapshots(&demo.public).as_array().unwrap().last().unwrap()["statement"]["event"].clone();
    copy["snapshot"] = "por-copy".into();
    std::fs::write(&events, format!("{copy}\n")).unwrap();
    demo.append("treasury", &events);
    let copied = snapshots(&demo.public).as_array().unwrap().last().unwrap()["seq"].as_u64().unwrap();
    wait_checkpoint_size(&demo.public, copied + 1);
    set(serve_checkpoint(before));
    let dom = chromium(&url, tempfile::tempdir().unwrap().path(), None);
    for want in [
        "✗ NOT VERIFIED: attestation ".to_string(),
        "was already counted by the earlier snapshot".to_string(),
        format!("the log holds a later snapshot (entry {copied}) that did not verify here"),
    ] {
        assert!(dom.contains(&want), "a later snapshot refused by the rules: {want:?} in {dom}");
    }
    assert_eq!(summary(&dom).2, 1, "a later snapshot refused by the rules: counted once: {dom}");

    // Read whole, the log says which snapshots there are: the rules between them run over all
    // of them. The earlier snapshot left out of the server's list still counted its
    // attestations first, so the copy is refused all the same.
    set(json_at("/v1/reserves", |v| v["snapshots"].as_array_mut().unwrap().retain(|s| s["snapshot"] != "por-new")));
    let dom = chromium(&url, tempfile::tempdir().unwrap().path(), None);
    assert!(
        dom.contains("was already counted by the earlier snapshot por-new"),
        "an earlier snapshot left out of the list: {dom}"
    );
    // So is a second snapshot under an id already used (the first one stands), listed and
    // served in the first one's place.
    let first = snapshots(&demo.public)
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["statement"]["event"]["snapshot"] == "por-new")
        .unwrap()
        .clone();
    std::fs::write(&events, format!("{}\n", first["statement"]["event"])).unwrap();
    demo.append("treasury", &events);
    let second = snapshots(&demo.public).as_array().unwrap().last().unwrap()["seq"].as_u64().unwrap();
    wait_checkpoint_size(&demo.public, second + 1);
    let bytes = get_json(&format!("{}/v1/entries/{second}", demo.public))["bytes"].clone();
    let public = demo.public.clone();
    set(both(
        json_at("/v1/reserves", move |v| {
            for s in v["snapshots"].as_array_mut().unwrap() {
                if s["snapshot"] == "por-new" {
                    s["seq"] = second.into();
                }
            }
        }),
        json_at("/v1/reserves/por-new", move |v| {
            v["entry"]["bytes"] = bytes.clone();
            v["inclusion_proof"] =
                get_json(&format!("{public}/v1/proofs/inclusion?seq={second}&size={}", v["checkpoint_size"]));
        }),
    ));
    let dom = chromium(&url, tempfile::tempdir().unwrap().path(), None);
    assert!(
        dom.contains(&format!("its id was already used by the snapshot of entry {}, which stands", first["seq"])),
        "a snapshot id used again, served in the first one's place: {dom}"
    );
}
