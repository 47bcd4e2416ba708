//! Blobs: checking for them, mounting them from another repository, uploading them from memory
//! or from a file in chunks, and downloading them, always checking their digest.
//!
//! A file upload starts a session (POST), sends the file in chunks of at most `chunk_size`
//! (PATCH with `Content-Range`), and commits it (PUT `?digest=`); only the PUT's 201 makes it
//! a success. Memory stays bounded by one chunk. The file is hashed as it is read, each byte
//! once, and nothing is committed unless it hashes to the digest it was announced with.
//!
//! A chunk is never repeated blindly, since it may have been half written. After a failure the
//! upload asks the registry how far it got (GET on the session) and goes on from there; when
//! the registry cannot say (distribution 2.8 drops a session whose state moved on, and answers
//! `Range: 0-0` for both zero and one byte), it starts a new session from the first byte.
//! Downloads that break off start again from the first byte.
//
// Known shortcoming: a broken download restarts instead of resuming with a `Range` request;
// doing so would matter for multi-gigabyte layers on flaky networks.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use url::Url;

use crate::auth::Access;
use crate::client::{read_limited, Call, ReadError, RegistryClient};
use crate::digest::{Digest, Sha256Hasher};
use crate::error::Error;
use crate::reference::validate_repository;
use crate::retry::Attempts;

/// The largest blob [`RegistryClient::get_blob_bytes`] holds in memory.
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;

const OCTET_STREAM: &str = "application/octet-stream";
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// What the registry said after a chunk or a status query: where to send the next request
/// and how many bytes it holds.
struct Position {
    location: Url,
    offset: u64,
}

/// How a run of chunks ended, when it did not reach the end of the file.
enum Interrupted {
    /// Give up on this session and start a new one.
    Restart,
    Fail(Error),
}

impl RegistryClient {
    /// The blob's size when `repository` has it, `None` when it does not.
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, Error> {
        validate_repository(repository)?;
        self.head_blob(repository, digest, Access::Pull(repository.to_owned()))
            .await
    }

    /// `blob_exists` with the access of the caller's wider operation, so that one token serves
    /// a whole push.
    pub(crate) async fn head_blob(
        &self,
        repository: &str,
        digest: &Digest,
        access: Access,
    ) -> Result<Option<u64>, Error> {
        let operation = format!("checking for blob `{digest}`");
        let url = self.api_url(&format!("{repository}/blobs/{digest}"));
        let call = Call::new(
            Method::HEAD,
            url,
            repository,
            &operation,
            access,
            &[200, 404],
        );

        let response = self.send(&call).await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let size = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        Ok(Some(size.unwrap_or(0)))
    }

    /// Asks the registry to link `digest` from `from_repository` into `repository` without
    /// uploading it. `false` when it would not (the blob is not there, or the credentials may
    /// not read it); the upload session it opened instead is cancelled.
    pub async fn mount_blob(
        &self,
        repository: &str,
        digest: &Digest,
        from_repository: &str,
    ) -> Result<bool, Error> {
        validate_repository(repository)?;
        validate_repository(from_repository)?;
        let operation = format!("mounting blob `{digest}` from `{from_repository}`");
        let mut url = self.api_url(&format!("{repository}/blobs/uploads/"));
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from_repository);
        let access = Access::Mount {
            target: repository.to_owned(),
            from: from_repository.to_owned(),
        };
        let call = Call::new(
            Method::POST,
            url,
            repository,
            &operation,
            access,
            &[201, 202],
        );

