//! Uploads to Azure Blob Storage through a SAS URL, as Astro's `dagsUploadUrl` expects.
//!
//! Small files go as one Put Blob. Larger ones go as blocks (Put Block), several at a time, then
//! one Put Block List commits them; memory use is bounded by block size times concurrency,
//! whatever the file size. Every step is safe to repeat, so each is retried on throttling
//! (after the `Retry-After` the store asks for), server errors and broken connections. The SAS
//! query string is a credential: it never appears in logs or errors.
//!
//! The blob's version comes from the `x-ms-version-id` header, which storage accounts with blob
//! versioning (as Astro's are) send. Stores without versioning send none, and the upload
//! reports `None`: the caller decides what that means.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, ETAG};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use url::Url;

use crate::retry::{is_retryable, parse_retry_after, Failure, Idempotency, RetryPolicy};

/// The storage service version the requests are written for.
const STORAGE_VERSION: &str = "2021-08-06";

/// How uploads are split and paced.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Files smaller than this go in one request.
    pub single_put_limit: u64,
    pub block_size: u64,
    /// Blocks in flight at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// The longest one request may take.
    pub timeout: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            single_put_limit: 1024 * 1024,
            block_size: 4 * 1024 * 1024,
            concurrency: 4,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(300),
        }
    }
}

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReceipt {
    /// The blob's version (`x-ms-version-id`), when the store keeps versions.
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub bytes: u64,
    /// 0 when the file went in one request.
    pub blocks: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the upload URL `{url}` is not a valid URL")]
    InvalidUrl { url: String },

    #[error("reading `{path}` for upload")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{operation} to `{url}`: storage answered {status}{}", code_suffix(.code, .message))]
    Status {
        operation: &'static str,
        url: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },

    #[error("{operation} to `{url}`: the request failed ({attempts} attempts)")]
    Transport {
        operation: &'static str,
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    #[error("building the HTTP client for uploads")]
    HttpClient(#[source] reqwest::Error),
}

impl BlobError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            BlobError::Status { status: 403, .. } => Some(
                "the upload URL was refused: it may have expired or been altered; start a new \
                 deploy to get a fresh one",
            ),
            BlobError::Status { status: 404, .. } => {
                Some("the upload container does not exist; start a new deploy")
            }
            BlobError::Transport { .. } => Some("check the network to the storage endpoint"),
            _ => None,
        }
    }
}

fn code_suffix(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" {code}: {message}"),
        (Some(code), None) => format!(" {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    }
}

/// Uploads files to SAS URLs.
#[derive(Clone)]
pub struct BlobUploader {
    http: reqwest::Client,
    options: UploadOptions,
}

impl BlobUploader {
    pub fn new(options: UploadOptions) -> Result<Self, BlobError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("astro-deploy/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(options.timeout)
            .build()
            .map_err(BlobError::HttpClient)?;
        Ok(Self { http, options })
    }

