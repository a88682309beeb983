//! Proves that riverlite computes what River's own conformance fixtures (`tests/fixtures/river/`, copied from riverqueue/river) record: unique keys and state masks, seeded retry delays, the attempt error form and the metadata keys.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverlite::{
    AttemptError, Client, DefaultRetryPolicy, InsertOpts, InsertResult, JobArgs, JobState,
    UniqueOpts,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

const UNIQUE_KEYS: &str = include_str!("fixtures/river/unique_keys.json");
const PROTOCOL_VALUES: &str = include_str!("fixtures/river/protocol_values.json");

/// Cases that select args fields with Go struct tags (`river:"unique"`),
/// which riverlite's `UniqueOpts` has no way to express: it hashes either
/// all the args or none of them.
const UNSUPPORTED_SELECTED_FIELDS: [&str; 4] = [
    "all_selected_fields_omitted",
    "selected_siblings_and_slash_key",
    "selected_nested_args",
    "selected_explicit_null",
];

#[derive(Deserialize)]
struct UniqueKeys {
    protocol_revision: u32,
    cases: Vec<UniqueCase>,
}

#[derive(Deserialize)]
struct UniqueCase {
    name: String,
    kind: String,
    args: Box<RawValue>,
    queue: String,
    now: DateTime<Utc>,
    scheduled_at: Option<DateTime<Utc>>,
    options: UniqueCaseOptions,
    selected_unique_paths: Option<Vec<String>>,
    expected_sha256: String,
    expected_state_mask: u8,
}

#[derive(Deserialize)]
struct UniqueCaseOptions {
    by_args: bool,
    by_period_nanos: u64,
    by_queue: bool,
    by_state: Option<Vec<JobState>>,
    exclude_kind: bool,
}

/// Args inserted as given: the fixture's wire JSON, member order and
/// escapes included, with whitespace between tokens removed.
macro_rules! raw_args_kinds {
    ($($name:ident => $kind:literal),* $(,)?) => {
        $(
            #[derive(Serialize, Deserialize)]
            #[serde(transparent)]
            struct $name(Box<RawValue>);

            impl JobArgs for $name {
                const KIND: &'static str = $kind;
            }
        )*

        fn insert_raw(
            client: &Client,
            kind: &str,
            args: Box<RawValue>,
            opts: InsertOpts,
        ) -> riverlite::Result<InsertResult> {
            match kind {
                $($kind => client.insert($name(args), Some(opts)),)*
                other => panic!("no args type for fixture kind {other:?}"),
            }
        }
    };
}

raw_args_kinds! {
    AllArgs => "conformance_all_args",
    NumericBoundaries => "conformance_numeric_boundaries",
    SelectedArgs => "conformance_selected_args",
    Simple => "conformance_simple",
}

/// `json` without whitespace between tokens; strings, escapes included, are
/// kept byte for byte.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn compact_keeps_strings_and_escapes() {
    assert_eq!(
        compact("{ \"a b\" : [1, \"c \\\" d\\\\\"] ,\n\t\"\\u003c\":{} }"),
        r#"{"a b":[1,"c \" d\\"],"\u003c":{}}"#
    );
}

