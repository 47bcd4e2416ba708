//! `astro-deploy deployment inspect|apply`: Deployments as code.
//!
//! `inspect` prints a Deployment's settings as a deployment file; `apply` makes a Deployment
//! match one. Apply reads the file before anything else, so a bad file fails without a
//! request; it compares the file with the Deployment and, when nothing differs, stops there
//! without a changing request. Otherwise the deploy policy judges the change, as it judges a
//! deploy, before the one full update that carries the file's values.

use std::error::Error as _;
use std::path::Path;

use deploy::deployment_file::{self, Application, DeploymentFile, DeploymentFileError};
use deploy::pipeline::{self, Target};
use deploy::policy::DeploymentFacts;
use deploy::FailureKind;
use serde_json::json;

use crate::args::{
    DeploymentApplyArgs, DeploymentCommand, DeploymentInspectArgs, DeploymentTargetArgs,
    OutputFormat,
};
use crate::config;
use crate::exit::{Code, Failure};
use crate::report::print_json;

pub async fn run(command: DeploymentCommand, format: OutputFormat) -> Result<(), Failure> {
    match command {
        DeploymentCommand::Inspect(args) => inspect(args, format).await,
        DeploymentCommand::Apply(args) => apply(*args, format).await,
    }
}

async fn inspect(args: DeploymentInspectArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.api)?;
    let deployment = pipeline::resolve_target(&connection.client, &target(&args.target)?)
        .await
        .map_err(Failure::from_deploy)?;

    let file = DeploymentFile::of(&deployment).map_err(file_failure)?;
    match format {
        OutputFormat::Json => println!("{}", file.to_json().map_err(file_failure)?),
        OutputFormat::Text => print!("{}", file.to_yaml().map_err(file_failure)?),
    }
    Ok(())
}

async fn apply(args: DeploymentApplyArgs, format: OutputFormat) -> Result<(), Failure> {
    let file = DeploymentFile::load(&args.file).map_err(file_failure)?;
    let connection = config::connect(&args.change.api)?;
    let client = &connection.client;
    let deployment = pipeline::resolve_target(client, &target(&args.target)?)
        .await
        .map_err(Failure::from_deploy)?;
    let application =
        deployment_file::apply(&file.deployment, &deployment).map_err(file_failure)?;

    let changed = !application.changes.is_empty();
    if changed {
        let inputs = super::policy::change_inputs(&args.change).await?;
        let token = pipeline::token_facts(client, &connection.claims).await;
        super::policy::require_with(&inputs, DeploymentFacts::from(&deployment), &token)?;
    }
    if changed && !args.dry_run {
        client
            .update_deployment(&deployment.id, &application.request)
            .await
            .map_err(Failure::from_api)?;
        tracing::info!(
            id = %deployment.id,
            "updated Deployment `{}` from `{}`",
            deployment.name,
            args.file.display()
        );
    }

    let report = Report {
        id: &deployment.id,
        name: &deployment.name,
        file: &args.file,
        application: &application,
        dry_run: args.dry_run,
    };
    match format {
        OutputFormat::Json => report.print_json(),
        OutputFormat::Text => report.print_text(),
    }
    Ok(())
}

struct Report<'a> {
    id: &'a str,
    name: &'a str,
    file: &'a Path,
    application: &'a Application,
    dry_run: bool,
}

impl Report<'_> {
    fn print_json(&self) {
        let changes = &self.application.changes;
        print_json(&json!({
            "deploymentId": self.id,
            "deploymentName": self.name,
            "file": self.file.display().to_string(),
            "changes": changes,
            "changed": !changes.is_empty() && !self.dry_run,
            "dryRun": self.dry_run,
        }));
    }

    fn print_text(&self) {
        let changes = &self.application.changes;
        let file = self.file.display();
        if changes.is_empty() {
            println!(
                "Deployment `{}` ({}) already matches `{file}`: nothing to change",
                self.name, self.id
            );
            return;
        }

        let count = match changes.len() {
            1 => "1 change".to_owned(),
            n => format!("{n} changes"),
        };
        println!(
            "Deployment `{}` ({}), {count} from `{file}`:",
            self.name, self.id
        );
        for change in changes {
            println!("  {change}");
        }
        match self.dry_run {
            true => println!("Dry run: nothing was changed."),
            false => println!("Applied in one update."),
        }
    }
}

fn target(args: &DeploymentTargetArgs) -> Result<Target, Failure> {
    let (id, name) = (args.deployment_id.as_ref(), args.deployment_name.as_ref());
    config::target(id, name, args.workspace_id.as_ref()).ok_or_else(|| {
        Failure::input("no Deployment given").hint("give --deployment-id or --deployment-name")
    })
}

fn file_failure(error: DeploymentFileError) -> Failure {
    let error = match error {
        DeploymentFileError::Update(error) => return Failure::from_deploy(error),
        error => error,
    };
    let code = match error.kind() {
        FailureKind::Input => Code::Input,
        FailureKind::Refused => Code::Refused,
        _ => Code::Internal,
    };
    let failure = Failure::with_code(code, error.to_string());
    let failure = match error.source() {
        Some(source) => failure.with_cause(source),
        None => failure,
    };
    match error.hint() {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}
