//! Change detection against real git repositories built with the git CLI in temporary folders:
//! the pushes, merges and clones that CI runs see, and the project-root rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use deploy::changes::{
    detect, toplevel, ChangeSet, ChangesError, Decision, Detection, HistoryOptions, ProjectRoot,
    RangeKind, RevisionRange, Suggestion,
};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// A git repository in a temporary folder, with its own identity and no global configuration.
struct Repo {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        run_git(&path, &["-c", "init.defaultBranch=main", "init", "-q"]);
        configure(&path);
        Repo { _dir: dir, path }
    }

    /// A `git clone` of `origin` (with extra arguments) beside it.
    fn clone_of(origin: &Repo, args: &[&str]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clone");
        let url = format!("file://{}", origin.path.display());
        let mut clone_args = vec!["clone", "-q"];
        clone_args.extend(args);
        clone_args.extend([url.as_str(), path.to_str().unwrap()]);
        run_git(dir.path(), &clone_args);
        configure(&path);
        Repo { _dir: dir, path }
    }

    fn git(&self, args: &[&str]) -> String {
        run_git(&self.path, args)
    }

    fn write(&self, file: &str, text: &str) -> &Repo {
        let path = self.path.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn remove(&self, file: &str) -> &Repo {
        std::fs::remove_file(self.path.join(file)).unwrap();
        self
    }

    /// Commits everything and returns the new commit's id.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    fn has_commit(&self, sha: &str) -> bool {
        let spec = format!("{sha}^{{commit}}");
        let status = Command::new("git")
            .current_dir(&self.path)
            .args(["cat-file", "-e", &spec])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        status.success()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The first commit of every test: a small Astro project at the repository root.
    fn with_project(self) -> Repo {
        self.write(
            "Dockerfile",
            "FROM quay.io/astronomer/astro-runtime:12.0.0\n",
        )
        .write("requirements.txt", "")
        .write("dags/a.py", "a = 1\n")
        .write("dags/b.py", "b = 1\n");
        self.commit("an Astro project");
        self
    }
}

fn configure(path: &Path) {
    run_git(path, &["config", "user.name", "Test"]);
    run_git(path, &["config", "user.email", "test@example.com"]);
    run_git(path, &["config", "commit.gpgsign", "false"]);
}

fn run_git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("running git (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn push(base: &str, head: &str) -> RevisionRange {
    range(Some(base), head, RangeKind::Push)
}

fn range(base: Option<&str>, head: &str, kind: RangeKind) -> RevisionRange {
    RevisionRange {
        base: base.map(str::to_owned),
        head: head.to_owned(),
        kind,
    }
}

async fn detected(repo: &Repo, range: &RevisionRange) -> Detection {
    detect(&repo.path, range, &HistoryOptions::default())
        .await
        .unwrap()
}

/// The files of a detection that compared two commits; panics with the reason otherwise.
fn files(detection: &Detection) -> Vec<&str> {
    match detection {
        Detection::Compared { changes, .. } => changes.files.iter().map(String::as_str).collect(),
        other => panic!("expected a comparison, got {other:?}"),
    }
}

