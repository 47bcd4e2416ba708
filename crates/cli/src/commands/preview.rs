//! `astro-deploy preview`: the flags, config file and CI run turned into the core's preview
//! steps, and their outcome rendered.
//!
//! The base Deployment comes from the flags, else from the `preview:` section of the project
//! config; the branch and review from the flags, else from the CI run, else from git.

use std::path::Path;

use astro_api::models::Deployment;
use deploy::config::ProjectConfig;
use deploy::pipeline::{
    self, DeployInputs, DeployKind, Outcome, PolicyInputs, Target, WaitOptions,
};
use deploy::policy::DeploymentFacts;
use deploy::preview::airflow_copy::{self, CopyError, CopyOptions, CopyReport};
use deploy::preview::{self, CreateOptions, Ensured, GcOptions, PreviewConfig, Selector};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::deploy::image_request;
use super::hosts::AnyHost;
use crate::args::{
    BranchArgs, DeployTypeArg, OutputFormat, PreviewBaseArgs, PreviewCommand, PreviewDeleteArgs,
    PreviewDeployArgs, PreviewGcArgs, PreviewListArgs,
};
use crate::config::{self, Connection};
use crate::exit::Failure;
use crate::report::{self, print_json, Reporter};

pub async fn run(command: PreviewCommand, format: OutputFormat) -> Result<(), Failure> {
    match command {
        PreviewCommand::Create(args) => deploy(*args, Step::Create, format).await,
        PreviewCommand::Deploy(args) => deploy(*args, Step::Deploy, format).await,
        PreviewCommand::Delete(args) => delete(args, format).await,
        PreviewCommand::List(args) => list(args, format).await,
        PreviewCommand::Gc(args) => gc(args, format).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Deploy,
}

/// The base Deployment, its preview settings, and a client.
struct Context {
    connection: Connection,
    base: Deployment,
    settings: PreviewConfig,
}

async fn context(args: &PreviewBaseArgs, project_dir: Option<&Path>) -> Result<Context, Failure> {
    let settings = settings(args, project_dir)?;
    let target = match (&args.base_deployment_id, &args.base_deployment_name) {
        (Some(id), _) => Target::Id(id.clone()),
        (None, Some(name)) => Target::Name {
            name: name.clone(),
            workspace_id: args.workspace_id.clone(),
        },
        (None, None) => settings.base().ok_or_else(|| {
            Failure::input("no base Deployment for previews was given").hint(
                "give --base-deployment-id (or ASTRO_BASE_DEPLOYMENT_ID), or set \
                 `preview.base-deployment-id` in astro-deploy.yaml",
            )
        })?,
    };

    let connection = config::connect(&args.api)?;
    let base = pipeline::resolve_target(&connection.client, &target)
        .await
        .map_err(Failure::from_deploy)?;
    Ok(Context {
        connection,
        base,
        settings,
    })
}

/// The `preview:` section that applies, or the defaults when there is no config file.
fn settings(args: &PreviewBaseArgs, project_dir: Option<&Path>) -> Result<PreviewConfig, Failure> {
    let default_path = args.config == Path::new("astro-deploy.yaml");
    if default_path && !args.config.exists() {
        if let Some(name) = &args.project_name {
            return Err(Failure::input(format!(
                "--project-name `{name}` needs a config file, and astro-deploy.yaml does not exist"
            ))
            .hint("give the config file with --config"));
        }
        return Ok(PreviewConfig::default());
    }

    let config = ProjectConfig::load(&args.config).map_err(|error| {
        let hint = error.hint();
        Failure::input(error.to_string())
            .with_cause(&error)
            .hint(hint)
    })?;
    let folder = args.config.parent().unwrap_or(Path::new(""));
    let project = match &args.project_name {
        Some(name) => config
            .projects
            .iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
                Failure::input(format!(
                    "`{}` has no project named `{name}`",
                    args.config.display()
                ))
                .hint(format!("projects in the file: {}", known.join(", ")))
            })?,
        None => {
            let by_root = project_dir.and_then(|dir| {
                config
                    .projects
                    .iter()
                    .find(|p| same_folder(&folder.join(&p.root), dir))
            });
            let with_preview: Vec<_> = config
                .projects
                .iter()
                .filter(|p| p.preview.is_some())
                .collect();
            match (by_root, with_preview.as_slice()) {
                (Some(project), _) => project,
                (None, [only]) => only,
                (None, []) => return Ok(PreviewConfig::default()),
                (None, _) => {
                    return Err(Failure::input(format!(
                        "several projects of `{}` have preview settings",
                        args.config.display()
                    ))
                    .hint("name one with --project-name"))
                }
            }
        }
    };
    Ok(project.preview.clone().unwrap_or_default())
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The branch and review of the preview: flags, else the CI run, else git.
async fn branch_and_review(
    args: &BranchArgs,
    dir: &Path,
) -> Result<(String, Option<u64>), Failure> {
    let event = match &args.branch {
        Some(_) => None,
        None => super::monorepo::ci_event()?,
    };
    let review = args.review.or_else(|| {
        event
            .as_ref()
            .and_then(|e| e.pull_request.as_ref())
            .map(|pr| pr.number)
    });
    let branch = match (&args.branch, &event) {
        (Some(branch), _) => branch.clone(),
        (None, Some(event)) => event.ref_name.clone(),
        (None, None) => super::monorepo::git_branch(dir).await?,
    };
    if branch.trim().is_empty() {
        return Err(Failure::input("the branch name is empty").hint("name it with --branch"));
    }
    Ok((branch, review))
}

