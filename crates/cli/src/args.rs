//! The command line: commands, flags and their help.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "astro-deploy",
    version,
    about = "Deploy Apache Airflow projects to Astronomer's Astro from CI",
    long_about = "Deploy Apache Airflow projects to Astronomer's Astro from CI.\n\n\
        The API token comes from ASTRO_API_TOKEN (never from a flag, so it stays out of process \
        lists and shell history). ASTRO_API_URL points at another Astro API, such as a local \
        emulator; ASTRO_ORGANIZATION_ID overrides the organization named by the token."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// How results are printed on stdout.
    #[arg(long, value_enum, global = true, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail in the logs on stderr (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    /// One JSON object on stdout, for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy a project to a Deployment.
    Deploy(Box<DeployArgs>),
    /// Show which projects of the config file deploy for this branch and change, and how.
    Plan(PlanArgs),
    /// Run as a CI system's adapter: the deploy, then the CI's outputs, summary and comments.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Run a local Astro control plane, to try a pipeline without an Astro account.
    Emulator(EmulatorArgs),
    /// Deploy the example project to an embedded emulator and show what happened.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The Deployment to deploy to.
    #[arg(
        long,
        env = "ASTRO_DEPLOYMENT_ID",
        required_unless_present_any = ["deployment_name", "all"],
        conflicts_with = "deployment_name"
    )]
    pub deployment_id: Option<String>,

    /// The Deployment to deploy to, by name.
    #[arg(long, env = "ASTRO_DEPLOYMENT_NAME")]
    pub deployment_name: Option<String>,

    /// The Workspace to look the name up in, when names repeat across Workspaces (ignored
    /// with --deployment-id).
    #[arg(long, env = "ASTRO_WORKSPACE_ID")]
    pub workspace_id: Option<String>,

    /// The Astro project folder (holding the Dockerfile and dags/).
    #[arg(long, env = "ASTRO_ROOT_FOLDER", default_value = ".")]
    pub project: PathBuf,

    /// What to deploy.
    #[arg(
        long = "type",
        env = "ASTRO_DEPLOY_TYPE",
        value_enum,
        default_value_t = DeployTypeArg::Dags
    )]
    pub deploy_type: DeployTypeArg,

    /// A description shown with the deploy in Astro (default: the CI run, when there is one).
    #[arg(long, env = "ASTRO_DESCRIPTION")]
    pub description: Option<String>,

    /// Wait until the Deployment is healthy and runs the new code.
    #[arg(long, env = "ASTRO_WAIT")]
    pub wait: bool,

    /// How long --wait waits, e.g. 90s, 10m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m", requires = "wait")]
    pub wait_timeout: Duration,

    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Deploy every project of the config file that has a target for the branch and changed.
    #[arg(long, conflicts_with_all = ["deployment_id", "deployment_name"])]
    pub all: bool,

    /// With --all: projects deployed at once.
    #[arg(long, default_value_t = 2, requires = "all")]
    pub jobs: usize,

    #[command(flatten)]
    pub monorepo: MonorepoArgs,

    #[command(flatten)]
    pub image: ImageArgs,

    /// Wake a hibernating development Deployment for the deploy, and give its schedule back
    /// afterwards (also when the deploy fails). Waits for the new DAGs before giving it back.
    #[arg(long)]
    pub wake: bool,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTypeArg {
    /// Only the dags/ folder, as a DAG bundle (Astro's DAG_ONLY deploy).
    Dags,
    /// The image and the DAGs (IMAGE_AND_DAG); with DAG deploys on, dags/ ships as a bundle.
    ImageAndDags,
    /// Only the image (IMAGE_ONLY); needs DAG deploys on, and leaves the DAGs as they are.
    Image,
    /// `dags` when only files under dags/ differ from what is deployed, else `image-and-dags`.
    Infer,
}

/// Which projects of a repository deploy: the config file, the branch, and the commits compared.
#[derive(Debug, Args)]
#[command(next_help_heading = "Monorepos (plan, deploy --all)")]
pub struct MonorepoArgs {
    /// The project config file.
    #[arg(long, value_name = "FILE", default_value = "astro-deploy.yaml")]
    pub config: PathBuf,

    /// The branch whose targets apply [default: the CI run's branch, else git's current one].
    #[arg(long)]
    pub branch: Option<String>,

    /// The commit to compare with (a push's `before`, a pull request's base).
    #[arg(long, value_name = "SHA", requires = "head")]
    pub base: Option<String>,

    /// The commit being deployed.
    #[arg(long, value_name = "SHA")]
    pub head: Option<String>,
}

/// How the image of an image deploy is made and checked.
#[derive(Debug, Args)]
#[command(next_help_heading = "Image deploys")]
pub struct ImageArgs {
    /// Deploy this prebuilt image (a local image name, or one in a registry) without building.
    #[arg(long, env = "ASTRO_IMAGE_NAME", value_name = "IMAGE")]
    pub image_name: Option<String>,

    /// The builder to use: docker (buildx), podman or buildah [default: the first found].
    #[arg(long, env = "ASTRO_BUILDER", value_name = "NAME")]
    pub builder: Option<String>,

    /// Extra arguments given to the builder before its command, e.g. `--storage-driver=vfs`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub builder_arg: Vec<String>,

    /// A build argument, `KEY=VALUE`; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,

    /// A build secret, `id=NAME,src=PATH`; repeatable.
    #[arg(long, value_name = "id=NAME,src=PATH")]
    pub build_secret: Vec<String>,

    /// Run the project's tests (default path: tests/) inside the built image before pushing.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "tests")]
    pub pytest: Option<String>,

    /// Import every DAG inside the built image before pushing, and stop on import errors.
    #[arg(long)]
    pub parse: bool,

    /// Skip --pytest and --parse (said so in the output).
    #[arg(long, conflicts_with_all = ["pytest", "parse"])]
    pub skip_checks: bool,

    /// Always build with the builder, even when only project files changed.
    #[arg(long)]
    pub full_build: bool,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The Astro API base URL [env: ASTRO_API_URL] [default: https://api.astronomer.io]
    #[arg(long)]
    pub api_url: Option<String>,

    /// The organization id [env: ASTRO_ORGANIZATION_ID] [default: from the token]
    #[arg(long)]
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Github,
    Gitlab,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// The GitHub Action's entrypoint: deploy, then step outputs, a job summary, annotations,
    /// a pull request comment and a GitHub Deployment. Takes the flags of `deploy`.
    Github(Box<DeployArgs>),
    /// The GitLab CI template's entrypoint: deploy, then a dotenv report for later jobs (at
    /// ASTRO_DOTENV, default astro-deploy.env) and, with GITLAB_TOKEN in a merge request
    /// pipeline, a merge request note. Takes the flags of `deploy`.
    Gitlab(Box<DeployArgs>),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub monorepo: MonorepoArgs,

    /// Print only the matrix of the projects that deploy: GitHub's `strategy.matrix` as one
    /// line of JSON, or a GitLab child pipeline whose job runs them with `parallel:matrix`.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "github")]
    pub matrix: Option<MatrixFormat>,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8871")]
    pub listen: SocketAddr,

    /// Keep the emulator's state in this file (and its bundles beside it), across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,

    /// How long a Deployment stays DEPLOYING after a deploy, e.g. 2s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub rollout_delay: Duration,

    /// The registry (`host:port`) named in the Deployments' `imageRepository`, so image
    /// deploys push to a registry you run, such as `docker-registry` on loopback.
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The project to deploy [default: examples/astro-project of this repository].
    #[arg(long)]
    pub project: Option<PathBuf>,
}
