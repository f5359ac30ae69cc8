//! The S3 operations, on [`Buckets`]: s3s parses each request into its input and
//! writes the output back as S3's XML and headers; this file decides.

use std::sync::Arc;

use base64::Engine as _;
use gust_store::buckets::{
    BucketDeletion, BucketRecord, ObjectRecord, PartRecord, UploadRecord, WriteCondition,
};
use gust_store::StoreError;
use s3s::dto::{self, Timestamp};
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::blobs::WriteError;
use crate::checksums::{Algorithm, Checksums};
use crate::listing;
use crate::meta::Meta;
use crate::notify::{self, Happened};
use crate::Buckets;

/// The store as s3s serves it.
pub(crate) struct Handle(pub Arc<Buckets>);

impl std::ops::Deref for Handle {
    type Target = Buckets;
    fn deref(&self) -> &Buckets {
        &self.0
    }
}

/// S3's limit for one PUT (and one part).
const MAX_PUT: u64 = 5 << 30;
/// The smallest part but the last of a multipart upload.
const MIN_PART: u64 = 5 << 20;
/// S3's key length limit, in bytes of UTF-8.
const MAX_KEY: usize = 1024;
/// Part numbers run from 1 to this.
const MAX_PART_NUMBER: i32 = 10_000;

fn internal(e: impl std::fmt::Display) -> s3s::S3Error {
    tracing::error!(error = %e, "object store failure");
    s3_error!(InternalError, "{e}")
}

fn store_err(e: StoreError) -> s3s::S3Error {
    internal(e)
}

fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

fn ms_of(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// S3 compares `If-Modified-Since` and friends at one-second precision.
fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long: {} bytes; the most is {MAX_KEY}",
            key.len()
        ));
    }
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "An object key cannot be empty"));
    }
    Ok(())
}

fn etag_value(etag: &str) -> &str {
    etag.trim_matches('"')
}

fn dto_etag(etag: &str) -> dto::ETag {
    dto::ETag::Strong(etag_value(etag).to_string())
}

/// Whether `cond` (an `If-Match`/`If-None-Match` list) names `etag` or is `*`.
fn etag_matches(cond: &dto::ETagCondition, etag: &str) -> bool {
    match cond {
        dto::ETagCondition::Any => true,
        dto::ETagCondition::ETag(e) => e.value() == etag_value(etag),
    }
}

/// Who asked, for the events a request causes.
struct Origin {
    ip: String,
    request_id: String,
    /// `X-Amzn-Trace-Id`, which a function's SDK sends (loop detection).
    trace: Option<String>,
}

fn origin<T>(req: &S3Request<T>) -> Origin {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Origin {
        ip: header("x-forwarded-for").unwrap_or_else(|| "127.0.0.1".to_string()),
        request_id: request_id(req),
        trace: header("x-amzn-trace-id"),
    }
}

/// The id the front gave the request (or a new one).
fn request_id<T>(req: &S3Request<T>) -> String {
    req.extensions
        .get::<crate::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase())
}

/// The checksums a write is to compute: named by value headers, by
/// `x-amz-checksum-algorithm`, or announced as a trailer.
fn wanted_algorithms(
    given: &Checksums,
    algorithm: Option<&dto::ChecksumAlgorithm>,
    headers: &http::HeaderMap,
) -> Vec<Algorithm> {
    let mut wanted = given.algorithms();
    let named = algorithm
        .and_then(|a| Algorithm::parse(a.as_str()))
        .into_iter()
        .chain(
            headers
                .get_all("x-amz-trailer")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(Algorithm::of_header),
        );
    for a in named {
        if !wanted.contains(&a) {
            wanted.push(a);
        }
    }
    wanted
}

/// The checksums a trailer carried, once the body has been read (decoded by s3s,
/// or by [`crate::chunked`] when no key checks signatures).
fn trailer_checksums(
    trailers: Option<&s3s::TrailingHeaders>,
    decoded: Option<&crate::chunked::Trailers>,
) -> Checksums {
    let mut c = Checksums::default();
    let map = trailers
        .and_then(s3s::TrailingHeaders::take)
        .or_else(|| decoded.and_then(crate::chunked::Trailers::take));
    if let Some(map) = map {
        for (name, value) in &map {
            if let (Some(a), Ok(v)) = (Algorithm::of_header(name.as_str()), value.to_str()) {
                c.set(a, Some(v.trim().to_string()));
            }
        }
    }
    c
}

fn bad_digest(a: Algorithm) -> s3s::S3Error {
    s3_error!(
        BadDigest,
        "The {} you specified did not match the calculated checksum.",
        a.name()
    )
}