/// What `preview create` and `preview deploy` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeployReport<'a> {
    base: BaseFacts<'a>,
    branch: &'a str,
    #[serde(flatten)]
    ensured: &'a Ensured,
    url: String,
    deploy: &'a Outcome,
    /// What was copied from the base's Airflow, when asked.
    airflow_copy: Option<&'a CopyReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BaseFacts<'a> {
    id: &'a str,
    name: &'a str,
}

/// Deleting previews is a change: the policy judges it as a change to the base's previews,
/// which run in development mode unless the settings say otherwise. The ref it judges is the
/// branch whose preview goes (`branch`), not the run's: a cleanup deploys no code, so with no
/// branch (gc, a delete by review or name) the refs are not judged at all.
async fn require_for_previews(
    args: &PreviewBaseArgs,
    context: &Context,
    branch: Option<&str>,
) -> Result<(), Failure> {
    let mut run = super::policy::run_facts(&args.policy, branch, Path::new(".")).await?;
    if branch.is_none() {
        run.ref_name = None;
        run.ref_is_tag = false;
    }
    let policy = PolicyInputs {
        config: super::policy::load(&args.config)?,
        run,
        previews: true,
    };
    let facts = DeploymentFacts {
        id: context.base.id.clone(),
        name: format!("the previews of {}", context.base.name),
        is_cicd_enforced: context.base.is_cicd_enforced,
        is_development_mode: context.settings.overrides().development_mode,
        is_preview: false,
    };
    super::policy::require(&policy, facts, &context.connection)
        .await
        .map(|_| ())
}

/// What `preview create` or `preview deploy` did, for the CLI and the CI adapters to report.
pub struct PreviewRun {
    pub base: Deployment,
    pub branch: String,
    pub ensured: Ensured,
    pub outcome: Outcome,
    pub copied: Option<CopyReport>,
}

impl PreviewRun {
    /// The preview's Airflow UI, with its scheme.
    pub fn url(&self) -> String {
        ui_url(&self.ensured.preview.web_server_url)
    }
}

async fn deploy(args: PreviewDeployArgs, step: Step, format: OutputFormat) -> Result<(), Failure> {
    let run = run_deploy(&args, step).await?;
    print_deploy(&run, format);
    Ok(())
}

