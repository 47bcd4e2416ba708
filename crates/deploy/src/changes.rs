//! What changed between two commits, and what that means for one Astro project.
//!
//! The files come from the `git` CLI with merge-base semantics: `git diff` from the merge base of
//! the two commits to the newer one, so multi-commit pushes, squash merges and pull requests list
//! what they changed and nothing that landed on the base meanwhile. A rewritten push (a force
//! push, a reset) also lists what the discarded commits had changed, since the Deployment may be
//! running them: a superset errs towards a fuller deploy, never towards a skipped one.
//!
//! Whatever cannot be compared is said so, with a reason: a new branch, a tag, a manual run,
//! missing history that could not be fetched. [`Detection::Unknown`] becomes
//! [`Decision::Full`], never an empty change set, so "nothing changed" ([`Decision::Nothing`])
//! always means that two known commits were compared.
//!
//! A shallow clone is deepened with bounded `git fetch --depth` steps from the remote; a clone
//! that still lacks the merge base after the last step falls back to a full deploy. Only full
//! hexadecimal commit ids are fetched: a missing branch name or abbreviated id is not looked up
//! on the remote.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::debug;

/// How long a local git command (not a fetch) may take.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(60);

/// How many files a reason names before it says "and N more".
const NAMED_IN_REASON: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error("the project root `{input}` leads outside the repository")]
    RootOutsideRepository { input: String },

    #[error("the project folder `{folder}` is not inside the repository `{repository}`")]
    FolderOutsideRepository {
        folder: PathBuf,
        repository: PathBuf,
    },

    #[error("the project root `{root}` is not a folder of the repository `{repository}`")]
    RootMissing { root: String, repository: PathBuf },

    #[error("`{path}` is not in a git repository ({detail})")]
    NotARepository { path: PathBuf, detail: String },

    #[error("git refuses the repository `{path}`: it belongs to another user")]
    DubiousOwnership { path: PathBuf },

    #[error("`{revision}` is not a commit name that can be given to git")]
    InvalidRevision { revision: String },

    #[error("starting `git`")]
    GitSpawn {
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` did not finish within {}s", .after.as_secs())]
    GitTimedOut { command: String, after: Duration },

    #[error("running `{command}`: {detail}")]
    GitFailed { command: String, detail: String },

    #[error("reading `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ChangesError {
    pub fn hint(&self) -> Option<&'static str> {
        let hint = match self {
            ChangesError::RootOutsideRepository { .. } | ChangesError::RootMissing { .. } => {
                "give the project folder relative to the repository root, like `projects/etl` \
                 (or `.` for the root itself)"
            }
            ChangesError::FolderOutsideRepository { .. } => {
                "run astro-deploy in a checkout of the repository that holds the project"
            }
            ChangesError::NotARepository { .. } => {
                "check the repository out before astro-deploy runs (actions/checkout on GitHub; \
                 a GIT_STRATEGY other than `none` on GitLab)"
            }
            ChangesError::DubiousOwnership { .. } => {
                "mark the checkout as safe: git config --global --add safe.directory <path>"
            }
            ChangesError::InvalidRevision { .. } => "pass a commit SHA",
            ChangesError::GitSpawn { .. } => "install git and put it on PATH",
            ChangesError::GitTimedOut { .. } => {
                "check that no other git process holds the repository's lock"
            }
            ChangesError::GitFailed { .. } | ChangesError::Io { .. } => return None,
        };
        Some(hint)
    }
}

/// A project folder inside the repository: forward slashes, no leading or trailing slash, and
/// empty for the repository root, so that `./x`, `/x/`, `x` and `x/` are one root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectRoot {
    path: String,
}

impl ProjectRoot {
    /// The repository root itself.
    pub fn repository() -> Self {
        Self {
            path: String::new(),
        }
    }

