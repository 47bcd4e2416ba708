//! A local Astro control plane: an HTTP server that behaves like Astro's Platform API for one
//! seeded organization, so that tests (and people without an Astro account) can run a whole
//! deploy pipeline against it.
//!
//! [`start`] binds a port and answers:
//!
//! - **`/platform/v1beta1/...`**: the operations of [`served_operations`], shaped as
//!   `api-specs/platform-v1beta1.yaml` says, with Astro's rules (token scopes, CI/CD
//!   enforcement, DAG deploys, finalize checks, rollouts, hibernation). Every request is
//!   recorded as an [`Exchange`].
//! - **`/blobs/{deploymentId}/{deployId}/dags.tar.gz?<SAS>`**: the `dagsUploadUrl` of a deploy,
//!   speaking enough of Azure Blob Storage for a bundle upload (whole blob, or blocks and a
//!   block list). The SAS in the query authorizes; no token.
//! - **`/airflow/{last 8 characters of a Deployment id}/api/v1/...`**: each Deployment's
//!   `webServerAirflowApiUrl`, a minimal Airflow 2 stable REST API (connections, variables,
//!   pools: list, get, create, update) shaped as `api-specs/airflow-v1.yaml` says, with state
//!   per Deployment; the same tokens authorize. A Deployment whose Airflow is not up yet
//!   (creating, waking up, hibernating) answers 503. Exchanges are recorded apart
//!   ([`RunningEmulator::airflow_exchanges`]).
//! - **`/iam/v1beta1/...`**: the API token operations of Astro's IAM API
//!   ([`served_iam_operations`]: list, get, create with an expiry, update, rotate, delete, each
//!   token with its roles), shaped as `api-specs/iam-v1beta1.yaml` says. IAM decides which API
//!   tokens authorize: a deleted token, or the value a rotation replaced, answers 401 on every
//!   route. Exchanges are recorded apart ([`RunningEmulator::iam_exchanges`]).
//! - **`/emulator/...`**: the emulator's own routes, which Astro does not have (no token):
//!   - `GET /emulator/info`: the [`EmulatorInfo`] (base URL, seeded ids, tokens);
//!   - `GET /emulator/exchanges`, `DELETE /emulator/exchanges`: the recorded Platform
//!     exchanges, and clearing them;
//!   - `GET|POST|DELETE /emulator/faults`: the pending faults, adding one (a [`Fault`] as JSON,
//!     e.g. `{"method": "POST", "pathContains": "/deploys", "kind": "status", "status": 503,
//!     "times": 2}`; kinds `status` with optional `retryAfter` and `message`, `latency` with
//!     `latencyMs`, `drop`, `omitHeader` with `header`), and clearing them;
//!   - `GET|DELETE /emulator/blob-requests`: the log of blob requests ([`BlobRequest`]);
//!   - `POST /emulator/deployments/{id}/hibernate`, `POST /emulator/deployments/{id}/wake`:
//!     the hibernation schedule of a development Deployment puts it to sleep or wakes it;
//!   - `POST /emulator/workspaces`: adds a workspace, with Deployments like the seeded ones
//!     (`{"name": "Other", "deployments": [{"name": "dags-enabled", "dagDeploys": true}]}`),
//!     so that a Deployment name can be made ambiguous; answers the new ids.
//!
//! The seed: one organization, one workspace, and the STANDARD Deployments `dags-enabled`
//! (DAG deploys on, CI/CD enforced, development mode, runtime 12.2.0) and `dags-disabled`.
//! Tokens are HS256 JWTs the emulator signs; [`EmulatorInfo`] carries an Organization API token
//! and a user session token, and [`RunningEmulator::mint_token`] makes others.
//!
//! With [`EmulatorConfig::state_file`], the state (including the signing keys, so tokens stay
//! valid) survives restarts: it is saved after every change, and DAG bundles are kept in the
//! folder `<state file>.blobs/`. Without it, everything lives in memory.
//!
//! The emulator's request and response types are its own: it shares none with the client in
//! `astro-api`, so that a disagreement between the two shows up in a test.

mod admin;
mod airflow;
mod auth;
mod blob_store;
mod blobs;
mod clock;
mod faults;
mod iam;
mod model;
mod platform;
mod record;
mod seed;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind};
pub use record::{BlobRequest, Exchange};

use server::{lock, App, Shared};
use state::{Settings, State};

