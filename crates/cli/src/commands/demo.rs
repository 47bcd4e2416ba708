//! `astro-deploy demo`: the whole flow on this machine, with no Astro account.
//!
//! It starts the emulator in-process on a free loopback port, deploys the example project's
//! `dags/` with `--wait`, reads the bundle back from the emulator's blob store and checks it
//! against the folder, and shows a deploy that the checks refuse before changing anything.
//!
//! The demo stands in for the main CI job: the deploy policy judges it as a push to `main` in
//! CI, which is what the job it shows would be. A deploy from this machine with `deploy` is
//! judged as the local run it is.

use std::path::PathBuf;
use std::time::Duration;

use astro_api::{ApiToken, Client, ClientConfig};
use deploy::bundle::{compare_with_folder, BundleComparison};
use deploy::pipeline::{DeployInputs, DeployKind, Outcome, PolicyInputs, Target, WaitOptions};
use deploy::policy::RunFacts;
use emulator::EmulatorConfig;
use serde::Serialize;

use crate::args::{DemoArgs, OutputFormat};
use crate::exit::Failure;
use crate::report::{self, Reporter};

/// The example project, found from the working folder or from where the binary was built.
fn default_project() -> PathBuf {
    let from_cwd = PathBuf::from("examples/astro-project");
    if from_cwd.join("dags").is_dir() {
        return from_cwd;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/astro-project"
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoReport<'a> {
    emulator: &'a str,
    deploy: &'a Outcome,
    verification: &'a BundleComparison,
    refused: Refusal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Refusal {
    deployment_id: String,
    error: String,
    hint: Option<String>,
}

pub async fn run(args: DemoArgs, format: OutputFormat) -> Result<(), Failure> {
    let project = args.project.unwrap_or_else(default_project);
    let config = EmulatorConfig {
        rollout_delay: Duration::from_secs(1),
        ..Default::default()
    };
    let running = emulator::start(config)
        .await
        .map_err(|error| Failure::input("starting the emulator").with_cause(&error))?;
    let info = running.info().clone();
    tracing::info!("started an Astro emulator at {}", running.base_url());

    let token = ApiToken::new(info.api_token.clone()).map_err(to_failure)?;
    let claims = token.claims().map_err(to_failure)?;
    let mut config = ClientConfig::new(token.clone());
    config.base_url = running.base_url().to_owned();
    let client = Client::new(config).map_err(Failure::from_api)?;

    let inputs = |deployment_id: &str| DeployInputs {
        target: Target::Id(deployment_id.to_owned()),
        project_dir: project.clone(),
        kind: DeployKind::Dags,
        description: Some("astro-deploy demo".to_owned()),
        wait: Some(WaitOptions {
            timeout: Duration::from_secs(60),
            max_poll_interval: Duration::from_secs(1),
        }),
        wake: false,
        token: claims.clone(),
        api_token: token.clone(),
        upload: Default::default(),
        image: Default::default(),
        policy: PolicyInputs {
            config: Default::default(),
            run: RunFacts {
                ci: Some("astro-deploy demo (a CI push, played on this machine)".to_owned()),
                event: Some("push".to_owned()),
                ref_name: Some("main".to_owned()),
                default_branch: Some("main".to_owned()),
                ..RunFacts::default()
            },
        },
    };
    let reporter = Reporter::new();

    let plan = deploy::plan(&client, &inputs(&info.deployments.dags_enabled), &reporter)
        .await
        .map_err(Failure::from_deploy)?;
    let outcome = deploy::execute(&client, plan, &reporter)
        .await
        .map_err(Failure::from_deploy)?;

    let bundle = running.blob(&outcome.deploy_id).ok_or_else(|| {
        Failure::input(format!(
            "the emulator holds no bundle for deploy `{}`",
            outcome.deploy_id
        ))
    })?;
    let verification = compare_with_folder(bundle.as_slice(), &project)
        .map_err(|error| Failure::from_deploy(deploy::DeployError::Bundle(error)))?;

    let refused_id = info.deployments.dags_disabled.clone();
    let refusal = match deploy::plan(&client, &inputs(&refused_id), &deploy::NoProgress).await {
        Ok(_) => {
            return Err(Failure::input(
                "the emulator accepted a deploy it must refuse",
            ))
        }
        Err(error) => Refusal {
            deployment_id: refused_id,
            error: error.to_string(),
            hint: error.hint(),
        },
    };
    running.shutdown().await;

    render(
        &DemoReport {
            emulator: &info.base_url,
            deploy: &outcome,
            verification: &verification,
            refused: refusal,
        },
        format,
    );
    if !verification.is_exact() {
        return Err(Failure::input(
            "the deployed bundle does not match the project's dags/",
        ));
    }
    Ok(())
}

fn render(demo: &DemoReport<'_>, format: OutputFormat) {
    if format == OutputFormat::Json {
        return report::print_json(demo);
    }

    report::outcome(demo.deploy, format);
    println!();
    let check = demo.verification;
    if check.is_exact() {
        println!(
            "Verified: the bundle the emulator received holds exactly the {} entries of dags/, \
             byte for byte.",
            check.matching
        );
    } else {
        println!(
            "MISMATCH between the bundle and dags/: missing {:?}, unexpected {:?}, different {:?}",
            check.missing, check.unexpected, check.different
        );
    }
    println!(
        "Refused before any change: a DAG deploy to `{}`: {}",
        demo.refused.deployment_id, demo.refused.error
    );
    println!();
    println!("Next: run `astro-deploy emulator`, set ASTRO_API_URL and ASTRO_API_TOKEN from the");
    println!("line it prints, and deploy your own project with `astro-deploy deploy`.");
}

fn to_failure(error: astro_api::TokenError) -> Failure {
    Failure::from_api(astro_api::Error::from(error))
}
