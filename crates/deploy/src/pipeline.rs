//! The deploy pipeline: plan a deploy without changing anything, then carry the plan out.
//!
//! A plan reads the target Deployment, checks everything Astro would refuse (DAG deploys off,
//! CI/CD enforcement against a personal token, an expired token) and builds the bundle. Only
//! [`execute`] makes changes: it creates the deploy, uploads, finalizes, and waits when asked.
//! If any step before finalize fails, the deploy never takes effect: Astro only applies a
//! finalized deploy. A Deployment woken for the deploy gets its hibernation schedule back
//! whatever happens.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use astro_api::blob::{BlobUploader, UploadOptions};
use astro_api::models::{
    CreateDeployRequest, DeployType, Deployment, DeploymentStatus, FinalizeDeployRequest,
    HibernationOverrideRequest,
};
use astro_api::platform::DeploymentFilter;
use astro_api::{Client, TokenClaims, TokenKind};
use serde::Serialize;
use time::OffsetDateTime;

use crate::bundle::{write_dag_bundle, BundleSummary};
use crate::error::DeployError;
use crate::progress::{Event, Progress};
use crate::project::Project;

/// Which Deployment to deploy to.
#[derive(Debug, Clone)]
pub enum Target {
    Id(String),
    /// A name, resolved by listing; `workspace_id` narrows it when names repeat.
    Name {
        name: String,
        workspace_id: Option<String>,
    },
}

/// What a deploy ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployKind {
    /// The `dags/` folder as a bundle, without touching the image.
    Dags,
}

impl DeployKind {
    pub fn api_type(self) -> DeployType {
        match self {
            DeployKind::Dags => DeployType::DagOnly,
        }
    }
}

/// How long and how often to wait for the Deployment after finalizing.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: Duration,
    /// The longest pause between two reads of the Deployment.
    pub max_poll_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            max_poll_interval: Duration::from_secs(5),
        }
    }
}

/// Everything a deploy starts from.
#[derive(Debug, Clone)]
pub struct DeployInputs {
    pub target: Target,
    pub project_dir: PathBuf,
    pub kind: DeployKind,
    pub description: Option<String>,
    /// Wait for the new bundle to run; `None` returns once the deploy is finalized.
    pub wait: Option<WaitOptions>,
    /// Wake a hibernating development Deployment for the deploy.
    pub wake: bool,
    /// The claims of the token the client uses.
    pub token: TokenClaims,
    pub upload: UploadOptions,
}

/// The facts about the target Deployment that the plan relied on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetFacts {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub status: String,
    pub web_server_url: String,
    pub is_dag_deploy_enabled: bool,
    pub is_cicd_enforced: bool,
    pub is_development_mode: bool,
    pub current_dag_tarball_version: Option<String>,
}

impl From<&Deployment> for TargetFacts {
    fn from(deployment: &Deployment) -> Self {
        Self {
            id: deployment.id.clone(),
            name: deployment.name.clone(),
            workspace_id: deployment.workspace_id.clone(),
            status: deployment.status.to_string(),
            web_server_url: deployment.web_server_url.clone(),
            is_dag_deploy_enabled: deployment.is_dag_deploy_enabled,
            is_cicd_enforced: deployment.is_cicd_enforced,
            is_development_mode: deployment.is_development_mode,
            current_dag_tarball_version: deployment.dag_tarball_version.clone(),
        }
    }
}

/// A deploy that passed every check and is ready to run. Holds the built bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub deployment: TargetFacts,
    pub kind: DeployKind,
    pub deploy_type: String,
    pub description: Option<String>,
    pub bundle: BundleSummary,
    /// The Deployment hibernates and will be woken for the deploy.
    pub wake: bool,
    pub wait: bool,
    pub warnings: Vec<String>,
    #[serde(skip)]
    wait_options: Option<WaitOptions>,
    #[serde(skip)]
    bundle_file: tempfile::NamedTempFile,
    #[serde(skip)]
    upload: UploadOptions,
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployState {
    /// Finalized; not waited for.
    Finalized,
    /// The Deployment runs the new bundle and is healthy.
    Live,
    /// Finalized, but the Deployment hibernates: the bundle rolls out when it wakes.
    PendingWake,
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub deployment_id: String,
    pub deployment_name: String,
    pub workspace_id: String,
    pub web_server_url: String,
    pub deploy_id: String,
    pub deploy_type: String,
    pub bundle: BundleSummary,
    pub bundle_version: String,
    pub state: DeployState,
    /// The Deployment's status when the deploy ended.
    pub deployment_status: String,
    pub woke: bool,
    pub warnings: Vec<String>,
}

