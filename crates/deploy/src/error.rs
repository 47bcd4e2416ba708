//! Errors of a deploy, each with the kind of failure it is and a hint for the fix.

use std::time::Duration;

use astro_api::blob::BlobError;
use astro_api::ErrorKind;

use crate::bundle::BundleError;
use crate::project::ProjectError;

/// What kind of failure an error is; the CLI maps each to its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The project, a flag or a file is wrong.
    Input,
    /// The token is malformed, expired, refused, or may not do this.
    Authentication,
    /// The Deployment (or Workspace) does not exist or is ambiguous.
    NotFound,
    /// Astro refuses the deploy, or would: fix the Deployment's settings or the request.
    Refused,
    /// The deploy took effect but the Deployment did not become healthy in time.
    NotHealthy,
    /// The network, Astro or the storage failed, even after retries.
    Unavailable,
    /// A check inside the built image failed (`--pytest`, `--parse`).
    CheckFailed,
    /// The deploy policy denies it: nothing was changed.
    Denied,
    /// A bug in astro-deploy.
    Internal,
}

fn builder_kind(error: &crate::image::builder::BuilderError) -> FailureKind {
    use crate::image::builder::BuilderError;
    match error {
        BuilderError::CheckFailed { .. } => FailureKind::CheckFailed,
        BuilderError::CommandFailed { .. } | BuilderError::TimedOut { .. } => FailureKind::Input,
        _ => FailureKind::Input,
    }
}

fn registry_kind(error: &registry::Error) -> FailureKind {
    match error.status() {
        Some(401 | 403) => FailureKind::Authentication,
        Some(404) => FailureKind::NotFound,
        _ => FailureKind::Unavailable,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Project(#[from] ProjectError),

    #[error("building the DAG bundle")]
    Bundle(#[source] BundleError),

    #[error(transparent)]
    Api(#[from] astro_api::Error),

    #[error("uploading the DAG bundle")]
    Upload(#[source] BlobError),

    #[error("the API token expired at {expired_at}")]
    TokenExpired { expired_at: String },

    #[error("no Deployment is named `{name}`{}", in_workspace(.workspace_id))]
    NoDeploymentNamed {
        name: String,
        workspace_id: Option<String>,
        known: Vec<String>,
    },

    #[error("{count} Deployments are named `{name}`, in Workspaces {}", .workspace_ids.join(", "))]
    AmbiguousName {
        name: String,
        count: usize,
        workspace_ids: Vec<String>,
    },

    #[error("DAG deploys are disabled on Deployment `{deployment}`")]
    DagDeploysDisabled { deployment: String },

    #[error(
        "Deployment `{deployment}` enforces CI/CD, and the token is a personal session token, \
         not an API token"
    )]
    CicdEnforced { deployment: String },

    #[error("Astro created deploy `{deploy_id}` without a DAG upload URL")]
    NoUploadUrl { deploy_id: String },

    #[error(
        "the upload store returned no bundle version (`x-ms-version-id`) for deploy \
         `{deploy_id}`; the deploy was not finalized and changed nothing"
    )]
    NoBundleVersion { deploy_id: String },

    #[error(
        "Deployment `{deployment}` did not run the new bundle within {}: it is {status}; the \
         deploy was finalized and will still roll out",
        humanize(.waited)
    )]
    WaitTimedOut {
        deployment: String,
        status: String,
        waited: Duration,
    },

    #[error("writing a temporary file")]
    TempFile(#[source] std::io::Error),

    #[error(transparent)]
    Dockerfile(crate::image::dockerfile::DockerfileError),

    #[error("reading the project's dependency inputs")]
    Inputs(#[source] crate::image::inputs::InputsError),

    #[error("writing the project layer")]
    Layer(#[source] crate::image::layer::LayerError),

    #[error(transparent)]
    Builder(crate::image::builder::BuilderError),

    #[error(transparent)]
    Registry(registry::Error),

    #[error("the image name `{name}` is not usable: {reason}")]
    ImageName { name: String, reason: String },

    #[error("Astro Runtime `{runtime}` is not offered by Astro (offered: {})", .offered.join(", "))]
    RuntimeNotOffered {
        runtime: String,
        offered: Vec<String>,
    },

    #[error("the image's Astro Runtime `{runtime}` is older than the Deployment's `{current}`")]
    RuntimeDowngrade { runtime: String, current: String },

    #[error("`{kind}` deploys need DAG deploys, which are disabled on Deployment `{deployment}`")]
    ImageOnlyNeedsDagDeploys { kind: String, deployment: String },

    #[error("writing the image config")]
    Json(#[source] serde_json::Error),

    #[error(
        "the deploy policy denies this run for Deployment `{}`: {}",
        .0.deployment.name,
        denied_rules(.0)
    )]
    PolicyDenied(Box<crate::policy::Decision>),

    #[error("cannot change Deployment `{deployment}` from this tool: {reason}")]
    UpdateUnsupported { deployment: String, reason: String },

    #[error("cannot make a preview of Deployment `{base}`: {reason}")]
    PreviewUnsupported { base: String, reason: String },

    #[error(
        "preview `{name}` was not ready within {}: it is {status}",
        humanize(.waited)
    )]
    PreviewNotReady {
        name: String,
        status: String,
        waited: Duration,
    },

    #[error("branch `{branch}` has no preview of Deployment `{base}`")]
    NoPreview { branch: String, base: String },

    #[error("Deployment `{name}` is not a preview of `{base}` made by astro-deploy")]
    NotAPreview { name: String, base: String },

    #[error("internal error: {0}")]
    Internal(&'static str),
}

