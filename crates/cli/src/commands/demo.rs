//! `astro-deploy demo`: the whole flow on this machine, with no Astro account.
//!
//! It starts the emulator in-process on a free loopback port, deploys the example project's
//! `dags/` with `--wait`, reads the bundle back from the emulator's blob store and checks it
//! against the folder, and shows a deploy that the checks refuse before changing anything.
//!
//! The demo stands in for the main CI job: the deploy policy judges it as a push to `main` in
//! CI, which is what the job it shows would be. A deploy from this machine with `deploy` is
//! judged as the local run it is.
//!
//! The example project is `examples/astro-project` of the working folder when there is one (a
//! checkout of this repository), else the copy embedded in the binary (see `build.rs`),
//! unpacked to a temporary folder for the run: a binary on its own still has a demo.

use std::path::{Path, PathBuf};
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

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/example_project.rs"));
}

/// Where the deployed project came from.
#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
enum Source {
    /// `--project`.
    Given,
    /// `examples/astro-project` of the working folder.
    Checkout,
    /// The copy in the binary, unpacked to a temporary folder that is gone after the run.
    Embedded,
}

/// The project to deploy, and the temporary folder that holds it when it was unpacked.
struct DemoProject {
    path: PathBuf,
    source: Source,
    _unpacked: Option<tempfile::TempDir>,
}

fn demo_project(given: Option<PathBuf>) -> Result<DemoProject, Failure> {
    let found = |path, source| DemoProject {
        path,
        source,
        _unpacked: None,
    };
    if let Some(path) = given {
        return Ok(found(path, Source::Given));
    }
    let checkout = PathBuf::from("examples/astro-project");
    if checkout.join("dags").is_dir() {
        return Ok(found(checkout, Source::Checkout));
    }

    let unpacking = |error: std::io::Error| {
        Failure::input("unpacking the example project to a temporary folder").with_cause(&error)
    };
    let dir = tempfile::Builder::new()
        .prefix("astro-deploy-demo-")
        .tempdir()
        .map_err(unpacking)?;
    unpack(dir.path()).map_err(unpacking)?;
    tracing::info!(
        "unpacked the embedded example project to {}",
        dir.path().display()
    );
    Ok(DemoProject {
        path: dir.path().join("astro-project"),
        source: Source::Embedded,
        _unpacked: Some(dir),
    })
}

/// Writes the embedded example project to `<dir>/astro-project`.
fn unpack(dir: &Path) -> std::io::Result<()> {
    let root = dir.join("astro-project");
    for (relative, content, executable) in embedded::FILES {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        if *executable {
            make_executable(&path)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectReport<'a> {
    path: &'a Path,
    source: Source,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoReport<'a> {
    emulator: &'a str,
    project: ProjectReport<'a>,
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
    let demo = demo_project(args.project)?;
    let project = demo.path.clone();
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
            previews: false,
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
            project: ProjectReport {
                path: &demo.path,
                source: demo.source,
            },
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

    if demo.project.source == Source::Embedded {
        println!(
            "No examples/astro-project here: deploying the example project built into \
             astro-deploy, unpacked to a temporary folder."
        );
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
    print!("{NEXT}");
}

/// How to go on from the demo. The seeded Deployment that takes DAG deploys enforces CI/CD, so
/// the deploy policy refuses a deploy from a laptop (exit 10); `CI=true` runs the deploy as the
/// CI job it stands for, as the demo itself does.
const NEXT: &str = "\
Next, deploy your own project the way its CI job would, to an emulator that stays up:
  astro-deploy emulator    # in another terminal; prints one JSON line
  export ASTRO_API_URL=<baseUrl> ASTRO_API_TOKEN=<apiToken>    # from that line
  CI=true astro-deploy deploy --deployment-id <deployments.dagsEnabled> --project <your project>
The Deployment enforces CI/CD, so without CI=true the deploy policy refuses a deploy from this
machine (exit code 10).
";

fn to_failure(error: astro_api::TokenError) -> Failure {
    Failure::from_api(astro_api::Error::from(error))
}
