//! The `vigil` binary: keygen, verify exit codes, the demo.

use crate::support::*;
use std::process::Command;

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(vigil_bin())
            .args(["keygen", "--name", "exchange.example/audit-log", "--out"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = dir.path().join("exchange.example_audit-log.key");
    let vkey = dir.path().join("exchange.example_audit-log.vkey");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let s = vigil::config::read_signer(&key).unwrap();
    let v = vigil::config::read_verifier(&vkey).unwrap();
    assert_eq!(s.name(), "exchange.example/audit-log");
    assert_eq!(s.verifier(), v);
    let again = run();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(vigil::config::read_verifier(&vkey).unwrap(), v, "the first key is intact");
}

#[test]
fn verify_exit_codes() {
    let l = Ledger::new_with_withdrawals(2);
    let dir = l.dir.path().to_path_buf();
    std::fs::write(dir.join("log.vkey"), l.keys.log.verifier().to_vkey()).unwrap();
    std::fs::write(dir.join("other.vkey"), key("test.example/log", 50).verifier().to_vkey()).unwrap();
    let data = l.data_dir();
    drop(l.engine);
    let verify = |data: &std::path::Path, key: &str| {
        Command::new(vigil_bin())
            .args(["verify", "--json", "--data-dir"])
            .arg(data)
            .arg("--log-key")
            .arg(dir.join(key))
            .output()
            .unwrap()
    };
    // (data dir, pinned key, exit code, text in the JSON report)
    let cases: &[(&std::path::Path, &str, i32, &str)] = &[
        (&data, "log.vkey", 0, "\"verified\":true"),
        (&data, "other.vkey", 1, "not signed by the log key"),
        (&dir.join("nowhere"), "log.vkey", 2, "not a vigil data dir: it does not exist"),
        (&dir, "log.vkey", 2, "not a vigil data dir (no RocksDB CURRENT file in it)"),
    ];
    for (d, k, code, text) in cases {
        let out = verify(d, k);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(*code), "{k}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(text), "{k}: {stdout}");
    }
}

#[test]
fn the_demo_tells_the_story_through_the_api_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = demo_no_serve(&dir.path().join("d"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    // What the story shows in public links no withdrawals by their (committed) account: an
    // account's withdrawals each go to a destination of their own; the attack's all go to the
    // attacker's one wallet.
    use std::collections::{HashMap, HashSet};
    let story = vigil::demo::story();
    let withdrawals: Vec<_> = story.iter().map(|e| &e.event).filter(|e| e["kind"] == "withdrawal").collect();
    let s = |w: &serde_json::Value, field: &str| w[field].as_str().unwrap().to_string();
    let (attack, ordinary): (Vec<_>, Vec<_>) =
        withdrawals.iter().partition(|w| s(w, "withdrawal_id").starts_with("w-attack-"));
    let mut by_account: HashMap<String, HashMap<String, String>> = HashMap::new();
    for w in ordinary {
        by_account.entry(s(w, "account")).or_default().insert(s(w, "withdrawal_id"), s(w, "destination"));
    }
    let repeated: Vec<_> = by_account.values().filter(|ids| ids.len() > 1).collect();
    assert!(!repeated.is_empty(), "no account withdraws twice: nothing to check");
    for ids in repeated {
        assert_eq!(ids.values().collect::<HashSet<_>>().len(), ids.len(), "one destination for two: {ids:?}");
    }
    let attackers: HashSet<_> = attack.iter().map(|w| s(w, "destination")).collect();
    assert_eq!(attackers.len(), 1, "{attackers:?}");
    let stdout = run();
    // The bootstrap (operator and five services), every event of the story, the snapshots.
    let total = 6 + vigil::demo::story().len() + vigil::demo::RESERVE_ENTRIES;
    assert!(stdout.contains(&format!("Verified: {total} entries")), "{stdout}");
    assert!(stdout.contains("/v1/events"), "seeded through the internal API: {stdout}");
    // The servers stop with `--no-serve`: no URL to open is printed.
    assert!(!stdout.contains("Open:") && stdout.contains("Stopped (--no-serve)"), "{stdout}");
    // A log whose seeding was cut short is not served as if it told the story; a whole one is.
    let d = dir.path().join("d");
    let short = vigil::demo::check_story_told(&d, total as u64 - 1, 5).unwrap_err().to_string();
    assert!(short.contains("was cut short") && short.contains("vigil demo --fresh"), "{short}");
    vigil::demo::check_story_told(&d, total as u64, 5).unwrap();
    // A second run serves the existing log as it is.
    let again = run();
    assert!(
        again.contains(&format!("existing demo log in {} ({total} entries)", dir.path().join("d").display())),
        "{again}"
    );
    // A demo folder from before the marker (the example log key signed it) is adopted, not refused.
    std::fs::remove_file(dir.path().join("d").join(vigil::demo::MARKER)).unwrap();
    let out = demo_no_serve(&dir.path().join("d"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("marked as the demo's"), "{stderr}");
    assert!(dir.path().join("d").join(vigil::demo::MARKER).exists());
    // With its output closed early (`vigil demo | head -1`) it goes on and ends well.
    let mut child = Command::new(vigil_bin())
        .args(["demo", "--no-serve", "--data-dir"])
        .arg(dir.path().join("d"))
        .arg("--keys")
        .arg(RunningDemo::keys())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = vigil::store::Store::open_read_only(&dir.path().join("d")).unwrap();
    // Alarms, open, three freezes, the reset, two updates, the payout, two unfreezes, the close.
    let inc = store.by_incident(vigil::demo::INCIDENT, None, 100).unwrap();
    assert_eq!(inc.len(), 13, "{inc:?}");
    // The story, kind by kind: (kind, entries). Weeks of withdrawals and daily SAFU
    // contributions, the attack's withdrawals among them; two alarms; the incident opened,
    // withdrawals, deposits and the attackers' accounts frozen, API keys and 2FA reset,
    // unscheduled maintenance, two updates, the payout, two unfreezes, the close; two
    // proof-of-reserves snapshots, each with its custody attestations.
    let kinds = [
        ("withdrawal", 2276),
        ("safu_contribution", 29),
        ("alarm", 2),
        ("incident_open", 1),
        ("freeze", 3),
        ("credential_reset", 1),
        ("maintenance", 1),
        ("incident_update", 2),
        ("safu_payout", 1),
        ("unfreeze", 2),
        ("incident_close", 1),
        ("reserve_attestation", 8),
        ("reserve_snapshot", 2),
    ];
    for (kind, n) in kinds {
        assert_eq!(store.by_kind(kind, None, 100_000).unwrap().len(), n, "{kind}");
    }
    drop(store);
    // A demo log of an earlier store format is refused with the way out, and left as it is.
    {
        let db = raw_db(&dir.path().join("d"));
        db.put_cf(db.cf_handle("meta").unwrap(), b"format_version", 2u32.to_be_bytes()).unwrap();
    }
    let out = demo_no_serve(&dir.path().join("d"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("store format version 2") && stderr.contains("vigil demo --fresh"), "{stderr}");
}

/// A key of the wrong kind is named as such; a private key given where a public one belongs is
/// refused without ever repeating its text.
#[test]
fn a_key_of_the_wrong_kind_is_named_and_a_private_key_never_echoed() {
    let keys = RunningDemo::keys();
    let k = |f: &str| keys.join(f).to_str().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    // The log's own key in its cosigner form: a log does not witness itself.
    let self_witness = data.path().join("log-as-witness.vkey");
    let log = vigil::config::read_signer(&keys.join("vigil.example_audit-log.key")).unwrap();
    std::fs::write(&self_witness, vigil_core::checkpoint::CosignatureVerifier::from_signer(&log).to_vkey()).unwrap();
    // `verify --url` with `w` as a witness's key (the URL is never reached: the key is read first).
    let witness = |w: String| -> Vec<String> {
        let log_key = k("vigil.example_audit-log.vkey");
        ["verify", "--url", "http://127.0.0.1:9", "--log-key", &log_key, "--witness", &w].map(String::from).to_vec()
    };
    // (arguments, what stderr must say)
    let cases: &[(Vec<String>, &str)] = &[
        (
            vec!["verify".into(), "--data-dir".into(), d.into(), "--log-key".into(), k("vigil.example_audit-log.key")],
            "this is a private key, not a verifier key",
        ),
        (
            vec!["verify".into(), "--data-dir".into(), d.into(), "--log-key".into(), k("witness-1.example.vkey")],
            "is a witness cosigner key (type 0x04), but log or service key (type 0x01) is needed",
        ),
        (witness(k("witness-1.example.key")), "this is a private key"),
        (
            witness(k("risk.vkey")),
            "is a log or service key (type 0x01), but witness cosigner key (type 0x04) is needed",
        ),
        (witness(self_witness.to_str().unwrap().into()), "is the log's own key"),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = vigil(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("PRIVATE+KEY+") && !out.contains("PRIVATE+KEY+"), "{args:?}: {err}");
    }
}

/// `vigil demo` uses and deletes (`--fresh`) only folders it made: a folder of something else
/// given by mistake is refused and left as it is, with `--fresh` too, and with bad keys.
#[test]
fn the_demo_never_deletes_a_folder_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("notes.txt"), "important").unwrap();
    let v = victim.to_str().unwrap();
    let keys = RunningDemo::keys();
    let keys = keys.to_str().unwrap();
    for args in [
        vec!["demo", "--no-serve", "--fresh", "--data-dir", v, "--keys", keys],
        vec!["demo", "--no-serve", "--data-dir", v, "--keys", keys],
        vec!["demo", "--no-serve", "--fresh", "--data-dir", v, "--keys", "/nonexistent"],
        vec!["demo", "--no-serve", "--fresh", "--data-dir", v, "--keys", keys, "--witnesses", "127.0.0.1:0"],
    ] {
        let (code, out, err) = vigil(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(std::fs::read_to_string(victim.join("notes.txt")).unwrap(), "important", "{args:?}");
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1, "{args:?}: nothing added");
        assert!(!dir.path().join("victim.reserves").exists(), "{args:?}");
    }
    let (_, _, err) = vigil(&["demo", "--no-serve", "--fresh", "--data-dir", v, "--keys", keys]);
    assert!(err.contains("was not made by `vigil demo`") && err.contains("victim"), "{err}");
    let (_, _, err) = vigil(&["demo", "--witnesses", "127.0.0.1:0,127.0.0.1:0,127.0.0.1:0"]);
    assert!(err.contains("--witnesses: the demo has 2 witnesses") && err.contains("not 3"), "{err}");
    // Its sibling folders too: a foreign `victim2.reserves` stops the demo before anything.
    let (d2, r2) = (dir.path().join("victim2"), dir.path().join("victim2.reserves"));
    std::fs::create_dir(&r2).unwrap();
    std::fs::write(r2.join("x"), "x").unwrap();
    let (code, _, err) = vigil(&["demo", "--no-serve", "--fresh", "--data-dir", d2.to_str().unwrap(), "--keys", keys]);
    assert!(code == 2 && err.contains("victim2.reserves"), "{err}");
    assert!(r2.join("x").exists());
}

/// A bad configuration is refused with an error naming the line and the setting, and nothing
/// is created.
#[test]
fn a_bad_configuration_names_the_line_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    // (file, what the error must name)
    let cases: &[(&str, &[&str])] = &[
        ("data_dir = \"d\"\nlog_kye = \"log.key\"\n", &["line 2", "log_kye", "expected one of"]),
        ("[server]\npublic = \"127.0.0.1:80800\"\n", &["line 2", "public", "socket address"]),
        ("data_dir = \"d\"\n\n[server]\nreplay_window_ms = \"five\"\n", &["line 4", "replay_window_ms", "u64"]),
        ("[[services]]\nvkey = \"x.vkey\"\nkinds = [\"withdrawl\"]\n", &["line 3", "kinds", "withdrawl"]),
        ("[[services]]\nvkey = \"x.vkey\"\nkinds = []\n", &["line 3", "kinds", "at least one kind"]),
        ("data_dir = \"d\"\nlog_key = \"missing.key\"\n", &["bad-5.toml, line 2: setting log_key", "missing.key"]),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\noperator_key = \"gone.key\"\n",
            &["bad-6.toml, line 3: setting operator_key", "gone.key"],
        ),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\norigin = \"example.com/log\"\n",
            &["line 3: setting origin", "\"example.com/log\" is not the name of the log key", "\"test.example/log\""],
        ),
        ("data_dir = [\n", &["line 1"]),
        ("data_dir = \"d\"\n[server]\nmax_in_flight = 10\n", &["line 3", "max_in_flight", "at least one full batch"]),
        ("data_dir = \"d\"\n[server]\nreplay_window_ms = 5\n", &["line 3", "replay_window_ms", "at least a second"]),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n[[services]]\nvkey = \"risk.vkey\"\nkinds = [\"alarm\"]\n[[services]]\nvkey = \"risk.vkey\"\nkinds = [\"freeze\"]\n",
            &["bad-11.toml, line 8: setting services[1].vkey", "risk+", "services[0] (line 4) again"],
        ),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n[[services]]\nkinds = [\"alarm\"]\nvkey = \"operator.vkey\"\n",
            &["bad-12.toml, line 6: setting services[0].vkey", "operator's key"],
        ),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n[[services]]\nvkey = \"gone.vkey\"\nkinds = [\"alarm\"]\n",
            &["bad-13.toml, line 5: setting services[0].vkey", "gone.vkey"],
        ),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\nauditors = [\n  \"risk.vkey\",\n  \"gone.vkey\",\n]\n",
            &["bad-14.toml, line 5: setting auditors[1]", "gone.vkey"],
        ),
        (
            "data_dir = \"d\"\nlog_key = \"log.key\"\n\n[[witnesses]]\nvkey = \"risk.vkey\"\nurl = \"https://w.example\"\n",
            &["bad-15.toml, line 5: setting witnesses[0].vkey", "cosigner key"],
        ),
    ];
    let keys = Keys::new();
    for (name, k) in [("log", &keys.log), ("operator", &keys.operator), ("risk", &keys.risk)] {
        std::fs::write(dir.path().join(format!("{name}.key")), k.to_skey()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.vkey")), k.verifier().to_vkey()).unwrap();
    }
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(vigil_bin())
            .args(["init", "--config"])
            .arg(&cfg)
            .env_remove("VIGIL_DATA_DIR")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        for w in *want {
            assert!(err.contains(w), "{text}: wanted {w:?} in {err}");
        }
        assert!(!dir.path().join("d").exists(), "{text}: a data dir was created");
    }
}