        let response = self.send(&call).await?;
        if response.status().as_u16() == 201 {
            tracing::debug!(%digest, from_repository, repository, "mounted");
            return Ok(true);
        }
        if let Ok(location) = self.location(&call, &response) {
            self.cancel_upload(repository, location).await;
        }
        tracing::debug!(%digest, from_repository, repository, "the registry would not mount");
        Ok(false)
    }

    /// Uploads a small blob (a config, say) in one request, after checking its digest.
    pub async fn upload_blob_bytes(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), Error> {
        validate_repository(repository)?;
        let operation = format!("uploading blob `{digest}`");
        check_content(&operation, digest, &bytes)?;
        self.upload_in_one(repository, digest, bytes, &operation)
            .await
    }

    /// Uploads the file at `path` as blob `digest` of `size` bytes, in chunks of at most
    /// `chunk_size`, calling `on_progress` with the bytes the registry holds so far (which goes
    /// back to zero when an upload has to start over).
    pub async fn upload_blob_file(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), Error> {
        validate_repository(repository)?;
        check_verifiable(digest)?;
        let operation = format!("uploading blob `{digest}` from `{}`", path.display());
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(io_error("opening", path))?;
        let actual = file
            .metadata()
            .await
            .map_err(io_error("reading the size of", path))?
            .len();
        if actual != size {
            return Err(Error::SizeMismatch {
                operation,
                path: path.to_owned(),
                expected: size,
                actual,
            });
        }

        if size <= self.chunk_size() {
            let bytes = read_at(&mut file, path, 0, size).await?;
            check_content(&operation, digest, &bytes)?;
            self.upload_in_one(repository, digest, bytes, &operation)
                .await?;
            on_progress(size);
            return Ok(());
        }

        let mut upload = ChunkedUpload {
            client: self,
            repository,
            digest,
            size,
            path,
            file,
            hasher: Sha256Hasher::default(),
            high_water: 0,
            operation: &operation,
        };
        upload.run(on_progress).await
    }

    /// Downloads a blob into memory (at most [`MAX_BLOB_BYTES`]) and checks its digest.
    pub async fn get_blob_bytes(&self, repository: &str, digest: &Digest) -> Result<Bytes, Error> {
        validate_repository(repository)?;
        check_verifiable(digest)?;
        let operation = format!("downloading blob `{digest}`");
        let call = self.get_blob_call(repository, digest, &operation);
        let mut attempts = Attempts::new(&self.config().retry);

        loop {
            let response = self.send(&call).await?;
            let source = match read_limited(response, MAX_BLOB_BYTES as usize).await {
                Ok(bytes) => {
                    check_content(&operation, digest, &bytes)?;
                    return Ok(bytes);
                }
                Err(ReadError::TooLarge) => {
                    return Err(Error::TooLarge {
                        operation,
                        limit: MAX_BLOB_BYTES,
                    })
                }
                Err(ReadError::Transport(source)) => source,
            };
            let Some(delay) = attempts.failed(None) else {
                return Err(self.transport_error(&call, attempts.count(), source));
            };
            tracing::warn!(%digest, "the download broke off; starting it again");
            tokio::time::sleep(delay).await;
        }
    }

    /// Downloads a blob into the file at `path`, checking its digest; returns its size. The
    /// content goes to `<path>.partial` first, so `path` only ever holds a verified blob.
    pub async fn get_blob_to_file(
        &self,
        repository: &str,
        digest: &Digest,
        path: &Path,
    ) -> Result<u64, Error> {
        validate_repository(repository)?;
        check_verifiable(digest)?;
        let operation = format!("downloading blob `{digest}` to `{}`", path.display());
        let call = self.get_blob_call(repository, digest, &operation);
        let partial = partial_path(path);
        let mut attempts = Attempts::new(&self.config().retry);

        loop {
            let response = match self.send(&call).await {
                Ok(response) => response,
                Err(error) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(error);
                }
            };
            let source = match stream_to_file(response, &partial).await {
                Ok(Streamed::Complete(hasher)) => {
                    let size = hasher.len();
                    if let Err(error) = check_hash(&operation, digest, hasher) {
                        let _ = tokio::fs::remove_file(&partial).await;
                        return Err(error);
                    }
                    tokio::fs::rename(&partial, path)
                        .await
                        .map_err(io_error("moving the download into", path))?;
                    return Ok(size);
                }
                Ok(Streamed::BrokeOff(source)) => source,
                Err(error) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(error);
                }
            };
            let Some(delay) = attempts.failed(None) else {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(self.transport_error(&call, attempts.count(), source));
            };
            tracing::warn!(%digest, "the download broke off; starting it again");
            tokio::time::sleep(delay).await;
        }
    }

    fn get_blob_call<'a>(
        &self,
        repository: &'a str,
        digest: &Digest,
        operation: &'a str,
    ) -> Call<'a> {
        let url = self.api_url(&format!("{repository}/blobs/{digest}"));
        let access = Access::Pull(repository.to_owned());
        Call::new(Method::GET, url, repository, operation, access, &[200])
    }

    fn chunk_size(&self) -> u64 {
        self.config().chunk_size.max(1) as u64
    }

    /// POST then PUT with the whole blob; a failure starts a new session.
    async fn upload_in_one(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: Bytes,
        operation: &str,
    ) -> Result<(), Error> {
        let mut attempts = Attempts::new(&self.config().retry);
        loop {
            let location = self.start_upload(repository, operation).await?;
            let error = match self
                .finish_upload(repository, location, digest, bytes.clone(), operation)
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) if error.is_retryable() => error,
                Err(error) => return Err(error),
            };
            let Some(delay) = attempts.failed(error.retry_after()) else {
                return Err(error);
            };
            tracing::warn!(%digest, "starting the upload again after: {error}");
            tokio::time::sleep(delay).await;
        }
    }

    /// Opens an upload session and returns where to send its data.
    async fn start_upload(&self, repository: &str, operation: &str) -> Result<Url, Error> {
        let url = self.api_url(&format!("{repository}/blobs/uploads/"));
        let access = Access::Push(repository.to_owned());
        let call = Call::new(Method::POST, url, repository, operation, access, &[202]);
        let response = self.send(&call).await?;
        self.location(&call, &response)
    }

    /// Sends one chunk; never repeated here, since it may have been half written.
    async fn patch_chunk(
        &self,
        repository: &str,
        location: Url,
        offset: u64,
        chunk: Bytes,
        operation: &str,
    ) -> Result<Position, Error> {
        let end = offset + chunk.len() as u64;
        let range = HeaderValue::from_str(&format!("{offset}-{}", end - 1))
            .map_err(|_| self.protocol_error_for(repository, operation, "bad range"))?;
        let access = Access::Push(repository.to_owned());
        let call = Call::new(
            Method::PATCH,
            location,
            repository,
            operation,
            access,
            &[202],
        )
        .header(CONTENT_TYPE, OCTET_STREAM)
        .header_value(reqwest::header::CONTENT_RANGE, range)
        .body(chunk)
        .no_retry();

        let response = self.send(&call).await?;
        let location = self.location(&call, &response)?;
        // A registry that names no range took the whole chunk.
        let offset = match received(&response) {
            Some(received) if received > offset && received <= end => received,
            Some(_) => {
                return Err(self.protocol_error(&call, "its `Range` does not match the chunk"))
            }
            None => end,
        };
        Ok(Position { location, offset })
    }

    /// Asks how much of an upload the registry holds; `None` when it cannot say for sure.
    async fn upload_status(&self, repository: &str, location: Url) -> Option<Position> {
        let operation = "checking an upload";
        let access = Access::Push(repository.to_owned());
        let call = Call::new(Method::GET, location, repository, operation, access, &[204]);
        let response = self.send(&call).await.ok()?;
        let offset = received(&response)?;
        let location = self.location(&call, &response).ok()?;
        Some(Position { location, offset })
    }

    /// Commits an upload: PUT with `digest=`, and with the last data when there is some. Only
    /// 201 counts.
    async fn finish_upload(
        &self,
        repository: &str,
        mut location: Url,
        digest: &Digest,
        body: Bytes,
        operation: &str,
    ) -> Result<(), Error> {
        location
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let access = Access::Push(repository.to_owned());
        let call = Call::new(Method::PUT, location, repository, operation, access, &[201])
            .header(CONTENT_TYPE, OCTET_STREAM)
            .body(body)
            .no_retry();

        let response = self.send(&call).await?;
        let committed = response
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok());
        match committed {
            Some(committed) if committed != digest.as_str() => {
                Err(self.protocol_error(&call, &format!("it stored the blob as `{committed}`")))
            }
            _ => Ok(()),
        }
    }

    /// Drops an upload session that will not be finished; the registry would expire it anyway.
    async fn cancel_upload(&self, repository: &str, location: Url) {
        let operation = "cancelling an upload";
        let access = Access::Push(repository.to_owned());
        let call = Call::new(
            Method::DELETE,
            location,
            repository,
            operation,
            access,
            &[204],
        )
        .no_retry();
        if let Err(error) = self.send(&call).await {
            tracing::debug!("the upload session stays until the registry expires it: {error}");
        }
    }

    fn protocol_error_for(&self, repository: &str, operation: &str, reason: &str) -> Error {
        Error::Protocol {
            operation: operation.to_owned(),
            registry: self.host().to_owned(),
            repository: repository.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// One chunked upload of a file, across as many sessions as it takes.
struct ChunkedUpload<'a> {
    client: &'a RegistryClient,
    repository: &'a str,
    digest: &'a Digest,
    size: u64,
    path: &'a Path,
    file: tokio::fs::File,
    /// Hashes each byte of the file once, in order, however often it is sent.
    hasher: Sha256Hasher,
    /// The most the registry ever held. Only getting past it is progress: chunks sent again
    /// after a restart do not renew the retry budget, so a fault that repeats ends the upload.
    high_water: u64,
    operation: &'a str,
}

impl ChunkedUpload<'_> {
    async fn run(&mut self, on_progress: &(dyn Fn(u64) + Send + Sync)) -> Result<(), Error> {
        let retry = &self.client.config().retry;
        let mut attempts = Attempts::new(retry);
        tracing::debug!(digest = %self.digest, size = self.size, "uploading in chunks");

        loop {
            let location = self
                .client
                .start_upload(self.repository, self.operation)
                .await?;
            let location = match self.send_chunks(location, &mut attempts, on_progress).await {
                Ok(location) => location,
                Err((location, Interrupted::Restart)) => {
                    self.client.cancel_upload(self.repository, location).await;
                    continue;
                }
                Err((location, Interrupted::Fail(error))) => {
                    self.client.cancel_upload(self.repository, location).await;
                    return Err(error);
                }
            };

            if let Err(error) = check_hash(self.operation, self.digest, self.hasher.clone()) {
                self.client.cancel_upload(self.repository, location).await;
                return Err(error);
            }
            let error = match self
                .client
                .finish_upload(
                    self.repository,
                    location,
                    self.digest,
                    Bytes::new(),
                    self.operation,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) if error.is_retryable() => error,
                Err(error) => return Err(error),
            };
            let Some(delay) = attempts.failed(error.retry_after()) else {
                return Err(error);
            };
            tracing::warn!(digest = %self.digest, "starting the upload again after: {error}");
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends the file from the first byte through one session; returns the session's last
    /// location with the whole file in it.
    async fn send_chunks(
        &mut self,
        mut location: Url,
        attempts: &mut Attempts<'_>,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Url, (Url, Interrupted)> {
        let chunk_size = self.client.config().chunk_size.max(1) as u64;
        let mut offset = 0;

        while offset < self.size {
            let length = chunk_size.min(self.size - offset);
            let chunk = match read_at(&mut self.file, self.path, offset, length).await {
                Ok(chunk) => chunk,
                Err(error) => return Err((location, Interrupted::Fail(error))),
            };
            self.hash(offset, &chunk);

            let sent = self
                .client
                .patch_chunk(
                    self.repository,
                    location.clone(),
                    offset,
                    chunk,
                    self.operation,
                )
                .await;
            let error = match sent {
                Ok(position) => {
                    location = position.location;
                    offset = position.offset;
                    if offset > self.high_water {
                        self.high_water = offset;
                        attempts.succeeded();
                    }
                    on_progress(offset);
                    continue;
                }
                Err(error) if !error.is_retryable() => {
                    return Err((location, Interrupted::Fail(error)))
                }
                Err(error) => error,
            };

            let Some(delay) = attempts.failed(error.retry_after()) else {
                return Err((location, Interrupted::Fail(error)));
            };
            tracing::warn!(digest = %self.digest, offset, "a chunk failed: {error}");
            tokio::time::sleep(delay).await;

            match self
                .client
                .upload_status(self.repository, location.clone())
                .await
            {
                // Only what was read (and hashed) can have reached the registry.
                Some(position) if position.offset <= self.hasher.len() => {
                    tracing::debug!(offset = position.offset, "resuming the upload");
                    location = position.location;
                    offset = position.offset;
                    on_progress(offset);
                }
                _ => {
                    tracing::debug!(digest = %self.digest, "starting the upload again");
                    on_progress(0);
                    return Err((location, Interrupted::Restart));
                }
            }
        }
        Ok(location)
    }

    /// Feeds the part of `chunk` (read at `offset`) that has not been hashed yet.
    fn hash(&mut self, offset: u64, chunk: &[u8]) {
        let hashed = self.hasher.len();
        let end = offset + chunk.len() as u64;
        if offset <= hashed && end > hashed {
            let start = (hashed - offset) as usize;
            self.hasher.update(&chunk[start..]);
        }
    }
}

/// The bytes an upload holds after an answer's `Range: 0-<last>`. `0-0` is read as unknown:
/// distribution answers it for both an empty upload and one of a single byte.
fn received(response: &Response) -> Option<u64> {
    let range = response.headers().get("range")?.to_str().ok()?;
    let (start, last) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    let (start, last) = (start.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
    (start == 0 && last > 0).then_some(last + 1)
}

enum Streamed {
    Complete(Sha256Hasher),
    /// The connection broke; the partial file is to be overwritten by the next try.
    BrokeOff(reqwest::Error),
}

async fn stream_to_file(response: Response, path: &Path) -> Result<Streamed, Error> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(io_error("creating", path))?;
    let mut hasher = Sha256Hasher::default();
    let mut stream = response.bytes_stream();

    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(source) => return Ok(Streamed::BrokeOff(source)),
        };
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(io_error("writing", path))?;
    }
    file.flush().await.map_err(io_error("writing", path))?;
    file.sync_all().await.map_err(io_error("writing", path))?;
    Ok(Streamed::Complete(hasher))
}

