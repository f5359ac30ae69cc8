//! Feeds arbitrary bytes to every parser the gateway runs on a request before the
//! platform sees it, and checks what must hold whatever the input: no panic, and a
//! name or body that is accepted is one the rest of gust can rely on.
//!
//! - as UTF-8: `FunctionRef::parse` (path names, ARNs, qualifiers) with and without a
//!   `Qualifier` query, `InvocationType::parse` (the `X-Amz-Invocation-Type` header);
//! - as a body: serde_json into CreateFunction, UpdateFunctionConfiguration and
//!   CreateAlias requests, and the invoke payload check.

#![no_main]

use gust_platform::{check_payload, InvocationType};
use gust_types::{CoreError, FunctionRef};
use gust_wire::lambda::{CreateFunctionRequest, UpdateFunctionConfigurationRequest};
use gust_wire::versions::CreateAliasRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        names(text);
        let _ = InvocationType::parse(Some(text));
    }
    bodies(data);
    payload(data);
});

/// A name that parses is safe to use as a path component and a cgroup name; every
/// refusal is the caller's error.
fn names(text: &str) {
    // The query string's Qualifier comes from the same request: split the input.
    let (name, query) = text.split_once('?').unwrap_or((text, ""));
    for (input, qualifier) in [(text, None), (name, Some(query))] {
        let parsed = FunctionRef::parse(input).and_then(|f| f.with_qualifier(qualifier));
        match parsed {
            Ok(f) => {
                assert!(valid_name(&f.name), "{input:?} gave the name {:?}", f.name);
                if let Some(q) = &f.qualifier {
                    assert!(q == "$LATEST" || valid_qualifier(q), "{input:?} gave {q:?}");
                }
            }
            Err(CoreError::InvalidParameterValue(message)) => {
                assert!(message.len() < 1024, "an unbounded message for {input:?}");
            }
            Err(other) => panic!("{input:?}: unexpected error {other:?}"),
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(q: &str) -> bool {
    (1..=128).contains(&q.len())
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A body that deserializes serializes back to one that deserializes again.
fn bodies(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<CreateFunctionRequest>(data) {
        let again = serde_json::to_vec(&req).expect("serializing a parsed request");
        serde_json::from_slice::<CreateFunctionRequest>(&again).expect("re-parsing it");
    }
    if let Ok(req) = serde_json::from_slice::<UpdateFunctionConfigurationRequest>(data) {
        let again = serde_json::to_vec(&req).expect("serializing a parsed request");
        serde_json::from_slice::<UpdateFunctionConfigurationRequest>(&again)
            .expect("re-parsing it");
    }
    if let Ok(req) = serde_json::from_slice::<CreateAliasRequest>(data) {
        let again = serde_json::to_vec(&req).expect("serializing a parsed request");
        serde_json::from_slice::<CreateAliasRequest>(&again).expect("re-parsing it");
    }
}

/// An accepted invoke payload is UTF-8 JSON a runtime can decode; a refused one is
/// the caller's `InvalidRequestContentException`.
fn payload(data: &[u8]) {
    match check_payload(data) {
        Ok(()) => {
            let text = std::str::from_utf8(data).expect("an accepted payload is UTF-8");
            serde_json::from_str::<serde::de::IgnoredAny>(text).expect("and JSON");
        }
        Err(CoreError::InvalidRequestContent(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
}
