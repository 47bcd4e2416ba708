//! The GitLab CI template (`templates/gitlab/astro-deploy.yml`) end to end: gitlab-ci-local runs
//! its jobs in the shell, as a runner would run them in the astro-deploy image, with the binary
//! cargo just built on PATH and the emulator standing in for Astro.
//!
//! Each test builds a git repository (gitlab-ci-local needs one, with a commit) holding the
//! example project and a `.gitlab-ci.yml` that includes a copy of the template, the way a user
//! would. gitlab-ci-local and rsync come from `scripts/install-test-deps.sh`; without them the
//! tests fail, they never skip.
//!
//! The job runs `astro-deploy ci gitlab`, which writes the dotenv report itself; one test puts a
//! stand-in `astro-deploy` on PATH to check the job's arguments, whatever the variables hold.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use emulator::{EmulatorConfig, Exchange, RunningEmulator};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

/// gitlab-ci-local parses the pipeline with Node.js and then runs a deploy that waits for the
/// emulator's 100 ms rollout: seconds, unless something hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Where gitlab-ci-local's shell executor leaves a job's dotenv report.
const DOTENV_REPORT: &str = ".gitlab-ci-local/artifacts/astro-deploy/.gitlab-ci-reports/dotenv/\
                             astro-deploy.env";

/// The user's pipeline: the template, the project folder, and a later job that reads the
/// template's dotenv report, as a smoke test or a notification would.
const PIPELINE: &str = r#"include:
  - local: templates/gitlab/astro-deploy.yml

variables:
  ASTRO_ROOT_FOLDER: astro-project

deployed:
  stage: .post
  needs: [astro-deploy]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - printf '%s\n' "$ASTRO_DEPLOY_ID" > deployed.txt
"#;

fn gitlab_ci_local() -> PathBuf {
    let bin = e2e_tests::test_deps_dir().join("node_modules/.bin/gitlab-ci-local");
    if !bin.is_file() {
        panic!(
            "gitlab-ci-local is not installed at `{}`: run `scripts/install-test-deps.sh` \
             (or set ASTRO_DEPLOY_TEST_DEPS to where it installed them)",
            bin.display()
        );
    }
    if on_path("rsync").is_none() {
        panic!(
            "rsync is not on PATH and gitlab-ci-local needs it: run \
             `scripts/install-test-deps.sh` (as root it installs Debian's `rsync`)"
        );
    }
    bin
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `PATH` with `dir` first: where the job finds `astro-deploy`, as the image has it on PATH.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries join")
}

fn binary_dir() -> &'static Path {
    Path::new(BIN).parent().expect("the binary has a directory")
}