async fn read_at(
    file: &mut tokio::fs::File,
    path: &Path,
    offset: u64,
    length: u64,
) -> Result<Bytes, Error> {
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io_error("reading", path))?;
    let mut buffer = vec![0; length as usize];
    file.read_exact(&mut buffer)
        .await
        .map_err(io_error("reading", path))?;
    Ok(buffer.into())
}

fn check_verifiable(digest: &Digest) -> Result<(), Error> {
    if digest.algorithm() == "sha256" {
        Ok(())
    } else {
        Err(Error::UnsupportedDigest {
            digest: digest.clone(),
        })
    }
}

pub(crate) fn check_content(operation: &str, digest: &Digest, bytes: &[u8]) -> Result<(), Error> {
    check_verifiable(digest)?;
    let mut hasher = Sha256Hasher::default();
    hasher.update(bytes);
    check_hash(operation, digest, hasher)
}

fn check_hash(operation: &str, expected: &Digest, hasher: Sha256Hasher) -> Result<(), Error> {
    let actual = hasher.finish();
    if &actual == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            operation: operation.to_owned(),
            expected: expected.clone(),
            actual,
        })
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

pub(crate) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_downloads_sit_next_to_their_target() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/layer.tar.gz")),
            PathBuf::from("/tmp/x/layer.tar.gz.partial")
        );
    }

    #[test]
    fn content_is_checked_against_its_digest() {
        let digest = Digest::sha256(b"config");
        assert!(check_content("checking", &digest, b"config").is_ok());

        let err = check_content("uploading blob `x`", &digest, b"other").unwrap_err();
        let message = err.to_string();
        assert!(message.contains(digest.as_str()), "{message}");
        assert!(
            message.contains(Digest::sha256(b"other").as_str()),
            "{message}"
        );
    }
}
