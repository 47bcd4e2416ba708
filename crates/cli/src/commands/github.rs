//! `astro-deploy ci github`: the GitHub Action's entrypoint. The same deploy as `deploy`, then
//! what a workflow shows of it: step outputs, a job summary, annotations, one pull request
//! comment kept up to date, and a GitHub Deployment.
//!
//! With `--type infer`, the event's commits decide for the project: nothing changed under its
//! root (the run skips, and the outputs `skipped` and `skip-reason` say so), only its `dags/`
//! changed (a DAG deploy), or anything else, including "cannot tell" (a full deploy).

use ci::github::{
    append_summary, comment_marker, write_outputs, DeployReport, GithubEnv, WorkflowCommand,
};
use ci::github_api::{ApiOutcome, DeploymentRequest, GithubApi};
use ci::github_event::GithubEvent;

use super::{ci_preview, infer};
use crate::args::{CiPreviewCommand, DeployArgs, OutputFormat};
use crate::exit::Failure;

pub async fn run(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    let env = GithubEnv::from_env();
    mask_secrets(&env);
    let deployment = infer::deployment_ref(&args);

    println!(
        "{}",
        WorkflowCommand::Group(&format!("Deploying to {}", deployment.id))
    );
    let result = infer::deploy(&args, format, read_event).await;
    println!("{}", WorkflowCommand::EndGroup);

    let (report, failure) = infer::report(result, deployment);

    publish(&env, &report, failure.as_ref(), true).await;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// `ci github-preview`: a preview step, then the same outputs, summary, comment and GitHub
/// Deployment as a deploy, for the preview; a delete marks the preview's environment inactive.
pub async fn preview(command: CiPreviewCommand, format: OutputFormat) -> Result<(), Failure> {
    let env = GithubEnv::from_env();
    mask_secrets(&env);

    println!("{}", WorkflowCommand::Group(&ci_preview::title(&command)));
    let step = ci_preview::run(command, format).await;
    println!("{}", WorkflowCommand::EndGroup);

    let comment = step.worth_a_comment();
    publish(&env, &step.report, step.failure.as_ref(), comment).await;
    deactivate_environments(&env, &step.deleted).await;
    match step.failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

fn read_event() -> Result<ci::event::CiEvent, Failure> {
    GithubEvent::from_env(&infer::env_var)
        .map_err(|error| infer::event_failure(error, "run this inside GitHub Actions"))
}

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

/// Outputs, summary, annotations, the pull request comment (when `comment`) and the GitHub
/// Deployment. Nothing here fails the run: the deploy already happened (or failed) and says so
/// itself.
async fn publish(env: &GithubEnv, report: &DeployReport, failure: Option<&Failure>, comment: bool) {
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
    github_api(env, report, comment).await;
}

/// The GitHub API client for the run's repository, when the run has a token for it.
fn api_client(env: &GithubEnv) -> Option<GithubApi> {
    let (Some(token), Some(repository)) = (&env.token, &env.repository) else {
        return None;
    };
    match GithubApi::new(&env.api_url, repository, token.clone()) {
        Ok(api) => Some(api),
        Err(error) => {
            warn(&format!("the GitHub API: {error}"));
            None
        }
    }
}

async fn github_api(env: &GithubEnv, report: &DeployReport, comment: bool) {
    let Some(api) = api_client(env) else {
        return;
    };

    if let Some(number) = env.pull_request_number().filter(|_| comment) {
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

/// The GitHub environments of deleted previews show as gone rather than as live links.
async fn deactivate_environments(env: &GithubEnv, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let Some(api) = api_client(env) else {
        return;
    };
    for name in names {
        match api.deactivate_environment(name).await {
            Ok(ApiOutcome::Done(_)) => {}
            Ok(ApiOutcome::NotPermitted(denied)) => {
                warn(&format!("{}; hint: {}", denied.warning(), denied.hint()))
            }
            Err(error) => warn(&format!(
                "marking the environment `{name}` inactive: {error}"
            )),
        }
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
