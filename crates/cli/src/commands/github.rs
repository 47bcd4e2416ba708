//! `astro-deploy ci github`: the GitHub Action's entrypoint. The same deploy as `deploy`, then
//! what a workflow shows of it: step outputs, a job summary, annotations, one pull request
//! comment kept up to date, and a GitHub Deployment.
//!
//! With `--type infer`, the event's commits decide for the project: nothing changed under its
//! root (the run skips, and the outputs `skipped` and `skip-reason` say so), only its `dags/`
//! changed (a DAG deploy), or anything else, including "cannot tell" (a full deploy).

use ci::github::{
    append_summary, comment_marker, write_outputs, DeployReport, DeploymentRef, GithubEnv,
    WorkflowCommand,
};
use ci::github_api::{ApiOutcome, DeploymentRequest, GithubApi};
use ci::github_event::GithubEvent;
use deploy::changes::{self, Decision, HistoryOptions, ProjectRoot};
use deploy::pipeline::{DeployKind, Target};

use crate::args::{DeployArgs, DeployTypeArg, OutputFormat};
use crate::config;
use crate::exit::Failure;
use crate::report::{self, Reporter};

pub async fn run(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    let env = GithubEnv::from_env();
    mask_secrets(&env);
    let deployment = deployment_ref(&args);

    println!(
        "{}",
        WorkflowCommand::Group(&format!("Deploying to {}", deployment.id))
    );
    let result = deploy(&args, format).await;
    println!("{}", WorkflowCommand::EndGroup);

    let (report, failure) = match result {
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
    };

    publish(&env, &report, failure.as_ref()).await;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// Why the run did not deploy.
enum Stop {
    Skip(String),
    Fail(Failure),
}
use Stop::{Fail, Skip};

/// The runner hides these in every later log line: print the masks before anything else.
fn mask_secrets(env: &GithubEnv) {
    if let Ok(token) = std::env::var("ASTRO_API_TOKEN") {
        if !token.trim().is_empty() {
            println!("{}", WorkflowCommand::AddMask(token.trim()));
        }
    }
    if let Some(token) = &env.token {
        println!("{}", WorkflowCommand::AddMask(token.expose()));
    }
}

fn deployment_ref(args: &DeployArgs) -> DeploymentRef {
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

async fn deploy(
    args: &DeployArgs,
    format: OutputFormat,
) -> Result<deploy::pipeline::Outcome, Stop> {
    let kind = match args.deploy_type {
        DeployTypeArg::Infer => match infer_from_event(args).await.map_err(Fail)? {
            Decision::Nothing { reason } => return Err(Skip(reason)),
            Decision::DagsOnly { .. } => DeployKind::Dags,
            Decision::Full { .. } => DeployKind::ImageAndDags,
        },
        DeployTypeArg::Dags => DeployKind::Dags,
        DeployTypeArg::Image => DeployKind::Image,
        DeployTypeArg::ImageAndDags => DeployKind::ImageAndDags,
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
    let inputs =
        super::deploy::shared_inputs(args, &connection, image, target, kind, args.project.clone());

    let reporter = Reporter::new();
    let plan = deploy::plan(&connection.client, &inputs, &reporter)
        .await
        .map_err(|e| Fail(Failure::from_deploy(e)))?;
    let outcome = deploy::execute(&connection.client, plan, &reporter)
        .await
        .map_err(|e| Fail(Failure::from_deploy(e)))?;
    report::outcome(&outcome, format);
    Ok(outcome)
}

/// What the event's commits call for in the project folder.
async fn infer_from_event(args: &DeployArgs) -> Result<Decision, Failure> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let event = GithubEvent::from_env(&env).map_err(|error| {
        let hint = error.hint().unwrap_or("run this inside GitHub Actions");
        Failure::input(error.to_string())
            .with_cause(&error)
            .hint(hint)
    })?;
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

/// Outputs, summary, annotations, the pull request comment and the GitHub Deployment. Nothing
/// here fails the run: the deploy already happened (or failed) and says so itself.
async fn publish(env: &GithubEnv, report: &DeployReport, failure: Option<&Failure>) {
    for warning in &report.warnings {
        let title = Some("astro-deploy");
        println!(
            "{}",
            WorkflowCommand::Warning {
                title,
                message: warning
            }
        );
    }
    if let Some(failure) = failure {
        let title = Some("astro-deploy deploy failed");
        println!(
            "{}",
            WorkflowCommand::Error {
                title,
                message: &failure.message
            }
        );
    }

    if let Some(path) = &env.output_file {
        if let Err(error) = write_outputs(path, &report.outputs()) {
            warn(&format!("writing the step outputs: {error}"));
        }
    }
    if let Some(path) = &env.summary_file {
        if let Err(error) = append_summary(path, &report.summary_markdown()) {
            warn(&format!("writing the job summary: {error}"));
        }
    }
    github_api(env, report).await;
}

async fn github_api(env: &GithubEnv, report: &DeployReport) {
    let (Some(token), Some(repository)) = (&env.token, &env.repository) else {
        return;
    };
    let api = match GithubApi::new(&env.api_url, repository, token.clone()) {
        Ok(api) => api,
        Err(error) => return warn(&format!("the GitHub API: {error}")),
    };

    if let Some(number) = env.pull_request_number() {
        let marker = comment_marker(&report.deployment.id);
        let body = report.comment_markdown(env.run_url().as_deref(), env.sha.as_deref());
        match api.upsert_pr_comment(number, &marker, &body).await {
            Ok(ApiOutcome::Done(_)) => {}
            Ok(ApiOutcome::NotPermitted(denied)) => {
                warn(&format!("{}; hint: {}", denied.warning(), denied.hint()))
            }
            Err(error) => warn(&format!("commenting on pull request #{number}: {error}")),
        }
    }

    let Some(git_ref) = env.deployment_ref() else {
        return;
    };
    let Some((deployment, status)) =
        DeploymentRequest::for_report(report, &git_ref, env.run_url().as_deref())
    else {
        return;
    };
    match api.record_deployment(&deployment, &status).await {
        Ok(ApiOutcome::Done(_)) => {}
        Ok(ApiOutcome::NotPermitted(denied)) => {
            warn(&format!("{}; hint: {}", denied.warning(), denied.hint()))
        }
        Err(error) => warn(&format!("recording a GitHub Deployment: {error}")),
    }
}

fn warn(message: &str) {
    println!(
        "{}",
        WorkflowCommand::Warning {
            title: Some("astro-deploy"),
            message
        }
    );
}