/// Editing `[[services]]` and starting again takes effect: a new key is registered, a key's
/// changed kinds replace its old ones, and an unchanged configuration appends nothing.
#[test]
fn a_changed_services_table_is_registered_when_the_log_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    for (name, k) in
        [("log", &keys.log), ("operator", &keys.operator), ("risk", &keys.risk), ("withdrawals", &keys.withdrawals)]
    {
        std::fs::write(dir.path().join(format!("{name}.key")), k.to_skey()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.vkey")), k.verifier().to_vkey()).unwrap();
    }
    let cfg = dir.path().join("vigil.toml");
    let head = "data_dir = \"data\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n";
    let stderr = std::cell::RefCell::new(String::new());
    let init = |services: &str| -> Vec<(String, Vec<String>)> {
        std::fs::write(&cfg, format!("{head}{services}")).unwrap();
        let out = Command::new(vigil_bin()).args(["init", "--config"]).arg(&cfg).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        *stderr.borrow_mut() = String::from_utf8_lossy(&out.stderr).into_owned();
        // Every key registration in the log, in order: (key name, kinds).
        let store = vigil::store::Store::open_read_only(&dir.path().join("data")).unwrap();
        store
            .by_kind("key_registered", None, 100)
            .unwrap()
            .into_iter()
            .map(|seq| {
                let (_, st) = vigil_core::entry::Entry::decode(&store.entry(seq).unwrap().unwrap()).unwrap();
                let vigil_core::event::Event::KeyRegistered(k) = st.event else { panic!("entry {seq}") };
                (k.key.split('+').next().unwrap().to_string(), k.kinds.iter().map(|k| k.as_str().to_string()).collect())
            })
            .collect()
    };
    let risk = |kinds: &str| format!("[[services]]\nvkey = \"risk.vkey\"\nkinds = [{kinds}]\n");
    let created = init(&risk("\"alarm\""));
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(init(&risk("\"alarm\"")), created, "an unchanged configuration appends nothing");
    let wd = "[[services]]\nvkey = \"withdrawals.vkey\"\nkinds = [\"withdrawal\"]\n";
    let changed = init(&format!("{}{wd}", risk("\"alarm\", \"freeze\"")));
    assert_eq!(
        changed[2..],
        [
            ("risk".to_string(), vec!["alarm".to_string(), "freeze".to_string()]),
            ("withdrawals".to_string(), vec!["withdrawal".to_string()])
        ]
    );
    // Back to the first kinds: a new registration, not taken for a retry of the first one.
    let back = init(&format!("{}{wd}", risk("\"alarm\"")));
    assert_eq!(back.len(), 5, "{back:?}");
    assert_eq!(back[4], ("risk".to_string(), vec!["alarm".to_string()]));
    // A key the log revoked stays revoked, whatever the configuration says: a restart never
    // reinstates a compromised key.
    {
        let e = vigil::config::open_ledger(
            &vigil::config::load(&cfg).unwrap(),
            vigil::engine::EngineConfig::new(keys.log.clone()),
        )
        .unwrap();
        let revoke =
            serde_json::json!({"kind": "key_revoked", "key": keys.risk.key_ref.to_string(), "reason": "stolen"});
        let revoke = vigil::client::signed(
            &keys.operator,
            vigil_core::event::Event::from_value(revoke).unwrap(),
            "revoke-risk",
            now_ms(),
        )
        .unwrap();
        e.append_blocking(vec![revoke]).unwrap();
    }
    let after = init(&format!("{}{wd}", risk("\"alarm\", \"freeze\"")));
    assert_eq!(after, back, "a revoked key is not registered again");
    assert!(stderr.borrow().contains("was revoked at entry"), "{}", stderr.borrow());
}

