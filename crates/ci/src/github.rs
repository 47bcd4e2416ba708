//! The GitHub Actions adapter's output side: step outputs (`GITHUB_OUTPUT`), the job summary
//! (`GITHUB_STEP_SUMMARY`), workflow commands on stdout (masks, annotations, log groups) and the
//! Markdown of the pull request comment.
//!
//! Everything here is pure: paths and values come in, text or file appends go out. Only
//! [`GithubEnv::from_env`] reads the process environment, so tests feed real variable sets to
//! [`GithubEnv::from_vars`] instead.
//!
//! Text that a user or a repository controls (Deployment names, descriptions, error messages,
//! warnings) never reaches GitHub raw: outputs take a random heredoc delimiter when a value spans
//! lines, workflow command data is percent-escaped as the runner expects, and Markdown is escaped
//! so that a name cannot inject links, HTML or table cells.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use deploy::image::produce::ImageRoute;
use deploy::pipeline::{DeployState, Outcome};
use deploy::progress::human_bytes;

use crate::github_api::GithubToken;

/// Where GitHub's API lives when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Where GitHub lives when `GITHUB_SERVER_URL` is not set.
pub const DEFAULT_SERVER_URL: &str = "https://github.com";

/// The step output names this adapter writes, in the order it writes them.
pub const OUTPUT_NAMES: [&str; 12] = [
    "deployment-id",
    "deploy-id",
    "deploy-type",
    "deploy-reason",
    "skipped",
    "skip-reason",
    "image",
    "image-digest",
    "bundle-sha256",
    "bundle-version",
    "preview-id",
    "preview-url",
];

/// What a GitHub Actions step is told by its environment. Read once, by the CLI.
#[derive(Debug, Clone, Default)]
pub struct GithubEnv {
    /// `GITHUB_OUTPUT`: the step outputs file.
    pub output_file: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file.
    pub summary_file: Option<PathBuf>,
    /// `GITHUB_API_URL`, or [`DEFAULT_API_URL`].
    pub api_url: String,
    /// `GITHUB_SERVER_URL`, or [`DEFAULT_SERVER_URL`].
    pub server_url: String,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_REF`: `refs/heads/main`, `refs/pull/12/merge`, `refs/tags/v1`.
    pub git_ref: Option<String>,
    /// `GITHUB_HEAD_REF`: the pull request's branch, on pull request events.
    pub head_ref: Option<String>,
    pub event_name: Option<String>,
    /// `GITHUB_EVENT_PATH`: the webhook payload that started the run.
    pub event_path: Option<PathBuf>,
    /// `GITHUB_TOKEN`: for comments and deployments; the action passes its `github-token`.
    pub token: Option<GithubToken>,
}

impl GithubEnv {
    /// Reads the process environment: the adapter's one environment reader.
    pub fn from_env() -> GithubEnv {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var`; empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> GithubEnv {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        GithubEnv {
            output_file: var("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned()),
            repository: var("GITHUB_REPOSITORY"),
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            sha: var("GITHUB_SHA"),
            git_ref: var("GITHUB_REF"),
            head_ref: var("GITHUB_HEAD_REF"),
            event_name: var("GITHUB_EVENT_NAME"),
            event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from),
            token: var("GITHUB_TOKEN").map(GithubToken::new),
        }
    }

    /// A link to this run (and attempt), for deployment statuses and comments.
    pub fn run_url(&self) -> Option<String> {
        let repository = self.repository.as_deref()?;
        let run_id = self.run_id.as_deref()?;
        let server = self.server_url.trim_end_matches('/');
        let mut url = format!("{server}/{repository}/actions/runs/{run_id}");
        if let Some(attempt) = self.run_attempt.as_deref().filter(|a| *a != "1") {
            url.push_str(&format!("/attempts/{attempt}"));
        }
        Some(url)
    }

    /// The pull request this run builds, from `GITHUB_REF` (`refs/pull/<n>/merge` or `/head`).
    pub fn pull_request_number(&self) -> Option<u64> {
        let rest = self.git_ref.as_deref()?.strip_prefix("refs/pull/")?;
        let (number, tail) = rest.split_once('/')?;
        matches!(tail, "merge" | "head")
            .then(|| number.parse().ok())
            .flatten()
    }

    /// The ref a GitHub Deployment should name: the pull request's branch, or `GITHUB_REF`.
    pub fn deployment_ref(&self) -> Option<String> {
        self.head_ref.clone().or_else(|| self.git_ref.clone())
    }
}

