//! What a GitHub Actions run sees of a deploy: the step outputs file, the job summary, the pull
//! request comment and the workflow commands, read back the way the runner reads them.

use std::collections::BTreeMap;

use ci::github::{
    airflow_url, append_summary, comment_marker, escape_data, escape_property, output_entry,
    write_outputs, DeployReport, DeploymentRef, GithubEnv, WorkflowCommand, OUTPUT_NAMES,
};
use deploy::bundle::BundleSummary;
use deploy::image::produce::ImageRoute;
use deploy::pipeline::{DeployState, ImageOutcome, Outcome};

/// Reads a `GITHUB_OUTPUT` file as the runner does: `name=value` lines, and `name<<DELIMITER`
/// blocks that end at a line holding only the delimiter.
fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                outputs.push((line[..e].to_owned(), line[e + 1..].to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                loop {
                    let next = lines.next().expect("the delimiter closes the value");
                    if next == delimiter {
                        break;
                    }
                    value.push(next);
                }
                outputs.push((name.to_owned(), value.join("\n")));
            }
            _ => panic!("the runner rejects the line `{line}`"),
        }
    }
    outputs
}

fn outcome() -> Outcome {
    Outcome {
        deployment_id: "cm4r2x0q5000008l4a1b2c3d4".to_owned(),
        deployment_name: "analytics-dev".to_owned(),
        workspace_id: "cm4r2x0q5000108l4e5f6g7h8".to_owned(),
        web_server_url: "acme.astronomer.run/d8fe2wmv".to_owned(),
        deploy_id: "cm4r2y1z9000208l4i9j0k1l2".to_owned(),
        deploy_type: "IMAGE_AND_DAG".to_owned(),
        inferred: Some("requirements.txt changed".to_owned()),
        bundle: Some(BundleSummary {
            sha256: "9f2c1e".to_owned(),
            bytes: 8421,
            files: 11,
            symlinks: 0,
            content_bytes: 27145,
        }),
        bundle_version: Some("2026-12-03T18:33:00.1234567Z".to_owned()),
        image: Some(ImageOutcome {
            reference: "images.astronomer.cloud/acme/analytics-dev:deploy-2026".to_owned(),
            digest: "sha256:4b1d".to_owned(),
            route: ImageRoute::FullBuild,
            full_build_reason: Some("requirements.txt changed".to_owned()),
            runtime_version: Some("13.1.0".to_owned()),
            bytes_uploaded: 1024,
            layers_uploaded: 1,
            layers_skipped: 9,
            layers_mounted: 0,
        }),
        state: DeployState::Live,
        deployment_status: "HEALTHY".to_owned(),
        woke: false,
        warnings: vec!["dags/ holds no files: this deploy removes every DAG".to_owned()],
    }
}

fn deployment() -> DeploymentRef {
    DeploymentRef {
        id: "cm4r2x0q5000008l4a1b2c3d4".to_owned(),
        name: Some("analytics-dev".to_owned()),
        workspace_id: None,
        airflow_url: None,
    }
}

// --- Step outputs ------------------------------------------------------------------------------

