//! A typed client for the part of Airflow 2's stable REST API (`/api/v1`) that copying
//! connections, variables and pools between Deployments needs: list (every page), get one,
//! create (POST) and update (PATCH). Shapes follow `api-specs/airflow-v1.yaml`.
//!
//! Each Astro Deployment serves this API at its `webServerAirflowApiUrl`, which Astro writes
//! without a scheme; [`airflow_api_base`] turns it into a URL. Astro accepts the Astro API
//! token as the bearer token there.
//!
//! Airflow never returns a connection's password (it is write-only), so [`Connection`] has
//! none: a password can only be sent, as a [`ConnectionPassword`], never read back.
//!
//! Retries follow the crate's rules: reads and PATCHes (full-body updates) are repeated on
//! server errors and broken connections, POSTs only when the server cannot have acted. A
//! Deployment whose Airflow is not up yet (still creating, or waking up) answers 503; a safe
//! request waits for it with backoff, for at most [`AirflowConfig::startup_wait`].

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::segment;
use crate::error::Error;
use crate::retry::{
    is_retryable, parse_retry_after, with_retries, AttemptError, Failure, Idempotency, RetryPolicy,
};
use crate::token::{ApiToken, TokenError};

/// How many objects a list call asks for per page; Airflow's default `maximum_page_limit`.
const PAGE_SIZE: u32 = 100;

const USER_AGENT_VALUE: &str = concat!("astro-deploy/", env!("CARGO_PKG_VERSION"));

/// The Airflow REST API base URL of a Deployment, from its `webServerAirflowApiUrl`.
///
/// A scheme that is there is kept. Without one (as Astro writes it), the URL gets `https`,
/// except for loopback hosts (`127.0.0.1`, `localhost`, `[::1]`), which get `http`: those are
/// a local emulator, which serves no TLS.
pub fn airflow_api_base(url: &str) -> Result<Url, Error> {
    let invalid = || Error::InvalidBaseUrl {
        url: url.to_owned(),
    };
    let with_scheme = with_scheme(url).ok_or_else(invalid)?;

    let parsed = Url::parse(&with_scheme).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid());
    }
    Ok(parsed)
}

/// An address Astro answers without a scheme (`webServerUrl`, `webServerAirflowApiUrl`) as one
/// a browser or client can open: a scheme that is there is kept; otherwise `https`, except for
/// loopback hosts, which get `http`. `None` for a blank address. The rest is left as it is.
pub fn with_scheme(address: &str) -> Option<String> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.contains("://") {
        return Some(trimmed.to_owned());
    }
    let host = trimmed.split(['/', '?', '#']).next().unwrap_or_default();
    let scheme = if is_loopback(host) { "http" } else { "https" };
    Some(format!("{scheme}://{trimmed}"))
}

/// Whether `host[:port]` names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A connection as Airflow answers it. It never carries the password: Airflow does not return
/// it. `extra` is only answered by [`AirflowClient::get_connection`], not by lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub conn_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub extra: Option<String>,
}

/// A connection as a list names it: everything but `extra` (and the password).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectionSummary {
    pub connection_id: String,
    pub conn_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
}

/// A connection password to send. `Debug` never shows it.
#[derive(Clone)]
pub struct ConnectionPassword(String);

impl ConnectionPassword {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for ConnectionPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionPassword(<redacted>)")
    }
}

/// A variable with its value, as [`AirflowClient::get_variable`] answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A variable as a list names it: no value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VariableSummary {
    pub key: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A pool. The slot counts Airflow computes are read-only: they are never sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub slots: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_deferred: Option<bool>,
    #[serde(default, skip_serializing)]
    pub occupied_slots: Option<i64>,
    #[serde(default, skip_serializing)]
    pub running_slots: Option<i64>,
    #[serde(default, skip_serializing)]
    pub queued_slots: Option<i64>,
    #[serde(default, skip_serializing)]
    pub open_slots: Option<i64>,
    #[serde(default, skip_serializing)]
    pub scheduled_slots: Option<i64>,
    #[serde(default, skip_serializing)]
    pub deferred_slots: Option<i64>,
}