/// The Deployment a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentRef {
    pub id: String,
    pub name: Option<String>,
    pub workspace_id: Option<String>,
    /// The Airflow UI, with its scheme (Astro's `webServerUrl` has none).
    pub airflow_url: Option<String>,
}

/// What was deployed, for a deploy that ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeployedReport {
    pub deploy_id: String,
    /// Astro's deploy type: `DAG_ONLY`, `IMAGE_AND_DAG`, `IMAGE_ONLY`.
    pub deploy_type: String,
    /// Why `--type infer` chose this type.
    pub inferred: Option<String>,
    pub bundle: Option<BundleReport>,
    pub bundle_version: Option<String>,
    pub image: Option<ImageReport>,
    /// `live`, `finalized` or `pending-wake`.
    pub state: String,
    /// The Deployment's status when the deploy ended.
    pub deployment_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BundleReport {
    pub sha256: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageReport {
    /// `<repository>:<tag>`.
    pub reference: String,
    pub digest: String,
    /// `code-only`, `full-build` or `prebuilt`.
    pub route: String,
    pub full_build_reason: Option<String>,
}

/// The preview Deployment a run deployed to or deleted, with its Airflow UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewReport {
    pub id: String,
    pub url: Option<String>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportStatus {
    Deployed(Box<DeployedReport>),
    /// Nothing was deployed, on purpose (no relevant change, a policy decision).
    Skipped {
        reason: String,
    },
    Failed {
        message: String,
        hint: Option<String>,
    },
    /// The preview was deleted (its branch or pull request closed).
    Deleted,
}

/// Everything the GitHub outputs, summary and comment say about one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployReport {
    pub deployment: DeploymentRef,
    pub status: ReportStatus,
    pub preview: Option<PreviewReport>,
    pub warnings: Vec<String>,
}

impl DeployReport {
    /// The report of a deploy that ran.
    pub fn from_outcome(outcome: &Outcome) -> DeployReport {
        let deployed = DeployedReport {
            deploy_id: outcome.deploy_id.clone(),
            deploy_type: outcome.deploy_type.clone(),
            inferred: outcome.inferred.clone(),
            bundle: outcome.bundle.as_ref().map(|b| BundleReport {
                sha256: b.sha256.clone(),
                files: b.files,
                bytes: b.bytes,
            }),
            bundle_version: outcome.bundle_version.clone(),
            image: outcome.image.as_ref().map(|i| ImageReport {
                reference: i.reference.clone(),
                digest: i.digest.clone(),
                route: route_name(i.route).to_owned(),
                full_build_reason: i.full_build_reason.clone(),
            }),
            state: state_name(outcome.state).to_owned(),
            deployment_status: outcome.deployment_status.clone(),
        };
        DeployReport {
            deployment: DeploymentRef {
                id: outcome.deployment_id.clone(),
                name: Some(outcome.deployment_name.clone()),
                workspace_id: Some(outcome.workspace_id.clone()),
                airflow_url: airflow_url(&outcome.web_server_url),
            },
            status: ReportStatus::Deployed(Box::new(deployed)),
            preview: None,
            warnings: outcome.warnings.clone(),
        }
    }

    /// The report of a run that deployed nothing on purpose.
    pub fn skipped(deployment: DeploymentRef, reason: impl Into<String>) -> DeployReport {
        DeployReport {
            deployment,
            status: ReportStatus::Skipped {
                reason: reason.into(),
            },
            preview: None,
            warnings: Vec::new(),
        }
    }

    /// The report of a run that deleted a preview Deployment.
    pub fn deleted(preview: DeploymentRef) -> DeployReport {
        DeployReport {
            preview: Some(PreviewReport {
                id: preview.id.clone(),
                url: None,
            }),
            deployment: preview,
            status: ReportStatus::Deleted,
            warnings: Vec::new(),
        }
    }

    /// Marks the report as one of a preview Deployment: its id and Airflow UI become the
    /// preview outputs, and its GitHub Deployment a transient environment.
    pub fn with_preview(mut self) -> DeployReport {
        self.preview = Some(PreviewReport {
            id: self.deployment.id.clone(),
            url: self.deployment.airflow_url.clone(),
        });
        self
    }