/// How long the tokens in [`EmulatorInfo`] stay valid.
const INFO_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How long [`RunningEmulator::shutdown`] waits for open requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `(method, path template)` of every Platform operation the emulator serves, with the path
/// templates exactly as the spec writes them (without the `/platform/v1beta1` prefix).
pub fn served_operations() -> &'static [(&'static str, &'static str)] {
    platform::operations()
}

/// `(method, path template)` of every IAM operation the emulator serves, with the path templates
/// exactly as the spec writes them (without the `/iam/v1beta1` prefix).
pub fn served_iam_operations() -> &'static [(&'static str, &'static str)] {
    iam::operations()
}

/// How to run the emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to keep the state across runs; `None` keeps it in memory.
    pub state_file: Option<PathBuf>,
    /// `host[:port]` of the registry named in `imageRepository`; `images.emulator.local` when
    /// `None`.
    pub registry_host: Option<String>,
    /// How long a rollout (creation, deploy, wake-up) takes before a Deployment is `HEALTHY`.
    pub rollout_delay: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: None,
            registry_host: None,
            rollout_delay: Duration::from_secs(2),
        }
    }
}

/// What a user needs to talk to a running emulator; `GET /emulator/info` answers the same.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmulatorInfo {
    /// `http://127.0.0.1:<port>`, without a trailing slash or the `/platform` prefix.
    pub base_url: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub deployments: SeededDeployments,
    /// An Organization API token (`permissions: ["organizationId:<org>"]`), valid 30 days.
    pub api_token: String,
    /// A user session token (no `permissions` claim), valid 30 days.
    pub user_token: String,
}

/// A connection of a Deployment's emulated Airflow. The emulator keeps the password, but its
/// Airflow API never answers it, as Airflow does not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AirflowConnection {
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
    pub password: Option<String>,
    #[serde(default)]
    pub extra: Option<String>,
}

impl AirflowConnection {
    /// A connection with only its id and type.
    pub fn new(connection_id: &str, conn_type: &str) -> Self {
        Self {
            connection_id: connection_id.to_owned(),
            conn_type: conn_type.to_owned(),
            description: None,
            host: None,
            login: None,
            schema: None,
            port: None,
            password: None,
            extra: None,
        }
    }
}

/// A variable of a Deployment's emulated Airflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AirflowVariable {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl AirflowVariable {
    pub fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.to_owned(),
            value: value.to_owned(),
            description: None,
        }
    }
}

/// A pool of a Deployment's emulated Airflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AirflowPool {
    pub name: String,
    pub slots: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub include_deferred: bool,
}

impl AirflowPool {
    pub fn new(name: &str, slots: i64) -> Self {
        Self {
            name: name.to_owned(),
            slots,
            description: None,
            include_deferred: false,
        }
    }
}

/// The ids of the seeded Deployments.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SeededDeployments {
    pub dags_enabled: String,
    pub dags_disabled: String,
}

/// What can go wrong when running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("binding `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("reading state file `{}`", path.display())]
    ReadState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("parsing state file `{}`", path.display())]
    ParseState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "reading state file `{}`: it has format {found}, this emulator reads format {}",
        path.display(),
        state::FORMAT
    )]
    StateFormat { path: PathBuf, found: u32 },

    #[error("writing state file `{}`", path.display())]
    WriteState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("finding deployment `{id}`: the emulator has no such deployment")]
    UnknownDeployment { id: String },

    #[error("hibernating deployment `{id}`: it is not a development deployment")]
    NotDevelopment { id: String },
}

/// Starts the emulator: binds, loads or seeds the state, and serves in the background until
/// [`RunningEmulator::shutdown`] (or until the handle is dropped).
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    let bind = |source| EmulatorError::Bind {
        addr: config.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;

    let settings = Settings {
        base_host: local.to_string(),
        base_url: format!("http://{local}"),
        registry_host: config
            .registry_host
            .unwrap_or_else(|| seed::DEFAULT_REGISTRY_HOST.into()),
        rollout_delay: config.rollout_delay,
    };
    let mut state = State::open(config.state_file, settings.clone(), seed::fresh)?;
    state.rebase();
    let info = info(&state, &settings.base_url);
    iam::admit_seeded(&mut state, &info.api_token, INFO_TOKEN_LIFETIME);
    state.save()?;

    let keys = state.data.keys.clone();
    let app: App = Arc::new(Shared {
        state: Mutex::new(state),
        keys,
        info,
        exchanges: Mutex::default(),
        airflow_exchanges: Mutex::default(),
        iam_exchanges: Mutex::default(),
        faults: Mutex::default(),
        blob_requests: Mutex::default(),
        blobs_in_flight: Default::default(),
    });

    let (shutdown, signal) = oneshot::channel();
    let task = tokio::spawn(server::serve(listener, app.clone(), signal));
    tracing::info!(base_url = %settings.base_url, "the Astro emulator is listening");
    Ok(RunningEmulator {
        app,
        shutdown: Some(shutdown),
        task: Some(task),
    })
}

