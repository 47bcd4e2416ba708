//! The deploy pipeline: plan a deploy without changing anything, then carry the plan out.
//!
//! A plan reads the target Deployment, decides the deploy type (`--type infer` compares the
//! project with what the deployed image records), checks everything Astro would refuse (DAG
//! deploys off, CI/CD enforcement against a personal token, an expired token) and builds the
//! bundle; for an image it decides how the image is made ([`crate::image::produce`]).
//!
//! [`execute`] first makes the image locally (build and checks, or the code-only layer) and
//! checks its runtime, so a failing build, test or runtime changes nothing on Astro. Only then
//! does it create the deploy, push the image, upload the bundle, finalize, and wait when asked.
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
use astro_api::{ApiToken, Client, TokenClaims, TokenKind};
use serde::Serialize;
use time::OffsetDateTime;

use crate::bundle::{write_dag_bundle, BundleSummary};
use crate::error::DeployError;
use crate::image::produce::{self, ImagePlan, ImageRequest, ProducedImage};
use crate::policy::{
    self, Decision, DeploymentFacts, Facts, PolicyConfig, RunFacts, TokenFacts, Verdict,
};
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
    /// The image only; the DAGs stay as they are.
    Image,
    /// The image and the DAGs: in the image, or as a bundle when DAG deploys are on.
    ImageAndDags,
    /// `dags` when only `dags/` differs from what is deployed, else `image-and-dags`.
    Infer,
}

impl DeployKind {
    /// Astro's deploy type for this kind; `Infer` must be resolved first.
    pub fn api_type(self) -> DeployType {
        match self {
            DeployKind::Dags => DeployType::DagOnly,
            DeployKind::Image => DeployType::ImageOnly,
            DeployKind::ImageAndDags | DeployKind::Infer => DeployType::ImageAndDag,
        }
    }

    fn ships_image(self) -> bool {
        self != DeployKind::Dags
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
    /// Wait for the new code to run; `None` returns once the deploy is finalized.
    pub wait: Option<WaitOptions>,
    /// Wake a hibernating development Deployment for the deploy.
    pub wake: bool,
    /// The token the client uses: its claims for the checks, its secret for registry logins.
    pub token: TokenClaims,
    pub api_token: ApiToken,
    pub upload: UploadOptions,
    pub image: ImageRequest,
    /// The policy and the facts about the run it is judged on.
    pub policy: PolicyInputs,
}

/// What the plan judges the deploy policy on, besides the Deployment and the token.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    pub config: PolicyConfig,
    pub run: RunFacts,
    /// The change is to preview Deployments: whatever Deployment is judged, the `previews:`
    /// rules apply, in the preview commands' own checks and in the plan of their deploys alike.
    pub previews: bool,
}

impl PolicyInputs {
    /// Judges the policy for `deployment` and the token; changes nothing.
    pub fn decide(&self, deployment: DeploymentFacts, token: &TokenFacts) -> Decision {
        let deployment = DeploymentFacts {
            is_preview: deployment.is_preview || self.previews,
            ..deployment
        };
        let facts = Facts {
            run: self.run.clone(),
            deployment,
            token: token.clone(),
            now: OffsetDateTime::now_utc(),
        };
        policy::evaluate(&self.config, &facts)
    }
}

/// What the policy knows of the token: IAM's `endAt` and roles when the token may read itself
/// (an Organization or Workspace API token), else its claims. Only reads.
pub async fn token_facts(client: &Client, claims: &TokenClaims) -> TokenFacts {
    let id = claims.api_token_id.as_deref();
    let Some(id) = id.filter(|_| claims.kind() != TokenKind::UserSession) else {
        return TokenFacts::from_claims(claims);
    };

    match client.get_token(id).await {
        Ok(token) => TokenFacts::from_iam(claims, &token),
        Err(error) => {
            // A Deployment token may not read IAM: its claims are all there is to judge.
            tracing::debug!(%error, "the token's IAM record is out of reach; judging its claims");
            TokenFacts::from_claims(claims)
        }
    }
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
    pub astro_runtime_version: String,
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
            astro_runtime_version: deployment.astro_runtime_version.clone(),
            current_dag_tarball_version: deployment.dag_tarball_version.clone(),
        }
    }
}