    /// The report of a failed run: `message` is the flattened error with its causes.
    pub fn failed(
        deployment: DeploymentRef,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> DeployReport {
        DeployReport {
            deployment,
            status: ReportStatus::Failed {
                message: message.into(),
                hint,
            },
            preview: None,
            warnings: Vec::new(),
        }
    }

    fn deployed(&self) -> Option<&DeployedReport> {
        match &self.status {
            ReportStatus::Deployed(deployed) => Some(deployed),
            _ => None,
        }
    }

    /// The Deployment's name, or its id when the name is unknown.
    pub fn deployment_label(&self) -> &str {
        self.deployment
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.deployment.id)
    }

    /// Every step output, named as in [`OUTPUT_NAMES`]; empty where it does not apply.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        let deployed = self.deployed();
        let skip_reason = match &self.status {
            ReportStatus::Skipped { reason } => Some(reason.clone()),
            _ => None,
        };
        let image = deployed.and_then(|d| d.image.as_ref());
        let values = [
            Some(self.deployment.id.clone()),
            deployed.map(|d| d.deploy_id.clone()),
            deployed.map(|d| deploy_kind_name(&d.deploy_type)),
            deployed.and_then(|d| d.inferred.clone()),
            Some(skip_reason.is_some().to_string()),
            skip_reason,
            image.map(|i| i.reference.clone()),
            image.map(|i| i.digest.clone()),
            deployed.and_then(|d| d.bundle.as_ref().map(|b| b.sha256.clone())),
            deployed.and_then(|d| d.bundle_version.clone()),
            self.preview.as_ref().map(|p| p.id.clone()),
            self.preview.as_ref().and_then(|p| p.url.clone()),
        ];
        OUTPUT_NAMES
            .into_iter()
            .zip(values)
            .map(|(name, value)| (name, value.unwrap_or_default()))
            .collect()
    }

    /// The job summary: a heading that says what happened, then a table of what and where.
    pub fn summary_markdown(&self) -> String {
        let label = md_text(self.deployment_label());
        let mut md = match &self.status {
            ReportStatus::Deployed(_) => format!("### Deployed to Astro: {label}\n\n"),
            ReportStatus::Skipped { reason } => format!(
                "### Astro deploy skipped: {label}\n\nNothing was deployed: {}\n\n",
                md_text(reason)
            ),
            ReportStatus::Deleted => format!("### Astro preview deleted: {label}\n\n"),
            ReportStatus::Failed { message, hint } => {
                let mut text = format!("### Astro deploy failed: {label}\n\n");
                text.push_str(&md_code_block(message));
                if let Some(hint) = hint {
                    text.push_str(&format!("Hint: {}\n\n", md_text(hint)));
                }
                text
            }
        };

        md.push_str("| | |\n|---|---|\n");
        for (key, value) in self.summary_rows() {
            md.push_str(&format!("| {key} | {value} |\n"));
        }

        if !self.warnings.is_empty() {
            md.push_str("\n**Warnings**\n\n");
            for warning in &self.warnings {
                md.push_str(&format!("- {}\n", md_text(warning)));
            }
        }
        md
    }

    fn summary_rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![("Deployment", self.deployment_cell())];
        if let Some(workspace) = &self.deployment.workspace_id {
            rows.push(("Workspace", md_code(workspace)));
        }
        if let Some(deployed) = self.deployed() {
            rows.extend(deployed_rows(deployed));
        }
        if let Some(preview) = &self.preview {
            let cell = match &preview.url {
                Some(url) => format!("{} ({})", md_code(&preview.id), md_link("open", url)),
                None => md_code(&preview.id),
            };
            rows.push(("Preview", cell));
        }
        rows
    }

    fn deployment_cell(&self) -> String {
        let id = md_code(&self.deployment.id);
        let name = self.deployment.name.as_deref().filter(|n| !n.is_empty());
        let mut cell = match name {
            Some(name) => format!("{} ({id})", md_text(name)),
            None => id,
        };
        if let Some(url) = &self.deployment.airflow_url {
            cell.push_str(&format!(", {}", md_link("Airflow UI", url)));
        }
        cell
    }

    /// The pull request comment: the hidden marker that finds it again, the summary, and where
    /// it came from.
    pub fn comment_markdown(&self, run_url: Option<&str>, sha: Option<&str>) -> String {
        let mut md = comment_marker(&self.deployment.id);
        md.push('\n');
        md.push_str(&self.summary_markdown());

        let short = sha.map(|s| &s[..s.len().min(7)]);
        let origin = match (run_url, short) {
            (Some(url), Some(sha)) => format!("{} at {}", md_link("this run", url), md_code(sha)),
            (Some(url), None) => md_link("this run", url),
            (None, Some(sha)) => format!("commit {}", md_code(sha)),
            (None, None) => String::new(),
        };
        if !origin.is_empty() {
            md.push_str(&format!("\n<sub>astro-deploy, from {origin}</sub>\n"));
        }
        md
    }
}