async fn emulator() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn git(repo: &Path, args: &[&str]) {
    let output = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=astro-deploy tests",
            "-c",
            "user.email=tests@invalid",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A user's repository on `branch`, with one commit.
struct Repo {
    dir: TempDir,
    /// gitlab-ci-local's HOME, so that no `~/.gitlab-ci-local/variables.yml` of the machine's
    /// leaks into the run.
    home: TempDir,
}

impl Repo {
    fn new(branch: &str) -> Repo {
        let dir = TempDir::with_prefix("gitlab-template-").unwrap();
        let root = e2e_tests::repo_root();

        copy_dir(
            &root.join("examples/astro-project"),
            &dir.path().join("astro-project"),
        );
        let templates = dir.path().join("templates/gitlab");
        std::fs::create_dir_all(&templates).unwrap();
        std::fs::copy(
            root.join("templates/gitlab/astro-deploy.yml"),
            templates.join("astro-deploy.yml"),
        )
        .unwrap();
        std::fs::write(dir.path().join(".gitlab-ci.yml"), PIPELINE).unwrap();

        git(dir.path(), &["init", "--quiet", "--initial-branch", branch]);
        git(dir.path(), &["add", "--all"]);
        git(
            dir.path(),
            &["commit", "--quiet", "--message", "An Astro project"],
        );

        let home = TempDir::with_prefix("gitlab-ci-local-home-").unwrap();
        Repo { dir, home }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The commit checked out.
    fn head(&self) -> String {
        let output = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(self.path())
            .output()
            .expect("git runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn dotenv_report(&self) -> Option<String> {
        std::fs::read_to_string(self.path().join(DOTENV_REPORT)).ok()
    }

    /// Runs gitlab-ci-local with the emulator's URL and API token, the Deployment, `main` as
    /// the default branch and the astro-deploy cargo built, then `args` (job names or options).
    async fn gitlab_ci_local(
        &self,
        emulator: &RunningEmulator,
        deployment_id: &str,
        args: &[&str],
    ) -> Run {
        let token = emulator.info().api_token.clone();
        let variables = [
            ("ASTRO_API_URL", emulator.base_url()),
            ("ASTRO_API_TOKEN", token.as_str()),
            ("ASTRO_DEPLOYMENT_ID", deployment_id),
        ];

        let run = self.run(binary_dir(), &variables, args).await;

        assert!(
            !run.stdout.contains(token.as_str()) && !run.stderr.contains(token.as_str()),
            "the API token leaked into the job's output"
        );
        run
    }

    /// Runs gitlab-ci-local in the shell with `bin_dir` first on PATH, `main` as the default
    /// branch, and `variables` as pipeline variables.
    async fn run(&self, bin_dir: &Path, variables: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = tokio::process::Command::new(gitlab_ci_local());
        command.arg("--force-shell-executor");
        for (name, value) in variables.iter().chain(&[("CI_DEFAULT_BRANCH", "main")]) {
            command.args(["--variable", &format!("{name}={value}")]);
        }
        command
            .args(args)
            .current_dir(self.path())
            .env("PATH", path_with(bin_dir))
            .env("HOME", self.home.path())
            .env_remove("ASTRO_API_URL")
            .env_remove("ASTRO_API_TOKEN")
            .stdin(Stdio::null())
            .kill_on_drop(true);

        let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("gitlab-ci-local {args:?} ran longer than {RUN_TIMEOUT:?}"))
            .expect("gitlab-ci-local runs");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What a gitlab-ci-local run showed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn posts(exchanges: &[Exchange]) -> Vec<&Exchange> {
    exchanges.iter().filter(|e| e.method == "POST").collect()
}

/// The id of the deploy the emulator created, from its answer to the create request.
fn created_deploy_id(exchanges: &[Exchange]) -> String {
    let create = posts(exchanges)
        .into_iter()
        .find(|e| e.path.ends_with("/deploys"))
        .unwrap_or_else(|| panic!("no POST .../deploys reached the emulator: {exchanges:#?}"));
    create
        .response_body
        .as_ref()
        .and_then(|body| body["id"].as_str())
        .expect("the create answer has an id")
        .to_owned()
}

/// The names and `when` of the pipeline's jobs, from `gitlab-ci-local --list-json`.
fn job_whens(run: &Run) -> Vec<(String, String)> {
    // Warnings come first on stdout; the JSON array starts on its own line.
    let start = run
        .stdout
        .find("\n[")
        .map(|at| at + 1)
        .or_else(|| run.stdout.starts_with('[').then_some(0))
        .unwrap_or_else(|| panic!("no job list in the output:\n{run}"));
    let jobs: serde_json::Value = serde_json::from_str(&run.stdout[start..])
        .unwrap_or_else(|e| panic!("the job list is not JSON ({e}):\n{run}"));
    jobs.as_array()
        .expect("a list of jobs")
        .iter()
        .map(|job| {
            (
                job["name"].as_str().unwrap_or_default().to_owned(),
                job["when"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_default_branch_deploys_and_passes_the_deploy_on_as_dotenv() {
    let emulator = emulator().await;
    let deployment_id = emulator.info().deployments.dags_enabled.clone();
    let repo = Repo::new("main");

    let run = repo
        .gitlab_ci_local(&emulator, &deployment_id, &["astro-deploy", "deployed"])
        .await;

    assert!(run.success, "the pipeline failed:\n{run}");
    assert!(run.stdout.contains("PASS  astro-deploy"), "{run}");
    let exchanges = emulator.exchanges();
    let deploy_id = created_deploy_id(&exchanges);
    assert!(
        posts(&exchanges)
            .iter()
            .any(|e| e.path.ends_with(&format!("/deploys/{deploy_id}/finalize"))),
        "the deploy was not finalized: {exchanges:#?}"
    );

    let bundle = emulator
        .blob(&deploy_id)
        .expect("the emulator holds the bundle");
    let bundle_sha256 = format!("{:x}", Sha256::digest(&bundle));
    let dotenv = repo
        .dotenv_report()
        .unwrap_or_else(|| panic!("no dotenv report at {DOTENV_REPORT}:\n{run}"));
    let mut lines: Vec<&str> = dotenv.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            format!("ASTRO_BUNDLE_SHA256={bundle_sha256}"),
            format!("ASTRO_DEPLOYED_DEPLOYMENT_ID={deployment_id}"),
            "ASTRO_DEPLOYED_TYPE=DAG_ONLY".to_owned(),
            format!("ASTRO_DEPLOY_ID={deploy_id}"),
            "ASTRO_SKIPPED=false".to_owned(),
        ],
        "the dotenv report"
    );

    // A later job got the deploy's id from the report.
    let deployed = std::fs::read_to_string(repo.path().join("deployed.txt"))
        .unwrap_or_else(|e| panic!("the `deployed` job wrote nothing ({e}):\n{run}"));
    assert_eq!(deployed.trim(), deploy_id);
}

#[tokio::test]
async fn a_refused_deploy_fails_the_job_with_the_reason_and_no_report() {
    let emulator = emulator().await;
    let deployment_id = emulator.info().deployments.dags_disabled.clone();
    let repo = Repo::new("main");

    let run = repo
        .gitlab_ci_local(&emulator, &deployment_id, &["astro-deploy"])
        .await;

    assert!(!run.success, "the job passed:\n{run}");
    assert!(run.stdout.contains("FAIL  astro-deploy"), "{run}");
    // astro-deploy's error is in the job's log, and its exit code (6: refused) ends the job.
    assert!(run.stdout.contains("DAG deploys are disabled"), "{run}");
    assert!(run.stdout.contains("hint: enable DAG deploys"), "{run}");
    assert!(run.stderr.contains("FAIL 6"), "{run}");
    assert!(posts(&emulator.exchanges()).is_empty());
    assert_eq!(repo.dotenv_report(), None);
}

#[tokio::test]
async fn only_the_default_branch_deploys() {
    let emulator = emulator().await;
    let deployment_id = emulator.info().deployments.dags_enabled.clone();

    let mut whens = Vec::new();
    for branch in ["main", "feature/new-dag"] {
        let repo = Repo::new(branch);
        let run = repo
            .gitlab_ci_local(&emulator, &deployment_id, &["--list-json"])
            .await;
        assert!(run.success, "gitlab-ci-local --list-json failed:\n{run}");
        let when = job_whens(&run)
            .into_iter()
            .find(|(name, _)| name == "astro-deploy")
            .map(|(_, when)| when);
        whens.push((branch, when));
    }

    assert_eq!(
        whens,
        [
            ("main", Some("on_success".to_owned())),
            ("feature/new-dag", Some("never".to_owned())),
        ]
    );
    assert!(emulator.exchanges().is_empty());
}

/// A stand-in `astro-deploy` for the job: it records its arguments, one a line.
struct FakeBinary {
    dir: TempDir,
}

impl FakeBinary {
    fn new() -> FakeBinary {
        let dir = TempDir::with_prefix("fake-astro-deploy-").unwrap();
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{dir}/args'\n",
            dir = dir.path().display()
        );
        let bin = dir.path().join("astro-deploy");
        std::fs::write(&bin, script).unwrap();
        let mut permissions = std::fs::metadata(&bin).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&bin, permissions).unwrap();
        FakeBinary { dir }
    }

    fn args(&self) -> Vec<String> {
        let args = std::fs::read_to_string(self.dir.path().join("args"))
            .expect("the job ran astro-deploy");
        args.lines().map(str::to_owned).collect()
    }
}

#[tokio::test]
async fn the_job_passes_its_variables_on_and_user_input_stays_one_argument() {
    let fake = FakeBinary::new();
    let repo = Repo::new("main");
    // Shell syntax in a variable must reach astro-deploy as text, never run.
    let folder = "astro project $(touch pwned); echo *";
    let deployment_id = "cm4r2x0q5000008l4a1b2c3d4";
    let variables = [
        ("ASTRO_DEPLOYMENT_ID", deployment_id),
        ("ASTRO_ROOT_FOLDER", folder),
        ("ASTRO_DEPLOY_TYPE", "infer"),
    ];

    let run = repo
        .run(fake.dir.path(), &variables, &["astro-deploy"])
        .await;

    assert!(run.success, "the job failed:\n{run}");
    assert_eq!(
        fake.args(),
        [
            "ci",
            "gitlab",
            "--deployment-id",
            deployment_id,
            "--project",
            folder,
            "--type",
            "infer",
            "--wait",
            "--wait-timeout",
            "10m",
        ]
    );
    assert!(!repo.path().join("pwned").exists());
}

#[tokio::test]
async fn a_push_that_changes_nothing_in_the_project_skips_and_says_so_in_the_dotenv() {
    let emulator = emulator().await;
    let deployment_id = emulator.info().deployments.dags_enabled.clone();
    let repo = Repo::new("main");
    let before = repo.head();
    std::fs::write(
        repo.path().join("NOTES.md"),
        "not part of the Astro project\n",
    )
    .unwrap();
    git(repo.path(), &["add", "NOTES.md"]);
    git(repo.path(), &["commit", "--quiet", "--message", "Notes"]);

    let run = repo
        .gitlab_ci_local(
            &emulator,
            &deployment_id,
            &[
                "--variable",
                "ASTRO_DEPLOY_TYPE=infer",
                "--variable",
                "CI_PIPELINE_SOURCE=push",
                "--variable",
                &format!("CI_COMMIT_BEFORE_SHA={before}"),
                "astro-deploy",
            ],
        )
        .await;

    assert!(run.success, "the job failed:\n{run}");
    assert!(run.stdout.contains("skipped: "), "{run}");
    assert!(posts(&emulator.exchanges()).is_empty(), "a skip deployed");
    let dotenv = repo
        .dotenv_report()
        .unwrap_or_else(|| panic!("no dotenv report at {DOTENV_REPORT}:\n{run}"));
    let lines: Vec<&str> = dotenv.lines().collect();
    assert_eq!(lines.first(), Some(&"ASTRO_SKIPPED=true"), "{dotenv}");
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("ASTRO_SKIP_REASON=")),
        "{dotenv}"
    );
    assert_eq!(lines.len(), 2, "{dotenv}");
}

// --- Previews per merge request ----------------------------------------------------------------

/// The variables GitLab sets in a merge request pipeline of `branch` into `main`, from the
/// same project (not a fork).
fn merge_request_variables(branch: &str, iid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CI_PIPELINE_SOURCE", "merge_request_event".to_owned()),
        ("CI_MERGE_REQUEST_IID", iid.to_owned()),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", branch.to_owned()),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".to_owned()),
        ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "4242".to_owned()),
        ("CI_MERGE_REQUEST_PROJECT_ID", "4242".to_owned()),
    ]
}