/// Settings come from the file, then the environment, then flags; the last one wins.
#[test]
fn flags_override_the_environment_which_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    std::fs::write(dir.path().join("log.key"), keys.log.to_skey()).unwrap();
    std::fs::write(dir.path().join("operator.key"), keys.operator.to_skey()).unwrap();
    let cfg = dir.path().join("vigil.toml");
    // The origin stated: the log key's name.
    std::fs::write(
        &cfg,
        "data_dir = \"from-file\"\nlog_key = \"log.key\"\norigin = \"test.example/log\"\noperator_key = \"operator.key\"\n",
    )
    .unwrap();
    let d = |name: &str| dir.path().join(name);
    // (environment VIGIL_DATA_DIR, flag --data-dir, the data dir that must be created)
    let cases = [
        (None, None, "from-file"),
        (Some("from-env"), None, "from-env"),
        (Some("from-env2"), Some("from-flag"), "from-flag"),
    ];
    for (env, flag, want) in cases {
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["init", "--config"]).arg(&cfg).env_remove("VIGIL_DATA_DIR");
        if let Some(e) = env {
            cmd.env("VIGIL_DATA_DIR", d(e));
        }
        if let Some(f) = flag {
            cmd.arg("--data-dir").arg(d(f));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{want}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(d(want).join("CURRENT").exists(), "{want} was not created");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("test.example/log\n"), "prints the checkpoint");
    }
    assert!(!d("from-env2").exists(), "the flag wins over the environment");
    // A bad value in the environment names the setting.
    let out =
        Command::new(vigil_bin()).args(["init", "--config"]).arg(&cfg).env("VIGIL_PUBLIC", "nowhere").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public"), "{}", String::from_utf8_lossy(&out.stderr));
    // A limit out of range from the environment: the error says where it may have come from.
    let out = Command::new(vigil_bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("VIGIL_MAX_IN_FLIGHT", "10")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("max_in_flight must be from 1000") && err.contains("VIGIL_MAX_IN_FLIGHT"), "{err}");
    // A key file named by the environment: the error names the setting, not the file's line,
    // which no longer holds the value.
    let out = Command::new(vigil_bin())
        .args(["init", "--config"])
        .arg(&cfg)
        .env("VIGIL_LOG_KEY", d("gone.key"))
        .args(["--data-dir"])
        .arg(d("from-env-key"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("vigil: setting log_key: ") && err.contains("gone.key") && !err.contains(", line "), "{err}");
    // An auditor whose key name is not ASCII could never sign a request (an HTTP header): refused
    // at start, not served with an auditor who cannot authenticate.
    std::fs::write(dir.path().join("aud.vkey"), key("audité", 9).verifier().to_vkey()).unwrap();
    let with_auditor = dir.path().join("auditor.toml");
    std::fs::write(
        &with_auditor,
        "log_key = \"log.key\"\noperator_key = \"operator.key\"\nauditors = [\"aud.vkey\"]\n",
    )
    .unwrap();
    let mut serve = Command::new(vigil_bin())
        .args(["serve", "--config"])
        .arg(&with_auditor)
        .args(["--public", "127.0.0.1:0", "--internal", "127.0.0.1:0", "--data-dir"])
        .arg(d("with-auditor"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = serve.try_wait().unwrap() {
            break s;
        }
        if started.elapsed().as_secs() > 30 {
            serve.kill().unwrap();
            panic!("vigil serve started with an auditor that cannot sign requests");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("setting auditors[0]") && err.contains("not ASCII"), "{err}");
}

/// `vigil audit`: a log where a withdrawal executes during a global freeze is caught at the two
/// entries (exit 1), and the rules are checked and printed although one incident's figures
/// cannot be stated (its losses sum past 128 bits); the demo log audits clean (exit 0).
#[test]
fn audit_names_the_entries_of_a_broken_rule_and_the_demo_is_clean() {
    let l = Ledger::new();
    // Before anything else: an incident opened without an alarm, and one whose four executed
    // withdrawals of 38 nines each, which its alarm refers to, sum past 128 bits.
    let mut subs =
        vec![l.sub(&l.keys.ops, incident_open("inc-quiet"), "o1"), l.sub(&l.keys.ops, incident_open("inc-big"), "o2")];
    for i in 0..4 {
        let mut w = withdrawal(&format!("w-big-{i}"));
        w["stage"] = "executed".into();
        w["tx_id"] = format!("tx-big-{i}").into();
        w["amount"] = "9".repeat(38).into();
        subs.push(l.sub(&l.keys.withdrawals, w, &format!("big-{i}")));
    }
    let r = l.engine.append_blocking(subs).unwrap();
    let mut big = alarm(r[2..].iter().map(|r| r.seq).collect());
    big["incident"] = "inc-big".into();
    l.engine.append_blocking(vec![l.sub(&l.keys.risk, big, "a-big")]).unwrap();
    let freeze = serde_json::json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "breach"});
    let mut executed = withdrawal("w-late");
    executed["stage"] = "executed".into();
    executed["tx_id"] = "tx-late".into();
    let r = l
        .engine
        .append_blocking(vec![l.sub(&l.keys.ops, freeze, "f"), l.sub(&l.keys.withdrawals, executed, "w")])
        .unwrap();
    let (f, w) = (r[0].seq, r[1].seq);
    let mut unopened = alarm(vec![]);
    unopened["incident"] = "inc-never".into();
    l.engine.append_blocking(vec![l.sub(&l.keys.risk, unopened, "a")]).unwrap();
    let dir = l.data_dir();
    let vkey = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(vkey.path(), l.keys.log.verifier().to_vkey()).unwrap();
    drop(l.engine);
    let out = Command::new(vigil_bin())
        .args(["audit", "--data-dir"])
        .arg(&dir)
        .arg("--log-key")
        .arg(vkey.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("withdrawal_during_freeze at entries {f}, {w}")), "{stdout}");
    // An incident with an alarm and no opening: said once, under its id.
    assert!(stdout.contains("\nincident inc-never\n  first alarm to freeze: —\n  never opened\n"), "{stdout}");
    assert_eq!(stdout.matches("never opened").count(), 1, "{stdout}");
    // Opened with no alarm: no figure relative to one.
    assert!(stdout.contains("\nincident inc-quiet: t\n  first alarm to freeze: —\n  opened; still open\n"), "{stdout}");
    assert!(
        stdout
            .contains("\nincident inc-big\n  its figures cannot be stated: the amount lost of BTC overflows 128 bits"),
        "{stdout}"
    );
    let json = Command::new(vigil_bin())
        .args(["audit", "--json", "--data-dir"])
        .arg(&dir)
        .arg("--log-key")
        .arg(vkey.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["audit"]["findings"][0]["seqs"], serde_json::json!([f, w]));

    // The demo, through its API, audits clean.
    let demo = tempfile::tempdir().unwrap();
    let keys = RunningDemo::keys();
    let out = demo_no_serve(&demo.path().join("d"));
    assert!(out.status.success());
    let out = Command::new(vigil_bin())
        .args(["audit", "--data-dir"])
        .arg(demo.path().join("d"))
        .arg("--log-key")
        .arg(keys.join("vigil.example_audit-log.vkey"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("first alarm to freeze: 7.0 min"), "{stdout}");
    assert!(stdout.contains("uncovered: none"), "{stdout}");
    assert!(stdout.contains("lost: 7000 BTC; covered by SAFU: 7000 BTC; uncovered: none"), "{stdout}");
    // Amounts as the page shows them: exact decimals from integers.
    for (v, asset, want) in [
        (700_000_000_000u128, "BTC", "7000 BTC"),
        (40_225_000_000, "BTC", "402.25 BTC"),
        (1, "ETH", "0.000000000000000001 ETH"),
        (5, "DOGE", "5 DOGE (minor units)"),
        (0, "USDT", "0 USDT"),
    ] {
        assert_eq!(vigil::audit::units(v, asset), want);
    }
}

