//! Reading a definition's JSON while noticing repeated keys.
//!
//! `serde_json` keeps the last of two equal keys without a word, so a state
//! written twice under the same name would silently lose its first version.
//! This reader builds the same [`Value`] but records every repeated key with
//! its location (the diagnostics' form: `/States/A`, `/States/P/Branches[0]`).

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A key that appeared more than once in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repeated {
    /// Where the object holding the key is.
    pub parent: String,
    /// The key.
    pub key: String,
}

/// Parses `text`, returning the value (last key wins, as `serde_json`) and the
/// keys that were repeated, in the order they were met.
pub(crate) fn read(text: &str) -> Result<(Value, Vec<Repeated>), serde_json::Error> {
    let repeated = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed {
        loc: String::new(),
        repeated: &repeated,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, repeated.into_inner()))
}

struct Seed<'r> {
    loc: String,
    repeated: &'r RefCell<Vec<Repeated>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = Seed {
                loc: format!("{}[{}]", self.loc, items.len()),
                repeated: self.repeated,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed {
                loc: format!("{}/{}", self.loc, key),
                repeated: self.repeated,
            })?;
            if object.insert(key.clone(), value).is_some() {
                self.repeated.borrow_mut().push(Repeated {
                    parent: self.loc.clone(),
                    key,
                });
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_serde_json() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}}}"#;
        let (value, repeated) = read(text).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
        assert!(repeated.is_empty());
    }

    #[test]
    fn reports_repeated_keys_with_their_place_and_keeps_the_last() {
        let text = r#"{"States":{"A":{"Type":"Pass"},"A":{"Type":"Succeed"}},
                       "x":[{"k":1,"k":2}]}"#;
        let (value, repeated) = read(text).unwrap();
        assert_eq!(value["States"]["A"]["Type"], "Succeed");
        assert_eq!(
            repeated,
            vec![
                Repeated {
                    parent: "/States".into(),
                    key: "A".into()
                },
                Repeated {
                    parent: "/x[0]".into(),
                    key: "k".into()
                },
            ]
        );
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        assert!(read("{").is_err());
        assert!(read("{} extra").is_err());
        assert!(read("").is_err());
    }
}
