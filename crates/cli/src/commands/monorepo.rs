//! Monorepos: `astro-deploy plan [--matrix [github|gitlab]]` and `astro-deploy deploy --all`,
//! from the project config file, the branch, and the commits compared.

use std::path::{Path, PathBuf};

use ci::event::CiEvent;
use ci::github_event::GithubEvent;
use ci::gitlab_event::GitlabEvent;
use ci::CiSystem;
use deploy::changes::{self, Detection, HistoryOptions, RangeKind, RevisionRange};
use deploy::config::ProjectConfig;
use deploy::monorepo::{self, ProjectPlan};
use deploy::pipeline::Outcome;
use futures::StreamExt as _;
use serde::Serialize;
use tracing::Instrument as _;

use crate::args::{DeployArgs, MatrixFormat, MonorepoArgs, OutputFormat, PlanArgs};
use crate::config;
use crate::exit::{Code, Failure};
use crate::report::{self, Reporter};

/// The projects of the config that deploy, and the repository they are in.
struct Selection {
    toplevel: PathBuf,
    branch: String,
    plans: Vec<ProjectPlan>,
}

pub async fn plan(args: PlanArgs, format: OutputFormat) -> Result<(), Failure> {
    let selection = select(&args.monorepo).await?;

    match args.matrix {
        Some(MatrixFormat::Github) => {
            println!("{}", monorepo::github_matrix(&selection.plans));
            return Ok(());
        }
        Some(MatrixFormat::Gitlab) => {
            print!("{}", monorepo::gitlab_child_pipeline(&selection.plans));
            return Ok(());
        }
        None => {}
    }
    match format {
        OutputFormat::Json => report::print_json(&serde_json::json!({
            "branch": selection.branch,
            "projects": selection.plans,
        })),
        OutputFormat::Text => print_plans(&selection),
    }
    Ok(())
}

fn print_plans(selection: &Selection) {
    println!("Projects with a target for branch `{}`:", selection.branch);
    if selection.plans.is_empty() {
        println!("  (none)");
    }
    for plan in &selection.plans {
        let what = match plan.deploy_type {
            Some(kind) => format!("deploy {}", serde_json::json!(kind).as_str().unwrap_or("")),
            None => "skip".to_owned(),
        };
        println!(
            "  {} ({}): {what}: {}",
            plan.project, plan.root, plan.reason
        );
    }
}

/// One project's result in `deploy --all`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectResult {
    project: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip)]
    code: Option<Code>,
}

pub async fn deploy_all(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    let selection = select(&args.monorepo).await?;
    let connection = config::connect(&args.api)?;
    let image = super::deploy::image_request(&args.image)?;
    let policy = super::deploy::policy_inputs(&args, &selection.toplevel).await?;
    let reporter = Reporter::new();

    let deploys = selection.plans.iter().map(|plan| {
        let inputs = plan.deploy_type.map(|kind| {
            let project_dir = selection.toplevel.join(&plan.root);
            let target = plan.target.target();
            let work = (target, kind, project_dir);
            super::deploy::shared_inputs(&args, &connection, image.clone(), work, policy.clone())
        });
        let (client, reporter) = (&connection.client, &reporter);
        let span = tracing::info_span!("project", name = %plan.project);
        async move {
            let Some(inputs) = inputs else {
                return skipped(plan);
            };
            tracing::info!("deploying {} ({})", plan.project, plan.reason);
            let result = async {
                let planned = deploy::plan(client, &inputs, reporter).await?;
                deploy::execute(client, planned, reporter).await
            }
            .await;
            finished(plan, result)
        }
        .instrument(span)
    });
    let results: Vec<ProjectResult> = futures::stream::iter(deploys)
        .buffered(args.jobs.max(1))
        .collect()
        .await;

    render(&selection, &results, format);
    match results
        .iter()
        .filter_map(|r| r.code)
        .max_by_key(|code| *code as u8)
    {
        Some(code) => Err(Failure::with_code(
            code,
            format!(
                "{} of {} projects failed to deploy",
                results.iter().filter(|r| r.error.is_some()).count(),
                results.len()
            ),
        )),
        None => Ok(()),
    }
}

fn skipped(plan: &ProjectPlan) -> ProjectResult {
    ProjectResult {
        project: plan.project.clone(),
        outcome: None,
        skipped: Some(plan.reason.clone()),
        error: None,
        code: None,
    }
}

fn finished(plan: &ProjectPlan, result: Result<Outcome, deploy::DeployError>) -> ProjectResult {
    let mut entry = ProjectResult {
        project: plan.project.clone(),
        outcome: None,
        skipped: None,
        error: None,
        code: None,
    };
    match result {
        Ok(outcome) => entry.outcome = Some(outcome),
        Err(error) => {
            let failure = Failure::from_deploy(error);
            entry.error = Some(failure.message.clone());
            entry.code = Some(failure.code);
            crate::exit::report(&failure, false);
        }
    }
    entry
}