    /// Reads a root relative to the repository root. A leading slash means the repository root,
    /// not the machine's; backslashes are separators; `.`, `""` and `/` are the repository root.
    pub fn parse(input: &str) -> Result<Self, ChangesError> {
        let unified = input.trim().replace('\\', "/");
        let mut parts: Vec<&str> = Vec::new();
        for part in unified.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.pop().is_none() => {
                    return Err(ChangesError::RootOutsideRepository {
                        input: input.to_owned(),
                    });
                }
                ".." => {}
                _ => parts.push(part),
            }
        }

        Ok(Self {
            path: parts.join("/"),
        })
    }

    /// The root of a project folder on disk (absolute, or relative to the working directory)
    /// inside the checkout whose top level is `toplevel` (see [`toplevel`]).
    pub fn from_folder(toplevel: &Path, folder: &Path) -> Result<Self, ChangesError> {
        let canonical = |path: &Path| {
            path.canonicalize().map_err(|source| ChangesError::Io {
                path: path.to_owned(),
                source,
            })
        };
        let repository = canonical(toplevel)?;
        let folder = canonical(folder)?;

        let Ok(relative) = folder.strip_prefix(&repository) else {
            return Err(ChangesError::FolderOutsideRepository { folder, repository });
        };
        let parts: Vec<String> = relative
            .components()
            .filter_map(|part| match part {
                Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        Ok(Self {
            path: parts.join("/"),
        })
    }

    /// The root as given to git: empty for the repository root.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    pub fn is_repository_root(&self) -> bool {
        self.path.is_empty()
    }

    /// The project folder inside the checkout at `toplevel`, checked to exist, so that a root
    /// that names nothing fails instead of matching no file.
    pub fn folder_in(&self, toplevel: &Path) -> Result<PathBuf, ChangesError> {
        let folder = toplevel.join(&self.path);
        if !folder.is_dir() {
            return Err(ChangesError::RootMissing {
                root: self.to_string(),
                repository: toplevel.to_owned(),
            });
        }
        Ok(folder)
    }

    /// The part of a repository-relative `file` under this root, if it is under it.
    fn relative<'a>(&self, file: &'a str) -> Option<&'a str> {
        if self.path.is_empty() {
            return Some(file);
        }
        file.strip_prefix(self.path.as_str())?.strip_prefix('/')
    }

    /// How a reason names the root.
    fn describe(&self) -> String {
        match self.path.is_empty() {
            true => "the repository".to_owned(),
            false => format!("`{}`", self.path),
        }
    }
}

impl fmt::Display for ProjectRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.is_empty() {
            true => f.write_str("."),
            false => f.write_str(&self.path),
        }
    }
}

/// Why a run is being made, which decides whether two commits can be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    /// A push to a branch: `base` is where the branch was before.
    Push,
    /// A pull or merge request: `base` is a commit of the target branch.
    PullRequest,
    /// A branch pushed for the first time.
    NewBranch,
    /// A tag, pushed or released.
    Tag,
    /// A run started by hand.
    Manual,
    /// A run started by a schedule.
    Scheduled,
    /// A run started by another pipeline or through an API.
    Triggered,
}

impl RangeKind {
    /// Why nothing can be compared, for kinds without a usable base.
    fn no_base_reason(self) -> &'static str {
        match self {
            RangeKind::Push | RangeKind::NewBranch => "a new branch: nothing to compare with",
            RangeKind::PullRequest => {
                "a pull or merge request without a base commit: nothing to compare with"
            }
            RangeKind::Tag => "a tag: nothing to compare with",
            RangeKind::Manual => "a manual run: nothing to compare with",
            RangeKind::Scheduled => "a scheduled run: nothing to compare with",
            RangeKind::Triggered => {
                "a run triggered by another pipeline or the API: nothing to compare with"
            }
        }
    }
}

/// The two commits to compare. `base` is `None` (or all zeros) when there is nothing to compare
/// with; a `head` of all zeros means the branch or tag was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRange {
    pub base: Option<String>,
    pub head: String,
    pub kind: RangeKind,
}