impl Pool {
    /// A pool to create or update: name, slots and description; no computed counts.
    pub fn new(name: impl Into<String>, slots: i64, description: Option<String>) -> Self {
        Self {
            name: name.into(),
            slots,
            description,
            include_deferred: None,
            occupied_slots: None,
            running_slots: None,
            queued_slots: None,
            open_slots: None,
            scheduled_slots: None,
            deferred_slots: None,
        }
    }
}

/// Everything needed to talk to one Deployment's Airflow.
#[derive(Debug, Clone)]
pub struct AirflowConfig {
    /// The REST API base, `.../api/v1`; see [`airflow_api_base`].
    pub base_url: Url,
    pub token: ApiToken,
    /// Retries of rate limits, server errors and broken connections.
    pub retry: RetryPolicy,
    /// How long a safe request keeps waiting while Airflow answers 503 (not up yet).
    pub startup_wait: Duration,
    /// The longest a single request may take.
    pub timeout: Duration,
}

impl AirflowConfig {
    pub fn new(base_url: Url, token: ApiToken) -> Self {
        Self {
            base_url,
            token,
            retry: RetryPolicy::default(),
            startup_wait: Duration::from_secs(10 * 60),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A client of one Deployment's Airflow REST API.
#[derive(Clone)]
pub struct AirflowClient {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    startup_wait: Duration,
}

impl fmt::Debug for AirflowClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AirflowClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// One request, described before it is sent.
struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    operation: String,
}

impl Call {
    fn new(method: Method, path: String, operation: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            operation,
        }
    }

    fn body(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).expect("request bodies serialize to JSON"));
        self
    }

    /// POST creates; PATCH sends the whole object, so repeating it ends in the same state.
    fn idempotency(&self) -> Idempotency {
        if self.method == Method::POST {
            Idempotency::Unsafe
        } else {
            Idempotency::Safe
        }
    }
}

/// The RFC 7807 problem Airflow answers errors with.
#[derive(Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize)]
struct ConnectionPage {
    #[serde(default)]
    connections: Vec<ConnectionSummary>,
    total_entries: u64,
}

#[derive(Deserialize)]
struct VariablePage {
    #[serde(default)]
    variables: Vec<VariableSummary>,
    total_entries: u64,
}

#[derive(Deserialize)]
struct PoolPage {
    #[serde(default)]
    pools: Vec<Pool>,
    total_entries: u64,
}

/// A connection with an optional password, as POST and PATCH take it.
#[derive(Serialize)]
struct ConnectionBody<'a> {
    #[serde(flatten)]
    connection: &'a Connection,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