/// Prints what `preview create` or `preview deploy` did: one JSON object, or lines.
pub fn print_deploy(run: &PreviewRun, format: OutputFormat) {
    let report = DeployReport {
        base: BaseFacts {
            id: &run.base.id,
            name: &run.base.name,
        },
        branch: &run.branch,
        ensured: &run.ensured,
        url: run.url(),
        deploy: &run.outcome,
        airflow_copy: run.copied.as_ref(),
    };
    match format {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Text => {
            let how = if run.ensured.created {
                "created"
            } else {
                "already there"
            };
            println!(
                "Preview `{}` ({}) of `{}` for branch `{}`: {how}",
                run.ensured.preview.name, run.ensured.preview.id, run.base.name, run.branch
            );
            println!("  Airflow UI: {}", report.url);
            report::outcome(&run.outcome, format);
            if let Some(copied) = &run.copied {
                let line = |kind: &str, k: &airflow_copy::KindReport| {
                    println!(
                        "Airflow {kind}: {} created, {} updated, {} unchanged",
                        k.created, k.updated, k.unchanged
                    )
                };
                line("connections", &copied.connections);
                line("variables", &copied.variables);
                line("pools", &copied.pools);
            }
        }
    }
}

/// Finds or makes the branch's preview, deploys the project to it, and copies Airflow objects
/// when asked. `create` makes a missing preview whatever the config says.
pub async fn run_deploy(args: &PreviewDeployArgs, step: Step) -> Result<PreviewRun, Failure> {
    let context = context(&args.base, Some(&args.project)).await?;
    let (branch, review) = branch_and_review(&args.branch, &args.project).await?;
    let client = &context.connection.client;
    let reporter = Reporter::new();

    let options = CreateOptions {
        branch: branch.clone(),
        review,
        overrides: context.settings.overrides(),
        ready_timeout: args.ready_timeout,
        max_poll_interval: std::time::Duration::from_secs(10),
        now: OffsetDateTime::now_utc(),
    };
    let policy = PolicyInputs {
        config: super::policy::load(&args.base.config)?,
        run: super::policy::run_facts(&args.base.policy, Some(&branch), &args.project).await?,
        previews: true,
    };
    let facts = DeploymentFacts {
        id: context.base.id.clone(),
        name: preview::preview_name(&context.base.id, &context.base.name, &branch),
        is_cicd_enforced: context.base.is_cicd_enforced,
        is_development_mode: options.overrides.development_mode,
        is_preview: false,
    };
    super::policy::require(&policy, facts, &context.connection).await?;

    let create = step == Step::Create || context.settings.create_on_deploy.unwrap_or(true);
    let ensured = match create {
        true => preview::ensure(client, &context.base, &options, &reporter).await,
        false => match preview::find(client, &context.base, &branch).await {
            Ok(Some(found)) => Ok(Ensured {
                preview: found,
                created: false,
                twins_deleted: Vec::new(),
                secrets_not_copied: Vec::new(),
            }),
            Ok(None) => Err(deploy::DeployError::NoPreview {
                branch: branch.clone(),
                base: context.base.name.clone(),
            }),
            Err(error) => Err(error),
        },
    }
    .map_err(Failure::from_deploy)?;
    if !ensured.secrets_not_copied.is_empty() {
        tracing::warn!(
            "secret environment variables of `{}` were not copied (Astro never reads them \
             back): {}; set them on the preview or in `preview.environment`",
            context.base.name,
            ensured.secrets_not_copied.join(", ")
        );
    }

    // A new preview holds nothing yet: it gets the whole project, whatever --type says.
    let kind = match (ensured.created, args.deploy_type) {
        (true, _) => DeployKind::ImageAndDags,
        (false, DeployTypeArg::Dags) => DeployKind::Dags,
        (false, DeployTypeArg::Image) => DeployKind::Image,
        (false, DeployTypeArg::ImageAndDags) => DeployKind::ImageAndDags,
        (false, DeployTypeArg::Infer) => DeployKind::Infer,
    };
    let inputs = DeployInputs {
        target: Target::Id(ensured.preview.id.clone()),
        project_dir: args.project.clone(),
        kind,
        description: args
            .description
            .clone()
            .or_else(|| ci::CiRun::detect().map(|run| run.describe())),
        wait: args.wait.then(|| WaitOptions {
            timeout: args.wait_timeout,
            ..Default::default()
        }),
        // A preview asleep on its schedule is woken for its deploy: the branch's author is
        // about to look at it.
        wake: true,
        token: context.connection.claims.clone(),
        api_token: context.connection.token.clone(),
        upload: Default::default(),
        image: image_request(&args.image)?,
        policy,
    };
    let plan = deploy::plan(client, &inputs, &reporter)
        .await
        .map_err(Failure::from_deploy)?;
    let outcome = deploy::execute(client, plan, &reporter)
        .await
        .map_err(Failure::from_deploy)?;

    let copy = CopyOptions {
        connections: args.copy_connections || context.settings.copy_connections,
        variables: args.copy_variables || context.settings.copy_variables,
        pools: args.copy_pools || context.settings.copy_pools,
    };
    let copied = match copy.any() {
        true => {
            let token = &context.connection.token;
            let report =
                airflow_copy::copy_from_base(&context.base, &ensured.preview, token, &copy)
                    .await
                    .map_err(copy_failure)?;
            if !report.connections_without_password.is_empty() {
                tracing::warn!(
                    "connections copied without their password (Airflow never answers \
                     passwords): {}; set them on the preview",
                    report.connections_without_password.join(", ")
                );
            }
            Some(report)
        }
        false => None,
    };

    Ok(PreviewRun {
        base: context.base,
        branch,
        ensured,
        outcome,
        copied,
    })
}