impl RevisionRange {
    /// What is known without git: `Some` for a deleted ref, and for runs with nothing to
    /// compare (a new branch, a tag, a manual, scheduled or triggered run); `None` when two
    /// commits must be compared.
    pub fn without_comparison(&self) -> Option<Detection> {
        if is_zero(&self.head) {
            return Some(Detection::Deleted {
                reason: "the branch or tag was deleted: nothing to deploy".to_owned(),
            });
        }

        match (self.kind, self.base.as_deref()) {
            (RangeKind::Push | RangeKind::PullRequest, Some(base))
                if !base.is_empty() && !is_zero(base) =>
            {
                None
            }
            (kind, _) => Some(Detection::Unknown {
                reason: format!("{}; deploying everything", kind.no_base_reason()),
            }),
        }
    }
}

/// The files that differ between the merge base of a range and its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// Repository-relative paths with forward slashes, sorted; deleted files included.
    pub files: Vec<String>,
    pub range: RevisionRange,
}

impl ChangeSet {
    /// The changed files under `root`, split into DAG files (under `<root>/dags/`) and the rest.
    pub fn for_project(&self, root: &ProjectRoot) -> ProjectChanges {
        let mut changes = ProjectChanges::default();
        for file in &self.files {
            match root.relative(file) {
                Some(rest) if rest.starts_with("dags/") => changes.dags.push(file.clone()),
                Some(_) => changes.other.push(file.clone()),
                None => {}
            }
        }
        changes
    }
}

/// The changed files of one project, repository-relative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectChanges {
    pub dags: Vec<String>,
    pub other: Vec<String>,
}

impl ProjectChanges {
    pub fn suggested(&self) -> Suggestion {
        match (self.dags.is_empty(), self.other.is_empty()) {
            (true, true) => Suggestion::Nothing,
            (false, true) => Suggestion::DagsOnly,
            (_, false) => Suggestion::Full,
        }
    }
}

/// What a project's changes call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggestion {
    Nothing,
    DagsOnly,
    Full,
}

/// What [`detect`] found out about a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// Two commits were compared; `merge_base` is the commit the files are listed from.
    Compared {
        changes: ChangeSet,
        merge_base: String,
    },
    /// The branch or tag was deleted: there is nothing to deploy.
    Deleted { reason: String },
    /// What changed cannot be known, so everything must be deployed.
    Unknown { reason: String },
}

impl Detection {
    /// What to deploy of the project at `root`, with the reason a user will see.
    pub fn decide(&self, root: &ProjectRoot) -> Decision {
        match self {
            Detection::Compared { changes, .. } => decide_compared(changes, root),
            Detection::Deleted { reason } => Decision::Nothing {
                reason: reason.clone(),
            },
            Detection::Unknown { reason } => Decision::Full {
                reason: reason.clone(),
            },
        }
    }
}

/// What to deploy of one project, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to deploy: two known commits were compared and nothing of the project differs,
    /// or the branch was deleted.
    Nothing { reason: String },
    /// Only DAG files changed (`dags` lists them): a DAG deploy is enough.
    DagsOnly { reason: String, dags: Vec<String> },
    /// Deploy everything: files other than DAGs changed, or what changed is unknown.
    Full { reason: String },
}

impl Decision {
    pub fn reason(&self) -> &str {
        match self {
            Decision::Nothing { reason }
            | Decision::DagsOnly { reason, .. }
            | Decision::Full { reason } => reason,
        }
    }

    pub fn suggestion(&self) -> Suggestion {
        match self {
            Decision::Nothing { .. } => Suggestion::Nothing,
            Decision::DagsOnly { .. } => Suggestion::DagsOnly,
            Decision::Full { .. } => Suggestion::Full,
        }
    }
}