fn render(selection: &Selection, results: &[ProjectResult], format: OutputFormat) {
    if format == OutputFormat::Json {
        return report::print_json(&serde_json::json!({
            "branch": selection.branch,
            "projects": results,
        }));
    }
    for result in results {
        match (&result.outcome, &result.skipped, &result.error) {
            (Some(outcome), _, _) => report::outcome(outcome, format),
            (None, Some(reason), _) => println!("Skipped `{}`: {reason}", result.project),
            (None, None, Some(error)) => println!("Failed `{}`: {error}", result.project),
            (None, None, None) => {}
        }
    }
}

/// Reads the config, finds the branch and what changed, and decides each project.
async fn select(args: &MonorepoArgs) -> Result<Selection, Failure> {
    let config = ProjectConfig::load(&args.config).map_err(|error| {
        let hint = error.hint();
        Failure::input(error.to_string())
            .with_cause(&error)
            .hint(hint)
    })?;
    let folder = args.config.parent().filter(|p| !p.as_os_str().is_empty());
    let toplevel = changes::toplevel(folder.unwrap_or(Path::new(".")))
        .await
        .map_err(changes_failure)?;
    let event = if args.head.is_none() {
        ci_event()?
    } else {
        None
    };
    let branch = branch(args, event.as_ref(), &toplevel).await?;
    let detection = detection(args, event.as_ref(), &toplevel).await?;

    let plans = monorepo::plan_projects(&config, &branch, &detection).map_err(changes_failure)?;
    Ok(Selection {
        toplevel,
        branch,
        plans,
    })
}

async fn branch(
    args: &MonorepoArgs,
    event: Option<&CiEvent>,
    toplevel: &Path,
) -> Result<String, Failure> {
    if let Some(branch) = args.branch.clone().filter(|b| !b.is_empty()) {
        return Ok(branch);
    }
    if let Some(event) = event {
        return Ok(event.ref_name.clone());
    }
    if let Some(branch) = ci::CiRun::detect().and_then(|run| run.ref_name) {
        return Ok(branch);
    }
    git_branch(toplevel).await
}

/// The branch git has checked out in `dir`.
pub(super) async fn git_branch(dir: &Path) -> Result<String, Failure> {
    let output = tokio::process::Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(dir)
        .output()
        .await
        .map_err(|error| Failure::input("running git to find the branch").with_cause(&error))?;
    let branch = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || branch.is_empty() || branch == "HEAD" {
        return Err(
            Failure::input("the branch is not known (a detached checkout?)")
                .hint("name it with --branch"),
        );
    }
    Ok(branch)
}

/// The event of the CI run, when GitHub Actions or GitLab CI runs astro-deploy.
pub(super) fn ci_event() -> Result<Option<CiEvent>, Failure> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let event = match ci::CiRun::detect().map(|run| run.system) {
        Some(CiSystem::GitHubActions) => GithubEvent::from_env(&env),
        Some(CiSystem::GitLabCi) => GitlabEvent::from_env(&env),
        _ => return Ok(None),
    };
    event.map(Some).map_err(|error| {
        let failure = Failure::input(error.to_string()).with_cause(&error);
        match error.hint() {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    })
}

/// What changed: between `--base` and `--head`, else as the CI event says, else unknown
/// (everything deploys, and the reason says why).
async fn detection(
    args: &MonorepoArgs,
    event: Option<&CiEvent>,
    toplevel: &Path,
) -> Result<Detection, Failure> {
    let range = match (&args.head, event) {
        (Some(head), _) => RevisionRange {
            base: args.base.clone(),
            head: head.clone(),
            kind: RangeKind::Push,
        },
        (None, Some(event)) => match (event.nothing_to_deploy(), &event.range) {
            (Some(reason), _) => return Ok(Detection::Deleted { reason }),
            (None, Some(range)) => range.clone(),
            (None, None) => {
                let reason = format!(
                    "the `{}` event names no commits to compare",
                    event.event_name
                );
                return Ok(Detection::Unknown { reason });
            }
        },
        (None, None) => {
            return Ok(Detection::Unknown {
                reason: "no commits to compare were given (--base and --head) and no CI event \
                         was found: deploying everything"
                    .to_owned(),
            })
        }
    };
    changes::detect(toplevel, &range, &HistoryOptions::default())
        .await
        .map_err(changes_failure)
}

fn changes_failure(error: changes::ChangesError) -> Failure {
    let hint = error.hint();
    let failure = Failure::input(error.to_string()).with_cause(&error);
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}