/// What `preview delete` did.
pub struct DeleteRun {
    pub base: Deployment,
    /// What picked the previews, as people say it: ``branch `x` ``, `review #3`.
    pub selected: String,
    pub deleted: Vec<preview::Preview>,
}

async fn delete(args: PreviewDeleteArgs, format: OutputFormat) -> Result<(), Failure> {
    let run = run_delete(&args).await?;
    print_delete(&run, format);
    Ok(())
}

/// Prints what `preview delete` did: one JSON object, or a line per deleted preview.
pub fn print_delete(run: &DeleteRun, format: OutputFormat) {
    let DeleteRun {
        base,
        selected: what,
        deleted,
    } = run;
    match format {
        OutputFormat::Json => print_json(&json!({
            "base": {"id": base.id, "name": base.name},
            "selector": what,
            "deleted": deleted,
        })),
        OutputFormat::Text if deleted.is_empty() => {
            println!(
                "No preview of `{}` for {what}: nothing to delete",
                base.name
            )
        }
        OutputFormat::Text => {
            for preview in deleted {
                println!("Deleted preview `{}` ({})", preview.name, preview.id);
            }
        }
    }
}

/// Deletes the previews the flags pick (the CI run's branch when none is given).
pub async fn run_delete(args: &PreviewDeleteArgs) -> Result<DeleteRun, Failure> {
    let selector = match (&args.branch, args.review, &args.name) {
        (_, Some(number), _) => Selector::Review(number),
        (_, _, Some(name)) => Selector::Name(name.clone()),
        (Some(branch), _, _) => Selector::Branch(branch.clone()),
        (None, None, None) => {
            let branch_args = BranchArgs {
                branch: None,
                review: None,
            };
            let (branch, _) = branch_and_review(&branch_args, Path::new(".")).await?;
            Selector::Branch(branch)
        }
    };
    let context = context(&args.base, None).await?;
    let branch = match &selector {
        Selector::Branch(branch) => Some(branch.as_str()),
        Selector::Review(_) | Selector::Name(_) => None,
    };
    require_for_previews(&args.base, &context, branch).await?;
    let reporter = Reporter::new();
    let deleted = preview::delete(
        &context.connection.client,
        &context.base,
        &selector,
        &reporter,
    )
    .await
    .map_err(Failure::from_deploy)?;

    let selected = match &selector {
        Selector::Branch(branch) => format!("branch `{branch}`"),
        Selector::Review(number) => format!("review #{number}"),
        Selector::Name(name) => format!("name `{name}`"),
    };
    Ok(DeleteRun {
        base: context.base,
        selected,
        deleted,
    })
}

