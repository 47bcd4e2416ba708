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
    /// Ephemeral preview Deployments, one per branch: create, deploy, delete, list, gc.
    #[command(subcommand)]
    Preview(PreviewCommand),
    /// The deploy policy: show how it judges a deploy from this run, or turn on CI/CD
    /// enforcement on a Deployment.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The organization's API tokens: list them, rotate one, or create one that expires.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a local Astro control plane, to try a pipeline without an Astro account.
    Emulator(EmulatorArgs),
    /// Deploy the example project to an embedded emulator and show what happened.
    Demo(DemoArgs),
    /// Deployments as code: print a Deployment's settings as a deployment file, or apply one.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
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
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// What the deploy policy needs from the user.
#[derive(Debug, Args)]
#[command(next_help_heading = "Deploy policy")]
pub struct PolicyArgs {
    /// Allow a deploy from outside CI. The policy still refuses it for production-like
    /// Deployments and for Deployments that enforce CI/CD.
    #[arg(long, env = "ASTRO_ALLOW_LOCAL")]
    pub allow_local: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print every rule of the deploy policy for a Deployment, judged for this run, without
    /// deploying. Exits 10 when a deploy would be denied.
    Check(PolicyCheckArgs),
    /// Turn on CI/CD enforcement on a Deployment (only API tokens may deploy to it), showing
    /// the change. Running it again changes nothing.
    Enforce(PolicyEnforceArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The Deployment to judge a deploy to.
    #[arg(long, env = "ASTRO_DEPLOYMENT_ID", conflicts_with = "deployment_name")]
    pub deployment_id: Option<String>,

    /// The Deployment, by name.
    #[arg(long, env = "ASTRO_DEPLOYMENT_NAME")]
    pub deployment_name: Option<String>,

    /// The Workspace to look the name up in, when names repeat.
    #[arg(long, env = "ASTRO_WORKSPACE_ID")]
    pub workspace_id: Option<String>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

/// What the deploy policy judges a change on (the run's branch, the config file, whether a
/// local run is allowed), and where the API is.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// The branch this runs for [default: the CI run's, else git's].
    #[arg(long)]
    pub branch: Option<String>,

    /// The project config file with the `policy:` section (used when it exists).
    #[arg(long, value_name = "FILE", default_value = "astro-deploy.yaml")]
    pub config: PathBuf,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct PolicyEnforceArgs {
    /// The Deployment to turn CI/CD enforcement on for.
    #[arg(long, env = "ASTRO_DEPLOYMENT_ID")]
    pub deployment_id: String,

    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,

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
    /// The API token goes only to the Deployment's own registry: another registry is pulled
    /// from anonymously, or with ASTRO_SOURCE_REGISTRY_USER and ASTRO_SOURCE_REGISTRY_PASSWORD.
    /// --pytest and --parse run in an image astro-deploy builds, so they cannot go with it: run
    /// them where the image is built.
    #[arg(
        long,
        env = "ASTRO_IMAGE_NAME",
        value_name = "IMAGE",
        conflicts_with_all = ["pytest", "parse"]
    )]
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
    /// The GitHub Action's preview entrypoint: `preview create|deploy|delete`, then the same
    /// step outputs (`preview-id`, `preview-url`), summary, pull request comment and GitHub
    /// Deployment (a transient environment, marked inactive on delete) as `ci github`.
    #[command(subcommand)]
    GithubPreview(CiPreviewCommand),
    /// The GitLab CI template's preview entrypoint: `preview create|deploy|delete`, then the
    /// dotenv report (`ASTRO_PREVIEW_ID`, `ASTRO_PREVIEW_NAME`, `ASTRO_PREVIEW_URL`, for the
    /// environment's URL) and the merge request note, as `ci gitlab`.
    #[command(subcommand)]
    GitlabPreview(CiPreviewCommand),
}