fn decide_compared(changes: &ChangeSet, root: &ProjectRoot) -> Decision {
    let project = changes.for_project(root);
    let base = changes.range.base.as_deref().map_or("?", short);
    let head = short(&changes.range.head);

    match project.suggested() {
        Suggestion::Nothing => Decision::Nothing {
            reason: format!(
                "nothing under {} changed between `{base}` and `{head}`",
                root.describe()
            ),
        },
        Suggestion::DagsOnly => Decision::DagsOnly {
            reason: format!(
                "only DAG files changed between `{base}` and `{head}`: {}",
                name_files(&project.dags)
            ),
            dags: project.dags,
        },
        Suggestion::Full => Decision::Full {
            reason: format!(
                "files other than DAGs changed between `{base}` and `{head}`: {}",
                name_files(&project.other)
            ),
        },
    }
}

/// `a`, `b` and 3 more.
fn name_files(files: &[String]) -> String {
    let named: Vec<String> = files
        .iter()
        .take(NAMED_IN_REASON)
        .map(|file| format!("`{file}`"))
        .collect();
    let mut text = named.join(", ");
    if files.len() > NAMED_IN_REASON {
        text.push_str(&format!(" and {} more", files.len() - NAMED_IN_REASON));
    }
    text
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A full commit id (SHA-1 or SHA-256), which is what may be fetched by id from a remote.
fn is_full_id(revision: &str) -> bool {
    matches!(revision.len(), 40 | 64) && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses what git would read as an option or split into several arguments.
fn check_revision(revision: &str) -> Result<(), ChangesError> {
    let usable = !revision.is_empty()
        && !revision.starts_with('-')
        && revision.chars().all(|c| c.is_ascii_graphic());
    match usable {
        true => Ok(()),
        false => Err(ChangesError::InvalidRevision {
            revision: revision.to_owned(),
        }),
    }
}

/// How far [`detect`] may go to find history that the clone lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryOptions {
    /// The remote to fetch missing commits from.
    pub remote: String,
    /// The depths fetched in turn while a shallow clone lacks the merge base.
    pub depths: Vec<u32>,
    /// How long one `git fetch` may take.
    pub fetch_timeout: Duration,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        Self {
            remote: "origin".to_owned(),
            depths: vec![50, 500, 5000],
            fetch_timeout: Duration::from_secs(300),
        }
    }
}

/// The top level of the checkout that holds `path`.
pub async fn toplevel(path: &Path) -> Result<PathBuf, ChangesError> {
    let ran = run_git(path, &["rev-parse", "--show-toplevel"], LOCAL_TIMEOUT).await?;
    if ran.succeeded() {
        return Ok(PathBuf::from(ran.text()));
    }

    match ran.stderr.contains("dubious ownership") {
        true => Err(ChangesError::DubiousOwnership {
            path: path.to_owned(),
        }),
        false => Err(ChangesError::NotARepository {
            path: path.to_owned(),
            detail: ran.error_line(),
        }),
    }
}

/// Lists what changed in `range`, in the checkout that holds `repo`, fetching missing history
/// from the remote as `options` allow.
pub async fn detect(
    repo: &Path,
    range: &RevisionRange,
    options: &HistoryOptions,
) -> Result<Detection, ChangesError> {
    let base = match comparable_base(range) {
        Ok(base) => base,
        Err(detection) => {
            debug!(?range, ?detection, "no commits to compare");
            return Ok(detection);
        }
    };
    check_revision(base)?;
    check_revision(&range.head)?;

    let git = Git {
        dir: toplevel(repo).await?,
        options,
    };
    let (base, head, merge_base) = match git.find_merge_base(base, &range.head).await? {
        Search::Found {
            base,
            head,
            merge_base,
        } => (base, head, merge_base),
        Search::Missing { reason } => return Ok(Detection::Unknown { reason }),
    };
    debug!(%base, %head, %merge_base, "comparing");

    let mut files = git.changed_files(&merge_base, &head).await?;
    if range.kind == RangeKind::Push && merge_base != base {
        // A rewritten push: the Deployment may run what the discarded commits changed.
        files.extend(git.changed_files(&merge_base, &base).await?);
        files.sort();
        files.dedup();
    }

    Ok(Detection::Compared {
        changes: ChangeSet {
            files,
            range: range.clone(),
        },
        merge_base,
    })
}