/// A deploy that passed every check and is ready to run. Holds the built bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub deployment: TargetFacts,
    /// What ships; never `infer`.
    pub kind: DeployKind,
    pub deploy_type: String,
    /// Why `--type infer` chose `kind`.
    pub inferred: Option<String>,
    pub description: Option<String>,
    /// The DAG bundle, when the DAGs ship as one.
    pub bundle: Option<BundleSummary>,
    pub image: Option<ImagePlan>,
    /// The Deployment hibernates and will be woken for the deploy.
    pub wake: bool,
    pub wait: bool,
    pub warnings: Vec<String>,
    /// Every rule of the deploy policy, judged; a plan exists only when none failed.
    pub policy: Decision,
    #[serde(skip)]
    target: Deployment,
    #[serde(skip)]
    offered_runtimes: Vec<String>,
    #[serde(skip)]
    wait_options: Option<WaitOptions>,
    #[serde(skip)]
    bundle_file: Option<tempfile::NamedTempFile>,
    #[serde(skip)]
    project: Project,
    #[serde(skip)]
    inputs: DeployInputs,
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployState {
    /// Finalized; not waited for.
    Finalized,
    /// The Deployment runs the new code and is healthy.
    Live,
    /// Finalized, but the Deployment hibernates: the new code rolls out when it wakes.
    PendingWake,
}

/// What was pushed for an image deploy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageOutcome {
    /// `<imageRepository>:<imageTag>`.
    pub reference: String,
    pub digest: String,
    /// `code-only`, `full-build` or `prebuilt`.
    pub route: produce::ImageRoute,
    pub full_build_reason: Option<String>,
    pub runtime_version: Option<String>,
    pub bytes_uploaded: u64,
    pub layers_uploaded: usize,
    pub layers_skipped: usize,
    pub layers_mounted: usize,
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
    pub inferred: Option<String>,
    pub bundle: Option<BundleSummary>,
    pub bundle_version: Option<String>,
    pub image: Option<ImageOutcome>,
    pub state: DeployState,
    /// The Deployment's status when the deploy ended.
    pub deployment_status: String,
    pub woke: bool,
    pub warnings: Vec<String>,
}

/// Reads the target and the project, decides and checks the deploy, and builds the bundle.
/// Changes nothing.
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
    let token = token_facts(client, &inputs.token).await;
    let decision = inputs
        .policy
        .decide(DeploymentFacts::from(&deployment), &token);
    if !decision.allowed() {
        return Err(DeployError::PolicyDenied(Box::new(decision)));
    }
    let (kind, inferred) = resolve_kind(inputs, &project, &deployment).await?;
    check_deployment(&deployment, kind, &inputs.token)?;

    let dag_deploys = deployment.is_dag_deploy_enabled;
    let ships_bundle =
        kind == DeployKind::Dags || (kind == DeployKind::ImageAndDags && dag_deploys);
    let (bundle, bundle_file) = match ships_bundle {
        true => {
            let (summary, file) = build_bundle(&project).await?;
            progress.event(Event::BundleBuilt {
                files: summary.files,
                bytes: summary.bytes,
                sha256: summary.sha256.clone(),
            });
            (Some(summary), Some(file))
        }
        false => (None, None),
    };

    let (image, offered_runtimes) = match kind.ships_image() {
        true => {
            let token = inputs.api_token.expose();
            let image =
                produce::plan(&project, &deployment, &inputs.image, dag_deploys, token).await?;
            progress.event(Event::ImagePlanned {
                route: image.route.to_string(),
                reason: image.full_build_reason.clone(),
            });
            let options = client.deployment_options_for(&deployment.id).await?;
            let offered = options
                .runtime_releases
                .into_iter()
                .map(|r| r.version)
                .collect();
            (Some(image), offered)
        }
        false => (None, Vec::new()),
    };

    let mut warnings = warnings_for(&deployment, inputs, bundle.as_ref(), image.as_ref());
    warnings.extend(policy_warnings(&decision));
    for warning in &warnings {
        progress.event(Event::Warning(warning.clone()));
    }

    Ok(Plan {
        deployment: TargetFacts::from(&deployment),
        kind,
        deploy_type: kind.api_type().to_string(),
        inferred,
        description: inputs.description.clone(),
        bundle,
        image,
        wake: inputs.wake && deployment.status == DeploymentStatus::Hibernating,
        wait: inputs.wait.is_some(),
        warnings,
        policy: decision,
        target: deployment,
        offered_runtimes,
        wait_options: inputs.wait,
        bundle_file,
        project,
        inputs: inputs.clone(),
    })
}

