//! `astro-deploy policy check|enforce`, and the facts every changing command gives the deploy
//! policy: which CI runs us (or none), for which event, ref and fork, and whether the user
//! allowed a local deploy.

use std::path::Path;

use astro_api::models::{Deployment, UpdateDeploymentRequest};
use deploy::config::ProjectConfig;
use deploy::pipeline::{self, PolicyInputs, Target};
use deploy::policy::{Decision, DeploymentFacts, PolicyConfig, RunFacts, TokenFacts, Verdict};
use serde_json::json;

use crate::args::{
    ChangeArgs, OutputFormat, PolicyArgs, PolicyCheckArgs, PolicyCommand, PolicyEnforceArgs,
};
use crate::config;
use crate::exit::{Code, Failure};
use crate::report::print_json;

pub async fn run(command: PolicyCommand, format: OutputFormat) -> Result<(), Failure> {
    match command {
        PolicyCommand::Check(args) => check(args, format).await,
        PolicyCommand::Enforce(args) => enforce(args, format).await,
    }
}

/// The `policy:` section of the config file at `path`, or the safe defaults when the default
/// file does not exist. A file named explicitly must exist.
pub fn load(path: &Path) -> Result<PolicyConfig, Failure> {
    if path == Path::new(deploy::config::FILE_NAME) && !path.exists() {
        return Ok(PolicyConfig::default());
    }
    let config = ProjectConfig::load(path).map_err(|error| {
        let hint = error.hint();
        Failure::input(error.to_string())
            .with_cause(&error)
            .hint(hint)
    })?;
    Ok(config.policy)
}

/// The facts about this run: the CI event when GitHub Actions or GitLab CI runs us, else the
/// generic CI marker, else a person's machine; the ref from `branch`, the event, the CI, or git.
pub async fn run_facts(
    args: &PolicyArgs,
    branch: Option<&str>,
    dir: &Path,
) -> Result<RunFacts, Failure> {
    let run = ci::CiRun::detect();
    let event = super::monorepo::ci_event()?;
    let from_ci = run.as_ref().and_then(|run| run.ref_name.clone());
    let ref_name = match (branch, &event, from_ci) {
        (Some(branch), _, _) => Some(branch.to_owned()),
        (None, Some(event), _) => Some(event.ref_name.clone()),
        (None, None, Some(name)) => Some(name),
        // A CI that names no ref, or a person's machine: git's branch, if one is checked out.
        (None, None, None) => super::monorepo::git_branch(dir).await.ok(),
    };
    let ref_is_tag = match (&event, branch) {
        (_, Some(_)) => false,
        (Some(event), None) => event.ref_type == ci::event::RefType::Tag,
        (None, None) => ci::CiRun::builds_tag(super::infer::env_var),
    };
    let pull_request = event.as_ref().and_then(|e| e.pull_request.as_ref());

    Ok(RunFacts {
        ci: run.map(|run| run.system.to_string()),
        event: event.as_ref().map(|e| e.event_name.clone()),
        ref_name,
        ref_is_tag,
        from_fork: pull_request.is_some_and(|pr| pr.from_fork),
        default_branch: event.as_ref().and_then(|e| e.default_branch.clone()),
        local_allowed: args.allow_local,
    })
}

/// The policy's config and this run's facts, for a change named by `args`.
pub async fn change_inputs(args: &ChangeArgs) -> Result<PolicyInputs, Failure> {
    Ok(PolicyInputs {
        config: load(&args.config)?,
        run: run_facts(&args.policy, args.branch.as_deref(), Path::new(".")).await?,
        previews: false,
    })
}

/// Judges the policy for a change to `deployment` that does not go through the deploy
/// pipeline (previews); a denial is a failure with its own exit code. The token is judged on
/// what IAM says of it where it may read itself, else on its claims, as for a deploy.
pub async fn require(
    inputs: &PolicyInputs,
    deployment: DeploymentFacts,
    connection: &config::Connection,
) -> Result<Decision, Failure> {
    let token = pipeline::token_facts(&connection.client, &connection.claims).await;
    require_with(inputs, deployment, &token)
}

/// [`require`], with the token facts already read (from IAM where the token may read itself).
pub fn require_with(
    inputs: &PolicyInputs,
    deployment: DeploymentFacts,
    token: &TokenFacts,
) -> Result<Decision, Failure> {
    admit(inputs.decide(deployment, token))
}