#[test]
fn unique_keys_and_state_masks_match_rivers() {
    let fixture: UniqueKeys = serde_json::from_str(UNIQUE_KEYS).expect("unique_keys.json");
    assert_eq!(fixture.protocol_revision, 1);

    // The unsupported list is exactly the cases that select fields.
    let selecting: BTreeSet<&str> = fixture
        .cases
        .iter()
        .filter(|c| c.selected_unique_paths.is_some())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(selecting, BTreeSet::from(UNSUPPORTED_SELECTED_FIELDS));

    let dir = tempfile::tempdir().expect("tempdir");
    let client = Client::builder(dir.path().join("conformance.db"))
        .build()
        .expect("build client");

    let total = fixture.cases.len();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in fixture.cases {
        let args = RawValue::from_string(compact(case.args.get())).expect("compact args");
        let opts = InsertOpts {
            queue: Some(case.queue.clone()),
            // River takes the period from scheduled_at, else from now: an
            // insert at `now` with no scheduled_at is one scheduled at `now`.
            scheduled_at: Some(case.scheduled_at.unwrap_or(case.now)),
            unique: Some(UniqueOpts {
                by_args: case.options.by_args,
                by_period: (case.options.by_period_nanos > 0)
                    .then(|| Duration::from_nanos(case.options.by_period_nanos)),
                by_queue: case.options.by_queue,
                by_state: case.options.by_state.clone(),
                exclude_kind: case.options.exclude_kind,
            }),
            ..Default::default()
        };
        let outcome = insert_raw(&client, &case.kind, args, opts).and_then(|inserted| {
            assert!(!inserted.unique_skipped_as_duplicate, "{}", case.name);
            let row = client.job_get(inserted.job.id)?;
            assert_eq!(row.unique_key, inserted.job.unique_key, "{}", case.name);
            assert_eq!(
                row.unique_states, inserted.job.unique_states,
                "{}",
                case.name
            );
            // Cases can share a key: remove each job before the next insert.
            client.job_delete(row.id)?;
            Ok(row)
        });
        let got = outcome.map(|row| {
            (
                row.unique_key.as_deref().map(hex).unwrap_or_default(),
                row.unique_states,
            )
        });
        let matches = matches!(&got, Ok((key, states))
            if *key == case.expected_sha256 && *states == Some(case.expected_state_mask));

        if UNSUPPORTED_SELECTED_FIELDS.contains(&case.name.as_str()) {
            eprintln!(
                "unsupported (selected fields {:?}): {} {}",
                case.selected_unique_paths.unwrap_or_default(),
                case.name,
                if matches { "matches anyway" } else { "differs" }
            );
            continue;
        }
        checked += 1;
        if !matches {
            failures.push(format!(
                "{}: expected {} / {}, got {got:?}",
                case.name, case.expected_sha256, case.expected_state_mask
            ));
        }
    }
    assert_eq!(checked + UNSUPPORTED_SELECTED_FIELDS.len(), total);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[derive(Deserialize)]
struct ProtocolValues {
    protocol_revision: u32,
    attempt_error: serde_json::Value,
    metadata_keys: serde_json::Map<String, serde_json::Value>,
    retry_cases: Vec<RetryCase>,
}

#[derive(Deserialize)]
struct RetryCase {
    error_count: usize,
    expected_delay_ns: u64,
    job_id: i64,
    now: DateTime<Utc>,
    seed: u64,
}

fn protocol_values() -> ProtocolValues {
    let values: ProtocolValues =
        serde_json::from_str(PROTOCOL_VALUES).expect("protocol_values.json");
    assert_eq!(values.protocol_revision, 1);
    values
}

#[test]
fn retry_delays_match_rivers_seeded_backoff() {
    let cases = protocol_values().retry_cases;
    assert!(!cases.is_empty());
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let delay =
                DefaultRetryPolicy::delay(case.job_id, case.error_count - 1, case.now, case.seed);
            let expected = Duration::from_nanos(case.expected_delay_ns);
            (delay != expected).then(|| {
                format!(
                    "job {} error_count {} seed {}: expected {} ns, got {} ns",
                    case.job_id,
                    case.error_count,
                    case.seed,
                    case.expected_delay_ns,
                    delay.as_nanos()
                )
            })
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn attempt_error_reads_and_writes_rivers_form() {
    let fixture = protocol_values().attempt_error;
    let error: AttemptError = serde_json::from_value(fixture.clone()).expect("attempt_error");
    let at: DateTime<Utc> = "2026-01-02T03:04:05.6789Z".parse().unwrap();
    assert_eq!(
        error,
        AttemptError {
            at,
            attempt: 3,
            error: r#"worker failed: escaped "detail""#.into(),
            trace: "frame one\nframe two".into(),
        }
    );

    // What riverlite writes has River's field names and values, and its
    // time is the same instant.
    let written: serde_json::Value = serde_json::to_value(&error).expect("serialize");
    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&written), keys(&fixture));
    for field in ["attempt", "error", "trace"] {
        assert_eq!(written[field], fixture[field], "{field}");
    }
    let written_at: DateTime<Utc> = written["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(written_at, at);
    let reread: AttemptError = serde_json::from_value(written).expect("reread");
    assert_eq!(reread, error);
}

#[test]
fn metadata_keys_are_rivers() {
    let keys = protocol_values().metadata_keys;
    // The metadata keys riverlite writes, by the fixture's name for them,
    // with a source file that writes each. riverlite writes no
    // `unique_nonce`, `output` or resumable keys; it also counts snoozes in
    // River's `snoozes`, which the fixture does not list.
    let used = [
        (
            "periodic_job_id",
            "river:periodic_job_id",
            include_str!("../src/leader/periodic_enqueuer.rs"),
        ),
        (
            "rescue_count",
            "river:rescue_count",
            include_str!("../src/db/jobs.rs"),
        ),
    ];
    for (name, key, source) in used {
        assert_eq!(keys.get(name).and_then(|v| v.as_str()), Some(key), "{name}");
        assert!(source.contains(key), "{key} is no longer in its source");
    }
}