/// Reads the target and the project, checks the deploy, and builds the bundle. Changes nothing.
pub async fn plan(
    client: &Client,
    inputs: &DeployInputs,
    progress: &dyn Progress,
) -> Result<Plan, DeployError> {
    check_token(&inputs.token)?;
    let project = Project::open(&inputs.project_dir)?;

    let deployment = resolve(client, &inputs.target).await?;
    progress.event(Event::DeploymentFound {
        id: deployment.id.clone(),
        name: deployment.name.clone(),
        status: deployment.status.clone(),
    });
    check_deployment(&deployment, inputs)?;

    let bundle_file = tempfile::Builder::new()
        .prefix("astro-deploy-dags-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(DeployError::TempFile)?;
    let bundle = build_bundle(&project, bundle_file.path().to_owned()).await?;
    progress.event(Event::BundleBuilt {
        files: bundle.files,
        bytes: bundle.bytes,
        sha256: bundle.sha256.clone(),
    });

    let hibernating = deployment.status == DeploymentStatus::Hibernating;
    let mut warnings = Vec::new();
    if bundle.files == 0 {
        warnings.push("dags/ holds no files: this deploy removes every DAG".to_owned());
    }
    if hibernating && !inputs.wake {
        warnings.push(format!(
            "Deployment `{}` is hibernating: the new DAGs run when it wakes (add --wake to wake \
             it for the deploy)",
            deployment.name
        ));
    }
    for warning in &warnings {
        progress.event(Event::Warning(warning.clone()));
    }

    Ok(Plan {
        deployment: TargetFacts::from(&deployment),
        kind: inputs.kind,
        deploy_type: inputs.kind.api_type().to_string(),
        description: inputs.description.clone(),
        bundle,
        wake: inputs.wake && hibernating,
        wait: inputs.wait.is_some(),
        warnings,
        wait_options: inputs.wait,
        bundle_file,
        upload: inputs.upload.clone(),
    })
}

/// Carries a plan out. The bundle file is removed when the plan is dropped.
pub async fn execute(
    client: &Client,
    plan: Plan,
    progress: &dyn Progress,
) -> Result<Outcome, DeployError> {
    if !plan.wake {
        return deploy(client, &plan, progress).await;
    }

    let deployment_id = plan.deployment.id.clone();
    progress.event(Event::Waking {
        deployment_id: deployment_id.clone(),
    });
    let wake = HibernationOverrideRequest {
        is_hibernating: false,
        override_until: Some(wake_deadline(plan.wait_options.unwrap_or_default())),
    };
    client.override_hibernation(&deployment_id, &wake).await?;

    let result = deploy(client, &plan, progress).await;

    // The schedule goes back even when the deploy failed: a Deployment left awake costs money.
    match client.remove_hibernation_override(&deployment_id).await {
        Ok(()) => progress.event(Event::HibernationRestored { deployment_id }),
        Err(error) => {
            let warning = format!(
                "Deployment `{deployment_id}` stays awake: giving its hibernation schedule back \
                 failed ({error}); remove the override in the Astro UI"
            );
            progress.event(Event::Warning(warning.clone()));
            return result.map(|mut outcome| {
                outcome.warnings.push(warning);
                outcome
            });
        }
    }
    result
}

async fn deploy(
    client: &Client,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Outcome, DeployError> {
    let target = &plan.deployment;
    let request = CreateDeployRequest {
        deploy_type: plan.kind.api_type(),
        description: plan.description.clone(),
    };
    let deploy = client.create_deploy(&target.id, &request).await?;
    progress.event(Event::DeployCreated {
        deploy_id: deploy.id.clone(),
    });

    let upload_url = deploy
        .dags_upload_url
        .as_deref()
        .filter(|url| !url.is_empty())
        .ok_or_else(|| DeployError::NoUploadUrl {
            deploy_id: deploy.id.clone(),
        })?;
    let version =
        upload(upload_url, plan, progress)
            .await?
            .ok_or_else(|| DeployError::NoBundleVersion {
                deploy_id: deploy.id.clone(),
            })?;
    progress.event(Event::UploadFinished {
        version: version.clone(),
    });

    let finalize = FinalizeDeployRequest {
        dag_tarball_version: Some(version.clone()),
    };
    client
        .finalize_deploy(&target.id, &deploy.id, &finalize)
        .await?;
    progress.event(Event::Finalized {
        deploy_id: deploy.id.clone(),
    });

    let wait = match (plan.wait_options, plan.wake) {
        (Some(options), _) => Some(options),
        // A woken Deployment goes back to sleep afterwards: wait for the rollout first, or
        // waking it would have been for nothing.
        (None, true) => Some(WaitOptions::default()),
        (None, false) => None,
    };
    let (state, status) = match wait {
        Some(options) => wait_for_rollout(client, &target.id, &version, options, progress).await?,
        None => (DeployState::Finalized, target.status.clone()),
    };

    Ok(Outcome {
        deployment_id: target.id.clone(),
        deployment_name: target.name.clone(),
        workspace_id: target.workspace_id.clone(),
        web_server_url: target.web_server_url.clone(),
        deploy_id: deploy.id,
        deploy_type: plan.deploy_type.clone(),
        bundle: plan.bundle.clone(),
        bundle_version: version,
        state,
        deployment_status: status,
        woke: plan.wake,
        warnings: plan.warnings.clone(),
    })
}

async fn upload(
    url: &str,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Option<String>, DeployError> {
    let total = plan.bundle.bytes;
    progress.event(Event::UploadStarted { total_bytes: total });

    let uploader = BlobUploader::new(plan.upload.clone()).map_err(DeployError::Upload)?;
    let on_progress = |sent| {
        progress.event(Event::UploadProgress {
            sent_bytes: sent,
            total_bytes: total,
        })
    };
    let receipt = uploader
        .upload_file(url, plan.bundle_file.path(), &on_progress)
        .await
        .map_err(DeployError::Upload)?;
    Ok(receipt.version_id)
}

async fn wait_for_rollout(
    client: &Client,
    deployment_id: &str,
    version: &str,
    options: WaitOptions,
    progress: &dyn Progress,
) -> Result<(DeployState, String), DeployError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);

    loop {
        let deployment = client.get_deployment(deployment_id).await?;
        let rolled_out = deployment.dag_tarball_version.as_deref() == Some(version);
        progress.event(Event::Waiting {
            status: deployment.status.clone(),
            rolled_out,
        });

        match deployment.status {
            DeploymentStatus::Healthy if rolled_out => {
                return Ok((DeployState::Live, deployment.status.to_string()));
            }
            DeploymentStatus::Hibernating => {
                return Ok((DeployState::PendingWake, deployment.status.to_string()));
            }
            _ => {}
        }

        if started.elapsed() + pause > options.timeout {
            return Err(DeployError::WaitTimedOut {
                deployment: deployment.name,
                status: deployment.status.to_string(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(options.max_poll_interval);
    }
}

/// When a wake override ends by itself: after the longest the deploy may wait, plus a margin.
/// Should this process die before it gives the schedule back, Astro still does, at this time.
fn wake_deadline(wait: WaitOptions) -> String {
    let until = OffsetDateTime::now_utc() + wait.timeout + Duration::from_secs(15 * 60);
    until
        .replace_nanosecond(0)
        .unwrap_or(until)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn check_token(claims: &TokenClaims) -> Result<(), DeployError> {
    if claims.is_expired(OffsetDateTime::now_utc()) {
        let expired_at = claims
            .expires_at()
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "an unknown time".to_owned());
        return Err(DeployError::TokenExpired { expired_at });
    }
    Ok(())
}

fn check_deployment(deployment: &Deployment, inputs: &DeployInputs) -> Result<(), DeployError> {
    let name = || format!("{} ({})", deployment.name, deployment.id);
    let needs_dag_deploys = matches!(inputs.kind.api_type(), DeployType::DagOnly);
    if needs_dag_deploys && !deployment.is_dag_deploy_enabled {
        return Err(DeployError::DagDeploysDisabled { deployment: name() });
    }
    if deployment.is_cicd_enforced && inputs.token.kind() == TokenKind::UserSession {
        return Err(DeployError::CicdEnforced { deployment: name() });
    }
    Ok(())
}

async fn resolve(client: &Client, target: &Target) -> Result<Deployment, DeployError> {
    let (name, workspace_id) = match target {
        Target::Id(id) => return Ok(client.get_deployment(id).await?),
        Target::Name { name, workspace_id } => (name, workspace_id),
    };

    let workspace_ids: Vec<String> = workspace_id.iter().cloned().collect();
    let filter = DeploymentFilter {
        names: vec![name.clone()],
        workspace_ids: workspace_ids.clone(),
        ..DeploymentFilter::default()
    };
    // The name filter is applied again here: it must be an exact match, whatever the server's
    // filter does with case or prefixes.
    let mut matches: Vec<Deployment> = client
        .list_deployments(&filter)
        .await?
        .into_iter()
        .filter(|d| &d.name == name)
        .collect();

    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => {
            let filter = DeploymentFilter {
                workspace_ids,
                ..DeploymentFilter::default()
            };
            let mut known: Vec<String> = client
                .list_deployments(&filter)
                .await?
                .into_iter()
                .map(|d| d.name)
                .collect();
            known.sort();
            known.truncate(20);
            Err(DeployError::NoDeploymentNamed {
                name: name.clone(),
                workspace_id: workspace_id.clone(),
                known,
            })
        }
        count => Err(DeployError::AmbiguousName {
            name: name.clone(),
            count,
            workspace_ids: matches
                .into_iter()
                .map(|d| format!("`{}`", d.workspace_id))
                .collect(),
        }),
    }
}

async fn build_bundle(project: &Project, output: PathBuf) -> Result<BundleSummary, DeployError> {
    let root = project.root().to_owned();
    // Bundling reads and compresses files: keep it off the async workers.
    tokio::task::spawn_blocking(move || write_dag_bundle(&root, &output))
        .await
        .map_err(|join| DeployError::TempFile(std::io::Error::other(join.to_string())))?
        .map_err(DeployError::Bundle)
}