fn info(state: &State, base_url: &str) -> EmulatorInfo {
    let seed = &state.data.seed;
    let keys = &state.data.keys;
    let org = &seed.organization_id;
    let permissions = Some(vec![format!("organizationId:{org}")]);

    EmulatorInfo {
        base_url: base_url.to_owned(),
        organization_id: org.clone(),
        workspace_id: seed.workspace_id.clone(),
        deployments: SeededDeployments {
            dags_enabled: seed.dags_enabled.clone(),
            dags_disabled: seed.dags_disabled.clone(),
        },
        api_token: auth::mint(
            keys,
            org,
            &seed.api_token_id,
            permissions,
            INFO_TOKEN_LIFETIME,
        ),
        user_token: auth::mint(keys, org, &seed.user_id, None, INFO_TOKEN_LIFETIME),
    }
}

/// A running emulator. Dropping it stops the server too, without waiting.
#[derive(Debug)]
pub struct RunningEmulator {
    app: App,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    pub fn info(&self) -> &EmulatorInfo {
        &self.app.info
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash or the `/platform` prefix.
    pub fn base_url(&self) -> &str {
        &self.app.info.base_url
    }

    /// The Platform exchanges recorded so far, oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.app.exchanges).clone()
    }

    pub fn clear_exchanges(&self) {
        lock(&self.app.exchanges).clear();
    }

    /// The exchanges on the Airflow routes so far, oldest first. Their `path_template` is the
    /// Airflow spec's, below `/api/v1`.
    pub fn airflow_exchanges(&self) -> Vec<Exchange> {
        lock(&self.app.airflow_exchanges).clone()
    }

    pub fn clear_airflow_exchanges(&self) {
        lock(&self.app.airflow_exchanges).clear();
    }

    /// The exchanges on the IAM routes so far, oldest first. Their `path_template` is the IAM
    /// spec's, below `/iam/v1beta1`.
    pub fn iam_exchanges(&self) -> Vec<Exchange> {
        lock(&self.app.iam_exchanges).clone()
    }

    pub fn clear_iam_exchanges(&self) {
        lock(&self.app.iam_exchanges).clear();
    }

    /// A Deployment's `webServerAirflowApiUrl`: scheme-less, as Astro writes it.
    pub fn airflow_api_url(&self, deployment_id: &str) -> Result<String, EmulatorError> {
        let state = lock(&self.app.state);
        let mut records = state.data.deployments.iter();
        let record = records.find(|record| record.deployment.id == deployment_id);
        let record = record.ok_or_else(|| EmulatorError::UnknownDeployment {
            id: deployment_id.to_owned(),
        })?;
        Ok(record.deployment.web_server_airflow_api_url.clone())
    }