/// `vigil export` writes a bundle that `vigil verify --bundle` checks offline; every defect the
/// auditor's issue lists at the byte level is caught, naming what is wrong.
#[test]
fn export_bundles_verify_and_their_defects_are_caught() {
    let l = Ledger::new_with_withdrawals(4);
    let dir = tempfile::tempdir().unwrap();
    let vkey = dir.path().join("log.vkey");
    std::fs::write(&vkey, l.keys.log.verifier().to_vkey()).unwrap();
    let data = l.data_dir();
    drop(l.engine);
    let bundle = dir.path().join("log.bundle");
    let out =
        Command::new(vigil_bin()).args(["export", "--data-dir"]).arg(&data).arg("--out").arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = std::fs::read(&bundle).unwrap();
    let verify = |bytes: &[u8]| verify_bundle(&dir.path().join("case.bundle"), bytes, &vkey);
    let (code, text) = verify(&good);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("verified 10 entries"), "{text}");

    // Where the entries start, and each entry's offset in the file.
    let start = good.windows(11).position(|w| w == b"entries 10\n").unwrap() + 11;
    let mut offsets = Vec::new();
    let mut at = start;
    while at < good.len() {
        offsets.push(at);
        at += 2 + u16::from_be_bytes([good[at], good[at + 1]]) as usize;
    }
    let entry = |i: usize| good[offsets[i]..offsets.get(i + 1).copied().unwrap_or(good.len())].to_vec();
    let flipped = {
        let mut b = good.clone();
        b[offsets[7] + 2 + 200] ^= 0x01;
        b
    };
    let swapped = {
        let mut b = good[..offsets[7]].to_vec();
        b.extend(entry(8));
        b.extend(entry(7));
        b.extend(entry(9));
        b
    };
    let truncated = good[..offsets[9]].to_vec();
    let forged = {
        let s = String::from_utf8_lossy(&good).replacen("\n10\n", "\n11\n", 1);
        s.into_bytes()
    };
    // (case, bundle, what the message must say)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a flipped byte", flipped, "entry 7"),
        ("a reordered pair", swapped, "entry 7: carries sequence number 8"),
        ("a truncated tail", truncated, "announces 10 entries and holds 9"),
        ("a forged checkpoint", forged, "checkpoint"),
        ("not a bundle", b"hello".to_vec(), "does not start with"),
    ];
    for (case, bytes, want) in cases {
        let (code, text) = verify(&bytes);
        assert_eq!(code, 1, "{case}: {text}");
        assert!(text.contains(want), "{case}: wanted {want:?} in {text}");
    }

    // A data dir that lost its last entry is not exported: no bundle is written that holds
    // fewer entries than its checkpoint (nor a part of one left behind).
    {
        let db = raw_db(&data);
        db.delete_cf(db.cf_handle("entries").unwrap(), 9u64.to_be_bytes()).unwrap();
    }
    let partial = dir.path().join("short.bundle");
    let out = Command::new(vigil_bin())
        .args(["export", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&partial)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("entries 9 to 9 are missing"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().starts_with("short.bundle")), "{left:?}");
}