/// Acts on a decision: a denial is a failure with its own exit code, before anything changes;
/// otherwise its warnings go to the log.
pub fn admit(decision: Decision) -> Result<Decision, Failure> {
    if !decision.allowed() {
        return Err(Failure::from_deploy(deploy::DeployError::PolicyDenied(
            Box::new(decision),
        )));
    }
    for warning in pipeline::policy_warnings(&decision) {
        tracing::warn!("{warning}");
    }
    Ok(decision)
}

async fn check(args: PolicyCheckArgs, format: OutputFormat) -> Result<(), Failure> {
    let inputs = change_inputs(&args.change).await?;
    let connection = config::connect(&args.change.api)?;
    let deployment = pipeline::resolve_target(&connection.client, &target(&args)?)
        .await
        .map_err(Failure::from_deploy)?;
    let token = pipeline::token_facts(&connection.client, &connection.claims).await;
    let decision = inputs.decide(DeploymentFacts::from(&deployment), &token);

    match format {
        OutputFormat::Json => print_json(&json!({
            "allowed": decision.allowed(),
            "run": inputs.run,
            "decision": decision,
        })),
        OutputFormat::Text => print_decision(&decision, &inputs.run),
    }
    match decision.allowed() {
        true => Ok(()),
        false => Err(Failure::with_code(
            Code::Denied,
            format!(
                "the deploy policy would deny a deploy to `{}` from this run",
                deployment.name
            ),
        )),
    }
}

fn target(args: &PolicyCheckArgs) -> Result<Target, Failure> {
    let (id, name) = (args.deployment_id.as_ref(), args.deployment_name.as_ref());
    config::target(id, name, args.workspace_id.as_ref()).ok_or_else(|| {
        Failure::input("no Deployment to check the policy for")
            .hint("give --deployment-id or --deployment-name")
    })
}

fn print_decision(decision: &Decision, run: &RunFacts) {
    let deployment = &decision.deployment;
    let place = run.ci.as_deref().unwrap_or("a machine outside CI");
    println!(
        "Deploy policy for `{}` ({}), run in {place}:",
        deployment.name, deployment.id
    );
    for result in &decision.results {
        let verdict = match result.verdict {
            Verdict::Pass => "pass",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        println!(
            "  {verdict:<4}  {:<16}  {}: {}",
            result.rule, result.requirement, result.fact
        );
        if let (Some(fix), true) = (&result.fix, result.verdict != Verdict::Pass) {
            println!("        {:<16}  fix: {fix}", "");
        }
    }
    let verdict = match decision.allowed() {
        true => "allowed",
        false => "DENIED",
    };
    println!("A deploy from this run would be {verdict}.");
}

/// Turning enforcement on only narrows who may deploy, so the policy, which guards deploys,
/// does not judge it: a platform engineer may tighten a Deployment from anywhere.
async fn enforce(args: PolicyEnforceArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.api)?;
    let client = &connection.client;
    let deployment = client
        .get_deployment(&args.deployment_id)
        .await
        .map_err(Failure::from_api)?;

    let changed = !deployment.is_cicd_enforced;
    if changed && !args.dry_run {
        let request = enforced(&deployment)?;
        client
            .update_deployment(&deployment.id, &request)
            .await
            .map_err(Failure::from_api)?;
    }

    let state = match (changed, args.dry_run) {
        (false, _) => "already on: nothing to change",
        (true, true) => "off: would turn it on (dry run)",
        (true, false) => "turned on (was off)",
    };
    match format {
        OutputFormat::Json => print_json(&json!({
            "deploymentId": deployment.id,
            "deploymentName": deployment.name,
            "isCicdEnforced": { "before": deployment.is_cicd_enforced,
                                "after": deployment.is_cicd_enforced || !args.dry_run },
            "changed": changed && !args.dry_run,
            "dryRun": args.dry_run,
        })),
        OutputFormat::Text => println!(
            "CI/CD enforcement on `{}` ({}): {state}",
            deployment.name, deployment.id
        ),
    }
    Ok(())
}

/// The Deployment's own configuration with enforcement on: the update takes a full body.
fn enforced(deployment: &Deployment) -> Result<UpdateDeploymentRequest, Failure> {
    deploy::deployment_body::update_request(deployment, |body| body.is_cicd_enforced = true)
        .map_err(Failure::from_deploy)
}