fn write_error(e: WriteError) -> s3s::S3Error {
    match e {
        WriteError::TooLarge(max) => s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size ({max} bytes)"
        ),
        // What s3s's body checks report, in S3's words.
        WriteError::Body(m) if m.contains("SignatureMismatch") => s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided."
        ),
        WriteError::Body(m) if m.contains("Sha256Mismatch") => {
            let mut e = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            e
        }
        WriteError::Body(m) => s3_error!(IncompleteBody, "{m}"),
        WriteError::Io(e) => internal(e),
    }
}

impl Buckets {
    fn bucket_or_404(&self, name: &str) -> S3Result<BucketRecord> {
        self.store
            .bucket(name)
            .map_err(store_err)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))
    }

    fn object_or_404(&self, bucket: &str, key: &str) -> S3Result<ObjectRecord> {
        self.bucket_or_404(bucket)?;
        self.store
            .object(bucket, key)
            .map_err(store_err)?
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    /// Streams `body` to a new file, verifying Content-MD5 and the checksums the
    /// client sent (in headers or trailers).
    async fn receive(
        &self,
        body: Option<dto::StreamingBlob>,
        content_md5: Option<&str>,
        given: Checksums,
        algorithm: Option<&dto::ChecksumAlgorithm>,
        (headers, trailers, decoded): Framing<'_>,
    ) -> S3Result<crate::blobs::Written> {
        let expected_md5 = match content_md5 {
            Some(m) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(m.trim())
                    .ok()
                    .filter(|d| d.len() == 16)
                    .ok_or_else(|| {
                        s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid.")
                    })?,
            ),
            None => None,
        };
        let wanted = wanted_algorithms(&given, algorithm, headers);
        let body = body.unwrap_or_else(|| {
            dto::StreamingBlob::wrap(
                futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
            )
        });
        let written = self
            .blobs
            .write(body, MAX_PUT, &wanted)
            .await
            .map_err(write_error)?;
        let mut expected = given;
        let trailed = trailer_checksums(trailers, decoded);
        for a in trailed.algorithms() {
            expected.set(a, trailed.get(a).map(str::to_string));
        }
        let refused = if expected_md5.as_deref().is_some_and(|m| m != written.md5) {
            Some(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ))
        } else {
            written.checksums.mismatch(&expected).map(bad_digest)
        };
        if let Some(e) = refused {
            self.blobs.remove([written.blob]);
            return Err(e);
        }
        Ok(written)
    }

    /// Writes an object row (with its events) and cleans up what it replaced.
    fn commit_object(
        &self,
        bucket: &BucketRecord,
        object: &ObjectRecord,
        condition: &WriteCondition,
        event: &str,
        who: &Origin,
    ) -> S3Result<()> {
        let now = now_ms();
        let events = notify::events_for(
            bucket.notification.as_deref(),
            &Happened {
                event,
                bucket: &bucket.name,
                key: &object.key,
                object: Some((object.size, etag_value(&object.etag))),
                request_id: &who.request_id,
                source_ip: &who.ip,
                trace: who.trace.as_deref(),
            },
            &self.region,
            now,
            &*self.notifier,
        );
        match self.store.put_object(object, condition, &events) {
            Ok(written) => {
                self.blobs.remove(written.replaced_blob);
                self.notifier.scheduled(&written.event_ids, now);
                Ok(())
            }
            Err(e) => {
                self.blobs.remove([object.blob.clone()]);
                match e {
                    StoreError::PreconditionFailed(_) => Err(s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    )),
                    StoreError::Conflict(_) => Err(s3_error!(
                        NoSuchBucket,
                        "The specified bucket does not exist"
                    )),
                    e => Err(store_err(e)),
                }
            }
        }
    }

    /// Deletes one object, queueing its events; `false` if there was none.
    fn remove_object(&self, bucket: &BucketRecord, key: &str, who: &Origin) -> S3Result<bool> {
        let now = now_ms();
        let events_for = |_: &ObjectRecord| {
            notify::events_for(
                bucket.notification.as_deref(),
                &Happened {
                    event: "ObjectRemoved:Delete",
                    bucket: &bucket.name,
                    key,
                    object: None,
                    request_id: &who.request_id,
                    source_ip: &who.ip,
                    trace: who.trace.as_deref(),
                },
                &self.region,
                now,
                &*self.notifier,
            )
        };
        let (old, ids) = self
            .store
            .delete_object(&bucket.name, key, &events_for)
            .map_err(store_err)?;
        match old {
            Some(old) => {
                self.blobs.remove([old.blob]);
                self.notifier.scheduled(&ids, now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The object's bytes in `range`, rereading its row if a concurrent write
    /// replaced its file.
    async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        mut object: ObjectRecord,
        range: Option<&dto::Range>,
    ) -> S3Result<(ObjectRecord, std::ops::Range<u64>, dto::StreamingBlob)> {
        for _ in 0..3 {
            let span = match range {
                Some(r) => r.check(object.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?,
                None => 0..object.size,
            };
            if let Some(stream) = self
                .blobs
                .read(&object.blob, span.clone())
                .await
                .map_err(internal)?
            {
                return Ok((object, span, dto::StreamingBlob::wrap(stream)));
            }
            object = self.object_or_404(bucket, key)?;
        }
        Err(internal("the object kept changing while it was read"))
    }
}

/// A write's headers and where its trailers come from (s3s, or
/// [`crate::chunked`]).
type Framing<'a> = (
    &'a http::HeaderMap,
    Option<&'a s3s::TrailingHeaders>,
    Option<&'a crate::chunked::Trailers>,
);

fn meta_from_put(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    metadata: Option<dto::Metadata>,
) -> Meta {
    // `aws-chunked` describes the transfer, not the object.
    let content_encoding = content_encoding.and_then(|e| {
        let kept: Vec<&str> = e
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!kept.is_empty()).then(|| kept.join(", "))
    });
    Meta {
        content_type: Some(content_type.unwrap_or_else(|| "binary/octet-stream".into())),
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires_ms: expires.map(ms_of),
        user: metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        checksums: Checksums::default(),
        parts: None,
    }
}

fn given_checksums(
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
) -> Checksums {
    Checksums {
        crc32,
        crc32c,
        crc64nvme,
        sha1,
        sha256,
    }
}

fn owner() -> dto::Owner {
    dto::Owner {
        display_name: Some("gust".into()),
        id: Some("75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".into()),
    }
}

/// The bucket and key of an `x-amz-copy-source`.
fn copy_source(source: &dto::CopySource) -> S3Result<(String, String)> {
    match source {
        dto::CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(
            InvalidArgument,
            "gust copies only from bucket/key sources, not access points"
        )),
    }
}

