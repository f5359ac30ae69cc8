//! The additional checksums S3 clients send (CRC32, CRC32C, CRC64NVME, SHA-1,
//! SHA-256: in headers, or as trailers of an `aws-chunked` body), computed while an
//! object streams to disk, compared with what the client sent, and stored with the
//! object so that reads can return them.

use s3s::checksum::ChecksumHasher;
use serde::{Deserialize, Serialize};

/// One checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Every algorithm.
    pub(crate) const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The algorithm of `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`
    /// (`CRC32`, ...), case-insensitively.
    pub(crate) fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The algorithm whose value travels in header or trailer `header`
    /// (`x-amz-checksum-crc32`, ...).
    pub(crate) fn of_header(header: &str) -> Option<Algorithm> {
        let name = header.trim().to_ascii_lowercase();
        let name = name.strip_prefix("x-amz-checksum-")?;
        Algorithm::parse(name)
    }

    /// Its name as S3 writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }
}

/// Base64 checksums of an object, those it was written with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Checksums {
    /// The value of `a`, if known.
    pub(crate) fn get(&self, a: Algorithm) -> Option<&str> {
        match a {
            Algorithm::Crc32 => self.crc32.as_deref(),
            Algorithm::Crc32c => self.crc32c.as_deref(),
            Algorithm::Crc64Nvme => self.crc64nvme.as_deref(),
            Algorithm::Sha1 => self.sha1.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }

    /// Sets the value of `a`.
    pub(crate) fn set(&mut self, a: Algorithm, value: Option<String>) {
        let slot = match a {
            Algorithm::Crc32 => &mut self.crc32,
            Algorithm::Crc32c => &mut self.crc32c,
            Algorithm::Crc64Nvme => &mut self.crc64nvme,
            Algorithm::Sha1 => &mut self.sha1,
            Algorithm::Sha256 => &mut self.sha256,
        };
        *slot = value;
    }

    /// The algorithms with a value.
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(|a| self.get(*a).is_some())
            .collect()
    }

    /// The first algorithm whose value in `expected` differs from this one's.
    pub(crate) fn mismatch(&self, expected: &Checksums) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| {
            expected
                .get(*a)
                .is_some_and(|want| self.get(*a) != Some(want.trim()))
        })
    }
}

/// Computes the checksums of some algorithms over a stream of bytes.
pub(crate) struct Hasher(ChecksumHasher);

impl Hasher {
    pub(crate) fn new(algorithms: &[Algorithm]) -> Hasher {
        let mut h = ChecksumHasher::default();
        for a in algorithms {
            use s3s::crypto::Checksum as _;
            match a {
                Algorithm::Crc32 => h.crc32 = Some(s3s::crypto::Crc32::new()),
                Algorithm::Crc32c => h.crc32c = Some(s3s::crypto::Crc32c::new()),
                Algorithm::Crc64Nvme => h.crc64nvme = Some(s3s::crypto::Crc64Nvme::new()),
                Algorithm::Sha1 => h.sha1 = Some(s3s::crypto::Sha1::new()),
                Algorithm::Sha256 => h.sha256 = Some(s3s::crypto::Sha256::new()),
            }
        }
        Hasher(h)
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub(crate) fn finish(self) -> Checksums {
        let c = self.0.finalize();
        Checksums {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            crc64nvme: c.checksum_crc64nvme,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_mismatches() {
        let mut h = Hasher::new(&[Algorithm::Crc32, Algorithm::Sha256]);
        h.update(b"hello ");
        h.update(b"world");
        let got = h.finish();
        // CRC32 of "hello world" is 0x0d4a1185.
        assert_eq!(got.crc32.as_deref(), Some("DUoRhQ=="));
        assert!(got.sha256.is_some() && got.crc32c.is_none());
        let mut want = Checksums::default();
        assert_eq!(got.mismatch(&want), None);
        want.crc32 = Some("DUoRhQ==".into());
        assert_eq!(got.mismatch(&want), None);
        want.crc32 = Some("AAAAAA==".into());
        assert_eq!(got.mismatch(&want), Some(Algorithm::Crc32));
        assert_eq!(
            Algorithm::of_header("X-Amz-Checksum-CRC64NVME"),
            Some(Algorithm::Crc64Nvme)
        );
        assert_eq!(Algorithm::parse("sha1"), Some(Algorithm::Sha1));
    }
}