fn in_workspace(workspace_id: &Option<String>) -> String {
    workspace_id
        .as_ref()
        .map(|id| format!(" in Workspace `{id}`"))
        .unwrap_or_default()
}

fn denied_rules(decision: &crate::policy::Decision) -> String {
    decision
        .failures()
        .map(|rule| format!("{} ({})", rule.rule, rule.fact))
        .collect::<Vec<_>>()
        .join("; ")
}

fn humanize(duration: &Duration) -> String {
    format!("{}s", duration.as_secs())
}

impl DeployError {
    pub fn kind(&self) -> FailureKind {
        match self {
            DeployError::Project(_) | DeployError::Bundle(_) | DeployError::TempFile(_) => {
                FailureKind::Input
            }
            DeployError::Api(api) => match api.kind() {
                ErrorKind::Authentication | ErrorKind::Forbidden => FailureKind::Authentication,
                ErrorKind::NotFound => FailureKind::NotFound,
                ErrorKind::Refused => FailureKind::Refused,
                ErrorKind::Unavailable => FailureKind::Unavailable,
                ErrorKind::Configuration => FailureKind::Input,
            },
            DeployError::Upload(_) | DeployError::NoUploadUrl { .. } => FailureKind::Unavailable,
            DeployError::NoBundleVersion { .. } => FailureKind::Unavailable,
            DeployError::TokenExpired { .. } => FailureKind::Authentication,
            DeployError::NoDeploymentNamed { .. } | DeployError::AmbiguousName { .. } => {
                FailureKind::NotFound
            }
            DeployError::DagDeploysDisabled { .. } | DeployError::CicdEnforced { .. } => {
                FailureKind::Refused
            }
            DeployError::WaitTimedOut { .. } => FailureKind::NotHealthy,
            DeployError::Dockerfile(_)
            | DeployError::Inputs(_)
            | DeployError::Layer(_)
            | DeployError::ImageName { .. } => FailureKind::Input,
            DeployError::Builder(error) => builder_kind(error),
            DeployError::Registry(error) => registry_kind(error),
            DeployError::RuntimeNotOffered { .. }
            | DeployError::RuntimeDowngrade { .. }
            | DeployError::ImageOnlyNeedsDagDeploys { .. } => FailureKind::Refused,
            DeployError::UpdateUnsupported { .. } => FailureKind::Refused,
            DeployError::PreviewUnsupported { .. } | DeployError::NotAPreview { .. } => {
                FailureKind::Refused
            }
            DeployError::PreviewNotReady { .. } => FailureKind::NotHealthy,
            DeployError::PolicyDenied(_) => FailureKind::Denied,
            DeployError::NoPreview { .. } => FailureKind::NotFound,
            DeployError::Json(_) | DeployError::Internal(_) => FailureKind::Internal,
        }
    }

