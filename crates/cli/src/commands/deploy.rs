//! `astro-deploy deploy`: plan, check, and (unless a dry run) execute a deploy.

use deploy::image::builder::{BuildSecret, BuilderOptions};
use deploy::image::produce::{Credentials, ImageRequest, Secret};
use deploy::pipeline::{DeployInputs, DeployKind, PolicyInputs, Target, WaitOptions};

use crate::args::{DeployArgs, DeployTypeArg, ImageArgs, OutputFormat};
use crate::config;
use crate::exit::Failure;
use crate::report::{self, Reporter};

pub async fn run(args: DeployArgs, format: OutputFormat) -> Result<(), Failure> {
    if args.all {
        return super::monorepo::deploy_all(args, format).await;
    }
    let connection = config::connect(&args.api)?;
    let dry_run = args.dry_run;
    let image = image_request(&args.image)?;
    let policy = policy_inputs(&args, &args.project).await?;
    let inputs = inputs(args, &connection, image, policy);
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
fn inputs(
    args: DeployArgs,
    connection: &config::Connection,
    image: ImageRequest,
    policy: PolicyInputs,
) -> DeployInputs {
    let (id, name) = (args.deployment_id.as_ref(), args.deployment_name.as_ref());
    // clap requires one of the two.
    let target = config::target(id, name, args.workspace_id.as_ref())
        .unwrap_or_else(|| Target::Id(String::new()));
    let kind = match args.deploy_type {
        DeployTypeArg::Dags => DeployKind::Dags,
        DeployTypeArg::Image => DeployKind::Image,
        DeployTypeArg::ImageAndDags => DeployKind::ImageAndDags,
        DeployTypeArg::Infer => DeployKind::Infer,
    };
    let project = args.project.clone();
    shared_inputs(&args, connection, image, (target, kind, project), policy)
}

/// The policy of the config file, and the facts about this run it judges.
pub(super) async fn policy_inputs(
    args: &DeployArgs,
    project: &std::path::Path,
) -> Result<PolicyInputs, Failure> {
    let config = super::policy::load(&args.monorepo.config)?;
    let run =
        super::policy::run_facts(&args.policy, args.monorepo.branch.as_deref(), project).await?;
    Ok(PolicyInputs {
        config,
        run,
        previews: false,
    })
}

/// The inputs every deploy of one command shares, for one target, kind and project.
pub(super) fn shared_inputs(
    args: &DeployArgs,
    connection: &config::Connection,
    image: ImageRequest,
    (target, kind, project_dir): (Target, DeployKind, std::path::PathBuf),
    policy: PolicyInputs,
) -> DeployInputs {
    let description = args
        .description
        .clone()
        .or_else(|| ci::CiRun::detect().map(|run| run.describe()));
    let wait = args.wait.then(|| WaitOptions {
        timeout: args.wait_timeout,
        ..Default::default()
    });

    DeployInputs {
        target,
        project_dir,
        kind,
        description,
        wait,
        wake: args.wake,
        token: connection.claims.clone(),
        api_token: connection.token.clone(),
        upload: Default::default(),
        image,
        policy,
    }
}

/// How to make the image, from the flags; the builders are looked for on `PATH`.
pub(super) fn image_request(args: &ImageArgs) -> Result<ImageRequest, Failure> {
    let build_args = args
        .build_arg
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(
                Failure::input(format!("the build argument `{pair}` is not KEY=VALUE"))
                    .hint("write build arguments as --build-arg KEY=VALUE"),
            ),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let secrets = args
        .build_secret
        .iter()
        .map(|text| BuildSecret::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Failure::from_deploy(deploy::DeployError::Builder(error)))?;

    Ok(ImageRequest {
        prebuilt: args.image_name.clone(),
        builder: args.builder.clone(),
        builder_search_path: std::env::var_os("PATH").unwrap_or_default(),
        builder_options: BuilderOptions {
            extra_global_args: args.builder_arg.clone(),
        },
        build_args,
        secrets,
        pytest: args.pytest.clone(),
        parse: args.parse,
        skip_checks: args.skip_checks,
        full_build: args.full_build,
        source_credentials: source_registry_login()?,
    })
}

/// The login for pulling `--image-name` from a registry other than the Deployment's, from
/// ASTRO_SOURCE_REGISTRY_USER and ASTRO_SOURCE_REGISTRY_PASSWORD: from the environment only,
/// like the API token, so that the password stays out of process listings.
fn source_registry_login() -> Result<Option<Credentials>, Failure> {
    let read = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let user = read("ASTRO_SOURCE_REGISTRY_USER");
    let password = read("ASTRO_SOURCE_REGISTRY_PASSWORD");
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user, Secret::new(password)))),
        (None, None) => Ok(None),
        _ => Err(Failure::input(
            "only one of ASTRO_SOURCE_REGISTRY_USER and ASTRO_SOURCE_REGISTRY_PASSWORD is set",
        )
        .hint("set both to pull --image-name with a login, or neither to pull anonymously")),
    }
}