/// The base to compare with, or the detection that says why there is none.
fn comparable_base(range: &RevisionRange) -> Result<&str, Detection> {
    match range.without_comparison() {
        Some(detection) => Err(detection),
        None => Ok(range.base.as_deref().unwrap_or_default()),
    }
}

/// The outcome of looking for a merge base.
enum Search {
    Found {
        base: String,
        head: String,
        merge_base: String,
    },
    Missing {
        reason: String,
    },
}

/// Why a look for the merge base has not succeeded yet.
enum Lack {
    /// A commit is not in the repository.
    Commit(String),
    /// Both commits are there, but not a common ancestor.
    MergeBase,
}

/// The git CLI, run in one checkout.
struct Git<'a> {
    dir: PathBuf,
    options: &'a HistoryOptions,
}

impl Git<'_> {
    /// Finds the merge base of `base` and `head`, fetching what the clone lacks in bounded
    /// steps: once in full for a complete clone, at growing depths for a shallow one.
    async fn find_merge_base(&self, base: &str, head: &str) -> Result<Search, ChangesError> {
        let mut shallow = self.is_shallow().await?;
        let steps: Vec<Option<u32>> = match shallow {
            true => self.options.depths.iter().copied().map(Some).collect(),
            false => vec![None],
        };
        let fetchable: Vec<&str> = [base, head].into_iter().filter(|r| is_full_id(r)).collect();

        let mut lack = match self.look(base, head).await? {
            Ok(found) => return Ok(found),
            Err(lack) => lack,
        };
        let mut tried = String::new();
        for depth in steps {
            // Fetching cannot join unrelated histories in a complete clone.
            if fetchable.is_empty() || (!shallow && matches!(lack, Lack::MergeBase)) {
                break;
            }

            if let Err(failure) = self.fetch(&fetchable, depth).await? {
                tried = format!(
                    ", and fetching it from `{}` failed ({failure})",
                    self.remote()
                );
                break;
            }
            tried = self.fetched(depth);
            shallow = self.is_shallow().await?;

            lack = match self.look(base, head).await? {
                Ok(found) => return Ok(found),
                Err(lack) => lack,
            };
        }

        Ok(Search::Missing {
            reason: missing_reason(base, head, shallow, &lack, &tried),
        })
    }

    fn remote(&self) -> &str {
        &self.options.remote
    }

    /// What a successful fetch adds to the reason when it did not help.
    fn fetched(&self, depth: Option<u32>) -> String {
        match depth {
            Some(depth) => format!(", even {depth} commits deep from `{}`", self.remote()),
            None => format!(", even after fetching from `{}`", self.remote()),
        }
    }

    /// The commits and their merge base, or what is lacking.
    async fn look(&self, base: &str, head: &str) -> Result<Result<Search, Lack>, ChangesError> {
        let Some(base_id) = self.resolve(base).await? else {
            return Ok(Err(Lack::Commit(base.to_owned())));
        };
        let Some(head_id) = self.resolve(head).await? else {
            return Ok(Err(Lack::Commit(head.to_owned())));
        };

        let ran = self.run(&["merge-base", &base_id, &head_id]).await?;
        match ran.code {
            Some(0) => Ok(Ok(Search::Found {
                base: base_id,
                head: head_id,
                merge_base: ran.text(),
            })),
            Some(1) => Ok(Err(Lack::MergeBase)),
            _ => Err(ran.failure("git merge-base")),
        }
    }

    /// The full id of a commit, or `None` when the repository does not have it.
    async fn resolve(&self, revision: &str) -> Result<Option<String>, ChangesError> {
        let spec = format!("{revision}^{{commit}}");
        let ran = self
            .run(&["rev-parse", "--verify", "--quiet", &spec])
            .await?;
        Ok(ran.succeeded().then(|| ran.text()))
    }

    async fn is_shallow(&self) -> Result<bool, ChangesError> {
        let ran = self.run(&["rev-parse", "--is-shallow-repository"]).await?;
        match ran.succeeded() {
            true => Ok(ran.text() == "true"),
            false => Err(ran.failure("git rev-parse --is-shallow-repository")),
        }
    }

    /// Fetches `revisions` (full ids) from the remote; `Ok(Err(_))` is a failed or timed-out
    /// fetch, which is tolerated (no remote, no network) and ends up in a full deploy's reason.
    async fn fetch(
        &self,
        revisions: &[&str],
        depth: Option<u32>,
    ) -> Result<Result<(), String>, ChangesError> {
        let depth_arg = depth.map(|depth| format!("--depth={depth}"));
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
        args.extend(depth_arg.as_deref());
        args.extend(["--end-of-options", self.remote()]);
        args.extend(revisions);

        debug!(?depth, remote = %self.remote(), "fetching missing history");
        let ran = match run_git(&self.dir, &args, self.options.fetch_timeout).await {
            Ok(ran) => ran,
            Err(ChangesError::GitTimedOut { after, .. }) => {
                return Ok(Err(format!("no answer within {}s", after.as_secs())));
            }
            Err(error) => return Err(error),
        };
        Ok(match ran.succeeded() {
            true => Ok(()),
            false => Err(ran.error_line()),
        })
    }

    /// `git diff --name-only` from `from` to `to`, deletions included, renames as two paths.
    async fn changed_files(&self, from: &str, to: &str) -> Result<Vec<String>, ChangesError> {
        let args = [
            "diff",
            "--name-only",
            "--no-renames",
            "--no-relative",
            "--no-ext-diff",
            "-z",
            from,
            to,
            "--",
        ];
        let ran = self.run(&args).await?;
        if !ran.succeeded() {
            return Err(ran.failure(&format!("git diff --name-only {from} {to}")));
        }

        let mut files: Vec<String> = ran
            .stdout
            .split(|&b| b == 0)
            .filter(|path| !path.is_empty())
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect();
        files.sort();
        Ok(files)
    }

    async fn run(&self, args: &[&str]) -> Result<Ran, ChangesError> {
        run_git(&self.dir, args, LOCAL_TIMEOUT).await
    }
}

