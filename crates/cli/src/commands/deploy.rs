//! `astro-deploy deploy`: plan, check, and (unless a dry run) execute a deploy.

use deploy::pipeline::{DeployInputs, DeployKind, Target, WaitOptions};

use crate::args::{DeployArgs, DeployTypeArg, OutputFormat};
use crate::config;
use crate::exit::Failure;
use crate::report::{self, Reporter};

pub async fn run(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.api)?;
    let dry_run = args.dry_run;
    let inputs = inputs(args, connection.claims.clone());
    let reporter = Reporter::new();

    let plan = deploy::plan(&connection.client, &inputs, &reporter)
        .await
        .map_err(Failure::from_deploy)?;
    if dry_run {
        report::plan(&plan, format);
        return Ok(());
    }

    let outcome = deploy::execute(&connection.client, plan, &reporter)
        .await
        .map_err(Failure::from_deploy)?;
    report::outcome(&outcome, format);
    Ok(())
}

/// The core's inputs from the flags.
fn inputs(args: DeployArgs, token: astro_api::TokenClaims) -> DeployInputs {
    let target = match (args.deployment_id, args.deployment_name) {
        (Some(id), _) => Target::Id(id),
        (None, Some(name)) => Target::Name {
            name,
            workspace_id: args.workspace_id,
        },
        // clap requires one of the two.
        (None, None) => Target::Id(String::new()),
    };
    let kind = match args.deploy_type {
        DeployTypeArg::Dags => DeployKind::Dags,
    };
    let description = args
        .description
        .or_else(|| ci::CiRun::detect().map(|run| run.describe()));
    let wait = args.wait.then(|| WaitOptions {
        timeout: args.wait_timeout,
        ..Default::default()
    });

    DeployInputs {
        target,
        project_dir: args.project,
        kind,
        description,
        wait,
        wake: args.wake,
        token,
        upload: Default::default(),
    }
}
