//! The runtimes gust can run. A managed runtime uses gust's own bootstrap and the
//! host's interpreter; `provided` runs the archive's `bootstrap` executable.

use serde::{Deserialize, Serialize};

/// A runtime identifier as AWS spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Runtime {
    /// `python3.11`, run by the host's Python 3.11 with gust's bootstrap.
    #[serde(rename = "python3.11")]
    Python311,
    /// `nodejs20.x`, run by the host's Node.js 20 with gust's bootstrap.
    #[serde(rename = "nodejs20.x")]
    Nodejs20,
    /// `provided`: the archive's `bootstrap` executable.
    #[serde(rename = "provided")]
    Provided,
    /// `provided.al2`: as `provided`.
    #[serde(rename = "provided.al2")]
    ProvidedAl2,
    /// `provided.al2023`: as `provided`.
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
}

/// Every runtime gust accepts, in the order `--help` and errors list them.
pub const SUPPORTED: [Runtime; 5] = [
    Runtime::Python311,
    Runtime::Nodejs20,
    Runtime::Provided,
    Runtime::ProvidedAl2,
    Runtime::ProvidedAl2023,
];

impl Runtime {
    /// The identifier as AWS and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python311 => "python3.11",
            Runtime::Nodejs20 => "nodejs20.x",
            Runtime::Provided => "provided",
            Runtime::ProvidedAl2 => "provided.al2",
            Runtime::ProvidedAl2023 => "provided.al2023",
        }
    }

    /// Parses an identifier; the error lists what is supported.
    pub fn parse(s: &str) -> Result<Runtime, crate::CoreError> {
        SUPPORTED
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let list: Vec<&str> = SUPPORTED.iter().map(|r| r.as_str()).collect();
                crate::CoreError::InvalidParameterValue(format!(
                "Value {s} at 'runtime' failed to satisfy constraint: this gust host supports {}",
                list.join(", ")
            ))
            })
    }

    /// Whether the archive brings its own `bootstrap` (custom runtime).
    pub fn is_provided(self) -> bool {
        matches!(
            self,
            Runtime::Provided | Runtime::ProvidedAl2 | Runtime::ProvidedAl2023
        )
    }

    /// Whether a Handler is required at creation (managed runtimes need one).
    pub fn requires_handler(self) -> bool {
        !self.is_provided()
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for r in SUPPORTED {
            assert_eq!(Runtime::parse(r.as_str()).unwrap(), r);
        }
        let err = Runtime::parse("python2.7").unwrap_err().to_string();
        assert!(err.contains("python3.11"), "{err}");
    }
}
