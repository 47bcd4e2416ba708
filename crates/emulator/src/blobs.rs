//! The blob endpoint behind `dagsUploadUrl`: enough of Azure Blob Storage to upload a bundle.
//!
//! A deploy's upload URL is `{base}/blobs/{deploymentId}/{deployId}/dags.tar.gz?sv=..&se=..
//! &sr=b&sp=rcw&sig=..`, a SAS-like URL: `sig` is an HMAC over the path, permissions, expiry
//! and version, keyed with a secret of the state. No Bearer token is involved. Served:
//!
//! - `PUT` with `x-ms-blob-type: BlockBlob`: the whole blob in one request;
//! - `PUT ?comp=block&blockid=<base64>`: one uncommitted block;
//! - `PUT ?comp=blocklist` with `<BlockList><Latest|Committed|Uncommitted>id</..></BlockList>`;
//! - `GET` (and `HEAD`): the committed bytes.
//!
//! Each commit answers a fresh `x-ms-version-id` (Azure's RFC 3339 time with seven fractional
//! digits), the version a finalize must name. Errors are Azure's XML `<Error>` bodies with
//! Azure's codes (`AuthenticationFailed`, `MissingRequiredHeader`, `InvalidBlockList`,
//! `BlobNotFound`, ...). Not served: other `comp` values (`GET ?comp=blocklist`, metadata,
//! leases), conditional headers, `Content-MD5` checks.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::Mac as _;
use time::OffsetDateTime;

use crate::blob_store::{block_key, committed_key};
use crate::faults::{self, Outcome};
use crate::platform::Query;
use crate::record::BlobRequest;
use crate::server::{lock, App};
use crate::state::{BlobMeta, CommittedBlob, CommittedBlock, State as EmulatorState};
use crate::{auth, clock, seed};

/// The storage service version the emulator claims to speak.
const SERVICE_VERSION: &str = "2023-11-03";

/// The one blob name a deploy has.
const BLOB_NAME: &str = "dags.tar.gz";

/// How long an upload URL stays valid.
const SAS_LIFETIME: time::Duration = time::Duration::hours(24);

pub(crate) fn routes() -> Router<App> {
    Router::new().route(
        "/blobs/{container}/{deploy}/{blob}",
        put(put_blob).get(get_blob),
    )
}

/// A signed upload URL for one deploy's bundle.
pub(crate) fn upload_url(
    state: &EmulatorState,
    deployment_id: &str,
    deploy_id: &str,
    now: OffsetDateTime,
) -> String {
    let path = format!("/blobs/{deployment_id}/{deploy_id}/{BLOB_NAME}");
    let expiry = clock::rfc3339(now + SAS_LIFETIME);
    let signature = sign(&state.data.keys.sas, &path, "rcw", &expiry);

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sv", SERVICE_VERSION)
        .append_pair("se", &expiry)
        .append_pair("sr", "b")
        .append_pair("sp", "rcw")
        .append_pair("sig", &signature)
        .finish();
    format!("{}{path}?{query}", state.settings.base_url)
}

fn string_to_sign(path: &str, permissions: &str, expiry: &str) -> String {
    format!("{permissions}\n{expiry}\n{path}\n{SERVICE_VERSION}\nb")
}