#[test]
fn a_deploy_writes_every_output() {
    let report = DeployReport::from_outcome(&outcome());
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("output");
    std::fs::write(&path, "earlier=kept\n").expect("an earlier step's output");

    write_outputs(&path, &report.outputs()).expect("the outputs are written");

    let text = std::fs::read_to_string(&path).expect("the outputs file");
    let outputs: BTreeMap<String, String> = parse_outputs(&text).into_iter().collect();
    let expected: BTreeMap<String, String> = [
        ("earlier", "kept"),
        ("deployment-id", "cm4r2x0q5000008l4a1b2c3d4"),
        ("deploy-id", "cm4r2y1z9000208l4i9j0k1l2"),
        ("deploy-type", "image-and-dags"),
        ("deploy-reason", "requirements.txt changed"),
        ("skipped", "false"),
        ("skip-reason", ""),
        (
            "image",
            "images.astronomer.cloud/acme/analytics-dev:deploy-2026",
        ),
        ("image-digest", "sha256:4b1d"),
        ("bundle-sha256", "9f2c1e"),
        ("bundle-version", "2026-12-03T18:33:00.1234567Z"),
        ("preview-id", ""),
        ("preview-url", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(outputs, expected);
    let names: Vec<&str> = report.outputs().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, OUTPUT_NAMES);
}

#[test]
fn a_skipped_run_says_so_and_why() {
    let report = DeployReport::skipped(deployment(), "no file under dags/ changed since abc1234");
    let outputs: BTreeMap<&str, String> = report.outputs().into_iter().collect();

    assert_eq!(outputs["skipped"], "true");
    assert_eq!(
        outputs["skip-reason"],
        "no file under dags/ changed since abc1234"
    );
    assert_eq!(outputs["deployment-id"], "cm4r2x0q5000008l4a1b2c3d4");
    assert_eq!(outputs["deploy-id"], "");
}

#[test]
fn a_value_cannot_add_outputs_or_end_its_own_block() {
    let hostile = "x\nskipped=true\n::set-output name=deploy-id::evil\nghadelimiter_0\n";
    let entry = output_entry("skip-reason", hostile).expect("an entry");

    let parsed = parse_outputs(&entry);
    assert_eq!(parsed, vec![("skip-reason".to_owned(), hostile.to_owned())]);
    let delimiter = entry
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("skip-reason<<"));
    let delimiter = delimiter.expect("a multi-line value uses the heredoc form");
    assert!(
        delimiter.starts_with("ghadelimiter_") && delimiter.len() == "ghadelimiter_".len() + 32
    );

    let again = output_entry("skip-reason", hostile).expect("an entry");
    assert_ne!(
        entry.lines().next(),
        again.lines().next(),
        "the delimiter is random"
    );

    let carriage = output_entry("skip-reason", "a\rdeploy-id=evil").expect("an entry");
    assert!(carriage.starts_with("skip-reason<<"), "{carriage:?}");
}

#[test]
fn one_line_values_are_plain_and_keep_their_colons_and_equals() {
    assert_eq!(
        output_entry("image", "registry:5000/a/b:tag=1 ::x::").expect("an entry"),
        "image=registry:5000/a/b:tag=1 ::x::\n"
    );
    assert_eq!(
        output_entry("skip-reason", "").expect("an entry"),
        "skip-reason=\n"
    );
}

#[test]
fn output_names_are_checked() {
    for bad in ["", "a=b", "a<<b", "a\nb", "a b"] {
        let error = output_entry(bad, "v").expect_err(bad);
        assert_eq!(
            error.to_string(),
            format!("writing the step output `{bad}`: the name is not kebab-case ASCII")
        );
    }
}

// --- The job summary and the pull request comment ----------------------------------------------