/// The preview steps a CI adapter runs; each takes the flags of its `preview` command.
#[derive(Debug, Subcommand)]
pub enum CiPreviewCommand {
    /// `preview create`, reported to the CI.
    Create(Box<PreviewDeployArgs>),
    /// `preview deploy`, reported to the CI.
    Deploy(Box<PreviewDeployArgs>),
    /// `preview delete`, reported to the CI.
    Delete(Box<PreviewDeleteArgs>),
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

#[derive(Debug, Subcommand)]
pub enum PreviewCommand {
    /// Make the branch's preview (a copy of the base Deployment with the preview overrides),
    /// wait until it is up, deploy the branch's whole project to it, and copy Airflow
    /// connections, variables and pools when asked. Re-running it finds the same preview.
    Create(Box<PreviewDeployArgs>),
    /// Deploy the branch's code to its preview, making the preview first unless the config
    /// says `create-on-deploy: false`.
    Deploy(Box<PreviewDeployArgs>),
    /// Delete previews by branch, pull/merge request or name. Deleting what is already gone
    /// succeeds.
    Delete(PreviewDeleteArgs),
    /// List the previews of the base Deployment with their branch, review, age and status.
    List(PreviewListArgs),
    /// Delete previews whose branch or pull/merge request is closed or gone, or that are
    /// older than the TTL. Previews nobody can vouch for either way are kept.
    Gc(PreviewGcArgs),
}

/// Which base Deployment previews copy, and where the preview settings come from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Base Deployment")]
pub struct PreviewBaseArgs {
    /// The Deployment previews copy [default: `preview.base-deployment-id` of the config].
    #[arg(
        long,
        env = "ASTRO_BASE_DEPLOYMENT_ID",
        conflicts_with = "base_deployment_name"
    )]
    pub base_deployment_id: Option<String>,

    /// The base Deployment by name.
    #[arg(long, env = "ASTRO_BASE_DEPLOYMENT_NAME")]
    pub base_deployment_name: Option<String>,

    /// The Workspace to look the base's name up in, when names repeat.
    #[arg(long, env = "ASTRO_WORKSPACE_ID")]
    pub workspace_id: Option<String>,

    /// The project config file with the `preview:` settings (used when it exists).
    #[arg(long, value_name = "FILE", default_value = "astro-deploy.yaml")]
    pub config: PathBuf,

    /// Which project of the config file [default: the one whose root is --project, else the
    /// only one with a `preview:` section].
    #[arg(long, value_name = "NAME")]
    pub project_name: Option<String>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// Which branch a preview is for.
#[derive(Debug, Args)]
pub struct BranchArgs {
    /// The branch [default: the CI run's branch (a pull request's source branch), else git's].
    #[arg(long, env = "ASTRO_PREVIEW_BRANCH")]
    pub branch: Option<String>,

    /// The pull request (GitHub) or merge request (GitLab) number [default: the CI run's].
    #[arg(long, env = "ASTRO_PREVIEW_REVIEW", value_name = "NUMBER")]
    pub review: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PreviewDeployArgs {
    #[command(flatten)]
    pub base: PreviewBaseArgs,

    #[command(flatten)]
    pub branch: BranchArgs,

    /// The Astro project folder (holding the Dockerfile and dags/).
    #[arg(long, env = "ASTRO_ROOT_FOLDER", default_value = ".")]
    pub project: PathBuf,

    /// What to deploy to an existing preview; a new preview always gets the whole project.
    #[arg(
        long = "type",
        env = "ASTRO_DEPLOY_TYPE",
        value_enum,
        default_value_t = DeployTypeArg::Infer
    )]
    pub deploy_type: DeployTypeArg,

    /// A description shown with the deploy in Astro (default: the CI run, when there is one).
    #[arg(long, env = "ASTRO_DESCRIPTION")]
    pub description: Option<String>,

    /// Wait until the preview runs the new code.
    #[arg(long, env = "ASTRO_WAIT")]
    pub wait: bool,

    /// How long --wait waits, e.g. 90s, 10m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub wait_timeout: Duration,

    /// How long to wait for a new preview to come up before deploying to it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20m")]
    pub ready_timeout: Duration,

    /// Copy the base's Airflow connections to the preview (passwords cannot be read back).
    #[arg(long)]
    pub copy_connections: bool,

    /// Copy the base's Airflow variables to the preview.
    #[arg(long)]
    pub copy_variables: bool,

    /// Copy the base's Airflow pools to the preview.
    #[arg(long)]
    pub copy_pools: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").args(["branch", "review", "name"])))]