/// Builds an export bundle of `events` (signer, event JSON) in order, chained and signed by
/// hand — so a test can make logs the engine would refuse to write.
fn hand_made_bundle(
    log: &vigil_core::keys::SignerKey,
    events: &[(&vigil_core::keys::SignerKey, serde_json::Value)],
) -> Vec<u8> {
    use vigil_core::statement::{sign, Statement};
    let mut prev = vigil_core::hash::Digest([0; 32]);
    let mut range = vigil_core::merkle::CompactRange::new();
    let mut body = Vec::new();
    for (seq, (key, ev)) in events.iter().enumerate() {
        let st = Statement {
            key: key.key_ref.clone(),
            idempotency_key: format!("h-{seq}"),
            created_at_ms: T0,
            event: vigil_core::event::Event::from_value(ev.clone()).unwrap(),
        };
        let bytes = st.to_bytes().unwrap();
        let entry = vigil_core::entry::Entry {
            seq: seq as u64,
            time_ms: T0,
            prev,
            signature: sign(key, &bytes),
            statement_bytes: bytes,
        }
        .encode()
        .unwrap();
        prev = vigil_core::hash::chain_hash(&entry);
        range.push(vigil_core::merkle::leaf_hash(&entry));
        body.extend_from_slice(&(entry.len() as u16).to_be_bytes());
        body.extend_from_slice(&entry);
    }
    let cp = vigil_core::checkpoint::Checkpoint::new(log.name(), events.len() as u64, range.root());
    let note = vigil_core::checkpoint::sign(&cp, log, T0 / 1000).unwrap();
    let mut out = format!("vigil-export v1\nkeys 0\ncheckpoint {}\n", note.len()).into_bytes();
    out.extend_from_slice(&note);
    out.extend_from_slice(format!("entries {}\n", events.len()).as_bytes());
    out.extend_from_slice(&body);
    out
}

