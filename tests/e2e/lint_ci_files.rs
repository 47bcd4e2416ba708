//! The CI files this repository ships, checked with the linters their users' tools apply:
//! hadolint on the `Dockerfile`, and GitLab's CI schema (check-jsonschema's `vendor.gitlab-ci`)
//! on the GitLab template and on a pipeline that includes it.
//!
//! Both linters come from `scripts/install-test-deps.sh` (a virtualenv in `.test-deps/venv`);
//! without them the tests fail, they never skip. Each gate is also shown to reject a broken file,
//! so that a linter that checks nothing cannot pass it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

const TEMPLATE: &str = "templates/gitlab/astro-deploy.yml";

fn lint_tool(name: &str) -> PathBuf {
    let bin = e2e_tests::test_deps_dir().join("venv/bin").join(name);
    if !bin.is_file() {
        panic!(
            "{name} is not installed at `{}`: run `scripts/install-test-deps.sh` \
             (or set ASTRO_DEPLOY_TEST_DEPS to where it installed them)",
            bin.display()
        );
    }
    bin
}

/// What a linter said; printed by every test, so that findings show in the test's output.
struct Lint {
    success: bool,
    output: String,
}

fn lint(tool: &str, args: &[&str], dir: &Path) -> Lint {
    let output = Command::new(lint_tool(tool))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    let lint = Lint {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    println!("{tool} {}:\n{}", args.join(" "), lint.output);
    lint
}

fn hadolint(dir: &Path, dockerfile: &str) -> Lint {
    lint("hadolint", &["--no-color", dockerfile], dir)
}

fn gitlab_schema(dir: &Path, file: &str) -> Lint {
    lint(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci", file],
        dir,
    )
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let lint = hadolint(&e2e_tests::repo_root(), "Dockerfile");

    assert!(lint.success, "hadolint findings:\n{}", lint.output);
}

#[test]
fn hadolint_rejects_an_unpinned_image_and_a_root_user() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM debian\nRUN apt-get update && apt-get install -y git\nUSER root\n",
    )
    .unwrap();

    let lint = hadolint(dir.path(), "Dockerfile");

    assert!(!lint.success);
    for rule in ["DL3006", "DL3008", "DL3002"] {
        assert!(lint.output.contains(rule), "no {rule} in:\n{}", lint.output);
    }
}

#[test]
fn the_gitlab_template_matches_gitlab_ci_schema() {
    let lint = gitlab_schema(&e2e_tests::repo_root(), TEMPLATE);

    assert!(lint.success, "schema findings:\n{}", lint.output);
}

#[test]
fn a_pipeline_including_the_template_matches_gitlab_ci_schema() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join(".gitlab-ci.yml"),
        r#"include:
  - local: templates/gitlab/astro-deploy.yml

variables:
  ASTRO_DEPLOYMENT_ID: "cm4r2x0q5000008l4a1b2c3d4"
  ASTRO_ROOT_FOLDER: astro

astro-deploy:
  needs: [test-dags]

test-dags:
  stage: test
  image: python:3.12-slim
  script:
    - python -m compileall -q astro/dags

smoke-test:
  stage: .post
  needs: [astro-deploy]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - echo "deployed $ASTRO_DEPLOY_ID to $ASTRO_DEPLOYED_DEPLOYMENT_ID"
"#,
    )
    .unwrap();

    let lint = gitlab_schema(dir.path(), ".gitlab-ci.yml");

    assert!(lint.success, "schema findings:\n{}", lint.output);
}

#[test]
fn the_gitlab_schema_rejects_a_broken_job() {
    let template = std::fs::read_to_string(e2e_tests::repo_root().join(TEMPLATE)).unwrap();
    let broken = template.replacen("  rules:\n    - if:", "  rules:\n    - iff:", 1);
    assert_ne!(
        broken, template,
        "the template has no `rules: - if:` to break"
    );
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("broken.yml"), broken).unwrap();

    let lint = gitlab_schema(dir.path(), "broken.yml");

    assert!(!lint.success);
    assert!(lint.output.contains("iff"), "{}", lint.output);
}

