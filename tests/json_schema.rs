//! `run --json` and `explore --json` against their written formats, `docs/schema/*.schema.json`.
//!
//! The schemas are JSON Schema (2020-12), for any validator a user has; here the `jsonschema`
//! crate checks them (without its default HTTP and TLS features: the schemas refer only to their
//! own `$defs`). `the_validator_finds_what_breaks_a_schema` makes sure a report that breaks the
//! schema fails these tests.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use jsonschema::Validator;
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The validator of `docs/schema/<name>`, which must be a valid JSON Schema.
fn validator(name: &str) -> Validator {
    let schema = schema(name);
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{name} is no JSON Schema: {e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every violation of `value`, each as `<JSON pointer of the value>: <what is wrong>` (the root's
/// pointer is empty).
fn violations(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn rstlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .output()
        .expect("rstlab runs")
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn run_json_follows_its_schema_whatever_the_verdict() {
    let schema = validator("run.schema.json");
    for (args, status, verdict) in [
        (
            &[
                "run",
                "--json",
                "--diagram",
                "server close; client write 1; client write 1 => EPIPE",
            ][..],
            0,
            "agreement",
        ),
        (
            &["run", "--json", "server close; client write 1 => EPIPE"],
            3,
            "expectation_contradicted",
        ),
        (
            &[
                "run",
                "--json",
                "--backend",
                "tokio",
                "server abort; client shutdown write",
            ],
            0,
            "agreement",
        ),
        (
            // On the link (as root): the wire trace, with a segment dropped and one in flight.
            &[
                "run",
                "--json",
                "link delay 10ms; server close; client write 1; client sleep 10ms; link drop; \
                 client write 1",
            ],
            0,
            "agreement",
        ),
    ] {
        if args.iter().any(|a| a.starts_with("link "))
            && !common::link_available_for("its run on the link")
        {
            continue;
        }
        let o = rstlab(args);
        assert_eq!(o.status.code(), Some(status), "{args:?}");
        let v = json_of(&o);
        assert_eq!(
            violations(&schema, &v),
            Vec::<String>::new(),
            "{args:?}: {v:#}"
        );
        assert_eq!(v["verdict"], verdict);
        assert_eq!(v["schema"], 1);
    }
}

#[test]
fn explore_json_follows_its_schema() {
    let schema = validator("explore.schema.json");
    let o = rstlab(&[
        "explore", "--cases", "50", "--seed", "4", "--jobs", "2", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(violations(&schema, &v), Vec::<String>::new(), "{v:#}");
    assert_eq!(v["interrupted"], false);
    // With the timer steps drawn, the summary says so.
    let o = rstlab(&[
        "explore", "--cases", "50", "--seed", "4", "--timers", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(violations(&schema, &v), Vec::<String>::new(), "{v:#}");
    assert_eq!(v["timers"], true);
}

#[test]
fn merged_shards_follow_the_explore_schema() {
    let schema = validator("explore.schema.json");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut files = Vec::new();
    for k in ["1/2", "2/2"] {
        let o = rstlab(&[
            "explore", "--cases", "40", "--seed", "4", "--net", "loopback", "--json", "--shard", k,
        ]);
        assert_eq!(o.status.code(), Some(0));
        let v = json_of(&o);
        assert_eq!(violations(&schema, &v), Vec::<String>::new(), "{v:#}");
        let file = dir.join(format!("{}.json", &k[..1]));
        std::fs::write(&file, &o.stdout).unwrap();
        files.push(file.to_string_lossy().into_owned());
    }
    let o = rstlab(&["merge", &files[0], &files[1]]);
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(violations(&schema, &v), Vec::<String>::new(), "{v:#}");
    assert_eq!(
        (v["schema"].as_u64(), v["cases"].as_u64()),
        (Some(1), Some(40))
    );
    assert!(v.get("shard").is_none(), "{v:#}");
}

/// A change made to a good report.
type Edit = dyn Fn(&mut Value);

/// A report that breaks its schema fails: each change below is caught, at the place changed.
#[test]
fn the_validator_finds_what_breaks_a_schema() {
    let schema = validator("run.schema.json");
    let o = rstlab(&["run", "--json", "server close => ok"]);
    let good = json_of(&o);
    assert_eq!(violations(&schema, &good), Vec::<String>::new());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        violations(&schema, &v)
    };
    // (the change, where the validator must find it, what it must say)
    let cases: [(&Edit, &str, &str); 6] = [
        (
            &|v| drop(v.as_object_mut().unwrap().remove("schema")),
            "",
            "\"schema\" is a required property",
        ),
        (&|v| v["schema"] = 2.into(), "/schema", "1 was expected"),
        (
            &|v| v["surprise"] = true.into(),
            "",
            "'surprise' was unexpected",
        ),
        (
            &|v| v["steps"][0]["step"] = "one".into(),
            "/steps/0/step",
            "\"one\" is not of type \"integer\"",
        ),
        (
            &|v| v["steps"][0]["mismatches"] = serde_json::json!([{"kind": "odd"}]),
            "/steps/0/mismatches/0",
            "is not valid under any of the schemas",
        ),
        (
            &|v| v["verdict"] = "maybe".into(),
            "/verdict",
            "\"maybe\" is not one of",
        ),
    ];
    for (edit, at, what) in cases {
        let errors = broken(edit);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (path, message) = errors[0].split_once(": ").unwrap();
        assert_eq!(path, at, "{errors:?}");
        assert!(message.contains(what), "{errors:?}");
    }
}