fn deployed_rows(deployed: &DeployedReport) -> Vec<(&'static str, String)> {
    let mut rows = vec![("Deploy", md_code(&deployed.deploy_id))];

    let mut kind = format!(
        "{} ({})",
        deploy_kind_name(&deployed.deploy_type),
        md_code(&deployed.deploy_type)
    );
    if let Some(why) = &deployed.inferred {
        kind.push_str(&format!("; inferred: {}", md_text(why)));
    }
    rows.push(("Type", kind));

    if let Some(bundle) = &deployed.bundle {
        rows.push((
            "DAG bundle",
            format!(
                "{} files, {}, sha256 {}",
                bundle.files,
                human_bytes(bundle.bytes),
                md_code(&bundle.sha256)
            ),
        ));
    }
    if let Some(version) = &deployed.bundle_version {
        rows.push(("Bundle version", md_code(version)));
    }
    if let Some(image) = &deployed.image {
        rows.push(("Image", md_code(&image.reference)));
        rows.push(("Image digest", md_code(&image.digest)));
        let mut how = md_text(&route_description(&image.route));
        if let Some(reason) = &image.full_build_reason {
            how.push_str(&format!(" ({})", md_text(reason)));
        }
        rows.push(("Image made by", how));
    }
    rows.push(("State", md_text(&state_description(&deployed.state))));
    rows.push(("Deployment status", md_code(&deployed.deployment_status)));
    rows
}

/// The hidden line that marks this Deployment's comment on a pull request. An id cannot end the
/// HTML comment early: anything outside `[A-Za-z0-9._-]` is replaced.
pub fn comment_marker(deployment_id: &str) -> String {
    let id: String = deployment_id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' => c,
            _ => '-',
        })
        .collect();
    let id = id.replace("--", "-_");
    format!("<!-- astro-deploy:{id} -->")
}

/// The Airflow UI link: Astro's `webServerUrl` comes without a scheme.
pub fn airflow_url(web_server_url: &str) -> Option<String> {
    astro_api::airflow::with_scheme(web_server_url)
}

/// The action's name for an Astro deploy type: `DAG_ONLY` is `dags`, as in the `deploy-type` input.
pub fn deploy_kind_name(deploy_type: &str) -> String {
    match deploy_type {
        "DAG_ONLY" => "dags".to_owned(),
        "IMAGE_AND_DAG" => "image-and-dags".to_owned(),
        "IMAGE_ONLY" => "image".to_owned(),
        other => other.to_ascii_lowercase().replace('_', "-"),
    }
}

fn route_name(route: ImageRoute) -> &'static str {
    match route {
        ImageRoute::CodeOnly => "code-only",
        ImageRoute::FullBuild => "full-build",
        ImageRoute::Prebuilt => "prebuilt",
    }
}

fn route_description(route: &str) -> String {
    match route {
        "code-only" => "a code-only layer on the deployed image (no build)".to_owned(),
        "full-build" => "a full build".to_owned(),
        "prebuilt" => "a prebuilt image (--image-name)".to_owned(),
        other => other.to_owned(),
    }
}

fn state_name(state: DeployState) -> &'static str {
    match state {
        DeployState::Finalized => "finalized",
        DeployState::Live => "live",
        DeployState::PendingWake => "pending-wake",
    }
}

fn state_description(state: &str) -> String {
    match state {
        "live" => "live: the Deployment is healthy and runs the new code".to_owned(),
        "finalized" => "finalized: Astro rolls it out (not waited for)".to_owned(),
        "pending-wake" => {
            "pending wake: the Deployment hibernates and runs it when it wakes".to_owned()
        }
        other => other.to_owned(),
    }
}

// --- Markdown ----------------------------------------------------------------------------------