#[test]
fn the_gitlab_template_needs_no_docker_daemon_and_downloads_nothing() {
    let template = std::fs::read_to_string(e2e_tests::repo_root().join(TEMPLATE)).unwrap();
    let jobs: Vec<&str> = template
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();

    for forbidden in [
        "dind",
        "docker:",
        "DOCKER_HOST",
        "curl",
        "wget",
        "| bash",
        "| sh",
    ] {
        let found: Vec<&&str> = jobs.iter().filter(|l| l.contains(forbidden)).collect();
        assert!(found.is_empty(), "`{forbidden}` in the template: {found:?}");
    }
}

/// The fenced code blocks of README.md's "Other CI systems" section: (subsection, language,
/// text).
fn readme_snippets() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(e2e_tests::repo_root().join("README.md")).unwrap();
    let start = readme
        .find("\n## Other CI systems\n")
        .expect("README.md has an \"Other CI systems\" section");
    let section = &readme[start + 1..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };

    let mut snippets = Vec::new();
    let mut heading = String::new();
    let mut block: Option<(String, String)> = None;
    for line in section.lines() {
        match (&mut block, line.strip_prefix("```")) {
            (None, Some(language)) => block = Some((language.to_owned(), String::new())),
            (Some((language, text)), Some(_)) => {
                snippets.push((heading.clone(), language.clone(), std::mem::take(text)));
                block = None;
            }
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {
                if let Some(title) = line.strip_prefix("### ") {
                    heading = title.to_owned();
                }
            }
        }
    }
    snippets
}

/// The image the GitLab template runs in by default.
fn template_image() -> String {
    let template = std::fs::read_to_string(e2e_tests::repo_root().join(TEMPLATE)).unwrap();
    let after = &template[template
        .find("ASTRO_DEPLOY_IMAGE:\n")
        .expect("the template defines ASTRO_DEPLOY_IMAGE")..];
    let value = after
        .lines()
        .find_map(|line| line.trim().strip_prefix("value: "))
        .expect("ASTRO_DEPLOY_IMAGE has a value");
    value.trim_matches('"').to_owned()
}

#[test]
fn the_readme_pipelines_match_their_ci_systems_schemas_and_the_templates_image() {
    let image = template_image();
    let dir = TempDir::new().unwrap();
    let snippets = readme_snippets();
    let mut checked = Vec::new();

    for (heading, language, text) in &snippets {
        if text.contains("astro-deploy:") {
            assert!(
                text.contains(&image),
                "{heading}: not the image `{image}`:\n{text}"
            );
        }
        let schema: &[&str] = match (heading.as_str(), language.as_str()) {
            ("GitLab CI", "yaml") => &["--builtin-schema", "vendor.gitlab-ci"],
            ("Bitbucket Pipelines", "yaml") => &["--builtin-schema", "vendor.bitbucket-pipelines"],
            ("CircleCI", "yaml") => &["--builtin-schema", "vendor.circle-ci"],
            // The Azure Pipelines schema's patterns are Python regexes, not ECMAScript ones.
            ("Azure DevOps", "yaml") => &[
                "--regex-variant",
                "python",
                "--builtin-schema",
                "vendor.azure-pipelines",
            ],
            _ => continue,
        };
        let file = format!("snippet-{}.yml", checked.len());
        std::fs::write(dir.path().join(&file), text).unwrap();

        let lint = lint(
            "check-jsonschema",
            &[schema, &[file.as_str()]].concat(),
            dir.path(),
        );

        assert!(lint.success, "{heading}: schema findings:\n{}", lint.output);
        checked.push(heading.as_str());
    }

    assert_eq!(
        checked,
        [
            "GitLab CI",
            "GitLab CI",
            "Bitbucket Pipelines",
            "CircleCI",
            "Azure DevOps"
        ]
    );
}
