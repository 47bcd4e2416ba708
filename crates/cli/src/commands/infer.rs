//! The deploy of a CI entrypoint (`ci github`, `ci gitlab`): the flags of `deploy`, with
//! `--type infer` decided by the CI event's commits. Nothing changed under the project's root
//! (the run skips), only its `dags/` changed (a DAG deploy), or anything else, including "cannot
//! tell" (a full deploy). Each entrypoint reads its own CI's event and publishes the report in
//! its CI's own ways.

use ci::event::{CiEvent, EventError};
use ci::github::{DeployReport, DeploymentRef};
use deploy::changes::{self, Decision, HistoryOptions, ProjectRoot};
use deploy::pipeline::{DeployKind, Outcome, Target};

use crate::args::{DeployArgs, DeployTypeArg, OutputFormat};
use crate::config;
use crate::exit::Failure;
use crate::report::{self, Reporter};

/// Why the run did not deploy.
pub enum Stop {
    /// Nothing to deploy, on purpose: the reason.
    Skip(String),
    Fail(Failure),
}
use Stop::{Fail, Skip};

/// Runs the deploy the flags ask for; `read_event` is called for `--type infer`, and after a
/// `--type dags` deploy to say what it left out.
pub async fn deploy(
    args: &DeployArgs,
    format: OutputFormat,
    read_event: impl FnOnce() -> Result<CiEvent, Failure>,
) -> Result<Outcome, Stop> {
    // Why the event's commits chose the type: the outputs and summary say it, so a full deploy
    // after a shallow clone or a new branch is never a mystery.
    let (kind, inferred, after_dags) = match args.deploy_type {
        DeployTypeArg::Infer => {
            let event = read_event().map_err(Fail)?;
            match decide(args, &event).await.map_err(Fail)? {
                Decision::Nothing { reason } => return Err(Skip(reason)),
                Decision::DagsOnly { reason, .. } => (DeployKind::Dags, Some(reason), None),
                Decision::Full { reason } => (DeployKind::ImageAndDags, Some(reason), None),
            }
        }
        DeployTypeArg::Dags => (DeployKind::Dags, None, Some(read_event)),
        DeployTypeArg::Image => (DeployKind::Image, None, None),
        DeployTypeArg::ImageAndDags => (DeployKind::ImageAndDags, None, None),
    };

    let connection = config::connect(&args.api).map_err(Fail)?;
    let image = super::deploy::image_request(&args.image).map_err(Fail)?;
    let target = match (&args.deployment_id, &args.deployment_name) {
        (Some(id), _) => Target::Id(id.clone()),
        (None, name) => Target::Name {
            name: name.clone().unwrap_or_default(),
            workspace_id: args.workspace_id.clone(),
        },
    };
    let policy = super::deploy::policy_inputs(args, &args.project)
        .await
        .map_err(Fail)?;
    let work = (target, kind, args.project.clone());
    let inputs = super::deploy::shared_inputs(args, &connection, image, work, policy);

    let reporter = Reporter::new();
    let plan = deploy::plan(&connection.client, &inputs, &reporter)
        .await
        .map_err(|e| Fail(Failure::from_deploy(e)))?;
    let mut outcome = deploy::execute(&connection.client, plan, &reporter)
        .await
        .map_err(|e| Fail(Failure::from_deploy(e)))?;
    if inferred.is_some() {
        outcome.inferred = inferred;
    }
    if let Some(read_event) = after_dags {
        outcome
            .warnings
            .extend(left_out_of_a_dag_deploy(args, read_event).await);
    }
    report::outcome(&outcome, format);
    Ok(outcome)
}

/// A DAG deploy ships only `dags/`: when the event's commits changed more of the project, the
/// run says what stayed behind instead of looking like a whole deploy. Nothing is said when the
/// commits cannot be compared; that is a question for `--type infer`.
async fn left_out_of_a_dag_deploy(
    args: &DeployArgs,
    read_event: impl FnOnce() -> Result<CiEvent, Failure>,
) -> Option<String> {
    let event = read_event().ok()?;
    if event
        .range
        .as_ref()
        .is_none_or(|range| range.base.is_none())
    {
        return None;
    }
    match decide(args, &event).await {
        Ok(Decision::Full { reason }) => Some(format!(
            "only dags/ was deployed, but more of the project changed ({reason}); deploy with \
             --type infer or image-and-dags to ship the rest"
        )),
        Ok(_) => None,
        Err(failure) => {
            tracing::debug!(
                "not comparing the commits after a DAG deploy: {}",
                failure.message
            );
            None
        }
    }
}

/// The report of the run, and the failure that ends it, if any.
pub fn report(
    result: Result<Outcome, Stop>,
    deployment: DeploymentRef,
) -> (DeployReport, Option<Failure>) {
    match result {
        Ok(outcome) => (DeployReport::from_outcome(&outcome), None),
        Err(Skip(reason)) => (DeployReport::skipped(deployment, reason), None),
        Err(Fail(failure)) => {
            let message = std::iter::once(failure.message.clone())
                .chain(failure.causes.iter().map(|c| format!("caused by: {c}")))
                .collect::<Vec<_>>()
                .join("\n");
            (
                DeployReport::failed(deployment, message, failure.hint.clone()),
                Some(failure),
            )
        }
    }
}

/// The Deployment the flags name, for a report of a run that did not deploy.
pub fn deployment_ref(args: &DeployArgs) -> DeploymentRef {
    let id = args
        .deployment_id
        .clone()
        .or(args.deployment_name.clone())
        .unwrap_or_default();
    DeploymentRef {
        id,
        workspace_id: args.workspace_id.clone(),
        ..DeploymentRef::default()
    }
}

/// An event that cannot be read, as a failure; `fallback_hint` when the error has none.
pub fn event_failure(error: EventError, fallback_hint: &str) -> Failure {
    let hint = error.hint().unwrap_or(fallback_hint);
    Failure::input(error.to_string())
        .with_cause(&error)
        .hint(hint)
}

/// The process environment, with empty variables counted as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// What the event's commits call for in the project folder.
async fn decide(args: &DeployArgs, event: &CiEvent) -> Result<Decision, Failure> {
    if let Some(reason) = event.nothing_to_deploy() {
        return Ok(Decision::Nothing { reason });
    }
    let Some(range) = &event.range else {
        let reason = format!(
            "the `{}` event names no commits to compare",
            event.event_name
        );
        return Ok(Decision::Full { reason });
    };

    let changes_failure = |error: changes::ChangesError| {
        let failure = Failure::input(error.to_string()).with_cause(&error);
        match error.hint() {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    };
    let toplevel = changes::toplevel(&args.project)
        .await
        .map_err(changes_failure)?;
    let folder = args
        .project
        .canonicalize()
        .unwrap_or_else(|_| args.project.clone());
    let root = ProjectRoot::from_folder(&toplevel, &folder).map_err(changes_failure)?;
    let detection = changes::detect(&toplevel, range, &HistoryOptions::default())
        .await
        .map_err(changes_failure)?;
    let decision = detection.decide(&root);
    tracing::info!("{}", decision.reason());
    Ok(decision)
}