fn unknown_reason(detection: &Detection) -> &str {
    match detection {
        Detection::Unknown { reason } => reason,
        other => panic!("expected an unknown change set, got {other:?}"),
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

fn root() -> ProjectRoot {
    ProjectRoot::repository()
}

#[tokio::test]
async fn a_single_commit_that_changes_a_dag_is_a_dag_deploy() {
    let repo = Repo::new().with_project();
    let before = repo.head();
    let after = repo.write("dags/a.py", "a = 2\n").commit("change a DAG");

    let detection = detected(&repo, &push(&before, &after)).await;

    assert_eq!(files(&detection), ["dags/a.py"]);
    let decision = detection.decide(&root());
    assert_eq!(
        decision,
        Decision::DagsOnly {
            reason: format!(
                "only DAG files changed between `{}` and `{}`: `dags/a.py`",
                short(&before),
                short(&after)
            ),
            dags: vec!["dags/a.py".to_owned()],
        }
    );
}

#[tokio::test]
async fn a_push_of_three_commits_lists_every_commit_and_deletions() {
    let repo = Repo::new().with_project();
    let before = repo.head();
    repo.write("dags/c.py", "c = 1\n").commit("add a DAG");
    repo.write("requirements.txt", "pandas==2.2.0\n")
        .commit("add a requirement");
    let after = repo.remove("dags/b.py").commit("remove a DAG");

    let detection = detected(&repo, &push(&before, &after)).await;

    // The middle commit counts too: diffing only the last commit would miss requirements.txt.
    assert_eq!(
        files(&detection),
        ["dags/b.py", "dags/c.py", "requirements.txt"]
    );
    assert_eq!(
        detection.decide(&root()),
        Decision::Full {
            reason: format!(
                "files other than DAGs changed between `{}` and `{}`: `requirements.txt`",
                short(&before),
                short(&after)
            ),
        }
    );
}

#[tokio::test]
async fn a_squash_merge_and_its_pull_request_list_the_branch_changes_only() {
    let repo = Repo::new().with_project();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("dags/x.py", "x = 1\n").commit("add x");
    repo.write("dags/x.py", "x = 2\n").commit("change x");
    let feature = repo.write("dags/y.py", "y = 1\n").commit("add y");
    repo.git(&["checkout", "-q", "main"]);
    let main_before = repo
        .write("Dockerfile", "FROM x\n")
        .commit("on main meanwhile");

    // The pull request: merge-base semantics leave out what main did meanwhile.
    let pull_request = range(Some(&main_before), &feature, RangeKind::PullRequest);
    let detection = detected(&repo, &pull_request).await;
    assert_eq!(files(&detection), ["dags/x.py", "dags/y.py"]);
    assert_eq!(detection.decide(&root()).suggestion(), Suggestion::DagsOnly);

    // The push of the squash merge to main: one commit with the branch's changes.
    repo.git(&["merge", "-q", "--squash", "feature"]);
    let squashed = repo.commit("squash feature");
    let detection = detected(&repo, &push(&main_before, &squashed)).await;
    assert_eq!(files(&detection), ["dags/x.py", "dags/y.py"]);
    match detection {
        Detection::Compared { merge_base, .. } => assert_eq!(merge_base, main_before),
        other => panic!("expected a comparison, got {other:?}"),
    }
}

#[tokio::test]
async fn a_force_push_also_lists_what_the_discarded_commits_changed() {
    let repo = Repo::new().with_project();
    let kept = repo.write("dags/a.py", "a = 2\n").commit("kept");
    let before = repo
        .write("Dockerfile", "FROM other\n")
        .commit("discarded by the force push");
    repo.git(&["reset", "-q", "--hard", &kept]);
    let after = repo.write("dags/b.py", "b = 2\n").commit("rewritten");
    let merge_base = repo.git(&["merge-base", &before, &after]);
    assert_eq!(
        merge_base, kept,
        "`before` must not be an ancestor of `after`"
    );

    // The Deployment may run the discarded Dockerfile: a DAG deploy would keep it running.
    let detection = detected(&repo, &push(&before, &after)).await;
    assert_eq!(files(&detection), ["Dockerfile", "dags/b.py"]);
    assert_eq!(detection.decide(&root()).suggestion(), Suggestion::Full);
    let reason = detection.decide(&root()).reason().to_owned();
    assert!(reason.contains("`Dockerfile`"), "{reason}");

    // A force push back to an ancestor changes files too, though `after` adds nothing.
    let detection = detected(&repo, &push(&before, &kept)).await;
    assert_eq!(files(&detection), ["Dockerfile"]);
}

#[tokio::test]
async fn a_project_in_a_folder_only_counts_its_own_files() {
    let repo = Repo::new();
    repo.write("projects/etl/Dockerfile", "FROM x\n")
        .write("projects/etl/dags/a.py", "a = 1\n")
        .write("projects/ml/dags/m.py", "m = 1\n");
    let before = repo.commit("two projects");
    let after = repo
        .write("projects/ml/dags/m.py", "m = 2\n")
        .write("README.md", "docs\n")
        .commit("outside etl");

    let detection = detected(&repo, &push(&before, &after)).await;

    let etl = ProjectRoot::parse("./projects/etl/").unwrap();
    assert_eq!(
        detection.decide(&etl),
        Decision::Nothing {
            reason: format!(
                "nothing under `projects/etl` changed between `{}` and `{}`",
                short(&before),
                short(&after)
            ),
        }
    );
    let ml = ProjectRoot::parse("/projects/ml").unwrap();
    assert_eq!(detection.decide(&ml).suggestion(), Suggestion::DagsOnly);
    assert_eq!(detection.decide(&root()).suggestion(), Suggestion::Full);
}

#[tokio::test]
async fn runs_without_a_base_deploy_everything_and_say_why() {
    let repo = Repo::new().with_project();
    let head = repo.head();
    let cases = [
        (push(ZERO, &head), "a new branch: nothing to compare with"),
        (range(None, &head, RangeKind::NewBranch), "a new branch"),
        (
            range(Some(ZERO), &head, RangeKind::Tag),
            "a tag: nothing to compare with",
        ),
        (range(Some(&head), &head, RangeKind::Tag), "a tag"),
        (
            range(None, &head, RangeKind::Manual),
            "a manual run: nothing",
        ),
        (range(None, &head, RangeKind::Scheduled), "a scheduled run"),
        (
            range(None, &head, RangeKind::PullRequest),
            "a pull or merge request",
        ),
    ];

    for (range, expected) in cases {
        let detection = detected(&repo, &range).await;
        let reason = unknown_reason(&detection).to_owned();
        assert!(reason.starts_with(expected), "{range:?}: {reason}");
        assert!(reason.ends_with("; deploying everything"), "{reason}");
        assert_eq!(detection.decide(&root()), Decision::Full { reason });
    }
}

#[tokio::test]
async fn a_deleted_branch_deploys_nothing_and_says_so() {
    let repo = Repo::new().with_project();
    let detection = detected(&repo, &push(&repo.head(), ZERO)).await;

    let decision = detection.decide(&root());
    assert_eq!(
        decision,
        Decision::Nothing {
            reason: "the branch or tag was deleted: nothing to deploy".to_owned()
        }
    );
}

/// An origin with five commits; the third changes `requirements.txt`, the rest DAGs.
fn origin_with_history() -> (Repo, Vec<String>) {
    let origin = Repo::new().with_project();
    let mut commits = vec![origin.head()];
    commits.push(origin.write("dags/c.py", "c = 1\n").commit("2"));
    commits.push(origin.write("requirements.txt", "x\n").commit("3"));
    commits.push(origin.write("dags/c.py", "c = 2\n").commit("4"));
    commits.push(origin.write("dags/d.py", "d = 1\n").commit("5"));
    (origin, commits)
}

#[tokio::test]
async fn a_shallow_clone_fetches_the_missing_base_from_origin() {
    let (origin, commits) = origin_with_history();
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);
    assert_eq!(clone.git(&["rev-parse", "--is-shallow-repository"]), "true");
    assert!(!clone.has_commit(&commits[1]));

    let detection = detected(&clone, &push(&commits[1], &commits[4])).await;

    assert_eq!(
        files(&detection),
        ["dags/c.py", "dags/d.py", "requirements.txt"]
    );
    assert!(clone.has_commit(&commits[1]));
}

#[tokio::test]
async fn a_force_push_seen_from_a_shallow_clone_fetches_the_dangling_before() {
    let origin = Repo::new().with_project();
    let kept = origin.head();
    let before = origin
        .write("Dockerfile", "FROM other\n")
        .commit("discarded");
    origin.git(&["reset", "-q", "--hard", &kept]);
    let after = origin.write("dags/a.py", "a = 3\n").commit("rewritten");
    // `before` is on no branch of origin now, as after a force push on GitHub.
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);

    let detection = detected(&clone, &push(&before, &after)).await;

    assert_eq!(files(&detection), ["Dockerfile", "dags/a.py"]);
}