/// Opaque continuation tokens: the base64 of the key (or common prefix) a page
/// ended with.
fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// `encoding-type=url`: keys and prefixes percent-encoded in the answer.
fn url_encoded(encode: bool, s: String) -> String {
    if !encode {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn wants_url(e: Option<&dto::EncodingType>) -> S3Result<bool> {
    match e.map(|e| e.as_str()) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(e) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request: {e}"
        )),
    }
}

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        None => Ok(1000),
        Some(m) if m < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(m) => Ok(usize::try_from(m).unwrap_or(1000).min(1000)),
    }
}

fn list_entry(o: ObjectRecord, encode: bool) -> dto::Object {
    let meta = Meta::parse(&o.meta);
    dto::Object {
        checksum_algorithm: {
            let a: Vec<dto::ChecksumAlgorithm> = meta
                .checksums
                .algorithms()
                .into_iter()
                .map(|a| dto::ChecksumAlgorithm::from(a.name().to_string()))
                .collect();
            (!a.is_empty()).then_some(a)
        },
        e_tag: Some(dto_etag(&o.etag)),
        key: Some(url_encoded(encode, o.key)),
        last_modified: Some(ts(o.modified_ms)),
        owner: None,
        size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
        storage_class: Some(dto::ObjectStorageClass::from("STANDARD".to_string())),
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl S3 for Handle {
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let input = req.input;
        check_bucket_name(&input.bucket)?;
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_string())
            .filter(|c| !c.is_empty());
        let legacy = self.region == "us-east-1";
        match constraint.as_deref() {
            // us-east-1 is the region without a constraint; naming it is an error.
            Some("us-east-1") if legacy => {
                return Err(s3_error!(
                    InvalidLocationConstraint,
                    "The specified location-constraint is not valid"
                ))
            }
            None if legacy => {}
            Some(wanted) if wanted == self.region => {}
            other => {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The {} location constraint is incompatible for the region specific \
                     endpoint this request was sent to.",
                    other.unwrap_or("unspecified")
                ));
            }
        }
        let record = BucketRecord {
            name: input.bucket.clone(),
            region: self.region.clone(),
            created_ms: now_ms(),
            notification: None,
        };
        match self.store.create_bucket(&record) {
            Ok(()) => Ok(S3Response::new(dto::CreateBucketOutput {
                location: Some(format!("/{}", input.bucket)),
            })),
            // us-east-1 answers a repeated create by its owner with success.
            Err(StoreError::Conflict(_)) if legacy => {
                Ok(S3Response::new(dto::CreateBucketOutput {
                    location: Some(format!("/{}", input.bucket)),
                }))
            }
            Err(StoreError::Conflict(_)) => Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            )),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let b = self.bucket_or_404(&req.input.bucket)?;
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let buckets = self
            .store
            .list_buckets()
            .map_err(store_err)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .map(|b| dto::Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(ts(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            prefix: req.input.prefix,
            continuation_token: None,
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let b = self.bucket_or_404(&req.input.bucket)?;
        // S3 answers an empty constraint for us-east-1.
        let location_constraint =
            (b.region != "us-east-1").then(|| dto::BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(dto::GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        match self
            .store
            .delete_bucket(&req.input.bucket)
            .map_err(store_err)?
        {
            BucketDeletion::Deleted => Ok(S3Response::new(dto::DeleteBucketOutput {})),
            BucketDeletion::NotFound => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
            BucketDeletion::NotEmpty => Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            )),
        }
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let who = origin(&req);
        let decoded = req.extensions.get::<crate::chunked::Trailers>().cloned();
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        check_key(&input.key)?;
        let bucket = self.bucket_or_404(&input.bucket)?;
        let condition = match (input.if_none_match.as_ref(), input.if_match.as_ref()) {
            (None, None) => WriteCondition::Any,
            (Some(dto::ETagCondition::Any), None) => WriteCondition::Absent,
            (None, Some(dto::ETagCondition::ETag(e))) => {
                WriteCondition::Matches(format!("\"{}\"", e.value()))
            }
            (None, Some(dto::ETagCondition::Any)) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-Match on a write takes an ETag, not *"
                ))
            }
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "A write takes If-None-Match: * or If-Match: ETAG, not both"
                ))
            }
        };
        let given = given_checksums(
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let written = self
            .receive(
                input.body,
                input.content_md5.as_deref(),
                given,
                input.checksum_algorithm.as_ref(),
                (&headers, trailing_headers.as_ref(), decoded.as_ref()),
            )
            .await?;
        let mut meta = meta_from_put(
            input.content_type.map(|m| m.to_string()),
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
            input.metadata,
        );
        meta.checksums = written.checksums.clone();
        let etag = format!("\"{}\"", hex(&written.md5));
        let object = ObjectRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: written.blob,
            size: written.size,
            etag: etag.clone(),
            modified_ms: now_ms(),
            meta: meta.to_json(),
        };
        self.commit_object(&bucket, &object, &condition, "ObjectCreated:Put", &who)?;
        let c = written.checksums;
        Ok(S3Response::new(dto::PutObjectOutput {
            e_tag: Some(dto_etag(&etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let input = req.input;
        let object = self.object_or_404(&input.bucket, &input.key)?;
        check_conditions(
            &object,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let (object, span, body) = self
            .open_object(&input.bucket, &input.key, object, input.range.as_ref())
            .await?;
        let meta = Meta::parse(&object.meta);
        let whole = input.range.is_none();
        let checksums = if whole
            && input
                .checksum_mode
                .as_ref()
                .is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
        {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        Ok(S3Response::new(dto::GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(body),
            cache_control: meta.cache_control,
            checksum_crc32: checksums.crc32,
            checksum_crc32c: checksums.crc32c,
            checksum_crc64nvme: checksums.crc64nvme,
            checksum_sha1: checksums.sha1,
            checksum_sha256: checksums.sha256,
            content_disposition: meta.content_disposition,
            content_encoding: meta.content_encoding,
            content_language: meta.content_language,
            content_length: Some(i64::try_from(span.end - span.start).unwrap_or(i64::MAX)),
            content_range: (!whole).then(|| {
                format!(
                    "bytes {}-{}/{}",
                    span.start,
                    span.end.saturating_sub(1),
                    object.size
                )
            }),
            content_type: meta.content_type.and_then(|t| t.parse().ok()),
            e_tag: Some(dto_etag(&object.etag)),
            expires: meta.expires_ms.map(ts),
            last_modified: Some(ts(object.modified_ms)),
            metadata: (!meta.user.is_empty()).then(|| meta.user.into_iter().collect()),
            parts_count: meta.parts.and_then(|p| i32::try_from(p).ok()),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let input = req.input;
        let object = self.object_or_404(&input.bucket, &input.key)?;
        check_conditions(
            &object,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let span =
            match input.range.as_ref() {
                Some(r) => Some(r.check(object.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?),
                None => None,
            };
        let meta = Meta::parse(&object.meta);
        let checksums = if span.is_none()
            && input
                .checksum_mode
                .as_ref()
                .is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
        {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let length = span.as_ref().map_or(object.size, |s| s.end - s.start);
        Ok(S3Response::new(dto::HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            cache_control: meta.cache_control,
            checksum_crc32: checksums.crc32,
            checksum_crc32c: checksums.crc32c,
            checksum_crc64nvme: checksums.crc64nvme,
            checksum_sha1: checksums.sha1,
            checksum_sha256: checksums.sha256,
            content_disposition: meta.content_disposition,
            content_encoding: meta.content_encoding,
            content_language: meta.content_language,
            content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
            content_range: span.map(|s| {
                format!(
                    "bytes {}-{}/{}",
                    s.start,
                    s.end.saturating_sub(1),
                    object.size
                )
            }),
            content_type: meta.content_type.and_then(|t| t.parse().ok()),
            e_tag: Some(dto_etag(&object.etag)),
            expires: meta.expires_ms.map(ts),
            last_modified: Some(ts(object.modified_ms)),
            metadata: (!meta.user.is_empty()).then(|| meta.user.into_iter().collect()),
            parts_count: meta.parts.and_then(|p| i32::try_from(p).ok()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let who = origin(&req);
        let bucket = self.bucket_or_404(&req.input.bucket)?;
        self.remove_object(&bucket, &req.input.key, &who)?;
        Ok(S3Response::new(dto::DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let who = origin(&req);
        let bucket = self.bucket_or_404(&req.input.bucket)?;
        let delete = req.input.delete;
        if delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "A DeleteObjects request names at most 1,000 keys"
            ));
        }
        let quiet = delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in delete.objects {
            match self.remove_object(&bucket, &o.key, &who) {
                Ok(_) => {
                    if !quiet {
                        deleted.push(dto::DeletedObject {
                            key: Some(o.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(dto::Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(o.key),
                    message: e.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(dto::DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            request_charged: None,
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let who = origin(&req);
        let input = req.input;
        check_key(&input.key)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let source = self.object_or_404(&src_bucket, &src_key)?;
        if let Some(m) = &input.copy_source_if_match {
            if !etag_matches(m, &source.etag) {
                return Err(s3_error!(
                    PreconditionFailed,
                    "x-amz-copy-source-if-match did not hold"
                ));
            }
        }
        if let Some(m) = &input.copy_source_if_none_match {
            if etag_matches(m, &source.etag) {
                return Err(s3_error!(
                    PreconditionFailed,
                    "x-amz-copy-source-if-none-match did not hold"
                ));
            }
        }
        let bucket = self.bucket_or_404(&input.bucket)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        if !replace && src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
            ));
        }
        let source_meta = Meta::parse(&source.meta);
        let mut meta = if replace {
            meta_from_put(
                input.content_type.map(|m| m.to_string()),
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
                input.metadata,
            )
        } else {
            source_meta.clone()
        };
        let (_, _, body) = self
            .open_object(&src_bucket, &src_key, source.clone(), None)
            .await?;
        let algorithms = source_meta.checksums.algorithms();
        let written = self
            .blobs
            .write(body, u64::MAX, &algorithms)
            .await
            .map_err(write_error)?;
        meta.checksums = written.checksums.clone();
        meta.parts = source_meta.parts;
        let modified = now_ms();
        let object = ObjectRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: written.blob,
            size: written.size,
            etag: source.etag.clone(),
            modified_ms: modified,
            meta: meta.to_json(),
        };
        self.commit_object(
            &bucket,
            &object,
            &WriteCondition::Any,
            "ObjectCreated:Copy",
            &who,
        )?;
        Ok(S3Response::new(dto::CopyObjectOutput {
            copy_object_result: Some(dto::CopyObjectResult {
                e_tag: Some(dto_etag(&source.etag)),
                last_modified: Some(ts(modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        let input = req.input;
        self.bucket_or_404(&input.bucket)?;
        let encode = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let marker = input.marker.clone().unwrap_or_default();
        let page = self.list_page(
            &input.bucket,
            &prefix,
            &marker,
            input.delimiter.as_deref().filter(|d| !d.is_empty()),
            max,
        )?;
        // An empty Delimiter is no delimiter, and S3 does not echo it.
        let delimiter = input.delimiter.filter(|d| !d.is_empty());
        let next_marker = if delimiter.is_some() {
            page.next.clone().map(|n| url_encoded(encode, n))
        } else {
            None
        };
        Ok(S3Response::new(dto::ListObjectsOutput {
            name: Some(input.bucket),
            // ListObjects (v1) returns its Prefix as given, encoded or not (botocore
            // decodes only Delimiter, Marker and NextMarker there).
            prefix: Some(prefix),
            marker: Some(url_encoded(encode, marker)),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(page.truncated && max > 0),
            contents: Some(
                page.objects
                    .into_iter()
                    .map(|o| list_entry(o, encode))
                    .collect(),
            ),
            common_prefixes: Some(
                page.prefixes
                    .into_iter()
                    .map(|p| dto::CommonPrefix {
                        prefix: Some(url_encoded(encode, p)),
                    })
                    .collect(),
            ),
            delimiter: delimiter.map(|d| url_encoded(encode, d)),
            next_marker,
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let input = req.input;
        self.bucket_or_404(&input.bucket)?;
        let encode = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match &input.continuation_token {
            Some(t) => decode_token(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let page = self.list_page(
            &input.bucket,
            &prefix,
            &after,
            input.delimiter.as_deref().filter(|d| !d.is_empty()),
            max,
        )?;
        let key_count = page.objects.len() + page.prefixes.len();
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(url_encoded(encode, prefix)),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated && max > 0),
            next_continuation_token: page
                .next
                .as_deref()
                .filter(|_| page.truncated)
                .map(encode_token),
            contents: Some(
                page.objects
                    .into_iter()
                    .map(|o| {
                        let mut e = list_entry(o, encode);
                        if fetch_owner {
                            e.owner = Some(owner());
                        }
                        e
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                page.prefixes
                    .into_iter()
                    .map(|p| dto::CommonPrefix {
                        prefix: Some(url_encoded(encode, p)),
                    })
                    .collect(),
            ),
            delimiter: input
                .delimiter
                .filter(|d| !d.is_empty())
                .map(|d| url_encoded(encode, d)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| url_encoded(encode, s)),
            request_charged: None,
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        self.bucket_or_404(&input.bucket)?;
        let meta = meta_from_put(
            input.content_type.map(|m| m.to_string()),
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
            input.metadata,
        );
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let upload = UploadRecord {
            id: id.clone(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            created_ms: now_ms(),
            meta: meta.to_json(),
        };
        match self.store.create_upload(&upload) {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(s3_error!(
                    NoSuchBucket,
                    "The specified bucket does not exist"
                ))
            }
            Err(e) => return Err(store_err(e)),
        }
        Ok(S3Response::new(dto::CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let decoded = req.extensions.get::<crate::chunked::Trailers>().cloned();
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        let upload = self.upload_of(&input.bucket, &input.key, &input.upload_id)?;
        check_part_number(input.part_number)?;
        let given = given_checksums(
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let written = self
            .receive(
                input.body,
                input.content_md5.as_deref(),
                given,
                input.checksum_algorithm.as_ref(),
                (&headers, trailing_headers.as_ref(), decoded.as_ref()),
            )
            .await?;
        let etag = format!("\"{}\"", hex(&written.md5));
        let part = PartRecord {
            number: u32::try_from(input.part_number).unwrap_or(0),
            blob: written.blob.clone(),
            size: written.size,
            etag: etag.clone(),
            modified_ms: now_ms(),
            meta: serde_json::to_string(&written.checksums).unwrap_or_default(),
        };
        match self.store.put_part(&upload.id, &part) {
            Ok(replaced) => self.blobs.remove(replaced),
            Err(e) => {
                self.blobs.remove([written.blob]);
                return Err(match e {
                    StoreError::Conflict(_) => no_such_upload(),
                    e => store_err(e),
                });
            }
        }
        let c = written.checksums;
        Ok(S3Response::new(dto::UploadPartOutput {
            e_tag: Some(dto_etag(&etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        let input = req.input;
        let upload = self.upload_of(&input.bucket, &input.key, &input.upload_id)?;
        check_part_number(input.part_number)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let source = self.object_or_404(&src_bucket, &src_key)?;
        let range = match input.copy_source_range.as_deref() {
            None => None,
            Some(r) => Some(dto::Range::parse(r).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "The x-amz-copy-source-range value must be of the form bytes=first-last"
                )
            })?),
        };
        // The range must lie within the source, first to last, both given.
        let size = source.size;
        if let Some(r) = &range {
            let within = matches!(r, dto::Range::Int { first, last: Some(last) }
                if first <= last && *last < size);
            if !within {
                return Err(s3_error!(
                    InvalidArgument,
                    "Range specified is not valid for source object of size: {size}"
                ));
            }
        }
        let (_, _, body) = self
            .open_object(&src_bucket, &src_key, source, range.as_ref())
            .await?;
        let written = self
            .blobs
            .write(body, MAX_PUT, &[])
            .await
            .map_err(write_error)?;
        let etag = format!("\"{}\"", hex(&written.md5));
        let modified = now_ms();
        let part = PartRecord {
            number: u32::try_from(input.part_number).unwrap_or(0),
            blob: written.blob.clone(),
            size: written.size,
            etag: etag.clone(),
            modified_ms: modified,
            meta: "{}".into(),
        };
        match self.store.put_part(&upload.id, &part) {
            Ok(replaced) => self.blobs.remove(replaced),
            Err(e) => {
                self.blobs.remove([written.blob]);
                return Err(match e {
                    StoreError::Conflict(_) => no_such_upload(),
                    e => store_err(e),
                });
            }
        }
        Ok(S3Response::new(dto::UploadPartCopyOutput {
            copy_part_result: Some(dto::CopyPartResult {
                e_tag: Some(dto_etag(&etag)),
                last_modified: Some(ts(modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let who = origin(&req);
        let input = req.input;
        let upload = self.upload_of(&input.bucket, &input.key, &input.upload_id)?;
        let bucket = self.bucket_or_404(&input.bucket)?;
        let asked = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let stored = self.store.parts(&upload.id).map_err(store_err)?;
        let mut chosen = Vec::with_capacity(asked.len());
        let mut previous = 0;
        for (i, p) in asked.iter().enumerate() {
            let number = p.part_number.unwrap_or(0);
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = number;
            let found = stored
                .iter()
                .find(|s| i64::from(s.number) == i64::from(number))
                .filter(|s| {
                    p.e_tag
                        .as_ref()
                        .is_none_or(|e| e.value() == etag_value(&s.etag))
                })
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found. The part may \
                         not have been uploaded, or the specified entity tag may not match \
                         the part's entity tag."
                    )
                })?;
            if i + 1 < asked.len() && found.size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size: part {} \
                     is {} bytes and every part but the last must be at least 5 MiB",
                    found.number,
                    found.size
                ));
            }
            chosen.push(found.clone());
        }
        let files: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let (blob, size) = self.blobs.concat(&files).await.map_err(write_error)?;
        // The multipart ETag: the MD5 of the parts' MD5s, and their count.
        let mut md5 = md5::Md5::new();
        for p in &chosen {
            use md5::Digest as _;
            md5.update(decode_hex(etag_value(&p.etag)));
        }
        use md5::Digest as _;
        let etag = format!("\"{}-{}\"", hex(&md5.finalize()), chosen.len());
        let mut meta = Meta::parse(&upload.meta);
        meta.parts = u32::try_from(chosen.len()).ok();
        let modified = now_ms();
        let object = ObjectRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: blob.clone(),
            size,
            etag: etag.clone(),
            modified_ms: modified,
            meta: meta.to_json(),
        };
        let events = notify::events_for(
            bucket.notification.as_deref(),
            &Happened {
                event: "ObjectCreated:CompleteMultipartUpload",
                bucket: &bucket.name,
                key: &object.key,
                object: Some((size, etag_value(&etag))),
                request_id: &who.request_id,
                source_ip: &who.ip,
                trace: who.trace.as_deref(),
            },
            &self.region,
            modified,
            &*self.notifier,
        );
        match self.store.complete_upload(&upload.id, &object, &events) {
            Ok((written, parts)) => {
                self.blobs.remove(written.replaced_blob);
                self.blobs.remove(parts);
                self.notifier.scheduled(&written.event_ids, modified);
            }
            Err(e) => {
                self.blobs.remove([blob]);
                return Err(match e {
                    StoreError::Conflict(_) => no_such_upload(),
                    e => store_err(e),
                });
            }
        }
        Ok(S3Response::new(dto::CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(dto_etag(&etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self.upload_of(&input.bucket, &input.key, &input.upload_id)?;
        match self.store.abort_upload(&upload.id).map_err(store_err)? {
            Some(parts) => self.blobs.remove(parts),
            None => return Err(no_such_upload()),
        }
        Ok(S3Response::new(dto::AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let input = req.input;
        let upload = self.upload_of(&input.bucket, &input.key, &input.upload_id)?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let marker = input
            .part_number_marker
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let all: Vec<PartRecord> = self
            .store
            .parts(&upload.id)
            .map_err(store_err)?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = all.len() > max;
        let parts: Vec<PartRecord> = all.into_iter().take(max).collect();
        let next = parts.last().and_then(|p| i32::try_from(p.number).ok());
        Ok(S3Response::new(dto::ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            is_truncated: Some(truncated),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next.filter(|_| truncated),
            owner: Some(owner()),
            storage_class: Some(dto::StorageClass::from("STANDARD".to_string())),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let c: Checksums = serde_json::from_str(&p.meta).unwrap_or_default();
                        dto::Part {
                            e_tag: Some(dto_etag(&p.etag)),
                            last_modified: Some(ts(p.modified_ms)),
                            part_number: i32::try_from(p.number).ok(),
                            size: i64::try_from(p.size).ok(),
                            checksum_crc32: c.crc32,
                            checksum_crc32c: c.crc32c,
                            checksum_crc64nvme: c.crc64nvme,
                            checksum_sha1: c.sha1,
                            checksum_sha256: c.sha256,
                        }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket_or_404(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let all: Vec<UploadRecord> = self
            .store
            .list_uploads(&input.bucket, &prefix)
            .map_err(store_err)?
            .into_iter()
            .filter(|u| key_marker.is_empty() || u.key > key_marker)
            .collect();
        let truncated = all.len() > max;
        let uploads: Vec<UploadRecord> = all.into_iter().take(max).collect();
        let last = uploads.last().cloned();
        Ok(S3Response::new(dto::ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: last.as_ref().filter(|_| truncated).map(|u| u.key.clone()),
            next_upload_id_marker: last.filter(|_| truncated).map(|u| u.id),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| dto::MultipartUpload {
                        initiated: Some(ts(u.created_ms)),
                        key: Some(u.key),
                        upload_id: Some(u.id),
                        owner: Some(owner()),
                        storage_class: Some(dto::StorageClass::from("STANDARD".to_string())),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<dto::PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.bucket_or_404(&input.bucket)?;
        let config = notify::Config::from_dto(input.notification_configuration, &*self.notifier)?;
        let json = (!config.lambdas.is_empty())
            .then(|| serde_json::to_string(&config).unwrap_or_default());
        if !self
            .store
            .set_notification(&input.bucket, json.as_deref())
            .map_err(store_err)?
        {
            return Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            ));
        }
        Ok(S3Response::new(
            dto::PutBucketNotificationConfigurationOutput::default(),
        ))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<dto::GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<dto::GetBucketNotificationConfigurationOutput>> {
        let b = self.bucket_or_404(&req.input.bucket)?;
        let config: notify::Config = b
            .notification
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        Ok(S3Response::new(config.to_dto()))
    }
}

impl Buckets {
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        delimiter: Option<&str>,
        max: usize,
    ) -> S3Result<listing::Page> {
        listing::list(
            |from, limit| self.store.list_objects(bucket, prefix, from, limit),
            prefix,
            after,
            delimiter,
            max,
        )
        .map_err(store_err)
    }

    fn upload_of(&self, bucket: &str, key: &str, id: &str) -> S3Result<UploadRecord> {
        self.bucket_or_404(bucket)?;
        self.store
            .upload(id)
            .map_err(store_err)?
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(no_such_upload)
    }
}

/// The names S3 reserves beyond its syntax rules (which s3s checks).
fn check_bucket_name(name: &str) -> S3Result<()> {
    const PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if name == "gust" {
        return Err(s3_error!(
            InvalidBucketName,
            "The bucket name gust is reserved: gust's own API lives at /gust/ on this address"
        ));
    }
    // Each dot-separated label must start and end with a letter or digit (as DNS
    // names do): `foo.-bar`, `foo-.bar` and `a..b` are refused.
    if name
        .split('.')
        .any(|label| label.is_empty() || label.starts_with('-') || label.ends_with('-'))
    {
        return Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid: {name} has a label that is empty or starts \
             or ends with a hyphen next to a period"
        ));
    }
    if PREFIXES.iter().any(|p| name.starts_with(p)) || SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid: {name} uses a prefix or suffix S3 reserves"
        ));
    }
    Ok(())
}

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload \
         may have been aborted or completed."
    )
}

fn check_part_number(n: i32) -> S3Result<()> {
    if !(1..=MAX_PART_NUMBER).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    Ok(())
}

/// `If-Match`, `If-Unmodified-Since` (412) and `If-None-Match`,
/// `If-Modified-Since` (304), with S3's precedence.
fn check_conditions(
    object: &ObjectRecord,
    if_match: Option<&dto::ETagCondition>,
    if_none_match: Option<&dto::ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = secs(object.modified_ms);
    let precondition = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    match (if_match, if_unmodified_since) {
        (Some(m), _) if !etag_matches(m, &object.etag) => return Err(precondition()),
        (None, Some(t)) if modified > secs(ms_of(t)) => return Err(precondition()),
        _ => {}
    }
    match (if_none_match, if_modified_since) {
        (Some(m), _) if etag_matches(m, &object.etag) => Err(not_modified(object)),
        (None, Some(t)) if modified <= secs(ms_of(t)) => Err(not_modified(object)),
        _ => Ok(()),
    }
}

/// 304 Not Modified, with the ETag and Last-Modified a cache revalidates with
/// (RFC 9110 §15.4.5: a 304 carries the validators the 200 would have).
fn not_modified(object: &ObjectRecord) -> s3s::S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&object.etag) {
        headers.insert(http::header::ETAG, v);
    }
    let modified = time::OffsetDateTime::from_unix_timestamp(object.modified_ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .map(|t| t.replace("+0000", "GMT"));
    if let Some(v) = modified.and_then(|t| http::HeaderValue::from_str(&t).ok()) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