impl AirflowClient {
    pub fn new(config: AirflowConfig) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| TokenError::Malformed("it holds characters a header cannot"))?;
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
            http,
            base: config.base_url,
            retry: config.retry,
            startup_wait: config.startup_wait,
        })
    }

    /// The REST API base this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Every connection, across pages, without `extra`.
    pub async fn list_connections(&self) -> Result<Vec<ConnectionSummary>, Error> {
        self.all_pages(
            "/connections",
            "listing connections",
            |page: ConnectionPage| (page.connections, page.total_entries),
        )
        .await
    }

    pub async fn get_connection(&self, connection_id: &str) -> Result<Connection, Error> {
        let path = format!("/connections/{}", segment(connection_id));
        let operation = format!("getting connection `{connection_id}`");
        self.send(Call::new(Method::GET, path, operation)).await
    }

    /// Creates a connection; without a password it has none.
    pub async fn create_connection(
        &self,
        connection: &Connection,
        password: Option<&ConnectionPassword>,
    ) -> Result<Connection, Error> {
        let operation = format!("creating connection `{}`", connection.connection_id);
        let body = ConnectionBody {
            connection,
            password: password.map(|p| p.0.as_str()),
        };
        let call = Call::new(Method::POST, "/connections".into(), operation).body(&body);
        self.send(call).await
    }

    /// Replaces every field of a connection. Without a password, the stored one is kept: Airflow
    /// only changes the fields a PATCH sends.
    pub async fn update_connection(
        &self,
        connection: &Connection,
        password: Option<&ConnectionPassword>,
    ) -> Result<Connection, Error> {
        let id = &connection.connection_id;
        let path = format!("/connections/{}", segment(id));
        let operation = format!("updating connection `{id}`");
        let body = ConnectionBody {
            connection,
            password: password.map(|p| p.0.as_str()),
        };
        self.send(Call::new(Method::PATCH, path, operation).body(&body))
            .await
    }

    /// Every variable, across pages, without values.
    pub async fn list_variables(&self) -> Result<Vec<VariableSummary>, Error> {
        self.all_pages("/variables", "listing variables", |page: VariablePage| {
            (page.variables, page.total_entries)
        })
        .await
    }

    pub async fn get_variable(&self, key: &str) -> Result<Variable, Error> {
        let path = format!("/variables/{}", segment(key));
        let operation = format!("getting variable `{key}`");
        self.send(Call::new(Method::GET, path, operation)).await
    }

    pub async fn create_variable(&self, variable: &Variable) -> Result<Variable, Error> {
        let operation = format!("creating variable `{}`", variable.key);
        let call = Call::new(Method::POST, "/variables".into(), operation).body(variable);
        self.send(call).await
    }

    pub async fn update_variable(&self, variable: &Variable) -> Result<Variable, Error> {
        let path = format!("/variables/{}", segment(&variable.key));
        let operation = format!("updating variable `{}`", variable.key);
        self.send(Call::new(Method::PATCH, path, operation).body(variable))
            .await
    }

    /// Every pool, across pages; `default_pool` is always one of them.
    pub async fn list_pools(&self) -> Result<Vec<Pool>, Error> {
        self.all_pages("/pools", "listing pools", |page: PoolPage| {
            (page.pools, page.total_entries)
        })
        .await
    }

    pub async fn get_pool(&self, name: &str) -> Result<Pool, Error> {
        let path = format!("/pools/{}", segment(name));
        let operation = format!("getting pool `{name}`");
        self.send(Call::new(Method::GET, path, operation)).await
    }

    pub async fn create_pool(&self, pool: &Pool) -> Result<Pool, Error> {
        let operation = format!("creating pool `{}`", pool.name);
        let call = Call::new(Method::POST, "/pools".into(), operation).body(pool);
        self.send(call).await
    }

    pub async fn update_pool(&self, pool: &Pool) -> Result<Pool, Error> {
        let path = format!("/pools/{}", segment(&pool.name));
        let operation = format!("updating pool `{}`", pool.name);
        self.send(Call::new(Method::PATCH, path, operation).body(pool))
            .await
    }

    /// Reads pages until `total_entries` objects are in, or a page comes back empty (objects
    /// deleted while paging).
    async fn all_pages<P, T>(
        &self,
        path: &str,
        operation: &str,
        split: impl Fn(P) -> (Vec<T>, u64),
    ) -> Result<Vec<T>, Error>
    where
        P: DeserializeOwned,
    {
        let mut items = Vec::new();
        loop {
            let mut call = Call::new(Method::GET, path.to_owned(), operation.to_owned());
            call.query.push(("limit", PAGE_SIZE.to_string()));
            call.query.push(("offset", items.len().to_string()));

            let (page, total) = split(self.send(call).await?);
            let empty = page.is_empty();
            items.extend(page);
            if empty || items.len() as u64 >= total {
                return Ok(items);
            }
        }
    }

    async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let (url, bytes) = self.execute(&call).await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            operation: call.operation,
            url,
            source,
        })
    }

    async fn execute(&self, call: &Call) -> Result<(String, bytes::Bytes), Error> {
        let url = self.url_for(call);
        let idempotency = call.idempotency();
        let may_retry =
            |failure, attempts, started| self.may_retry(failure, idempotency, attempts, started);
        let bytes = with_retries(&call.operation, &url, &self.retry, may_retry, || {
            self.attempt(call, &url)
        })
        .await?;
        Ok((url, bytes))
    }

    /// A 503 to a safe request is an Airflow still starting: it is waited for up to
    /// `startup_wait`, however many attempts that takes. Everything else follows the policy.
    fn may_retry(
        &self,
        failure: Failure,
        idempotency: Idempotency,
        attempt: u32,
        started: Instant,
    ) -> bool {
        if !is_retryable(failure, idempotency) {
            return false;
        }
        let starting_up = matches!(failure, Failure::Status(503));
        if starting_up && started.elapsed() < self.startup_wait {
            return true;
        }
        attempt < self.retry.max_attempts && started.elapsed() < self.retry.max_elapsed
    }

    async fn attempt(&self, call: &Call, url: &str) -> Result<bytes::Bytes, AttemptError> {
        let mut request = self.http.request(call.method.clone(), url);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }

        tracing::debug!(method = %call.method, url, "calling the Airflow API");
        let response = request.send().await.map_err(AttemptError::Transport)?;
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(response.headers());
        let bytes = response.bytes().await.map_err(AttemptError::Transport)?;
        tracing::debug!(method = %call.method, url, status, "answered");

        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(AttemptError::Status {
            status,
            retry_after,
            error: problem_error(call, url, status, &bytes),
        })
    }

    fn url_for(&self, call: &Call) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{}", call.path)
    }
}

