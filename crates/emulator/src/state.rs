//! The emulated control plane's state, the clock-driven part of its rules, and persistence.
//!
//! Time moves deployments along lazily: every access first calls [`State::advance`], which
//! finishes rollouts whose delay has passed and ends expired hibernation overrides. So there are
//! no timers to lose on a restart: a deadline is a number in the state file.
//!
//! With a state file, every change is written to `<file>.tmp` and renamed over the file, and
//! DAG bundles live in the folder `<file>.blobs/` (see [`BlobStore`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::blob_store::BlobStore;
use crate::clock;
use crate::model::{
    Deploy, DeployStatus, Deployment, DeploymentStatus, HibernationOverride, HibernationStatus,
    Organization, ScalingStatus, Workspace,
};
use crate::EmulatorError;

/// The version of the state file's layout.
pub(crate) const FORMAT: u32 = 1;

/// Everything that survives a restart.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateData {
    pub format: u32,
    pub keys: Keys,
    pub seed: Seed,
    pub organization: Organization,
    pub workspaces: Vec<Workspace>,
    pub deployments: Vec<DeploymentRecord>,
    /// In creation order; lists answer newest first.
    pub deploys: Vec<Deploy>,
    /// By deploy id.
    pub blobs: BTreeMap<String, BlobMeta>,
    /// Each Deployment's Airflow connections, variables and pools, by Deployment id; one that is
    /// missing has a fresh Airflow's.
    #[serde(default)]
    pub airflow: BTreeMap<String, crate::airflow::AirflowObjects>,
    /// The newest blob version id handed out, so that the next one is later still.
    #[serde(default)]
    pub last_version_id: Option<String>,
    /// The IAM API's tokens; a state file from before IAM has none until the seed's is added.
    #[serde(default)]
    pub iam: crate::iam::IamData,
}

/// The secrets the emulator signs with; base64 in the file.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Keys {
    pub kid: String,
    pub jwt: String,
    pub sas: String,
}

/// The ids of the seeded objects, for [`crate::EmulatorInfo`].
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Seed {
    pub organization_id: String,
    pub workspace_id: String,
    pub dags_enabled: String,
    pub dags_disabled: String,
    pub api_token_id: String,
    pub user_id: String,
}

/// A Deployment as answered, plus what Astro keeps to itself.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRecord {
    pub deployment: Deployment,
    /// Values of secret environment variables, which answers leave out.
    #[serde(default)]
    pub secret_values: BTreeMap<String, String>,
    /// When the current rollout (creation, deploy, wake-up) finishes, in Unix milliseconds.
    #[serde(default)]
    pub rollout_due_ms: Option<i64>,
    /// Whether the hibernation schedule (here: `POST /emulator/deployments/{id}/hibernate`)
    /// has put the Deployment to sleep; an override may say otherwise for a while.
    #[serde(default)]
    pub scheduled_asleep: bool,
}

/// What is known of the blob behind one deploy's `dagsUploadUrl`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlobMeta {
    #[serde(default)]
    pub committed: Option<CommittedBlob>,
    /// Every version id ever committed to this blob, oldest first.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Base64 ids of blocks put but not yet committed, in upload order.
    #[serde(default)]
    pub uncommitted: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommittedBlob {
    pub version_id: String,
    pub etag: String,
    pub last_modified: String,
    pub size: u64,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The committed block list (empty for a blob put in one request), to resolve
    /// `<Committed>` entries of a later block list.
    #[serde(default)]
    pub blocks: Vec<CommittedBlock>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommittedBlock {
    pub id: String,
    pub size: u64,
}

/// The `statusReason` of a Deployment waking up from hibernation, whose Airflow is not up yet.
pub(crate) const WAKING_UP: &str = "Waking up from hibernation";

/// What the running emulator was started with; not persisted.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// `host:port` of the emulator, the base of web server URLs.
    pub base_host: String,
    pub base_url: String,
    pub registry_host: String,
    pub rollout_delay: Duration,
}

/// The live state: persisted data, blob bytes, and where to save them.
#[derive(Debug)]
pub(crate) struct State {
    pub data: StateData,
    pub blobs: BlobStore,
    pub settings: Settings,
    file: Option<PathBuf>,
}