fn warnings_for(
    deployment: &Deployment,
    inputs: &DeployInputs,
    bundle: Option<&BundleSummary>,
    image: Option<&ImagePlan>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if bundle.is_some_and(|b| b.files == 0) {
        warnings.push("dags/ holds no files: this deploy removes every DAG".to_owned());
    }
    if deployment.status == DeploymentStatus::Hibernating && !inputs.wake {
        warnings.push(format!(
            "Deployment `{}` is hibernating: the new code runs when it wakes (add --wake to wake \
             it for the deploy)",
            deployment.name
        ));
    }
    if image.is_some_and(|i| i.checks_skipped) {
        warnings.push("--skip-checks: no tests or DAG imports run before the push".to_owned());
    }
    warnings
}

/// The policy's warnings, as plan warnings: `token-expiry: the token expires ... (rotate ...)`.
pub fn policy_warnings(decision: &Decision) -> Vec<String> {
    decision
        .results
        .iter()
        .filter(|result| result.verdict == Verdict::Warn)
        .map(|result| match &result.fix {
            Some(fix) => format!("policy {}: {}; {fix}", result.rule, result.fact),
            None => format!("policy {}: {}", result.rule, result.fact),
        })
        .collect()
}

/// `--type infer` decided: DAGs only when nothing outside `dags/` changed since the deployed
/// image, which records a fingerprint of the other project files.
async fn resolve_kind(
    inputs: &DeployInputs,
    project: &Project,
    deployment: &Deployment,
) -> Result<(DeployKind, Option<String>), DeployError> {
    if inputs.kind != DeployKind::Infer {
        return Ok((inputs.kind, None));
    }
    let full = |why: &str| Ok((DeployKind::ImageAndDags, Some(why.to_owned())));
    if inputs.image.prebuilt.is_some() {
        return full("an image was named with --image-name");
    }
    if !deployment.is_dag_deploy_enabled {
        return full("DAG deploys are off, so the DAGs ship in the image");
    }

    let token = inputs.api_token.expose();
    match produce::only_dags_changed(project, deployment, token).await? {
        Some(true) => Ok((
            DeployKind::Dags,
            Some("only files under dags/ changed".to_owned()),
        )),
        Some(false) => full("files outside dags/ changed since the deployed image"),
        None => full("the deployed image records no project fingerprint to compare with"),
    }
}

