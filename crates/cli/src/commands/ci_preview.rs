//! The preview steps of the CI entrypoints (`ci github-preview`, `ci gitlab-preview`): the
//! `preview create|deploy|delete` commands, printed as they print, and turned into the report
//! that each CI adapter publishes in its own ways.

use ci::github::{DeployReport, DeploymentRef};

use super::infer::{self, Stop};
use super::preview::{self, Step};
use crate::args::{CiPreviewCommand, OutputFormat, PreviewBaseArgs};
use crate::exit::Failure;

/// What a preview step leaves for its CI to publish.
pub struct PreviewStep {
    pub report: DeployReport,
    pub failure: Option<Failure>,
    /// The names of the preview Deployments this run deleted: their CI environments are gone.
    pub deleted: Vec<String>,
}

impl PreviewStep {
    /// Whether a pull or merge request should hear of this run: a delete that found nothing
    /// to delete has nothing to tell it.
    pub fn worth_a_comment(&self) -> bool {
        !(self.report.preview.is_none() && self.failure.is_none() && self.deleted.is_empty())
    }
}

/// A short line naming the step, for the CI log's group title.
pub fn title(command: &CiPreviewCommand) -> String {
    let (verb, base) = match command {
        CiPreviewCommand::Create(args) => ("Creating", &args.base),
        CiPreviewCommand::Deploy(args) => ("Deploying", &args.base),
        CiPreviewCommand::Delete(args) => ("Deleting", &args.base),
    };
    format!("{verb} the preview of {}", base_label(base))
}

pub async fn run(command: CiPreviewCommand, format: OutputFormat) -> PreviewStep {
    match command {
        CiPreviewCommand::Create(args) => deploy(&args, Step::Create, format).await,
        CiPreviewCommand::Deploy(args) => deploy(&args, Step::Deploy, format).await,
        CiPreviewCommand::Delete(args) => delete(&args, format).await,
    }
}

async fn deploy(
    args: &crate::args::PreviewDeployArgs,
    step: Step,
    format: OutputFormat,
) -> PreviewStep {
    match preview::run_deploy(args, step).await {
        Ok(run) => {
            preview::print_deploy(&run, format);
            PreviewStep {
                report: DeployReport::from_outcome(&run.outcome).with_preview(),
                failure: None,
                deleted: Vec::new(),
            }
        }
        Err(failure) => failed(&args.base, failure),
    }
}

async fn delete(args: &crate::args::PreviewDeleteArgs, format: OutputFormat) -> PreviewStep {
    let run = match preview::run_delete(args).await {
        Ok(run) => run,
        Err(failure) => return failed(&args.base, failure),
    };
    preview::print_delete(&run, format);

    let deleted: Vec<String> = run.deleted.iter().map(|p| p.name.clone()).collect();
    let report = match run.deleted.first() {
        Some(first) => DeployReport::deleted(DeploymentRef {
            id: first.id.clone(),
            name: Some(first.name.clone()),
            workspace_id: Some(first.workspace_id.clone()),
            airflow_url: None,
        }),
        None => DeployReport::skipped(
            base_ref(&run.base.id, Some(&run.base.name)),
            format!(
                "no preview of `{}` for {}: nothing to delete",
                run.base.name, run.selected
            ),
        ),
    };
    PreviewStep {
        report,
        failure: None,
        deleted,
    }
}

/// The report of a step that failed: about the base, since the preview may not exist.
fn failed(base: &PreviewBaseArgs, failure: Failure) -> PreviewStep {
    let deployment = base_ref(base_label(base), None);
    let (report, failure) = infer::report(Err(Stop::Fail(failure)), deployment);
    PreviewStep {
        report,
        failure,
        deleted: Vec::new(),
    }
}

fn base_ref(id: &str, name: Option<&str>) -> DeploymentRef {
    DeploymentRef {
        id: id.to_owned(),
        name: name.map(str::to_owned),
        ..DeploymentRef::default()
    }
}

/// The base as the flags name it (the config file may name it instead).
fn base_label(base: &PreviewBaseArgs) -> &str {
    base.base_deployment_id
        .as_deref()
        .or(base.base_deployment_name.as_deref())
        .unwrap_or("the configured base Deployment")
}