fn sign(secret: &str, path: &str, permissions: &str, expiry: &str) -> String {
    let mac = auth::hmac(secret, string_to_sign(path, permissions, expiry).as_bytes());
    mac.map(|mac| BASE64.encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Faults and the blob request log around every blob route.
pub(crate) async fn layer(State(app): State<App>, request: Request, next: Next) -> Response {
    let in_flight = InFlight::enter(&app);
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let comp = Query::parse(request.uri().query())
        .single("comp")
        .map(str::to_owned);

    let (response, outcome) = faults::apply(&app, request, next, |status, message| {
        let code = match status {
            500 => "InternalError",
            503 => "ServerBusy",
            _ => "InjectedFault",
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        AzureError::new(status, code, message).into_response()
    })
    .await;

    let status = if outcome == Outcome::Cut {
        0
    } else {
        response.status().as_u16()
    };
    let fault = outcome != Outcome::Served;
    lock(&app.blob_requests).push(BlobRequest {
        method,
        path,
        comp,
        status,
        fault,
        in_flight: in_flight.count,
    });
    response
}

/// Counts one blob request as being answered until it is dropped, also when the client gives
/// up on it halfway.
struct InFlight {
    app: App,
    count: u32,
}

impl InFlight {
    fn enter(app: &App) -> Self {
        let count = app.blobs_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            app: app.clone(),
            count,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.app.blobs_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An Azure Blob Storage error: status, code, message and an optional detail element.
#[derive(Debug)]
struct AzureError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<(&'static str, String)>,
}

impl AzureError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    fn with(mut self, element: &'static str, text: impl Into<String>) -> Self {
        self.detail = Some((element, text.into()));
        self
    }

    fn auth(detail: impl Into<String>) -> Self {
        let message = "Server failed to authenticate the request. Make sure the value of \
                       Authorization header is formed correctly including the signature.";
        Self::new(StatusCode::FORBIDDEN, "AuthenticationFailed", message)
            .with("AuthenticationErrorDetail", detail)
    }

    fn bad_query(name: &str, value: &str, reason: &str) -> Self {
        let message = "Value for one of the query parameters specified in the request URI is \
                       invalid.";
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            message,
        );
        error
            .message
            .push_str(&format!(" ({name}={value}: {reason})"));
        error.with("QueryParameterName", name)
    }

    fn container_missing() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        )
    }

    fn storage(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "the emulator could not store a blob");
        let message = format!("Server encountered an internal error: {error}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }
}

impl IntoResponse for AzureError {
    fn into_response(self) -> Response {
        let request_id = seed::new_id();
        let mut body = String::from(r#"<?xml version="1.0" encoding="utf-8"?><Error>"#);
        let _ = write!(
            body,
            "<Code>{}</Code><Message>{}",
            self.code,
            escape(&self.message)
        );
        let _ = write!(
            body,
            "\nRequestId:{request_id}\nTime:{}</Message>",
            clock::version_id(clock::now())
        );
        if let Some((element, text)) = &self.detail {
            let _ = write!(body, "<{element}>{}</{element}>", escape(text));
        }
        body.push_str("</Error>");

        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/xml"));
        insert(headers, "x-ms-error-code", self.code);
        insert(headers, "x-ms-request-id", &request_id);
        insert(headers, "x-ms-version", SERVICE_VERSION);
        response
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The blob a request names, once its SAS checked out.
struct Target {
    deploy_id: String,
}

/// Checks the SAS and that the deploy still exists.
fn authorize(
    state: &EmulatorState,
    (container, deploy_id, blob): &(String, String, String),
    query: &Query,
    needed: char,
) -> Result<Target, AzureError> {
    let field = |name: &str| query.single(name).unwrap_or_default().to_owned();
    let (permissions, expiry, signature) = (field("sp"), field("se"), field("sig"));
    if signature.is_empty() {
        return Err(AzureError::auth(
            "Signature fields not well formed: `sig` is missing.",
        ));
    }

    let path = format!("/blobs/{container}/{deploy_id}/{blob}");
    let expected = auth::hmac(
        &state.data.keys.sas,
        string_to_sign(&path, &permissions, &expiry).as_bytes(),
    );
    let given = BASE64.decode(&signature).unwrap_or_default();
    if field("sv") != SERVICE_VERSION
        || field("sr") != "b"
        || expected.is_none_or(|mac| mac.verify_slice(&given).is_err())
    {
        return Err(AzureError::auth(
            "Signature did not match. The URL must be the `dagsUploadUrl` of a deploy, unchanged.",
        ));
    }

    let expired = clock::parse_rfc3339(&expiry).is_none_or(|at| at <= clock::now());
    if expired {
        return Err(AzureError::auth(format!(
            "Signed expiry time [{expiry}] must be after the current time."
        )));
    }
    if !permissions.contains(needed) {
        return Err(AzureError::auth(format!(
            "This request needs the `{needed}` permission; `sp` is `{permissions}`."
        )));
    }

    let known = state
        .data
        .deploys
        .iter()
        .any(|deploy| deploy.id == *deploy_id && deploy.deployment_id == *container);
    if !known || blob != BLOB_NAME || !state.data.blobs.contains_key(deploy_id) {
        return Err(AzureError::container_missing());
    }
    Ok(Target {
        deploy_id: deploy_id.clone(),
    })
}

async fn put_blob(
    State(app): State<App>,
    Path(names): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::parse(raw.as_deref());
    let mut state = lock(&app.state);
    let result =
        authorize(&state, &names, &query, 'w').and_then(|target| match query.single("comp") {
            None => put_whole(&mut state, &target, &headers, &body),
            Some("block") => put_block(&mut state, &target, &query, &body),
            Some("blocklist") => put_block_list(&mut state, &target, &body),
            Some(other) => Err(AzureError::bad_query("comp", other, "not supported here")),
        });

    match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn put_whole(
    state: &mut EmulatorState,
    target: &Target,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AzureError> {
    let Some(kind) = headers.get("x-ms-blob-type") else {
        let message = "An HTTP header that's mandatory for this request is not specified.";
        return Err(
            AzureError::new(StatusCode::BAD_REQUEST, "MissingRequiredHeader", message)
                .with("HeaderName", "x-ms-blob-type"),
        );
    };
    if kind.as_bytes() != b"BlockBlob" {
        let message = "The value for one of the HTTP headers is not in the correct format.";
        let shown = String::from_utf8_lossy(kind.as_bytes()).into_owned();
        return Err(AzureError::new(
            StatusCode::BAD_REQUEST,
            "InvalidHeaderValue",
            format!("{message} (x-ms-blob-type: {shown}; only BlockBlob is supported)"),
        )
        .with("HeaderName", "x-ms-blob-type"));
    }

    let content_type = headers
        .get("x-ms-blob-content-type")
        .and_then(|value| value.to_str().ok());
    commit(
        state,
        target,
        body.to_vec(),
        Vec::new(),
        content_type.map(str::to_owned),
    )
}

/// Stores `bytes` as the committed blob, drops uncommitted blocks, answers 201.
fn commit(
    state: &mut EmulatorState,
    target: &Target,
    bytes: Vec<u8>,
    blocks: Vec<CommittedBlock>,
    content_type: Option<String>,
) -> Result<Response, AzureError> {
    let now = clock::now();
    state
        .blobs
        .put(&committed_key(&target.deploy_id), &bytes)
        .map_err(AzureError::storage)?;
    let version_id = state.next_version_id(now);

    let meta = state
        .data
        .blobs
        .entry(target.deploy_id.clone())
        .or_default();
    let dropped = std::mem::take(&mut meta.uncommitted);
    let committed = CommittedBlob {
        version_id: version_id.clone(),
        etag: format!("\"0x{:X}\"", now.unix_timestamp_nanos() / 100),
        last_modified: clock::http_date(now),
        size: bytes.len() as u64,
        content_type,
        blocks,
    };
    meta.versions.push(version_id.clone());
    meta.committed = Some(committed.clone());

    for id in dropped {
        let decoded = BASE64.decode(&id).unwrap_or_default();
        if let Err(error) = state.blobs.remove(&block_key(&target.deploy_id, &decoded)) {
            tracing::debug!(%error, "removing a committed block's file");
        }
    }
    state.save().map_err(AzureError::storage)?;

    tracing::debug!(deploy = %target.deploy_id, version = %version_id, "committed a DAG bundle");
    let mut response = created(now);
    let headers = response.headers_mut();
    insert(headers, "etag", &committed.etag);
    insert(headers, "last-modified", &committed.last_modified);
    insert(headers, "x-ms-version-id", &version_id);
    Ok(response)
}

/// A bare 201 with the headers every Azure write answers.
fn created(now: OffsetDateTime) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    insert(headers, "x-ms-request-id", &seed::new_id());
    insert(headers, "x-ms-version", SERVICE_VERSION);
    insert(headers, "x-ms-request-server-encrypted", "true");
    insert(headers, "date", &clock::http_date(now));
    response
}

fn put_block(
    state: &mut EmulatorState,
    target: &Target,
    query: &Query,
    body: &[u8],
) -> Result<Response, AzureError> {
    let Some(id) = query.single("blockid") else {
        let message = "A query parameter that's mandatory for this request is not specified.";
        return Err(AzureError::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            message,
        )
        .with("QueryParameterName", "blockid"));
    };
    let decoded = BASE64
        .decode(id)
        .map_err(|_| AzureError::bad_query("blockid", id, "not base64"))?;
    if decoded.is_empty() || decoded.len() > 64 {
        return Err(AzureError::bad_query(
            "blockid",
            id,
            "must decode to 1 to 64 bytes",
        ));
    }

    state
        .blobs
        .put(&block_key(&target.deploy_id, &decoded), body)
        .map_err(AzureError::storage)?;
    let meta = state
        .data
        .blobs
        .entry(target.deploy_id.clone())
        .or_default();
    meta.uncommitted.retain(|known| known != id);
    meta.uncommitted.push(id.to_owned());
    state.save().map_err(AzureError::storage)?;

    Ok(created(clock::now()))
}

/// Which list a block list entry looks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockSource {
    Latest,
    Committed,
    Uncommitted,
}

fn put_block_list(
    state: &mut EmulatorState,
    target: &Target,
    body: &[u8],
) -> Result<Response, AzureError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid_xml("the body is not UTF-8"))?;
    let entries = parse_block_list(text).map_err(invalid_xml)?;
    let meta = state
        .data
        .blobs
        .get(&target.deploy_id)
        .cloned()
        .unwrap_or_default();
    let committed_bytes = match &meta.committed {
        Some(_) => state
            .blobs
            .get(&committed_key(&target.deploy_id))
            .map_err(AzureError::storage)?,
        None => None,
    };

    let mut bytes = Vec::new();
    let mut blocks = Vec::new();
    for (source, id) in entries {
        let block = resolve(
            state,
            target,
            &meta,
            committed_bytes.as_deref(),
            source,
            &id,
        )?;
        blocks.push(CommittedBlock {
            id,
            size: block.len() as u64,
        });
        bytes.extend_from_slice(&block);
    }

    let content_type = meta.committed.and_then(|blob| blob.content_type);
    commit(state, target, bytes, blocks, content_type)
}

fn invalid_xml(reason: &str) -> AzureError {
    let message = format!("XML specified is not syntactically valid: {reason}");
    AzureError::new(StatusCode::BAD_REQUEST, "InvalidXmlDocument", message)
}

/// The bytes of one block list entry, from the uncommitted blocks or the committed blob.
fn resolve(
    state: &EmulatorState,
    target: &Target,
    meta: &BlobMeta,
    committed: Option<&[u8]>,
    source: BlockSource,
    id: &str,
) -> Result<Vec<u8>, AzureError> {
    let uncommitted = meta.uncommitted.iter().any(|known| known == id);
    if source == BlockSource::Uncommitted || (source == BlockSource::Latest && uncommitted) {
        let stored = match (uncommitted, BASE64.decode(id)) {
            (true, Ok(decoded)) => state
                .blobs
                .get(&block_key(&target.deploy_id, &decoded))
                .map_err(AzureError::storage)?,
            _ => None,
        };
        return stored.ok_or_else(|| unknown_block(id));
    }

    let mut offset = 0_usize;
    let blocks = meta.committed.iter().flat_map(|blob| blob.blocks.iter());
    for block in blocks {
        let end = offset + block.size as usize;
        if block.id == id {
            return committed
                .and_then(|bytes| bytes.get(offset..end))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| unknown_block(id));
        }
        offset = end;
    }
    Err(unknown_block(id))
}

fn unknown_block(id: &str) -> AzureError {
    AzureError::new(
        StatusCode::BAD_REQUEST,
        "InvalidBlockList",
        "The specified block list is invalid.",
    )
    .with("BlockId", id)
}

/// Reads `<BlockList><Latest>id</Latest>...</BlockList>` (after an optional XML declaration).
fn parse_block_list(xml: &str) -> Result<Vec<(BlockSource, String)>, &'static str> {
    let start = xml.find("<BlockList>").ok_or("no <BlockList> element")?;
    let end = xml.rfind("</BlockList>").ok_or("no </BlockList> end tag")?;
    let mut rest = xml
        .get(start + "<BlockList>".len()..end)
        .ok_or("a malformed <BlockList>")?;

    let mut entries = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(entries);
        }
        let open = rest
            .strip_prefix('<')
            .ok_or("text outside of a block entry")?;
        let (name, after) = open.split_once('>').ok_or("an unclosed tag")?;
        let source = match name {
            "Latest" => BlockSource::Latest,
            "Committed" => BlockSource::Committed,
            "Uncommitted" => BlockSource::Uncommitted,
            _ => return Err("an entry other than <Latest>, <Committed> or <Uncommitted>"),
        };
        let close = format!("</{name}>");
        let (id, after) = after
            .split_once(close.as_str())
            .ok_or("an entry without its end tag")?;

        entries.push((source, id.trim().to_owned()));
        rest = after;
    }
}

