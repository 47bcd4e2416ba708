//! The HTTP side of the client: one registry's base URL, authentication, retries and error
//! decoding, shared by every blob and manifest operation.
//!
//! A request is described once (a [`Call`]) and sent by [`RegistryClient::send`], which adds
//! authorization, answers a 401 challenge once, retries what is safe to retry within the
//! policy, and turns any status the operation does not expect into an [`Error`] that carries
//! the registry's own error codes.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER, USER_AGENT,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::auth::{bearer_header, Access, AuthState, Challenge, Credentials, Scheme, TokenAnswer};
use crate::error::{Error, ErrorDetail, RegistryError};
use crate::reference::{check_host, DOCKER_HUB};
use crate::retry::{Attempts, RetryPolicy};

const USER_AGENT_VALUE: &str = concat!("astro-deploy/", env!("CARGO_PKG_VERSION"));

/// Where Docker Hub's API answers; references name it `docker.io`.
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// How much of an error body is read, and how much of a non-JSON one is quoted.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
const ERROR_EXCERPT: usize = 200;

/// Everything needed to talk to one registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The registry host as image references name it, with its port:
    /// `images.astronomer.cloud`, `127.0.0.1:5000`.
    pub host: String,
    pub credentials: Option<Credentials>,
    /// Speak http instead of https. [`RegistryConfig::new`] turns it on for loopback hosts.
    pub plain_http: bool,
    pub retry: RetryPolicy,
    /// Blob uploads send at most this much per request, which bounds their memory use.
    pub chunk_size: usize,
    /// Layers [`crate::push_image`] pushes at once.
    pub parallel_layers: usize,
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of an answer; a stalled transfer fails after it.
    pub read_timeout: Duration,
}

impl RegistryConfig {
    /// Defaults for `host`: https, except plain http for `localhost`, `127.0.0.1` and `[::1]`;
    /// 8 MiB chunks; three layers at once.
    pub fn new(host: impl Into<String>) -> Self {
        let host = host.into();
        Self {
            plain_http: is_loopback(&host),
            host,
            credentials: None,
            retry: crate::retry::default_policy(),
            chunk_size: 8 * 1024 * 1024,
            parallel_layers: 3,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// A client of one registry. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: RegistryConfig,
    base: Url,
    auth: Mutex<AuthState>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.inner.base.as_str())
            .field(
                "username",
                &self.inner.config.credentials.as_ref().map(|c| &c.username),
            )
            .finish_non_exhaustive()
    }
}

/// One registry request, described before it is sent.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub repository: &'a str,
    pub operation: &'a str,
    pub access: Access,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    /// Statuses handed back to the caller; any other is an error.
    pub expect: &'static [u16],
    /// Whether `send` may repeat the request. Uploads of data recover on their own instead.
    pub retry: bool,
}

impl<'a> Call<'a> {
    pub fn new(
        method: Method,
        url: Url,
        repository: &'a str,
        operation: &'a str,
        access: Access,
        expect: &'static [u16],
    ) -> Self {
        Self {
            method,
            url,
            repository,
            operation,
            access,
            headers: Vec::new(),
            body: None,
            expect,
            retry: true,
        }
    }

    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    pub fn header_value(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self
    }

