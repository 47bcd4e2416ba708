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

use super::infer;
use crate::args::{DeployArgs, OutputFormat};
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

    publish(&env, &report, failure.as_ref()).await;
    match failure {
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
