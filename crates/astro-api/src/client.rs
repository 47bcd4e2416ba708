//! The HTTP client: base URL, authentication, retries and error decoding for every API call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use crate::error::{ApiError, Error, Subject};
use crate::retry::{
    is_retryable, parse_retry_after, with_retries, AttemptError, Idempotency, RetryPolicy,
};
use crate::token::ApiToken;

/// Where Astro's public API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.astronomer.io";

const USER_AGENT_VALUE: &str = concat!("astro-deploy/", env!("CARGO_PKG_VERSION"));

/// Everything needed to talk to one Astro organization.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme and host (and an optional path prefix) under which `/platform/v1beta1` and
    /// `/iam/v1beta1` are served.
    pub base_url: String,
    pub token: ApiToken,
    /// Taken from the token's `org_id` claim when not given.
    pub organization_id: Option<String>,
    pub retry: RetryPolicy,
    /// The longest a single request may take.
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(token: ApiToken) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token,
            organization_id: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A client of one Astro organization. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    organization_id: String,
    retry: RetryPolicy,
}

/// Which of Astro's APIs a call goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Api {
    Platform,
    Iam,
}

/// One API call, described before it is sent.
pub(crate) struct Call {
    pub method: Method,
    pub api: Api,
    /// The path below the API's version prefix, starting with `/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub operation: String,
    pub subject: Subject,
    pub idempotency: Idempotency,
}

impl Call {
    pub fn new(method: Method, path: String, operation: String, subject: Subject) -> Self {
        let idempotency = if method == Method::POST {
            Idempotency::Unsafe
        } else {
            Idempotency::Safe
        };
        Self {
            method,
            api: Api::Platform,
            path,
            query: Vec::new(),
            body: None,
            operation,
            subject,
            idempotency,
        }
    }

    pub fn body(mut self, body: &impl serde::Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).expect("request bodies serialize to JSON"));
        self
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// Marks a POST that ends in the same state however often it is repeated.
    pub fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Safe;
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    request_id: Option<String>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = parse_base_url(&config.base_url)?;
        let organization_id = match config.organization_id.filter(|id| !id.trim().is_empty()) {
            Some(id) => id.trim().to_owned(),
            None => config
                .token
                .claims()?
                .organization_id
                .ok_or(Error::MissingOrganization)?,
        };

        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| crate::TokenError::Malformed("it holds characters a header cannot"))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));

        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.timeout)
            .build()
            .map_err(Error::HttpClient)?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                organization_id,
                retry: config.retry,
            }),
        })
    }

    pub fn organization_id(&self) -> &str {
        &self.inner.organization_id
    }

    /// The base URL the client talks to, without the API version prefixes.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let (url, bytes) = self.execute(&call).await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            operation: call.operation,
            url,
            source,
        })
    }

    pub(crate) async fn send_without_answer(&self, call: Call) -> Result<(), Error> {
        self.execute(&call).await.map(|_| ())
    }

    async fn execute(&self, call: &Call) -> Result<(String, bytes::Bytes), Error> {
        let url = self.url_for(call);
        let policy = &self.inner.retry;
        let may_retry = |failure, attempts, started: Instant| {
            is_retryable(failure, call.idempotency)
                && attempts < policy.max_attempts
                && started.elapsed() < policy.max_elapsed
        };
        let bytes = with_retries(&call.operation, &url, policy, may_retry, || {
            self.attempt(call, &url)
        })
        .await?;
        Ok((url, bytes))
    }

    async fn attempt(&self, call: &Call, url: &str) -> Result<bytes::Bytes, AttemptError> {
        let mut request = self.inner.http.request(call.method.clone(), url);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }

        tracing::debug!(method = %call.method, url, "calling the Astro API");
        let response = request.send().await.map_err(AttemptError::Transport)?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let bytes = response.bytes().await.map_err(AttemptError::Transport)?;
        tracing::debug!(method = %call.method, url, status = status.as_u16(), "answered");

        if status.is_success() {
            return Ok(bytes);
        }
        Err(AttemptError::Status {
            status: status.as_u16(),
            retry_after,
            error: self.api_error(call, status, &bytes),
        })
    }

    fn api_error(&self, call: &Call, status: StatusCode, body: &[u8]) -> Error {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let message = parsed
            .as_ref()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        Error::Api(ApiError {
            operation: call.operation.clone(),
            status: status.as_u16(),
            message: message.trim().to_owned(),
            request_id: parsed.and_then(|b| b.request_id),
            organization_id: self.inner.organization_id.clone(),
            subject: call.subject,
        })
    }

    fn url_for(&self, call: &Call) -> String {
        let prefix = match call.api {
            Api::Platform => "platform/v1beta1",
            Api::Iam => "iam/v1beta1",
        };
        let base = self.inner.base.as_str().trim_end_matches('/');
        format!("{base}/{prefix}{}", call.path)
    }
}

fn parse_base_url(raw: &str) -> Result<Url, Error> {
    let invalid = || Error::InvalidBaseUrl {
        url: raw.to_owned(),
    };
    let url = Url::parse(raw.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url)
}

/// Escapes one path segment, so that ids with odd characters cannot change the path.
pub(crate) fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_http() {
        assert!(parse_base_url("https://api.astronomer.io").is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080/").is_ok());
        assert!(parse_base_url("api.astronomer.io").is_err());
        assert!(parse_base_url("ftp://x").is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("cl123"), "cl123");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