fn missing_reason(base: &str, head: &str, shallow: bool, lack: &Lack, tried: &str) -> String {
    let (base, head) = (short(base), short(head));
    let why = match (lack, shallow) {
        (_, true) => "shallow clone".to_owned(),
        (Lack::Commit(commit), false) => format!("`{}` is not in the repository", short(commit)),
        (Lack::MergeBase, false) => {
            return format!("`{base}` and `{head}` share no history; deploying everything");
        }
    };
    format!(
        "the history needed to compare `{base}` with `{head}` is missing ({why}){tried}; \
         deploying everything"
    )
}

/// What a finished git command left.
struct Ran {
    command: String,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }

    /// The line of git's error output that says what went wrong: the first `fatal:` or
    /// `error:` line (git follows it with advice), else the last line.
    fn error_line(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().map(str::trim).collect();
        let line = lines
            .iter()
            .find(|line| line.starts_with("fatal:") || line.starts_with("error:"))
            .or_else(|| lines.iter().rev().find(|line| !line.is_empty()));
        match line {
            Some(line) => line.to_string(),
            None => format!("`{}` exited with {:?}", self.command, self.code),
        }
    }

    fn failure(&self, command: &str) -> ChangesError {
        ChangesError::GitFailed {
            command: command.to_owned(),
            detail: self.error_line(),
        }
    }
}

/// Runs `git -C <dir> <args>` without a shell, a terminal prompt or standard input.
async fn run_git(dir: &Path, args: &[&str], limit: Duration) -> Result<Ran, ChangesError> {
    let command = format!("git {}", args.join(" "));
    let mut git = Command::new("git");
    git.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .kill_on_drop(true);

    let output = tokio::time::timeout(limit, git.output())
        .await
        .map_err(|_| ChangesError::GitTimedOut {
            command: command.clone(),
            after: limit,
        })?
        .map_err(|source| ChangesError::GitSpawn { source })?;

    Ok(Ran {
        command,
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