    /// Uploads the file at `path` as the blob at `sas_url`, reporting bytes sent so far.
    pub async fn upload_file(
        &self,
        sas_url: &str,
        path: &Path,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<UploadReceipt, BlobError> {
        let url = Url::parse(sas_url).map_err(|_| BlobError::InvalidUrl {
            url: redact(sas_url),
        })?;
        let read_error = |source| BlobError::Read {
            path: path.display().to_string(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();

        if size < self.options.single_put_limit {
            let body = tokio::fs::read(path).await.map_err(read_error)?;
            let receipt = self.put_blob(&url, body.into()).await?;
            on_progress(size);
            return Ok(receipt);
        }
        self.put_in_blocks(&url, path, size, on_progress).await
    }

    async fn put_blob(&self, url: &Url, body: bytes::Bytes) -> Result<UploadReceipt, BlobError> {
        let bytes = body.len() as u64;
        let headers = self
            .send(
                "uploading the bundle",
                url.clone(),
                body,
                &[("x-ms-blob-type", "BlockBlob")],
            )
            .await?;
        Ok(receipt_from(&headers, bytes, 0))
    }

    async fn put_in_blocks(
        &self,
        url: &Url,
        path: &Path,
        size: u64,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<UploadReceipt, BlobError> {
        let block_size = self.options.block_size.max(1);
        let count = size.div_ceil(block_size) as usize;
        let ids: Vec<String> = (0..count).map(block_id).collect();
        let sent = AtomicU64::new(0);
        tracing::debug!(blocks = count, size, "uploading the bundle in blocks");

        futures::stream::iter(ids.iter().enumerate())
            .map(|(index, id)| {
                let sent = &sent;
                async move {
                    let offset = index as u64 * block_size;
                    let length = block_size.min(size - offset);
                    let body = read_block(path, offset, length).await?;

                    let mut block_url = url.clone();
                    block_url
                        .query_pairs_mut()
                        .append_pair("comp", "block")
                        .append_pair("blockid", id);
                    self.send("uploading a bundle block", block_url, body, &[])
                        .await?;
                    on_progress(sent.fetch_add(length, Ordering::Relaxed) + length);
                    Ok::<_, BlobError>(())
                }
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect::<()>()
            .await?;

        let mut list_url = url.clone();
        list_url.query_pairs_mut().append_pair("comp", "blocklist");
        let headers = self
            .send(
                "committing the bundle blocks",
                list_url,
                block_list_xml(&ids).into(),
                &[],
            )
            .await?;
        Ok(receipt_from(&headers, size, count))
    }

    /// One idempotent PUT, retried within the policy's bounds.
    async fn send(
        &self,
        operation: &'static str,
        url: Url,
        body: bytes::Bytes,
        extra_headers: &[(&str, &str)],
    ) -> Result<HeaderMap, BlobError> {
        let policy = &self.options.retry;
        let started = Instant::now();
        let mut attempt = 0;

        loop {
            attempt += 1;
            let mut request = self
                .http
                .put(url.clone())
                .header("x-ms-version", STORAGE_VERSION)
                .header(CONTENT_LENGTH, body.len())
                .body(body.clone());
            for (name, value) in extra_headers {
                request = request.header(*name, *value);
            }

            let (failure, retry_after, error) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return Ok(response.headers().clone());
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = parse_retry_after(response.headers());
                    let error = status_error(operation, &url, response).await;
                    (Failure::Status(status), retry_after, error)
                }
                Err(source) => {
                    let failure = if source.is_connect() {
                        Failure::Connect
                    } else {
                        Failure::Transport
                    };
                    let url = redact(url.as_str());
                    // reqwest's error prints the whole URL, SAS signature included.
                    let source = source.without_url();
                    (
                        failure,
                        None,
                        BlobError::Transport {
                            operation,
                            url,
                            attempts: attempt,
                            source,
                        },
                    )
                }
            };

            let may_retry = is_retryable(failure, Idempotency::Safe)
                && attempt < policy.max_attempts
                && started.elapsed() < policy.max_elapsed;
            if !may_retry {
                return Err(error);
            }
            // Storage throttles with 503 ServerBusy and a Retry-After; waiting less only
            // earns another refusal.
            let delay = policy.delay(attempt, retry_after);
            tracing::warn!(
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying: {error}"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

async fn status_error(
    operation: &'static str,
    url: &Url,
    response: reqwest::Response,
) -> BlobError {
    let status = response.status().as_u16();
    let header_code = response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    BlobError::Status {
        operation,
        url: redact(url.as_str()),
        status,
        code: header_code.or_else(|| xml_element(&body, "Code")),
        message: xml_element(&body, "Message").map(|m| m.lines().next().unwrap_or("").to_owned()),
    }
}

async fn read_block(path: &Path, offset: u64, length: u64) -> Result<bytes::Bytes, BlobError> {
    let read_error = |source| BlobError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(read_error)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(read_error)?;

    let mut buffer = vec![0; length as usize];
    file.read_exact(&mut buffer).await.map_err(read_error)?;
    Ok(buffer.into())
}

fn receipt_from(headers: &HeaderMap, bytes: u64, blocks: usize) -> UploadReceipt {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    UploadReceipt {
        version_id: text("x-ms-version-id").filter(|v| !v.is_empty()),
        etag: headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        bytes,
        blocks,
    }
}

/// Block ids must all have the same length before encoding; a fixed-width counter gives that.
fn block_id(index: usize) -> String {
    STANDARD.encode(format!("block-{index:08}"))
}

fn block_list_xml(ids: &[String]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
    for id in ids {
        xml.push_str("<Latest>");
        xml.push_str(id);
        xml.push_str("</Latest>");
    }
    xml.push_str("</BlockList>");
    xml
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].trim().to_owned())
}

/// The URL without its query string, which carries the SAS signature.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<sas redacted>"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length() {
        let lengths: std::collections::HashSet<usize> = [0, 9, 10, 99_999]
            .iter()
            .map(|i| block_id(*i).len())
            .collect();
        assert_eq!(lengths.len(), 1);
    }

    #[test]
    fn the_block_list_names_every_block_in_order() {
        let xml = block_list_xml(&["YQ==".into(), "Yg==".into()]);
        assert!(xml.ends_with("<BlockList><Latest>YQ==</Latest><Latest>Yg==</Latest></BlockList>"));
    }

    #[test]
    fn sas_signatures_never_leave_in_urls() {
        assert_eq!(
            redact("https://x/c/b?sv=1&sig=SECRET"),
            "https://x/c/b?<sas redacted>"
        );
        let err = BlobError::Status {
            operation: "uploading the bundle",
            url: redact("https://x/c/b?sig=SECRET"),
            status: 403,
            code: Some("AuthenticationFailed".into()),
            message: None,
        };
        assert!(!err.to_string().contains("SECRET"));
        assert!(err.hint().unwrap().contains("expired"));
    }

    #[test]
    fn storage_error_bodies_are_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code>\
                    <Message>The specified blob does not exist.\nRequestId:1</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("BlobNotFound"));
    }
}