fn problem_error(call: &Call, url: &str, status: u16, body: &[u8]) -> Error {
    let problem: Option<Problem> = serde_json::from_slice(body).ok();
    let detail = problem
        .and_then(|p| p.detail.or(p.title))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    Error::Airflow {
        operation: call.operation.clone(),
        url: url.to_owned(),
        status,
        detail: detail.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_less_urls_get_https_and_loopback_gets_http() {
        let base = |url: &str| airflow_api_base(url).map(|u| u.to_string());

        assert_eq!(
            base("acme.astronomer.run/d1234567/api/v1").unwrap(),
            "https://acme.astronomer.run/d1234567/api/v1"
        );
        assert_eq!(
            base("127.0.0.1:4100/airflow/abcdefgh/api/v1").unwrap(),
            "http://127.0.0.1:4100/airflow/abcdefgh/api/v1"
        );
        assert_eq!(
            base("localhost:8080/api/v1").unwrap(),
            "http://localhost:8080/api/v1"
        );
        assert_eq!(
            base("[::1]:8080/api/v1").unwrap(),
            "http://[::1]:8080/api/v1"
        );
        assert_eq!(
            base("localhost.example.com/api/v1").unwrap(),
            "https://localhost.example.com/api/v1"
        );
    }

    #[test]
    fn a_given_scheme_is_kept_and_junk_is_refused() {
        assert_eq!(
            airflow_api_base("http://airflow.internal/api/v1")
                .unwrap()
                .as_str(),
            "http://airflow.internal/api/v1"
        );
        assert_eq!(
            airflow_api_base(" https://127.0.0.1/api/v1 ")
                .unwrap()
                .as_str(),
            "https://127.0.0.1/api/v1"
        );
        for bad in ["", "  ", "ftp://x/api/v1", "https://", "a b/api/v1"] {
            assert!(
                matches!(airflow_api_base(bad), Err(Error::InvalidBaseUrl { .. })),
                "`{bad}`"
            );
        }
    }

    #[test]
    fn connection_bodies_send_a_password_only_when_given_and_never_print_it() {
        let connection = Connection {
            connection_id: "warehouse".into(),
            conn_type: "postgres".into(),
            description: None,
            host: Some("db".into()),
            login: None,
            schema: None,
            port: Some(5432),
            extra: None,
        };
        let without = serde_json::to_value(ConnectionBody {
            connection: &connection,
            password: None,
        })
        .unwrap();
        assert!(without.get("password").is_none());
        // Nulls are sent, so that a PATCH clears what the source does not have.
        assert_eq!(without["login"], serde_json::Value::Null);

        let secret = ConnectionPassword::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let with = serde_json::to_value(ConnectionBody {
            connection: &connection,
            password: Some(&secret.0),
        })
        .unwrap();
        assert_eq!(with["password"], "hunter2");
    }

    #[test]
    fn pools_never_send_the_counts_airflow_computes() {
        let mut pool = Pool::new("etl", 4, None);
        pool.open_slots = Some(4);
        let body = serde_json::to_value(&pool).unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "name": "etl", "slots": 4, "description": null })
        );
    }
}