#[test]
fn the_summary_says_what_was_deployed_where() {
    let report = DeployReport::from_outcome(&outcome());
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("summary.md");

    append_summary(&path, &report.summary_markdown()).expect("the summary is written");
    append_summary(&path, "second").expect("the summary is appended to");

    let text = std::fs::read_to_string(&path).expect("the summary file");
    assert_eq!(
        text,
        "### Deployed to Astro: analytics-dev

| | |
|---|---|
| Deployment | analytics-dev (`cm4r2x0q5000008l4a1b2c3d4`), \
         [Airflow UI](<https://acme.astronomer.run/d8fe2wmv>) |
| Workspace | `cm4r2x0q5000108l4e5f6g7h8` |
| Deploy | `cm4r2y1z9000208l4i9j0k1l2` |
| Type | image-and-dags (`IMAGE_AND_DAG`); inferred: requirements.txt changed |
| DAG bundle | 11 files, 8.2 KiB, sha256 `9f2c1e` |
| Bundle version | `2026-12-03T18:33:00.1234567Z` |
| Image | `images.astronomer.cloud/acme/analytics-dev:deploy-2026` |
| Image digest | `sha256:4b1d` |
| Image made by | a full build (requirements.txt changed) |
| State | live: the Deployment is healthy and runs the new code |
| Deployment status | `HEALTHY` |

**Warnings**

- dags/ holds no files: this deploy removes every DAG
second
"
    );
}

#[test]
fn skipped_and_failed_runs_have_their_own_summary() {
    let skipped = DeployReport::skipped(deployment(), "no file under dags/ changed");
    assert_eq!(
        skipped.summary_markdown(),
        "### Astro deploy skipped: analytics-dev

Nothing was deployed: no file under dags/ changed

| | |
|---|---|
| Deployment | analytics-dev (`cm4r2x0q5000008l4a1b2c3d4`) |
"
    );

    let failed = DeployReport::failed(
        deployment(),
        "error: uploading the bundle\n  caused by: Astro answered 503 ```",
        Some("retry the run".to_owned()),
    );
    assert_eq!(
        failed.summary_markdown(),
        "### Astro deploy failed: analytics-dev

````text
error: uploading the bundle
  caused by: Astro answered 503 ```
````

Hint: retry the run

| | |
|---|---|
| Deployment | analytics-dev (`cm4r2x0q5000008l4a1b2c3d4`) |
"
    );
}

#[test]
fn names_and_messages_cannot_inject_markdown_or_html() {
    let report = DeployReport::skipped(
        DeploymentRef {
            id: "d`1|x".to_owned(),
            name: Some("evil](https://x.example) <img src=x onerror=alert(1)> | cell".to_owned()),
            workspace_id: None,
            airflow_url: Some("javascript:alert(1)".to_owned()),
        },
        "line one\n### a heading\n<script>x</script>",
    );

    let md = report.summary_markdown();
    assert!(!md.contains("<img") && !md.contains("<script"), "{md}");
    assert!(
        !md.contains("evil](") && md.contains("evil\\](https"),
        "{md}"
    );
    assert!(!md.contains("\n### a heading"), "{md}");
    assert!(!md.contains("[Airflow UI](javascript"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| Deployment |"))
        .expect("the Deployment row");
    assert_eq!(
        row.matches('|').count(),
        3,
        "a value added table cells: {row}"
    );
}

#[test]
fn the_comment_starts_with_a_marker_that_finds_it_again() {
    let report = DeployReport::from_outcome(&outcome());
    let md = report.comment_markdown(
        Some("https://github.com/acme/airflow/actions/runs/42"),
        Some("1a2b3c4d5e6f"),
    );

    assert!(md.starts_with("<!-- astro-deploy:cm4r2x0q5000008l4a1b2c3d4 -->\n### Deployed"));
    assert!(md.ends_with(
        "<sub>astro-deploy, from [this run](<https://github.com/acme/airflow/actions/runs/42>) \
         at `1a2b3c4`</sub>\n"
    ));
    let marker = comment_marker("a-->b <c>");
    assert_eq!(marker, "<!-- astro-deploy:a-_-b-_c- -->");
    let inner = &marker["<!--".len()..marker.len() - "-->".len()];
    assert!(
        !inner.contains("--"),
        "an id ended the HTML comment early: {marker}"
    );
}

#[test]
fn astro_web_server_urls_get_a_scheme() {
    assert_eq!(
        airflow_url("acme.astronomer.run/d8fe2wmv?orgId=org_1").as_deref(),
        Some("https://acme.astronomer.run/d8fe2wmv?orgId=org_1")
    );
    assert_eq!(
        airflow_url("http://127.0.0.1:8080/d1").as_deref(),
        Some("http://127.0.0.1:8080/d1")
    );
    assert_eq!(
        airflow_url("127.0.0.1:4100/airflow/abcdefgh").as_deref(),
        Some("http://127.0.0.1:4100/airflow/abcdefgh")
    );
    assert_eq!(airflow_url(" "), None);
}

// --- Workflow commands -------------------------------------------------------------------------

#[test]
fn workflow_commands_escape_their_data() {
    assert_eq!(
        WorkflowCommand::AddMask("tok%en\nsecond line").to_string(),
        "::add-mask::tok%25en\n::add-mask::second line"
    );
    assert_eq!(
        WorkflowCommand::Error {
            title: Some("astro-deploy: deploy failed, 2 causes"),
            message: "uploading `dags.tar.gz`: 100%\r\n::add-mask::x\nhint: retry",
        }
        .to_string(),
        "::error title=astro-deploy%3A deploy failed%2C 2 causes::uploading `dags.tar.gz`: \
         100%25%0D%0A::add-mask::x%0Ahint: retry"
    );
    assert_eq!(
        WorkflowCommand::Warning {
            title: None,
            message: "GitHub refused the comment"
        }
        .to_string(),
        "::warning::GitHub refused the comment"
    );
    assert_eq!(
        WorkflowCommand::Group("Deploying to analytics-dev\n::endgroup::").to_string(),
        "::group::Deploying to analytics-dev%0A::endgroup::"
    );
    assert_eq!(WorkflowCommand::EndGroup.to_string(), "::endgroup::");
    assert_eq!(escape_data("50%\n"), "50%25%0A");
    assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
}

#[test]
fn every_command_stays_on_its_own_lines() {
    let hostile = "a\n::error::injected\r\n::add-mask::y";
    for command in [
        WorkflowCommand::Error {
            title: Some(hostile),
            message: hostile,
        },
        WorkflowCommand::Warning {
            title: None,
            message: hostile,
        },
        WorkflowCommand::Group(hostile),
    ] {
        let text = command.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}

// --- The environment ---------------------------------------------------------------------------

#[test]
fn reads_a_pull_request_run() {
    let vars: BTreeMap<&str, &str> = [
        (
            "GITHUB_OUTPUT",
            "/home/runner/work/_temp/_runner_file_commands/set_output_1",
        ),
        (
            "GITHUB_STEP_SUMMARY",
            "/home/runner/work/_temp/_runner_file_commands/step_summary_1",
        ),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_REPOSITORY", "acme/airflow"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_RUN_ATTEMPT", "2"),
        ("GITHUB_REF", "refs/pull/12/merge"),
        ("GITHUB_HEAD_REF", "feature/dags"),
        ("GITHUB_SHA", "1a2b3c4d"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_TOKEN", "ghs_secret_value"),
    ]
    .into_iter()
    .collect();
    let env = GithubEnv::from_vars(|name| vars.get(name).map(|v| v.to_string()));

    assert_eq!(
        env.run_url().as_deref(),
        Some("https://github.com/acme/airflow/actions/runs/42/attempts/2")
    );
    assert_eq!(env.pull_request_number(), Some(12));
    assert_eq!(env.deployment_ref().as_deref(), Some("feature/dags"));
    assert_eq!(env.api_url, "https://api.github.com");
    assert!(env.output_file.is_some() && env.summary_file.is_some());
    assert!(!format!("{env:?}").contains("ghs_secret_value"));
    assert_eq!(
        env.token.as_ref().map(|t| t.expose()),
        Some("ghs_secret_value")
    );
}

#[test]
fn a_push_run_has_no_pull_request_and_defaults_to_github_com() {
    let vars: BTreeMap<&str, &str> = [("GITHUB_REF", "refs/heads/main"), ("GITHUB_OUTPUT", "")]
        .into_iter()
        .collect();
    let env = GithubEnv::from_vars(|name| vars.get(name).map(|v| v.to_string()));

    assert_eq!(env.pull_request_number(), None);
    assert_eq!(env.deployment_ref().as_deref(), Some("refs/heads/main"));
    assert_eq!(env.api_url, "https://api.github.com");
    assert_eq!(env.output_file, None, "an empty GITHUB_OUTPUT is no file");
    assert_eq!(env.run_url(), None);
}
