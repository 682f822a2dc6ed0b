//! `run --json` and `explore --json` against their written formats, `docs/schema/*.schema.json`.
//!
//! The schemas are JSON Schema (2020-12), for any validator a user has. Here they are checked
//! by a small validator of the keywords they use, written below, rather than by the
//! `jsonschema` crate: by default that crate brings an HTTP client and TLS (reqwest, rustls
//! with aws-lc-rs, which compiles C), and even without them a referencing layer and regex and
//! URL crates, into every build of the tests, on a machine shared by several builds, for a
//! dozen keywords. The validator refuses any keyword it does not implement, so a schema cannot
//! silently say more than is checked.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Map, Value};

/// Checks `value` against `schema` (`root` resolves `$ref`s); returns every violation, each
/// with the JSON path where it is.
fn validate(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        panic!("{path}: a schema must be an object, not {schema}");
    };
    for (keyword, rule) in schema {
        match keyword.as_str() {
            // Annotations and containers: nothing to check here.
            "$schema" | "$id" | "title" | "description" | "$comment" | "$defs" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_else(|| panic!("only #/$defs/ references: {rule}"));
                let target = &root["$defs"][name];
                assert!(!target.is_null(), "no $defs/{name}");
                validate(root, target, value, path, errors);
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("bad type {rule}"),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{path}: {value} is not of type {rule}"));
                }
            }
            "const" => {
                if value != rule {
                    errors.push(format!("{path}: {value} is not {rule}"));
                }
            }
            "enum" => {
                let choices = rule.as_array().expect("enum is an array");
                if !choices.contains(value) {
                    errors.push(format!("{path}: {value} is none of {rule}"));
                }
            }
            "minimum" => {
                let min = rule.as_f64().expect("a number");
                if value.as_f64().is_some_and(|v| v < min) {
                    errors.push(format!("{path}: {value} is below {min}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in rule.as_array().expect("required is an array") {
                        let name = name.as_str().expect("names");
                        if !object.contains_key(name) {
                            errors.push(format!("{path}: no field {name:?}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, sub) in rule.as_object().expect("properties is an object") {
                        if let Some(v) = object.get(name) {
                            validate(root, sub, v, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, v) in extra(object, known) {
                        match rule {
                            Value::Bool(false) => {
                                errors.push(format!("{path}: field {name:?} is not in the schema"));
                            }
                            Value::Bool(true) => {}
                            sub => validate(root, sub, v, &format!("{path}.{name}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        validate(root, rule, v, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "anyOf" => {
                let fits = rule
                    .as_array()
                    .expect("anyOf is an array")
                    .iter()
                    .any(|sub| {
                        let mut sub_errors = Vec::new();
                        validate(root, sub, value, path, &mut sub_errors);
                        sub_errors.is_empty()
                    });
                if !fits {
                    errors.push(format!("{path}: {value} fits none of anyOf"));
                }
            }
            other => panic!("the schema uses {other:?}, which this checker does not implement"),
        }
    }
}

fn extra<'a>(
    object: &'a Map<String, Value>,
    known: Option<&Map<String, Value>>,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    let known: Vec<String> = known.map_or_else(Vec::new, |k| k.keys().cloned().collect());
    object.iter().filter(move |(name, _)| !known.contains(name))
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        other => panic!("unknown type {other}"),
    }
}

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(schema, schema, value, "$", &mut errors);
    errors
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
    let schema = schema("run.schema.json");
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
        if args.iter().any(|a| a.starts_with("link ")) && !common::link_available() {
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
    let schema = schema("explore.schema.json");
    let o = rstlab(&[
        "explore", "--cases", "50", "--seed", "4", "--jobs", "2", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(violations(&schema, &v), Vec::<String>::new(), "{v:#}");
    assert_eq!(v["interrupted"], false);
}

#[test]
fn the_checker_finds_what_breaks_a_schema() {
    let schema = schema("run.schema.json");
    let o = rstlab(&["run", "--json", "server close => ok"]);
    let good = json_of(&o);
    assert!(violations(&schema, &good).is_empty());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        violations(&schema, &v)
    };
    let errors = broken(&|v| drop(v.as_object_mut().unwrap().remove("schema")));
    assert_eq!(errors, ["$: no field \"schema\""]);
    let errors = broken(&|v| v["schema"] = 2.into());
    assert_eq!(errors, ["$.schema: 2 is not 1"]);
    let errors = broken(&|v| v["surprise"] = true.into());
    assert_eq!(errors, ["$: field \"surprise\" is not in the schema"]);
    let errors = broken(&|v| v["steps"][0]["step"] = "one".into());
    assert_eq!(
        errors,
        ["$.steps[0].step: \"one\" is not of type \"integer\""]
    );
    let errors = broken(&|v| v["steps"][0]["mismatches"] = serde_json::json!([{"kind": "odd"}]));
    assert_eq!(
        errors,
        ["$.steps[0].mismatches[0]: {\"kind\":\"odd\"} fits none of anyOf"]
    );
    let errors = broken(&|v| v["verdict"] = "maybe".into());
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
#[should_panic(expected = "which this checker does not implement")]
fn the_checker_refuses_keywords_it_does_not_check() {
    let schema = serde_json::json!({"type": "string", "pattern": "^a"});
    violations(&schema, &Value::String("b".into()));
}