/// Text that renders as itself: on one line (a table cell), with Markdown and HTML characters
/// escaped, so that a value cannot add links, images, HTML or cells.
pub fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => {}
            '\n' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("&#124;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// An inline code span. Code spans need no escaping inside, except that a backtick in the value
/// would end them; such a value falls back to escaped text.
fn md_code(text: &str) -> String {
    let one_line = !text.contains(['\n', '\r']);
    match one_line && !text.contains('`') && !text.contains('|') {
        true => format!("`{text}`"),
        false => md_text(text),
    }
}

/// A fenced block for multi-line text (an error and its causes); the fence is longer than any
/// run of backticks inside.
fn md_code_block(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n\n", text.trim_end())
}

/// A link, only for `http(s)` URLs; anything else stays text.
fn md_link(label: &str, url: &str) -> String {
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '|'));
    match safe {
        true => format!("[{}](<{url}>)", md_text(label)),
        false => format!("{} ({})", md_text(label), md_text(url)),
    }
}

// --- Step outputs and the job summary ----------------------------------------------------------

/// Why an output or the summary could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GithubOutputError {
    #[error("writing the step output `{name}`: the name is not kebab-case ASCII")]
    OutputName { name: String },
    #[error("appending to `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One entry of the `GITHUB_OUTPUT` file: `name=value`, or, when the value spans lines, the
/// heredoc form with a random delimiter that the value does not contain.
pub fn output_entry(name: &str, value: &str) -> Result<String, GithubOutputError> {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(GithubOutputError::OutputName {
            name: name.to_owned(),
        });
    }

    if !value.contains(['\n', '\r']) {
        return Ok(format!("{name}={value}\n"));
    }
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{:032x}", rand::random::<u128>());
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Appends the outputs to the `GITHUB_OUTPUT` file, in one write.
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> Result<(), GithubOutputError> {
    let mut text = String::new();
    for (name, value) in outputs {
        text.push_str(&output_entry(name, value)?);
    }
    append(path, &text)
}

/// Appends Markdown to the `GITHUB_STEP_SUMMARY` file.
pub fn append_summary(path: &Path, markdown: &str) -> Result<(), GithubOutputError> {
    let mut text = markdown.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    append(path, &text)
}

fn append(path: &Path, text: &str) -> Result<(), GithubOutputError> {
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(text.as_bytes())?;
        file.flush()
    };
    write().map_err(|source| GithubOutputError::Write {
        path: path.to_path_buf(),
        source,
    })
}

// --- Workflow commands -------------------------------------------------------------------------

/// A workflow command, printed on stdout as one line (a mask of a multi-line secret prints one
/// line per line of it). `Display` escapes the data and properties as the runner expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowCommand<'a> {
    /// `::add-mask::`: the runner hides the value in every later log line. Print it before
    /// anything else can print the secret.
    AddMask(&'a str),
    /// `::error title=...::message`: an annotation that fails nothing by itself.
    Error {
        title: Option<&'a str>,
        message: &'a str,
    },
    Warning {
        title: Option<&'a str>,
        message: &'a str,
    },
    /// `::group::`: folds the log lines up to the next [`WorkflowCommand::EndGroup`].
    Group(&'a str),
    EndGroup,
}

impl fmt::Display for WorkflowCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkflowCommand::AddMask(secret) => {
                let lines: Vec<&str> = secret
                    .split(['\n', '\r'])
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                let commands: Vec<String> = lines
                    .iter()
                    .map(|line| format!("::add-mask::{}", escape_data(line)))
                    .collect();
                f.write_str(&commands.join("\n"))
            }
            WorkflowCommand::Error { title, message } => annotation(f, "error", *title, message),
            WorkflowCommand::Warning { title, message } => {
                annotation(f, "warning", *title, message)
            }
            WorkflowCommand::Group(name) => write!(f, "::group::{}", escape_data(name)),
            WorkflowCommand::EndGroup => f.write_str("::endgroup::"),
        }
    }
}

fn annotation(
    f: &mut fmt::Formatter<'_>,
    command: &str,
    title: Option<&str>,
    message: &str,
) -> fmt::Result {
    match title {
        Some(title) => write!(
            f,
            "::{command} title={}::{}",
            escape_property(title),
            escape_data(message)
        ),
        None => write!(f, "::{command}::{}", escape_data(message)),
    }
}

/// Escapes a workflow command's message: `%`, `\r` and `\n`, so that it stays on its line and a
/// value cannot start a command of its own.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`escape_data`], plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
