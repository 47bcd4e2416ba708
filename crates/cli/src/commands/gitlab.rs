//! `astro-deploy ci gitlab`: the GitLab CI template's entrypoint. The same deploy as `deploy`,
//! then what a pipeline shows of it: a dotenv report that later jobs get as variables, and, in a
//! merge request pipeline with `GITLAB_TOKEN`, one merge request note kept up to date.
//!
//! With `--type infer`, the pipeline's commits decide for the project as for `ci github`; a run
//! that skips says so in the report (`ASTRO_SKIPPED=true`, `ASTRO_SKIP_REASON`).
//!
//! The report's names do not reuse the inputs' (`ASTRO_DEPLOYMENT_ID`, `ASTRO_DEPLOY_TYPE`):
//! GitLab ranks dotenv variables above a job's own `variables:`, so a later job deploying to
//! another Deployment would otherwise be sent to this one.

use std::path::{Path, PathBuf};

use ci::event::CiEvent;
use ci::github::{comment_marker, DeployReport, ReportStatus};
use ci::gitlab_api::{ApiOutcome, GitlabApi, GitlabToken};
use ci::gitlab_event::GitlabEvent;

use super::{ci_preview, infer};
use crate::args::{CiPreviewCommand, DeployArgs, OutputFormat};
use crate::exit::Failure;

/// Where the dotenv report goes unless `ASTRO_DOTENV` says otherwise.
const DEFAULT_DOTENV: &str = "astro-deploy.env";
/// A dotenv value is kept to one line of at most this many characters.
const MAX_VALUE_CHARS: usize = 1000;

pub async fn run(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    let env = GitlabEnv::from_env();
    let deployment = infer::deployment_ref(&args);

    let result = infer::deploy(&args, format, read_event).await;
    let (report, failure) = infer::report(result, deployment);

    publish(&env, &report, true).await;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// `ci gitlab-preview`: a preview step, then the dotenv report (with the preview's id, name and
/// Airflow UI, for the job's `environment:url`) and the merge request note.
pub async fn preview(command: CiPreviewCommand, format: OutputFormat) -> Result<(), Failure> {
    let env = GitlabEnv::from_env();
    tracing::info!("{}", ci_preview::title(&command));

    let step = ci_preview::run(command, format).await;

    let note = step.worth_a_comment();
    publish(&env, &step.report, note).await;
    match step.failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

fn read_event() -> Result<CiEvent, Failure> {
    GitlabEvent::from_env(&infer::env_var)
        .map_err(|error| infer::event_failure(error, "run this inside a GitLab CI job"))
}

/// What the job's environment tells the report.
struct GitlabEnv {
    dotenv: PathBuf,
    token: Option<GitlabToken>,
    api_url: Option<String>,
    /// The project the merge request belongs to (its target).
    project_id: Option<String>,
    merge_request_iid: Option<String>,
    run_url: Option<String>,
    sha: Option<String>,
}

impl GitlabEnv {
    fn from_env() -> GitlabEnv {
        let var = infer::env_var;
        GitlabEnv {
            dotenv: var("ASTRO_DOTENV").map_or_else(|| DEFAULT_DOTENV.into(), PathBuf::from),
            token: var("GITLAB_TOKEN")
                .map(GitlabToken::new)
                .filter(|t| !t.expose().is_empty()),
            api_url: var("CI_API_V4_URL"),
            project_id: var("CI_MERGE_REQUEST_PROJECT_ID").or_else(|| var("CI_PROJECT_ID")),
            merge_request_iid: var("CI_MERGE_REQUEST_IID"),
            run_url: var("CI_JOB_URL").or_else(|| var("CI_PIPELINE_URL")),
            sha: var("CI_COMMIT_SHA"),
        }
    }
}

/// The dotenv report, a line for the skip and the merge request note (when `note`). Nothing
/// here fails the run: the deploy already happened (or failed) and says so itself.
async fn publish(env: &GitlabEnv, report: &DeployReport, note: bool) {
    if let Some(entries) = dotenv_entries(report) {
        if let Err(error) = write_dotenv(&env.dotenv, &entries) {
            let path = env.dotenv.display();
            warn(&format!(
                "failed writing the dotenv report `{path}`: {error}"
            ));
        }
    }
    if let ReportStatus::Skipped { reason } = &report.status {
        println!("skipped: {}", one_line(reason));
    }
    if note {
        merge_request_note(env, report).await;
    }
}

/// The report's variables; `None` for a failed deploy, which passes nothing on, and for a
/// deleted preview, which leaves nothing to pass on.
fn dotenv_entries(report: &DeployReport) -> Option<Vec<(&'static str, String)>> {
    let deployed = match &report.status {
        ReportStatus::Deployed(deployed) => deployed,
        ReportStatus::Skipped { reason } => {
            return Some(vec![
                ("ASTRO_SKIPPED", "true".to_owned()),
                ("ASTRO_SKIP_REASON", reason.clone()),
            ])
        }
        ReportStatus::Failed { .. } | ReportStatus::Deleted => return None,
    };

    let mut entries = vec![
        ("ASTRO_DEPLOY_ID", deployed.deploy_id.clone()),
        ("ASTRO_DEPLOYED_DEPLOYMENT_ID", report.deployment.id.clone()),
        ("ASTRO_DEPLOYED_TYPE", deployed.deploy_type.clone()),
    ];
    if let Some(bundle) = &deployed.bundle {
        entries.push(("ASTRO_BUNDLE_SHA256", bundle.sha256.clone()));
    }
    if let Some(image) = &deployed.image {
        entries.push(("ASTRO_IMAGE", image.reference.clone()));
    }
    if let Some(preview) = &report.preview {
        entries.push(("ASTRO_PREVIEW_ID", preview.id.clone()));
        entries.push(("ASTRO_PREVIEW_NAME", report.deployment_label().to_owned()));
        if let Some(url) = &preview.url {
            entries.push(("ASTRO_PREVIEW_URL", url.clone()));
        }
    }
    entries.push(("ASTRO_SKIPPED", "false".to_owned()));
    Some(entries)
}

fn write_dotenv(path: &Path, entries: &[(&str, String)]) -> std::io::Result<()> {
    let text: String = entries
        .iter()
        .map(|(name, value)| format!("{name}={}\n", one_line(value)))
        .collect();
    std::fs::write(path, text)
}

/// GitLab's dotenv takes one line per variable: control characters become spaces, and quotes at
/// the value's ends, which a dotenv reader may take as quoting, are dropped.
fn one_line(value: &str) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_VALUE_CHARS)
        .collect();
    line.trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .trim()
        .to_owned()
}