async fn get_blob(
    State(app): State<App>,
    Path(names): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw.as_deref());
    let state = lock(&app.state);
    let result = authorize(&state, &names, &query, 'r').and_then(|target| {
        if let Some(comp) = query.single("comp") {
            return Err(AzureError::bad_query("comp", comp, "not supported here"));
        }
        read_blob(&state, &target)
    });

    match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn read_blob(state: &EmulatorState, target: &Target) -> Result<Response, AzureError> {
    let meta = state.data.blobs.get(&target.deploy_id);
    let committed = meta.and_then(|meta| meta.committed.clone());
    let bytes = match &committed {
        Some(_) => state
            .blobs
            .get(&committed_key(&target.deploy_id))
            .map_err(AzureError::storage)?,
        None => None,
    };
    let (Some(blob), Some(bytes)) = (committed, bytes) else {
        return Err(AzureError::new(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        ));
    };

    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    let content_type = blob
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    insert(headers, "content-type", content_type);
    insert(headers, "etag", &blob.etag);
    insert(headers, "last-modified", &blob.last_modified);
    insert(headers, "x-ms-blob-type", "BlockBlob");
    insert(headers, "x-ms-version-id", &blob.version_id);
    insert(headers, "x-ms-is-current-version", "true");
    insert(headers, "x-ms-request-id", &seed::new_id());
    insert(headers, "x-ms-version", SERVICE_VERSION);
    Ok(response)
}

/// The committed bundle of a deploy, for [`crate::RunningEmulator::blob`].
pub(crate) fn committed(state: &EmulatorState, deploy_id: &str) -> Option<Vec<u8>> {
    state.data.blobs.get(deploy_id)?.committed.as_ref()?;
    state.blobs.get(&committed_key(deploy_id)).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_parse_in_every_form() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
            <BlockList>
              <Latest>AAAA</Latest>
              <Committed> AAAB </Committed>
              <Uncommitted>AAAC</Uncommitted>
            </BlockList>"#;

        let entries = parse_block_list(xml).expect("a valid block list");

        assert_eq!(
            entries,
            vec![
                (BlockSource::Latest, "AAAA".to_owned()),
                (BlockSource::Committed, "AAAB".to_owned()),
                (BlockSource::Uncommitted, "AAAC".to_owned()),
            ]
        );
        assert!(parse_block_list("<BlockList><Foo>x</Foo></BlockList>").is_err());
        assert!(parse_block_list("<Blocks/>").is_err());
    }
}