/// The emulator's Deployments, as its Platform API lists them.
async fn listed_deployments(emulator: &RunningEmulator) -> Vec<serde_json::Value> {
    let get = reqwest::Method::GET;
    let listed = e2e_tests::cli::platform(emulator, get, "/deployments", None).await;
    listed["deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_merge_request_gets_a_preview_environment_that_its_stop_job_deletes() {
    let setup = e2e_tests::image_setup::ImageSetup::start(Path::new(BIN), "12.2.0").await;
    let base = setup.deployment();
    let branch = "feature/preview-me";
    let repo = Repo::new(branch);
    let token = setup.emulator.info().api_token.clone();
    // A prebuilt image: the astro-deploy image holds no builder, and a new preview needs one.
    let image = e2e_tests::runtime_image::runtime_reference(&setup.registry.host(), "12.2.0");
    let gitlab_token = "glpat-fake-project-token-000000";
    let gitlab = e2e_tests::fake_gitlab::FakeGitlab::start(gitlab_token).await;
    let mut variables: Vec<(&str, String)> = vec![
        ("ASTRO_API_URL", setup.emulator.base_url().to_owned()),
        ("ASTRO_API_TOKEN", token.clone()),
        ("ASTRO_DEPLOYMENT_ID", base.clone()),
        ("ASTRO_PREVIEWS", "true".to_owned()),
        ("ASTRO_IMAGE_NAME", image),
        ("GITLAB_TOKEN", gitlab_token.to_owned()),
        ("CI_API_V4_URL", gitlab.url().to_owned()),
        ("CI_PROJECT_ID", "4242".to_owned()),
    ];
    variables.extend(merge_request_variables(branch, "7"));
    let variables: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let before = listed_deployments(&setup.emulator).await.len();

    let listed = repo.run(binary_dir(), &variables, &["--list-json"]).await;
    let whens = job_whens(&listed);
    let when = |job: &str| {
        whens
            .iter()
            .find(|(name, _)| name == job)
            .map(|(_, when)| when.as_str())
    };
    assert_eq!(when("astro-deploy"), Some("never"), "{listed}");
    assert_eq!(when("astro-deploy:preview"), Some("on_success"), "{listed}");
    assert_eq!(
        when("astro-deploy:preview-stop"),
        Some("manual"),
        "{listed}"
    );

    let created = repo
        .run(binary_dir(), &variables, &["astro-deploy:preview"])
        .await;

    assert!(created.success, "the preview job failed:\n{created}");
    assert!(!created.stdout.contains(&token) && !created.stderr.contains(&token));
    // gitlab-ci-local names a job's artifact folder with the `:` of `astro-deploy:preview`
    // base64url-encoded (`Og`).
    let dotenv = std::fs::read_to_string(repo.path().join(
        ".gitlab-ci-local/artifacts/astro-deployOgpreview/.gitlab-ci-reports/dotenv/\
         astro-deploy.env",
    ))
    .unwrap_or_else(|e| panic!("no dotenv report from the preview job ({e}):\n{created}"));
    let value = |name: &str| {
        dotenv
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in the dotenv report:\n{dotenv}"))
            .to_owned()
    };
    let preview_id = value("ASTRO_PREVIEW_ID");
    let preview_url = value("ASTRO_PREVIEW_URL");
    assert!(
        preview_url.starts_with("http://127.0.0.1:"),
        "{preview_url}"
    );
    let deployments = listed_deployments(&setup.emulator).await;
    assert_eq!(deployments.len(), before + 1, "one preview Deployment");
    let preview = deployments
        .iter()
        .find(|d| d["id"] == serde_json::json!(preview_id))
        .expect("the dotenv's preview exists in Astro");
    assert_eq!(
        preview["name"].as_str(),
        Some(value("ASTRO_PREVIEW_NAME").as_str())
    );
    assert!(
        preview["description"]
            .as_str()
            .unwrap_or("")
            .contains(branch),
        "the preview records its branch: {preview}"
    );
    assert_eq!(value("ASTRO_DEPLOYED_DEPLOYMENT_ID"), preview_id);
    // The merge request has one note, linking the preview's Airflow UI.
    let notes = gitlab.notes(7);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains(&preview_url), "{}", notes[0]);
    assert!(!created.stdout.contains(gitlab_token) && !created.stderr.contains(gitlab_token));

    // The merge request closes: GitLab runs the environment's stop action, twice here, as a
    // retried job would.
    for attempt in 1..=2 {
        let stopped = repo
            .run(binary_dir(), &variables, &["astro-deploy:preview-stop"])
            .await;
        assert!(stopped.success, "stop #{attempt} failed:\n{stopped}");
        let expected = match attempt {
            1 => format!("Deleted preview `{}`", value("ASTRO_PREVIEW_NAME")),
            _ => "nothing to delete".to_owned(),
        };
        assert!(
            stopped.stdout.contains(&expected),
            "stop #{attempt}:\n{stopped}"
        );
    }
    // The same note says the preview is gone; the re-run left it alone.
    let notes = gitlab.notes(7);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("preview deleted"), "{}", notes[0]);
    let after = listed_deployments(&setup.emulator).await;
    assert_eq!(
        after.len(),
        before,
        "the preview is gone and nothing else is"
    );
    assert!(after.iter().any(|d| d["id"] == serde_json::json!(base)));
}