    /// A Deployment's Airflow connections, passwords included, in creation order.
    pub fn airflow_connections(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<AirflowConnection>, EmulatorError> {
        self.read_airflow(deployment_id, |objects| objects.connections.clone())
    }

    /// A Deployment's Airflow variables, in creation order.
    pub fn airflow_variables(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<AirflowVariable>, EmulatorError> {
        self.read_airflow(deployment_id, |objects| objects.variables.clone())
    }

    /// A Deployment's Airflow pools, in creation order; `default_pool` first.
    pub fn airflow_pools(&self, deployment_id: &str) -> Result<Vec<AirflowPool>, EmulatorError> {
        self.read_airflow(deployment_id, |objects| objects.pools.clone())
    }

    /// Adds a connection to a Deployment's Airflow, or replaces the one with its id.
    pub fn put_airflow_connection(
        &self,
        deployment_id: &str,
        connection: AirflowConnection,
    ) -> Result<(), EmulatorError> {
        self.change_airflow(deployment_id, |objects| {
            upsert(&mut objects.connections, connection, |c| {
                c.connection_id.clone()
            });
        })
    }

    /// Adds a variable to a Deployment's Airflow, or replaces the one with its key.
    pub fn put_airflow_variable(
        &self,
        deployment_id: &str,
        variable: AirflowVariable,
    ) -> Result<(), EmulatorError> {
        self.change_airflow(deployment_id, |objects| {
            upsert(&mut objects.variables, variable, |v| v.key.clone());
        })
    }

    /// Adds a pool to a Deployment's Airflow, or replaces the one with its name.
    pub fn put_airflow_pool(
        &self,
        deployment_id: &str,
        pool: AirflowPool,
    ) -> Result<(), EmulatorError> {
        self.change_airflow(deployment_id, |objects| {
            upsert(&mut objects.pools, pool, |p| p.name.clone());
        })
    }

    fn read_airflow<T>(
        &self,
        deployment_id: &str,
        read: impl FnOnce(&airflow::AirflowObjects) -> T,
    ) -> Result<T, EmulatorError> {
        let state = lock(&self.app.state);
        known_deployment(&state, deployment_id)?;
        let fresh = airflow::AirflowObjects::default();
        Ok(read(
            state.data.airflow.get(deployment_id).unwrap_or(&fresh),
        ))
    }

    fn change_airflow(
        &self,
        deployment_id: &str,
        change: impl FnOnce(&mut airflow::AirflowObjects),
    ) -> Result<(), EmulatorError> {
        let mut state = lock(&self.app.state);
        known_deployment(&state, deployment_id)?;
        change(
            state
                .data
                .airflow
                .entry(deployment_id.to_owned())
                .or_default(),
        );
        state.save()
    }

    /// Adds a fault; one with `times` 0 or an impossible status is ignored (and logged).
    pub fn add_fault(&self, fault: Fault) {
        if let Some(problem) = fault.problem() {
            tracing::warn!(%problem, "ignoring a fault");
            return;
        }
        lock(&self.app.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.app.faults).clear();
    }

    /// The requests to the blob endpoint so far, oldest first.
    pub fn blob_requests(&self) -> Vec<BlobRequest> {
        lock(&self.app.blob_requests).clone()
    }

    /// The committed DAG bundle of a deploy, if one was uploaded.
    pub fn blob(&self, deploy_id: &str) -> Option<Vec<u8>> {
        blobs::committed(&lock(&self.app.state), deploy_id)
    }

    /// Puts a development Deployment to sleep, as its hibernation schedule would.
    pub fn hibernate(&self, deployment_id: &str) -> Result<(), EmulatorError> {
        admin::set_schedule(&self.app, deployment_id, true)
    }

    /// Mints a token for the seeded organization: an API token with these `permissions`, or a
    /// user session token for `None`. An API token is added to IAM, with the widest role of
    /// each permission, so that it authorizes until it is rotated or deleted.
    pub fn mint_token(&self, permissions: Option<Vec<String>>, expires_in: Duration) -> String {
        let mut state = lock(&self.app.state);
        let seed = &state.data.seed;
        let subject = match permissions {
            Some(_) => seed::new_id(),
            None => seed.user_id.clone(),
        };
        let expires_at = clock::now() + expires_in;
        let token = auth::mint(
            &self.app.keys,
            &seed.organization_id,
            &subject,
            permissions.clone(),
            expires_in,
        );

        if let Some(permissions) = permissions {
            iam::admit_minted(&mut state, &subject, &permissions, &token, expires_at);
            if let Err(error) = state.save() {
                tracing::warn!(%error, "the emulator could not save the minted token");
            }
        }
        token
    }

    /// Stops accepting requests, lets open ones finish (for a few seconds at most), and stops.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return;
        };

        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("open requests did not finish in time; stopping the emulator anyway");
            task.abort();
        }
    }
}

fn known_deployment(state: &State, deployment_id: &str) -> Result<(), EmulatorError> {
    let mut records = state.data.deployments.iter();
    if records.any(|record| record.deployment.id == deployment_id) {
        return Ok(());
    }
    Err(EmulatorError::UnknownDeployment {
        id: deployment_id.to_owned(),
    })
}

/// Replaces the item with the same key, or appends.
fn upsert<T>(items: &mut Vec<T>, item: T, key: impl Fn(&T) -> String) {
    let wanted = key(&item);
    match items.iter_mut().find(|existing| key(existing) == wanted) {
        Some(existing) => *existing = item,
        None => items.push(item),
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