/// Logs the engine would never write, made by hand and signed by the log key: the verifier
/// names the entry and the broken rule.
#[test]
fn verify_catches_entries_no_key_may_append() {
    let keys = Keys::new();
    let (op, w, r) = (&keys.operator, &keys.withdrawals, &keys.risk);
    let reg = |k: &vigil_core::keys::SignerKey, kinds: &[&str]| serde_json::json!({"kind": "key_registered", "key": k.verifier().to_vkey(), "kinds": kinds});
    let genesis = reg(op, &["key_registered", "key_revoked"]);
    let revoke = serde_json::json!({"kind": "key_revoked", "key": w.key_ref.to_string(), "reason": "stolen"});
    // (case, log: who signs what, what the error must say)
    type Log<'a> = Vec<(&'a vigil_core::keys::SignerKey, serde_json::Value)>;
    let cases: Vec<(&str, Log, &str)> = vec![
        ("clean", vec![(op, genesis.clone()), (op, reg(w, &["withdrawal"])), (w, withdrawal("w-1"))], ""),
        (
            "a revoked key",
            vec![(op, genesis.clone()), (op, reg(w, &["withdrawal"])), (op, revoke), (w, withdrawal("w-1"))],
            "entry 3: key withdrawals",
        ),
        (
            "a kind outside the key's scope",
            vec![(op, genesis.clone()), (op, reg(r, &["alarm"])), (r, withdrawal("w-1"))],
            "entry 2: key risk",
        ),
        (
            "a key never registered",
            vec![(op, genesis.clone()), (w, withdrawal("w-1"))],
            "entry 1: unknown key withdrawals",
        ),
        ("no genesis", vec![(op, reg(w, &["withdrawal"]))], "entry 0:"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let vkey = dir.path().join("log.vkey");
    std::fs::write(&vkey, keys.log.verifier().to_vkey()).unwrap();
    for (case, events, want) in cases {
        // Openings are not part of a bundle: commit the account as a logged entry would have it.
        let events: Vec<_> = events
            .into_iter()
            .map(|(k, mut e)| {
                if e["kind"] == "withdrawal" {
                    e["account"] = serde_json::json!({"commitment": "11".repeat(32)});
                }
                (k, e)
            })
            .collect();
        let (code, text) = verify_bundle(&dir.path().join("case.bundle"), &hand_made_bundle(&keys.log, &events), &vkey);
        if want.is_empty() {
            assert_eq!(code, 0, "{case}: {text}");
        } else {
            assert_eq!(code, 1, "{case}: {text}");
            assert!(text.contains(want), "{case}: wanted {want:?} in {text}");
        }
    }
}

/// `--state` works for a data dir as for a server: incremental, and a rollback or fork found.
#[test]
fn verify_data_dir_with_state_is_incremental_and_catches_rollback_and_fork() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let vkey = dir.path().join("log.vkey");
    std::fs::write(&vkey, Keys::new().log.verifier().to_vkey()).unwrap();
    let verify = |data: &std::path::Path| {
        let out = Command::new(vigil_bin())
            .args(["verify", "--data-dir"])
            .arg(data)
            .arg("--state")
            .arg(&state)
            .arg("--log-key")
            .arg(&vkey)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let l = Ledger::new_with_withdrawals(4);
    assert_eq!(verify(&l.data_dir()).0, Some(0));
    let l = l.reopen();
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-more"), "more")]).unwrap();
    wait_marked(&l.data_dir(), 11);
    let (code, out) = verify(&l.data_dir());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("verified 11 entries"), "{out}");
    // Fewer entries under the same key: a rollback.
    let shorter = Ledger::new_with_withdrawals(2);
    let (code, out) = verify(&shorter.data_dir());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("rollback") && dir.path().join("state.json.evidence.txt").exists(), "{out}");
    // More entries but another history (other salts from entry 6 on): a fork.
    let other = Ledger::new_with_withdrawals(8);
    let (code, out) = verify(&other.data_dir());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not a valid extension of the 11 entries"), "{out}");
}

/// `vigil verify --bundle` of `bytes` (written to `path`): the exit code, stdout and stderr.
fn verify_bundle(path: &std::path::Path, bytes: &[u8], vkey: &std::path::Path) -> (i32, String) {
    std::fs::write(path, bytes).unwrap();
    let (code, out, err) = vigil(&["verify", "--bundle", path.to_str().unwrap(), "--log-key", vkey.to_str().unwrap()]);
    (code, out + &err)
}