    pub fn hint(&self) -> Option<String> {
        let text = match self {
            DeployError::Project(error) => error.hint().to_owned(),
            DeployError::Bundle(error) => return error.hint().map(str::to_owned),
            DeployError::Api(error) => return error.hint(),
            DeployError::Upload(error) => return error.hint().map(str::to_owned),
            DeployError::TokenExpired { .. } => {
                "create or rotate the API token in Astro and update the CI secret".to_owned()
            }
            DeployError::NoDeploymentNamed { known, .. } if !known.is_empty() => {
                format!("Deployments this token can see: {}", known.join(", "))
            }
            DeployError::NoDeploymentNamed { .. } => {
                "check the name, or give the Deployment id instead".to_owned()
            }
            DeployError::AmbiguousName { .. } => {
                "add --workspace-id, or give the Deployment id instead".to_owned()
            }
            DeployError::DagDeploysDisabled { .. } => {
                "enable DAG deploys on the Deployment, or deploy the whole image".to_owned()
            }
            DeployError::CicdEnforced { .. } => {
                "deploy from CI with a Deployment, Workspace or Organization API token".to_owned()
            }
            DeployError::NoBundleVersion { .. } => {
                "the upload URL points at storage without blob versioning; Astro's storage \
                 always sends a version, so check the API URL"
                    .to_owned()
            }
            DeployError::WaitTimedOut { .. } => {
                "raise --wait-timeout, or look at the Deployment in the Astro UI".to_owned()
            }
            DeployError::Dockerfile(error) => return error.hint().map(str::to_owned),
            DeployError::Inputs(error) => return error.hint().map(str::to_owned),
            DeployError::Layer(error) => return error.hint().map(str::to_owned),
            DeployError::Builder(error) => return error.hint().map(str::to_owned),
            DeployError::Registry(error) => return error.hint(),
            DeployError::ImageName { .. } => {
                "name an image as `name:tag`, or `host/path/name:tag` for a registry".to_owned()
            }
            DeployError::RuntimeNotOffered { .. } => {
                "change the FROM line of the Dockerfile to an offered Astro Runtime".to_owned()
            }
            DeployError::RuntimeDowngrade { .. } => {
                "Astro does not downgrade a Deployment's runtime: use its runtime or newer"
                    .to_owned()
            }
            DeployError::ImageOnlyNeedsDagDeploys { .. } => {
                "deploy with --type image-and-dags, or enable DAG deploys".to_owned()
            }
            DeployError::PolicyDenied(decision) => decision
                .failures()
                .filter_map(|rule| Some(format!("{}: {}", rule.rule, rule.fix.as_ref()?)))
                .collect::<Vec<_>>()
                .join("; "),
            DeployError::UpdateUnsupported { .. } => {
                "change the Deployment in the Astro UI instead".to_owned()
            }
            DeployError::PreviewUnsupported { .. } => {
                "previews copy Standard and Dedicated Deployments; pick such a base".to_owned()
            }
            DeployError::PreviewNotReady { .. } => {
                "raise --ready-timeout, or look at the preview in the Astro UI; re-running the \
                 same command picks the preview up where it is"
                    .to_owned()
            }
            DeployError::NoPreview { .. } => {
                "create it with `astro-deploy preview create`, or set `create-on-deploy: true`"
                    .to_owned()
            }
            DeployError::NotAPreview { .. } => {
                "astro-deploy only deletes Deployments it made as previews; delete this one in \
                 the Astro UI if it must go"
                    .to_owned()
            }
            DeployError::NoUploadUrl { .. }
            | DeployError::TempFile(_)
            | DeployError::Json(_)
            | DeployError::Internal(_) => return None,
        };
        Some(text)
    }
}