    pub fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

impl RegistryClient {
    pub fn new(config: RegistryConfig) -> Result<Self, Error> {
        let host = config.host.trim().to_ascii_lowercase();
        check_host(&host).map_err(|reason| Error::InvalidHost {
            host: config.host.clone(),
            reason,
        })?;
        let endpoint = if host == DOCKER_HUB || host == "index.docker.io" {
            DOCKER_HUB_ENDPOINT
        } else {
            &host
        };
        let scheme = if config.plain_http { "http" } else { "https" };
        let base =
            Url::parse(&format!("{scheme}://{endpoint}/")).map_err(|_| Error::InvalidHost {
                host: config.host.clone(),
                reason: "it does not make a URL",
            })?;

        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(Error::HttpClient)?;

        tracing::debug!(registry = %host, base = %base, "registry client ready");
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config: RegistryConfig { host, ..config },
                base,
                auth: Mutex::new(AuthState::new()),
            }),
        })
    }

    /// The registry host, lowercase, as image references name it.
    pub fn host(&self) -> &str {
        &self.inner.config.host
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// `<base>/v2/<path>`.
    pub(crate) fn api_url(&self, path: &str) -> Url {
        let mut url = self.inner.base.clone();
        url.set_path(&format!("/v2/{path}"));
        url
    }

    /// The URL in a `Location` header, which may be relative to the request's.
    pub(crate) fn location(&self, call: &Call<'_>, response: &Response) -> Result<Url, Error> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol_error(call, "the answer has no `Location` header"))?;
        call.url
            .join(location)
            .map_err(|_| self.protocol_error(call, "its `Location` header is not a URL"))
    }

    pub(crate) fn protocol_error(&self, call: &Call<'_>, reason: &str) -> Error {
        Error::Protocol {
            operation: call.operation.to_owned(),
            registry: self.host().to_owned(),
            repository: call.repository.to_owned(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn transport_error(
        &self,
        call: &Call<'_>,
        attempts: u32,
        source: reqwest::Error,
    ) -> Error {
        Error::Transport {
            operation: call.operation.to_owned(),
            registry: self.host().to_owned(),
            repository: call.repository.to_owned(),
            attempts,
            source: source.without_url(),
        }
    }

    /// Sends `call` and returns the answer when its status is one the call expects.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Response, Error> {
        let mut attempts = Attempts::new(&self.inner.config.retry);
        let mut answered_challenge = false;
        let mut authorization = self.authorization(call).await?;

        loop {
            tracing::debug!(method = %call.method, path = call.url.path(), "registry request");
            let outcome = self.attempt(call, authorization.clone()).await;

            let error = match outcome {
                Ok(response) if call.expect.contains(&response.status().as_u16()) => {
                    return Ok(response);
                }
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED && !answered_challenge =>
                {
                    answered_challenge = true;
                    match self
                        .answer_challenge(call, &response, authorization.is_some())
                        .await?
                    {
                        Some(renewed) => {
                            authorization = Some(renewed);
                            continue;
                        }
                        None => self.status_error(call, response).await,
                    }
                }
                Ok(response) => self.status_error(call, response).await,
                Err(source) => self.transport_error(call, attempts.count(), source),
            };

            if !call.retry || !error.is_retryable() {
                return Err(error);
            }
            let Some(delay) = attempts.failed(error.retry_after()) else {
                return Err(error);
            };
            tracing::warn!(
                operation = call.operation,
                delay_ms = delay.as_millis() as u64,
                "retrying after: {error}"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        authorization: Option<HeaderValue>,
    ) -> Result<Response, reqwest::Error> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone());
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(value) = authorization.filter(|_| self.same_origin(&call.url)) {
            request = request.header(AUTHORIZATION, value);
        }
        match &call.body {
            Some(body) => request = request.body(body.clone()),
            None if call.method != Method::GET && call.method != Method::HEAD => {
                request = request.body(Bytes::new());
            }
            None => {}
        }
        request.send().await
    }

    /// Credentials only go to the registry itself, never to where a `Location` points elsewhere.
    fn same_origin(&self, url: &Url) -> bool {
        let base = &self.inner.base;
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    }

    /// The `Authorization` to send first: none until the registry has asked, then Basic or a
    /// token for the call's scopes (fetched now if none is cached).
    async fn authorization(&self, call: &Call<'_>) -> Result<Option<HeaderValue>, Error> {
        let scheme = self.auth().scheme.clone();
        match scheme {
            Scheme::Anonymous => Ok(None),
            Scheme::Basic => Ok(self.basic()),
            Scheme::Bearer { realm, service } => {
                let scopes = call.access.scopes(None);
                let cached = self.auth().token(&scopes);
                let token = match cached {
                    Some(token) => token,
                    None => {
                        self.fetch_token(
                            &realm,
                            service.as_deref(),
                            &scopes,
                            &scopes,
                            call.repository,
                        )
                        .await?
                    }
                };
                Ok(bearer_header(&token))
            }
        }
    }

    /// Reads a 401's challenge and returns the authorization to try again with, or `None` when
    /// there is nothing new to try.
    async fn answer_challenge(
        &self,
        call: &Call<'_>,
        response: &Response,
        sent_authorization: bool,
    ) -> Result<Option<HeaderValue>, Error> {
        let values = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(challenge) = Challenge::from_headers(values) else {
            return Ok(None);
        };

        match challenge {
            Challenge::Basic => {
                let was_basic = matches!(self.auth().scheme, Scheme::Basic);
                if sent_authorization && was_basic {
                    return Ok(None);
                }
                tracing::debug!(registry = self.host(), "the registry asks for Basic auth");
                self.auth().scheme = Scheme::Basic;
                Ok(self.basic())
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                tracing::debug!(
                    registry = self.host(),
                    realm,
                    "the registry asks for a token"
                );
                let cache_scopes = call.access.scopes(None);
                let request_scopes = call.access.scopes(scope.as_deref());
                {
                    let mut auth = self.auth();
                    auth.forget(&cache_scopes);
                    auth.scheme = Scheme::Bearer {
                        realm: realm.clone(),
                        service: service.clone(),
                    };
                }
                let token = self
                    .fetch_token(
                        &realm,
                        service.as_deref(),
                        &request_scopes,
                        &cache_scopes,
                        call.repository,
                    )
                    .await?;
                Ok(bearer_header(&token))
            }
            Challenge::Other(scheme) => Err(Error::UnsupportedAuth {
                registry: self.host().to_owned(),
                scheme,
            }),
        }
    }

    fn basic(&self) -> Option<HeaderValue> {
        self.inner.config.credentials.as_ref()?.basic_header()
    }

    /// Trades the credentials (or nothing, for anonymous pulls) for a token at `realm`.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        cache_scopes: &[String],
        repository: &str,
    ) -> Result<crate::Secret, Error> {
        let unusable = |reason: &str| Error::TokenUnusable {
            registry: self.host().to_owned(),
            realm: realm.to_owned(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(realm).map_err(|_| unusable("the realm is not a URL"))?;
        let credentials = self.inner.config.credentials.as_ref();
        if credentials.is_some() && !self.may_send_credentials_to(&url) {
            return Err(Error::InsecureRealm {
                registry: self.host().to_owned(),
                realm: realm.to_owned(),
            });
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }

        tracing::debug!(realm, ?scopes, "fetching a registry token");
        let response = self.token_request(&url, credentials, repository).await?;
        let status = response.status();
        let body = read_limited(response, ERROR_BODY_LIMIT)
            .await
            .map_err(|_| unusable("its answer broke off"))?;
        if !status.is_success() {
            return Err(Error::TokenRefused {
                registry: self.host().to_owned(),
                realm: realm.to_owned(),
                status: status.as_u16(),
                message: self.scrub(&error_excerpt(&body)),
            });
        }

        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| unusable("its answer is not the JSON of a token"))?;
        let (token, lifetime) = answer
            .into_parts()
            .ok_or_else(|| unusable("its answer holds no token"))?;
        self.auth().store(cache_scopes, token.clone(), lifetime);
        Ok(token)
    }

    async fn token_request(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
        repository: &str,
    ) -> Result<Response, Error> {
        let mut attempts = Attempts::new(&self.inner.config.retry);
        loop {
            let mut request = self.inner.http.get(url.clone());
            if let Some(value) = credentials.and_then(Credentials::basic_header) {
                request = request.header(AUTHORIZATION, value);
            }
            let result = request.send().await;

            let retryable = match &result {
                Ok(response) => is_retryable_status(response.status()),
                Err(_) => true,
            };
            let delay = if retryable {
                attempts.failed(None)
            } else {
                None
            };
            match (result, delay) {
                (_, Some(delay)) => tokio::time::sleep(delay).await,
                (Ok(response), None) => return Ok(response),
                (Err(source), None) => {
                    return Err(Error::Transport {
                        operation: format!(
                            "getting a token from `{}`",
                            url.origin().ascii_serialization()
                        ),
                        registry: self.host().to_owned(),
                        repository: repository.to_owned(),
                        attempts: attempts.count(),
                        source: source.without_url(),
                    });
                }
            }
        }
    }

    /// https always; plain http only to loopback or when the registry itself is plain http.
    fn may_send_credentials_to(&self, realm: &Url) -> bool {
        match realm.scheme() {
            "https" => true,
            "http" => {
                self.inner.config.plain_http || realm.host_str().is_some_and(is_loopback_name)
            }
            _ => false,
        }
    }

    /// Turns an unexpected answer into an error with the registry's codes and messages.
    pub(crate) async fn status_error(&self, call: &Call<'_>, response: Response) -> Error {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_limited(response, ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default();

        #[derive(serde::Deserialize)]
        struct ErrorBody {
            #[serde(default)]
            errors: Vec<ErrorDetail>,
        }
        let mut errors = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.errors)
            .unwrap_or_default();
        for error in &mut errors {
            error.message = self.scrub(&error.message);
        }
        let excerpt = error_excerpt(&body);
        Error::Registry(Box::new(RegistryError {
            operation: call.operation.to_owned(),
            registry: self.host().to_owned(),
            repository: call.repository.to_owned(),
            status,
            errors,
            body: (!excerpt.is_empty()).then(|| self.scrub(&excerpt)),
            retry_after,
        }))
    }

    /// `text` without the password, should a server ever echo it.
    fn scrub(&self, text: &str) -> String {
        match &self.inner.config.credentials {
            Some(c) if !c.password.expose().is_empty() => {
                text.replace(c.password.expose(), "<redacted>")
            }
            _ => text.to_owned(),
        }
    }

    fn auth(&self) -> MutexGuard<'_, AuthState> {
        // The state stays consistent even if a holder panicked: each update is one assignment.
        self.inner.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads at most `limit` bytes of a body; more is an error.
pub(crate) async fn read_limited(response: Response, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ReadError::Transport)?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

pub(crate) enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

fn error_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(ERROR_EXCERPT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    is_loopback_name(name)
}

fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_default_to_plain_http() {
        assert!(RegistryConfig::new("127.0.0.1:5000").plain_http);
        assert!(RegistryConfig::new("localhost").plain_http);
        assert!(RegistryConfig::new("[::1]:5000").plain_http);
        assert!(!RegistryConfig::new("images.astronomer.cloud").plain_http);
        assert!(!RegistryConfig::new("127.0.0.1.example.com").plain_http);
    }

    #[test]
    fn hosts_are_checked_and_docker_hub_has_its_endpoint() {
        let hub = RegistryClient::new(RegistryConfig::new("docker.io")).unwrap();
        assert_eq!(
            hub.api_url("library/x/tags/list").as_str(),
            "https://registry-1.docker.io/v2/library/x/tags/list"
        );
        let local = RegistryClient::new(RegistryConfig::new("127.0.0.1:5000")).unwrap();
        assert_eq!(
            local.api_url("a/b/blobs/uploads/").as_str(),
            "http://127.0.0.1:5000/v2/a/b/blobs/uploads/"
        );

        let err = RegistryClient::new(RegistryConfig::new("bad host/x")).unwrap_err();
        assert!(err.to_string().contains("`bad host/x`"), "{err}");
    }

    #[test]
    fn debug_shows_no_password() {
        let config = RegistryConfig::new("images.astronomer.cloud")
            .with_credentials(Credentials::new("cli", "astro-token-secret"));
        assert!(!format!("{config:?}").contains("astro-token-secret"));
        let client = RegistryClient::new(config).unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("astro-token-secret"));
        assert!(debug.contains("cli"), "{debug}");
    }

    #[test]
    fn credentials_only_go_to_the_registry_and_safe_realms() {
        let client = RegistryClient::new(RegistryConfig::new("images.astronomer.cloud")).unwrap();
        assert!(client.same_origin(&Url::parse("https://images.astronomer.cloud/v2/x").unwrap()));
        assert!(!client.same_origin(&Url::parse("https://storage.example/blob").unwrap()));
        assert!(!client.same_origin(&Url::parse("http://images.astronomer.cloud/v2/").unwrap()));

        assert!(client.may_send_credentials_to(&Url::parse("https://auth.example/t").unwrap()));
        assert!(client.may_send_credentials_to(&Url::parse("http://127.0.0.1:9/t").unwrap()));
        assert!(!client.may_send_credentials_to(&Url::parse("http://auth.example/t").unwrap()));
    }

    #[test]
    fn error_excerpts_are_short_and_on_one_line() {
        assert_eq!(
            error_excerpt(b"<html>\n  <b>502</b>\n</html>"),
            "<html> <b>502</b> </html>"
        );
        assert!(error_excerpt("é".repeat(1000).as_bytes()).chars().count() <= ERROR_EXCERPT + 1);
    }
}