/// Carries a plan out. The bundle and image files are removed when the plan is dropped.
pub async fn execute(
    client: &Client,
    plan: Plan,
    progress: &dyn Progress,
) -> Result<Outcome, DeployError> {
    let image = match &plan.image {
        Some(image_plan) => Some(make_image(&plan, image_plan, progress).await?),
        None => None,
    };

    if !plan.wake {
        return deploy(client, &plan, image.as_ref(), progress).await;
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

    let result = deploy(client, &plan, image.as_ref(), progress).await;

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

/// Makes the image locally and checks its runtime: nothing on Astro changes if this fails.
async fn make_image(
    plan: &Plan,
    image_plan: &ImagePlan,
    progress: &dyn Progress,
) -> Result<ProducedImage, DeployError> {
    let inputs = &plan.inputs;
    let token = inputs.api_token.expose();
    let produced = produce::produce(
        image_plan,
        &plan.project,
        &inputs.image,
        &plan.deployment.id,
        token,
        progress,
    )
    .await?;

    match &produced.runtime_version {
        Some(runtime) => {
            let offered = &plan.offered_runtimes;
            if let Some(warning) = produce::check_runtime(runtime, &plan.target, offered)? {
                progress.event(Event::Warning(warning));
            }
        }
        None => progress.event(Event::Warning(
            "the image names no Astro Runtime version; Astro checks it when the deploy is \
             finalized"
                .to_owned(),
        )),
    }
    Ok(produced)
}

async fn deploy(
    client: &Client,
    plan: &Plan,
    image: Option<&ProducedImage>,
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

    let image_outcome = match (image, &plan.image) {
        (Some(image), Some(image_plan)) => {
            Some(push_image(image, image_plan, &deploy, plan, progress).await?)
        }
        _ => None,
    };

    let bundle_version = match &plan.bundle_file {
        Some(file) => Some(upload_bundle(&deploy, file.path(), plan, progress).await?),
        None => None,
    };

    // Astro's finalize body: the bundle's version; an empty one for an image deploy that
    // leaves the DAGs alone; nothing at all when DAG deploys are off.
    let dag_tarball_version = match (&bundle_version, target.is_dag_deploy_enabled) {
        (Some(version), _) => Some(version.clone()),
        (None, true) => Some(String::new()),
        (None, false) => None,
    };
    let finalize = FinalizeDeployRequest {
        dag_tarball_version,
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
    let expected = Rollout {
        bundle_version: bundle_version.clone(),
        image_tag: image_outcome.as_ref().map(|_| deploy.image_tag.clone()),
    };
    let (state, status) = match wait {
        Some(options) => wait_for_rollout(client, &target.id, &expected, options, progress).await?,
        None => (DeployState::Finalized, target.status.clone()),
    };

    Ok(Outcome {
        deployment_id: target.id.clone(),
        deployment_name: target.name.clone(),
        workspace_id: target.workspace_id.clone(),
        web_server_url: target.web_server_url.clone(),
        deploy_id: deploy.id,
        deploy_type: plan.deploy_type.clone(),
        inferred: plan.inferred.clone(),
        bundle: plan.bundle.clone(),
        bundle_version,
        image: image_outcome,
        state,
        deployment_status: status,
        woke: plan.wake,
        warnings: plan.warnings.clone(),
    })
}

async fn push_image(
    image: &ProducedImage,
    image_plan: &ImagePlan,
    deploy: &astro_api::models::Deploy,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<ImageOutcome, DeployError> {
    let target = produce::target_reference(&deploy.image_repository, &deploy.image_tag)?;
    progress.event(Event::Pushing {
        reference: target.to_string(),
    });

    let token = plan.inputs.api_token.expose();
    let report = produce::push(image, &target, token, &PushEvents(progress)).await?;
    progress.event(Event::ImagePushed {
        reference: target.to_string(),
        digest: report.manifest_digest.to_string(),
        bytes_uploaded: report.bytes_uploaded,
    });

    Ok(ImageOutcome {
        reference: target.to_string(),
        digest: report.manifest_digest.to_string(),
        route: image.route,
        full_build_reason: image_plan.full_build_reason.clone(),
        runtime_version: image.runtime_version.clone(),
        bytes_uploaded: report.bytes_uploaded,
        layers_uploaded: report.layers_uploaded,
        layers_skipped: report.layers_skipped,
        layers_mounted: report.layers_mounted,
    })
}

/// Passes a push's layer events on as the core's progress events.
struct PushEvents<'a>(&'a dyn Progress);

impl registry::PushProgress for PushEvents<'_> {
    fn layer_started(&self, digest: &registry::Digest, size: u64) {
        self.0.event(Event::LayerStarted {
            digest: digest.to_string(),
            size,
        });
    }

    fn layer_bytes_sent(&self, digest: &registry::Digest, sent: u64) {
        self.0.event(Event::LayerProgress {
            digest: digest.to_string(),
            sent,
        });
    }

    fn layer_skipped(&self, digest: &registry::Digest) {
        self.0.event(Event::LayerDone {
            digest: digest.to_string(),
            how: "skipped",
        });
    }

    fn layer_mounted(&self, digest: &registry::Digest, _from: &str) {
        self.0.event(Event::LayerDone {
            digest: digest.to_string(),
            how: "mounted",
        });
    }

    fn layer_uploaded(&self, digest: &registry::Digest) {
        self.0.event(Event::LayerDone {
            digest: digest.to_string(),
            how: "uploaded",
        });
    }
}

async fn upload_bundle(
    deploy: &astro_api::models::Deploy,
    file: &std::path::Path,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    let upload_url = deploy
        .dags_upload_url
        .as_deref()
        .filter(|url| !url.is_empty())
        .ok_or_else(|| DeployError::NoUploadUrl {
            deploy_id: deploy.id.clone(),
        })?;
    let total = plan.bundle.as_ref().map_or(0, |b| b.bytes);
    let version = upload(upload_url, file, total, &plan.inputs.upload, progress)
        .await?
        .ok_or_else(|| DeployError::NoBundleVersion {
            deploy_id: deploy.id.clone(),
        })?;
    progress.event(Event::UploadFinished {
        version: version.clone(),
    });
    Ok(version)
}

/// What the Deployment runs once the deploy has rolled out.
struct Rollout {
    bundle_version: Option<String>,
    image_tag: Option<String>,
}

impl Rollout {
    fn done(&self, deployment: &Deployment) -> bool {
        let bundle = self.bundle_version.as_ref().is_none_or(|version| {
            deployment.dag_tarball_version.as_deref() == Some(version.as_str())
        });
        let image = self
            .image_tag
            .as_ref()
            .is_none_or(|tag| &deployment.image_tag == tag);
        bundle && image
    }
}

async fn upload(
    url: &str,
    file: &std::path::Path,
    total: u64,
    options: &UploadOptions,
    progress: &dyn Progress,
) -> Result<Option<String>, DeployError> {
    progress.event(Event::UploadStarted { total_bytes: total });

    let uploader = BlobUploader::new(options.clone()).map_err(DeployError::Upload)?;
    let on_progress = |sent| {
        progress.event(Event::UploadProgress {
            sent_bytes: sent,
            total_bytes: total,
        })
    };
    let receipt = uploader
        .upload_file(url, file, &on_progress)
        .await
        .map_err(DeployError::Upload)?;
    Ok(receipt.version_id)
}

async fn wait_for_rollout(
    client: &Client,
    deployment_id: &str,
    expected: &Rollout,
    options: WaitOptions,
    progress: &dyn Progress,
) -> Result<(DeployState, String), DeployError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);

    loop {
        let deployment = client.get_deployment(deployment_id).await?;
        let rolled_out = expected.done(&deployment);
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

fn check_deployment(
    deployment: &Deployment,
    kind: DeployKind,
    token: &TokenClaims,
) -> Result<(), DeployError> {
    let name = || format!("{} ({})", deployment.name, deployment.id);
    if !deployment.is_dag_deploy_enabled {
        match kind {
            DeployKind::Dags => return Err(DeployError::DagDeploysDisabled { deployment: name() }),
            DeployKind::Image => {
                return Err(DeployError::ImageOnlyNeedsDagDeploys {
                    kind: "IMAGE_ONLY".to_owned(),
                    deployment: name(),
                })
            }
            DeployKind::ImageAndDags | DeployKind::Infer => {}
        }
    }
    if deployment.is_cicd_enforced && token.kind() == TokenKind::UserSession {
        return Err(DeployError::CicdEnforced { deployment: name() });
    }
    Ok(())
}

/// The Deployment `target` names: by id, or by a name that must match exactly one.
pub async fn resolve_target(client: &Client, target: &Target) -> Result<Deployment, DeployError> {
    resolve(client, target).await
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

async fn build_bundle(
    project: &Project,
) -> Result<(BundleSummary, tempfile::NamedTempFile), DeployError> {
    let file = tempfile::Builder::new()
        .prefix("astro-deploy-dags-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(DeployError::TempFile)?;
    let root = project.root().to_owned();
    let output = file.path().to_owned();

    // Bundling reads and compresses files: keep it off the async workers.
    let summary = tokio::task::spawn_blocking(move || write_dag_bundle(&root, &output))
        .await
        .map_err(|join| DeployError::TempFile(std::io::Error::other(join.to_string())))?
        .map_err(DeployError::Bundle)?;
    Ok((summary, file))
}