pub struct PreviewDeleteArgs {
    #[command(flatten)]
    pub base: PreviewBaseArgs,

    /// The branch whose preview goes [default: the CI run's branch].
    #[arg(long, env = "ASTRO_PREVIEW_BRANCH")]
    pub branch: Option<String>,

    /// The pull/merge request whose previews go.
    #[arg(long, value_name = "NUMBER")]
    pub review: Option<u64>,

    /// The preview's name, as `preview list` shows it.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct PreviewListArgs {
    #[command(flatten)]
    pub base: PreviewBaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostArg {
    /// GitHub when run in GitHub Actions, GitLab in GitLab CI, else none.
    Auto,
    /// GitHub's REST API: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL.
    Github,
    /// GitLab's REST API: GITLAB_TOKEN, CI_PROJECT_ID, CI_API_V4_URL.
    Gitlab,
    /// Ask no code host: only --ttl collects.
    None,
}

#[derive(Debug, Args)]
pub struct PreviewGcArgs {
    #[command(flatten)]
    pub base: PreviewBaseArgs,

    /// Delete previews older than this (`36h`, `14d`) [default: `preview.ttl` of the config].
    #[arg(long)]
    pub ttl: Option<String>,

    /// Where to ask whether branches and pull/merge requests are still open.
    #[arg(long, value_enum, default_value_t = HostArg::Auto)]
    pub host: HostArg,

    /// Show what would be deleted and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the organization's API tokens with their type, expiry and roles (never a value).
    List(TokenListArgs),
    /// Give an API token a new value and invalidate the old one. The deploy policy judges it
    /// first; the new value is printed once, on stdout.
    Rotate(TokenRotateArgs),
    /// Create an API token that expires. The deploy policy judges it first; the value is
    /// printed once, on stdout.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Only the tokens of this Workspace.
    #[arg(long)]
    pub workspace_id: Option<String>,

    /// Only the tokens of this Deployment.
    #[arg(long)]
    pub deployment_id: Option<String>,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct TokenRotateArgs {
    /// The API token to rotate (its id, as `token list` shows it).
    #[arg(long)]
    pub token_id: String,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The new token's name.
    #[arg(long)]
    pub name: String,

    #[arg(long)]
    pub description: Option<String>,

    /// Its role: ORGANIZATION_*, WORKSPACE_* (with --workspace-id) or DEPLOYMENT_ADMIN (with
    /// --deployment-id).
    #[arg(long)]
    pub role: String,

    /// Days until it expires, 1 to 3650.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_in_days: u32,

    /// Scope it to this Workspace.
    #[arg(long, conflicts_with = "deployment_id")]
    pub workspace_id: Option<String>,

    /// Scope it to this Deployment (all a deploy needs).
    #[arg(long)]
    pub deployment_id: Option<String>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Print a Deployment's settings as a deployment file: YAML, or JSON with --output json.
    /// Secret environment variables are listed without their value.
    Inspect(DeploymentInspectArgs),
    /// Make a Deployment match a deployment file, showing each change. The deploy policy
    /// judges it first; a file that already matches changes nothing.
    Apply(Box<DeploymentApplyArgs>),
}

/// Which Deployment a deployment command reads or changes.
#[derive(Debug, Args)]
pub struct DeploymentTargetArgs {
    /// The Deployment.
    #[arg(
        long,
        env = "ASTRO_DEPLOYMENT_ID",
        required_unless_present = "deployment_name",
        conflicts_with = "deployment_name"
    )]
    pub deployment_id: Option<String>,

    /// The Deployment, by name.
    #[arg(long, env = "ASTRO_DEPLOYMENT_NAME")]
    pub deployment_name: Option<String>,

    /// The Workspace to look the name up in, when names repeat (ignored with --deployment-id).
    #[arg(long, env = "ASTRO_WORKSPACE_ID")]
    pub workspace_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeploymentInspectArgs {
    #[command(flatten)]
    pub target: DeploymentTargetArgs,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct DeploymentApplyArgs {
    /// The deployment file (YAML or JSON), as `deployment inspect` writes it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub target: DeploymentTargetArgs,

    /// Show the changes and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub change: ChangeArgs,
}