async fn merge_request_note(env: &GitlabEnv, report: &DeployReport) {
    let (Some(token), Some(iid)) = (&env.token, &env.merge_request_iid) else {
        return;
    };
    let Ok(iid) = iid.trim().parse::<u64>() else {
        return warn(&format!(
            "CI_MERGE_REQUEST_IID `{iid}` is not a number; no merge request note"
        ));
    };
    let (Some(api_url), Some(project_id)) = (&env.api_url, &env.project_id) else {
        return warn("CI_API_V4_URL or CI_PROJECT_ID is unset; no merge request note");
    };
    let api = match GitlabApi::new(api_url, project_id, token.clone()) {
        Ok(api) => api,
        Err(error) => return warn(&with_hint(&error.to_string(), error.hint())),
    };

    let marker = comment_marker(&report.deployment.id);
    let body = report.comment_markdown(env.run_url.as_deref(), env.sha.as_deref());
    match api.upsert_mr_note(iid, &marker, &body).await {
        Ok(ApiOutcome::Done(note)) => {
            tracing::debug!(note = note.id, created = note.created, "merge request note")
        }
        Ok(ApiOutcome::NotPermitted(denied)) => {
            warn(&format!("{}; hint: {}", denied.warning(), denied.hint()))
        }
        Err(error) => {
            let message = format!("failed commenting on merge request !{iid}: {error}");
            let message = match std::error::Error::source(&error) {
                Some(cause) => format!("{message}: {cause}"),
                None => message,
            };
            warn(&with_hint(&message, error.hint()))
        }
    }
}

fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{message}; hint: {hint}"),
        None => message.to_owned(),
    }
}

fn warn(message: &str) {
    tracing::warn!("{message}");
}

#[cfg(test)]
mod tests {
    use ci::github::{BundleReport, DeployedReport, DeploymentRef, ImageReport};

    use super::*;

    fn image_deploy() -> DeployReport {
        let deployed = DeployedReport {
            deploy_id: "cm4r2y1z9000208l4i9j0k1l2".to_owned(),
            deploy_type: "IMAGE_AND_DAG".to_owned(),
            bundle: Some(BundleReport {
                sha256: "ab".repeat(32),
                ..BundleReport::default()
            }),
            image: Some(ImageReport {
                reference: "images.example.invalid/quiet-meteor/airflow:deploy-1".to_owned(),
                ..ImageReport::default()
            }),
            ..DeployedReport::default()
        };
        DeployReport {
            deployment: DeploymentRef {
                id: "cm4r2x0q5000008l4a1b2c3d4".to_owned(),
                ..DeploymentRef::default()
            },
            status: ReportStatus::Deployed(Box::new(deployed)),
            preview: None,
            warnings: Vec::new(),
        }
    }

    fn written(report: &DeployReport) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("astro-deploy.env");
        write_dotenv(&path, &dotenv_entries(report)?).unwrap();
        Some(std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn an_image_deploy_passes_the_image_and_the_bundle_on() {
        assert_eq!(
            written(&image_deploy()).unwrap(),
            format!(
                "ASTRO_DEPLOY_ID=cm4r2y1z9000208l4i9j0k1l2\n\
                 ASTRO_DEPLOYED_DEPLOYMENT_ID=cm4r2x0q5000008l4a1b2c3d4\n\
                 ASTRO_DEPLOYED_TYPE=IMAGE_AND_DAG\n\
                 ASTRO_BUNDLE_SHA256={}\n\
                 ASTRO_IMAGE=images.example.invalid/quiet-meteor/airflow:deploy-1\n\
                 ASTRO_SKIPPED=false\n",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn a_skip_reason_stays_on_one_line_and_a_failure_passes_nothing_on() {
        let deployment = DeploymentRef::default();
        let skipped = DeployReport::skipped(deployment.clone(), "\"nothing\nchanged\rINJECTED=1\"");
        assert_eq!(
            written(&skipped).unwrap(),
            "ASTRO_SKIPPED=true\nASTRO_SKIP_REASON=nothing changed INJECTED=1\n"
        );

        let failed = DeployReport::failed(deployment, "refused", None);
        assert_eq!(written(&failed), None);
    }
}