#[tokio::test]
async fn a_shallow_clone_whose_origin_is_gone_deploys_everything() {
    let (origin, commits) = origin_with_history();
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);
    std::fs::remove_dir_all(&origin.path).unwrap();

    let detection = detected(&clone, &push(&commits[1], &commits[4])).await;

    let reason = unknown_reason(&detection);
    let expected = format!(
        "the history needed to compare `{}` with `{}` is missing (shallow clone), and \
         fetching it from `origin` failed (",
        short(&commits[1]),
        short(&commits[4])
    );
    assert!(reason.starts_with(&expected), "{reason}");
    assert!(
        reason.ends_with("does not appear to be a git repository); deploying everything"),
        "{reason}"
    );
    assert_eq!(
        detection.decide(&root()),
        Decision::Full {
            reason: reason.to_owned()
        }
    );
}

#[tokio::test]
async fn a_shallow_clone_without_a_remote_deploys_everything() {
    let (origin, commits) = origin_with_history();
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);
    clone.git(&["remote", "remove", "origin"]);

    let detection = detected(&clone, &push(&commits[1], &commits[4])).await;

    let reason = unknown_reason(&detection);
    assert!(reason.contains("is missing (shallow clone)"), "{reason}");
    assert!(
        reason.contains("fetching it from `origin` failed"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_fetch_that_hangs_deploys_everything_after_its_timeout() {
    let (origin, commits) = origin_with_history();
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);
    clone.git(&[
        "config",
        "remote.origin.uploadpack",
        "sleep 5; git-upload-pack",
    ]);
    let options = HistoryOptions {
        fetch_timeout: std::time::Duration::from_secs(1),
        ..HistoryOptions::default()
    };

    let range = push(&commits[1], &commits[4]);
    let detection = detect(&clone.path, &range, &options).await.unwrap();

    let reason = unknown_reason(&detection);
    assert!(
        reason.ends_with(
            "(shallow clone), and fetching it from `origin` failed (no answer within 1s); \
             deploying everything"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn fetching_stops_at_the_last_depth_it_may_reach() {
    let (origin, commits) = origin_with_history();
    let clone = Repo::clone_of(&origin, &["--depth", "1"]);
    let options = HistoryOptions {
        depths: vec![1, 2],
        ..HistoryOptions::default()
    };

    let range = push(&commits[0], &commits[4]);
    let detection = detect(&clone.path, &range, &options).await.unwrap();

    let reason = unknown_reason(&detection);
    assert!(
        reason.contains("(shallow clone), even 2 commits deep from `origin`"),
        "{reason}"
    );
    assert!(reason.ends_with("; deploying everything"), "{reason}");
}

#[tokio::test]
async fn unrelated_histories_deploy_everything() {
    let repo = Repo::new().with_project();
    let before = repo.head();
    repo.git(&["checkout", "-q", "--orphan", "fresh"]);
    let after = repo.write("dags/z.py", "z = 1\n").commit("a new history");

    let detection = detected(&repo, &push(&before, &after)).await;

    assert_eq!(
        unknown_reason(&detection),
        format!(
            "`{}` and `{}` share no history; deploying everything",
            short(&before),
            short(&after)
        )
    );
}

#[tokio::test]
async fn a_commit_missing_from_a_complete_clone_without_a_remote_is_named() {
    let repo = Repo::new().with_project();
    let unknown = "1234567890123456789012345678901234567890";

    let detection = detected(&repo, &push(unknown, &repo.head())).await;

    let reason = unknown_reason(&detection);
    assert!(
        reason.starts_with("the history needed to compare `1234567` with `"),
        "{reason}"
    );
    assert!(
        reason.contains("(`1234567` is not in the repository), and fetching"),
        "{reason}"
    );
}

#[tokio::test]
async fn git_is_never_handed_an_option_as_a_revision() {
    let repo = Repo::new().with_project();
    let hostile = push("--upload-pack=touch /tmp/pwned", &repo.head());

    let error = detect(&repo.path, &hostile, &HistoryOptions::default())
        .await
        .unwrap_err();

    assert!(
        matches!(error, ChangesError::InvalidRevision { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "`--upload-pack=touch /tmp/pwned` is not a commit name that can be given to git"
    );
    assert_eq!(error.hint(), Some("pass a commit SHA"));
}

#[tokio::test]
async fn a_folder_outside_any_repository_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let range = push(&"a".repeat(40), &"b".repeat(40));

    let error = detect(dir.path(), &range, &HistoryOptions::default())
        .await
        .unwrap_err();

    assert!(
        matches!(error, ChangesError::NotARepository { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("is not in a git repository"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("actions/checkout"));
}

#[test]
fn project_roots_are_normalised() {
    let cases = [
        ("x", "x"),
        ("./x", "x"),
        ("/x/", "x"),
        ("x/", "x"),
        ("  projects//etl/./ \n", "projects/etl"),
        ("projects\\etl", "projects/etl"),
        ("projects/tmp/../etl", "projects/etl"),
        (".", ""),
        ("", ""),
        ("/", ""),
        ("./", ""),
        ("x/..", ""),
    ];
    for (input, expected) in cases {
        let expected = ProjectRoot::parse(expected).unwrap();
        let root = ProjectRoot::parse(input).unwrap();
        assert_eq!(root, expected, "{input:?}");
    }

    assert_eq!(ProjectRoot::parse("/x/").unwrap().as_str(), "x");
    assert_eq!(
        ProjectRoot::parse("  projects//etl/./ ").unwrap().as_str(),
        "projects/etl"
    );
    assert_eq!(ProjectRoot::parse("/").unwrap(), ProjectRoot::repository());
    assert_eq!(ProjectRoot::repository().to_string(), ".");
    assert!(ProjectRoot::parse("").unwrap().is_repository_root());
}

#[test]
fn project_roots_that_escape_the_repository_are_refused_by_name() {
    for input in ["..", "../x", "x/../..", "./../x", "/.."] {
        let error = ProjectRoot::parse(input).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("the project root `{input}` leads outside the repository"),
        );
        assert!(error
            .hint()
            .unwrap()
            .contains("relative to the repository root"));
    }
}

#[test]
fn only_files_under_the_root_dags_folder_are_dag_files() {
    let changes = ChangeSet {
        files: [
            "etl/dags/a.py",
            "etl/dags/nested/b.py",
            "etl/dags/.airflowignore",
            "etl/Dockerfile",
            "etl/xdags/a.py",
            "etl/dagsx/a.py",
            "etl/dags",
            "etl/sub/dags/a.py",
            "etl/include/dags/c.sql",
            "xdags/a.py",
            "dags/root.py",
            "etlx/dags/a.py",
            "other/etl/dags/a.py",
        ]
        .map(str::to_owned)
        .to_vec(),
        range: push(&"a".repeat(40), &"b".repeat(40)),
    };

    for input in ["etl", "./etl", "/etl/", "etl/"] {
        let project = changes.for_project(&ProjectRoot::parse(input).unwrap());
        assert_eq!(
            project.dags,
            [
                "etl/dags/a.py",
                "etl/dags/nested/b.py",
                "etl/dags/.airflowignore"
            ],
            "{input}"
        );
        assert_eq!(
            project.other,
            [
                "etl/Dockerfile",
                "etl/xdags/a.py",
                "etl/dagsx/a.py",
                "etl/dags",
                "etl/sub/dags/a.py",
                "etl/include/dags/c.sql",
            ],
            "{input}"
        );
        assert_eq!(project.suggested(), Suggestion::Full);
    }

    let repository = changes.for_project(&ProjectRoot::parse("/").unwrap());
    assert_eq!(repository.dags, ["dags/root.py"]);
    assert_eq!(repository.other.len(), changes.files.len() - 1);
}

#[test]
fn suggestions_follow_the_kinds_of_files() {
    let changes = |files: &[&str]| ChangeSet {
        files: files.iter().map(|f| f.to_string()).collect(),
        range: push(&"a".repeat(40), &"b".repeat(40)),
    };
    let root = ProjectRoot::parse("p").unwrap();

    let nothing = changes(&["q/dags/a.py", "README.md"]).for_project(&root);
    assert_eq!(nothing.suggested(), Suggestion::Nothing);
    let dags = changes(&["p/dags/a.py", "README.md"]).for_project(&root);
    assert_eq!(dags.suggested(), Suggestion::DagsOnly);
    let full = changes(&["p/dags/a.py", "p/packages.txt"]).for_project(&root);
    assert_eq!(full.suggested(), Suggestion::Full);
}

#[tokio::test]
async fn a_root_must_name_a_folder_of_the_checkout() {
    let repo = Repo::new();
    repo.write("projects/etl/dags/a.py", "a = 1\n");
    repo.commit("a project in a folder");
    let top = toplevel(&repo.path.join("projects")).await.unwrap();
    assert_eq!(
        top.canonicalize().unwrap(),
        repo.path.canonicalize().unwrap()
    );

    let folder = ProjectRoot::parse("/projects/etl/")
        .unwrap()
        .folder_in(&top);
    assert_eq!(folder.unwrap(), top.join("projects/etl"));

    // A machine path given as a root names no folder of the checkout: an error, not silence.
    let machine_path = format!("{}/projects/etl", repo.path.display());
    let error = ProjectRoot::parse(&machine_path)
        .unwrap()
        .folder_in(&top)
        .unwrap_err();
    assert!(matches!(error, ChangesError::RootMissing { .. }), "{error}");
    assert!(error
        .to_string()
        .contains("is not a folder of the repository"));

    let from_folder = ProjectRoot::from_folder(&top, &repo.path.join("projects/etl/./dags/.."));
    assert_eq!(from_folder.unwrap().as_str(), "projects/etl");
    let outside = ProjectRoot::from_folder(&top, &std::env::temp_dir()).unwrap_err();
    assert!(matches!(
        outside,
        ChangesError::FolderOutsideRepository { .. }
    ));
}