async fn list(args: PreviewListArgs, format: OutputFormat) -> Result<(), Failure> {
    let context = context(&args.base, None).await?;
    let previews = preview::list(&context.connection.client, &context.base)
        .await
        .map_err(Failure::from_deploy)?;
    let now = OffsetDateTime::now_utc();

    match format {
        OutputFormat::Json => print_json(&json!({
            "base": {"id": context.base.id, "name": context.base.name},
            "previews": previews,
        })),
        OutputFormat::Text if previews.is_empty() => {
            println!("`{}` has no previews", context.base.name);
        }
        OutputFormat::Text => {
            println!("Previews of `{}`:", context.base.name);
            println!(
                "{:<50}  {:<30}  {:>6}  {:>8}  {:<11}  ID",
                "NAME", "BRANCH", "REVIEW", "AGE", "STATUS"
            );
            for preview in &previews {
                let review = preview
                    .review
                    .map(|n| format!("#{n}"))
                    .unwrap_or_else(|| "-".to_owned());
                println!(
                    "{:<50}  {:<30}  {:>6}  {:>8}  {:<11}  {}",
                    preview.name,
                    preview.branch.as_deref().unwrap_or("(long name)"),
                    review,
                    short_age(preview.age(now)),
                    preview.status,
                    preview.id
                );
            }
        }
    }
    Ok(())
}

async fn gc(args: PreviewGcArgs, format: OutputFormat) -> Result<(), Failure> {
    let context = context(&args.base, None).await?;
    let ttl_text = args.ttl.clone().or_else(|| context.settings.ttl.clone());
    let ttl = match ttl_text {
        Some(text) => Some(
            deploy::preview::settings::parse_ttl(&text)
                .map_err(|reason| Failure::input(format!("--ttl: {reason}")))?,
        ),
        None => None,
    };
    if !args.dry_run {
        require_for_previews(&args.base, &context, None).await?;
    }
    let host = AnyHost::from_arg(args.host)?;
    let options = GcOptions {
        ttl,
        now: OffsetDateTime::now_utc(),
        dry_run: args.dry_run,
    };
    let reporter = Reporter::new();
    let entries = preview::gc(
        &context.connection.client,
        &context.base,
        &host,
        &options,
        &reporter,
    )
    .await
    .map_err(Failure::from_deploy)?;

    match format {
        OutputFormat::Json => print_json(&json!({
            "base": {"id": context.base.id, "name": context.base.name},
            "dryRun": args.dry_run,
            "host": host.name(),
            "entries": entries,
        })),
        OutputFormat::Text if entries.is_empty() => {
            println!("`{}` has no previews", context.base.name);
        }
        OutputFormat::Text => {
            for entry in &entries {
                let (action, reason) = match (&entry.verdict, args.dry_run) {
                    (preview::Verdict::Delete { reason }, true) => ("would delete", reason),
                    (preview::Verdict::Delete { reason }, false) => ("deleted", reason),
                    (preview::Verdict::Keep { reason }, _) => ("kept", reason),
                };
                println!("{action} `{}`: {reason}", entry.preview.name);
            }
        }
    }
    Ok(())
}

fn copy_failure(error: CopyError) -> Failure {
    let message = error.to_string();
    let hint = error.hint();
    let (CopyError::Base { source, .. } | CopyError::Preview { source, .. }) = error;
    let failure = Failure::from_api(source);
    let failure = Failure {
        message: format!("{message}: {}", failure.message),
        ..failure
    };
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

/// Astro gives UI addresses without a scheme: https, but http for the local emulator's
/// loopback ones, as for the Airflow API.
fn ui_url(url: &str) -> String {
    astro_api::airflow::with_scheme(url).unwrap_or_default()
}

fn short_age(age: std::time::Duration) -> String {
    let minutes = age.as_secs() / 60;
    match minutes {
        0..=59 => format!("{minutes}m"),
        60..=1439 => format!("{}h", minutes / 60),
        _ => format!("{}d", minutes / 1440),
    }
}