impl State {
    /// Loads `file` if it exists, else takes `fresh`; the caller's first [`State::save`] writes
    /// it.
    pub(crate) fn open(
        file: Option<PathBuf>,
        settings: Settings,
        fresh: impl FnOnce(&Settings) -> StateData,
    ) -> Result<Self, EmulatorError> {
        let Some(path) = file else {
            let data = fresh(&settings);
            let blobs = BlobStore::Memory(Default::default());
            return Ok(Self {
                data,
                blobs,
                settings,
                file: None,
            });
        };

        let blobs = BlobStore::beside(&path);
        let data = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => fresh(&settings),
            Err(source) => return Err(EmulatorError::ReadState { path, source }),
        };
        Ok(Self {
            data,
            blobs,
            settings,
            file: Some(path),
        })
    }

    /// Writes the state file, if there is one, through a temporary file and a rename.
    pub(crate) fn save(&self) -> Result<(), EmulatorError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let write = |source| EmulatorError::WriteState {
            path: path.clone(),
            source,
        };

        let json = serde_json::to_vec_pretty(&self.data).map_err(std::io::Error::other);
        let json = json.map_err(write)?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");

        std::fs::write(&temporary, json).map_err(write)?;
        std::fs::rename(&temporary, path).map_err(write)
    }

    /// Moves time-driven rules forward to `now`; says whether anything changed.
    pub(crate) fn advance(&mut self, now: OffsetDateTime) -> bool {
        let delay = self.settings.rollout_delay;
        let mut changed = false;

        for record in &mut self.data.deployments {
            changed |= record.expire_override(now, delay);
            changed |= record.finish_rollout(now);
        }
        changed
    }

    pub(crate) fn deployment_mut(&mut self, id: &str) -> Option<&mut DeploymentRecord> {
        self.data
            .deployments
            .iter_mut()
            .find(|record| record.deployment.id == id)
    }

    pub(crate) fn workspace(&self, id: &str) -> Option<&Workspace> {
        self.data
            .workspaces
            .iter()
            .find(|workspace| workspace.id == id)
    }

    pub(crate) fn deploy(&self, deployment_id: &str, deploy_id: &str) -> Option<&Deploy> {
        let mut deploys = self.data.deploys.iter();
        deploys.find(|deploy| deploy.id == deploy_id && deploy.deployment_id == deployment_id)
    }

    pub(crate) fn deploy_mut(
        &mut self,
        deployment_id: &str,
        deploy_id: &str,
    ) -> Option<&mut Deploy> {
        let mut deploys = self.data.deploys.iter_mut();
        deploys.find(|deploy| deploy.id == deploy_id && deploy.deployment_id == deployment_id)
    }

    /// The deploy that took effect last on a Deployment.
    pub(crate) fn active_deploy(&self, deployment_id: &str) -> Option<&Deploy> {
        let mut deploys = self.data.deploys.iter().rev();
        deploys.find(|deploy| {
            deploy.deployment_id == deployment_id && deploy.status == DeployStatus::Deployed
        })
    }

    /// A fresh Azure-style version id, strictly later than every one handed out before.
    pub(crate) fn next_version_id(&mut self, now: OffsetDateTime) -> String {
        let mut candidate = clock::version_id(now);
        if let Some(last) = &self.data.last_version_id {
            if candidate <= *last {
                let after = clock::parse_rfc3339(last).unwrap_or(now);
                candidate = clock::version_id(after + time::Duration::nanoseconds(100));
            }
        }
        self.data.last_version_id = Some(candidate.clone());
        candidate
    }

    /// Rewrites what depends on where this run listens and which registry it names: web server
    /// URLs, image repositories, upload URLs handed out by an earlier run.
    pub(crate) fn rebase(&mut self) {
        let settings = self.settings.clone();
        for record in &mut self.data.deployments {
            crate::seed::set_urls(&mut record.deployment, &settings);
        }

        for deploy in &mut self.data.deploys {
            let Some(record) = self
                .data
                .deployments
                .iter()
                .find(|r| r.deployment.id == deploy.deployment_id)
            else {
                continue;
            };
            deploy.image_repository = record.deployment.image_repository.clone();
            if let Some(url) = &mut deploy.dags_upload_url {
                if let Some(at) = url.find("/blobs/") {
                    *url = format!("{}{}", settings.base_url, &url[at..]);
                }
            }
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<StateData, EmulatorError> {
    let data: StateData =
        serde_json::from_slice(bytes).map_err(|source| EmulatorError::ParseState {
            path: path.to_owned(),
            source,
        })?;

    if data.format != FORMAT {
        return Err(EmulatorError::StateFormat {
            path: path.to_owned(),
            found: data.format,
        });
    }
    Ok(data)
}

impl DeploymentRecord {
    /// Whether the Deployment should be asleep now: an active override wins over the schedule.
    pub(crate) fn wants_sleep(&self) -> bool {
        match self.hibernation_override() {
            Some(rule) if rule.is_active => rule.is_hibernating,
            _ => self.scheduled_asleep,
        }
    }

    pub(crate) fn hibernation_override(&self) -> Option<&HibernationOverride> {
        let spec = self.deployment.scaling_spec.as_ref()?;
        spec.hibernation_spec.as_ref()?.override_.as_ref()
    }

    pub(crate) fn set_override(&mut self, rule: Option<HibernationOverride>) {
        let spec = self
            .deployment
            .scaling_spec
            .get_or_insert_with(Default::default);
        let hibernation = spec.hibernation_spec.get_or_insert_with(Default::default);
        hibernation.override_ = rule;
    }

    /// Starts a rollout that ends `delay` from `now` (and waits while the Deployment sleeps).
    pub(crate) fn start_rollout(&mut self, now: OffsetDateTime, delay: Duration) {
        self.rollout_due_ms = Some(clock::unix_ms(now + delay));
        if self.deployment.status != DeploymentStatus::Hibernating {
            self.deployment.status = DeploymentStatus::Deploying;
            self.deployment.status_reason = Some("Deploying".to_owned());
        }
    }

    /// Puts the Deployment to sleep or wakes it, as the schedule and the override say.
    pub(crate) fn settle_sleep(&mut self, now: OffsetDateTime, delay: Duration) {
        let asleep = self.deployment.status == DeploymentStatus::Hibernating;
        let wants_sleep = self.wants_sleep();

        if wants_sleep && !asleep {
            self.deployment.status = DeploymentStatus::Hibernating;
            self.deployment.status_reason = Some(self.sleep_reason().to_owned());
        } else if !wants_sleep && asleep {
            self.deployment.status = DeploymentStatus::Deploying;
            self.deployment.status_reason = Some(WAKING_UP.to_owned());
            self.rollout_due_ms = Some(clock::unix_ms(now + delay));
        }
        self.refresh_scaling_status();
    }

    /// Mirrors the sleep state into `scalingStatus` (development Deployments only).
    pub(crate) fn refresh_scaling_status(&mut self) {
        if !self.deployment.is_development_mode {
            self.deployment.scaling_status = None;
            return;
        }
        let is_hibernating = self.deployment.status == DeploymentStatus::Hibernating;
        let reason = is_hibernating.then(|| self.sleep_reason().to_owned());
        let hibernation_status = HibernationStatus {
            is_hibernating,
            reason,
        };
        self.deployment.scaling_status = Some(ScalingStatus { hibernation_status });
    }

    fn sleep_reason(&self) -> &'static str {
        match self.hibernation_override() {
            Some(rule) if rule.is_active && rule.is_hibernating => "Hibernating by override",
            _ => "Hibernating by schedule",
        }
    }

    fn expire_override(&mut self, now: OffsetDateTime, delay: Duration) -> bool {
        let until = self
            .hibernation_override()
            .and_then(|rule| rule.override_until.clone());
        let expired = until
            .and_then(|until| clock::parse_rfc3339(&until))
            .is_some_and(|at| at <= now);
        if !expired {
            return false;
        }

        self.set_override(None);
        self.settle_sleep(now, delay);
        true
    }

    fn finish_rollout(&mut self, now: OffsetDateTime) -> bool {
        let status = self.deployment.status;
        let rolling = matches!(
            status,
            DeploymentStatus::Deploying | DeploymentStatus::Creating
        );
        let due = self
            .rollout_due_ms
            .is_some_and(|due| due <= clock::unix_ms(now));
        if !rolling || !due {
            return false;
        }

        self.rollout_due_ms = None;
        self.deployment.status = DeploymentStatus::Healthy;
        self.deployment.status_reason = Some("Successfully Deployed".to_owned());
        if let Some(desired) = &self.deployment.desired_dag_tarball_version {
            self.deployment.dag_tarball_version = Some(desired.clone());
        }
        self.refresh_scaling_status();
        true
    }
}
