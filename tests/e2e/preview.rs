//! Preview Deployments end to end: the `astro-deploy preview` commands against the emulator,
//! with real image builds (Buildah) pushed to a real registry, as a pull request lives them.
//!
//! Open a pull request (create), push twice (deploy), re-run every step, close it (delete),
//! collect what is left (gc); two branches whose last segment is the same; two jobs creating
//! the same preview at once; and Deployments that astro-deploy did not make, which nothing
//! here may list or delete.

use std::path::Path;
use std::time::Duration;

use e2e_tests::image_setup::{ImageSetup, Run};
use emulator::{AirflowConnection, AirflowPool, AirflowVariable, Fault};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

async fn setup() -> ImageSetup {
    ImageSetup::start(Path::new(BIN), "12.2.0").await
}

/// `astro-deploy preview <step>` for the setup's base Deployment, with JSON output.
async fn preview(setup: &ImageSetup, step: &str, extra: &[&str]) -> Run {
    let mut args: Vec<String> = vec![
        "preview".into(),
        step.into(),
        "--base-deployment-id".into(),
        setup.deployment(),
        "--config".into(),
        setup
            .project
            .path()
            .join("astro-deploy.yaml")
            .display()
            .to_string(),
        "--output".into(),
        "json".into(),
    ];
    if matches!(step, "create" | "deploy") {
        args.push("--project".into());
        args.push(setup.project.path().display().to_string());
        args.extend(setup.builder_flags());
    }
    args.extend(extra.iter().map(|arg| arg.to_string()));
    setup.run(&args).await
}

async fn api(
    setup: &ImageSetup,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let info = setup.emulator.info();
    let url = format!(
        "{}/platform/v1beta1/organizations/{}{path}",
        setup.emulator.base_url(),
        info.organization_id
    );
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(&info.api_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn deployments(setup: &ImageSetup) -> Vec<Value> {
    let page = api(setup, reqwest::Method::GET, "/deployments?limit=1000", None).await;
    page["deployments"].as_array().unwrap().clone()
}

async fn deployment(setup: &ImageSetup, id: &str) -> Value {
    api(
        setup,
        reqwest::Method::GET,
        &format!("/deployments/{id}"),
        None,
    )
    .await
}

/// Creates a Deployment beside the base, the way a person would, with `description`.
async fn create_foreign(setup: &ImageSetup, name: &str, description: &str) -> String {
    let base = deployment(setup, &setup.deployment()).await;
    let body = json!({
        "type": "STANDARD",
        "name": name,
        "description": description,
        "workspaceId": base["workspaceId"],
        "astroRuntimeVersion": base["astroRuntimeVersion"],
        "executor": "CELERY",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "isHighAvailability": false,
        "schedulerSize": "SMALL",
        "defaultTaskPodCpu": "0.25",
        "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10",
        "resourceQuotaMemory": "20Gi",
    });
    let created = api(setup, reqwest::Method::POST, "/deployments", Some(body)).await;
    created["id"].as_str().unwrap().to_owned()
}

fn write_config(setup: &ImageSetup, preview: &str) {
    let config =
        format!("version: 1\nprojects:\n  - name: analytics\n    root: .\n    preview:\n{preview}");
    setup.write("astro-deploy.yaml", &config);
}

fn id_of(out: &Value) -> String {
    out["preview"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_pull_request_opens_pushes_reruns_and_closes_its_preview() {
    let setup = setup().await;
    let base_id = setup.deployment();
    write_config(
        &setup,
        "      scheduler-size: SMALL\n      max-workers: 1\n      environment:\n        \
         ENVIRONMENT: preview\n      copy-variables: true\n      copy-pools: true\n      \
         copy-connections: true\n",
    );
    let emulator = &setup.emulator;
    emulator
        .put_airflow_variable(&base_id, AirflowVariable::new("bucket", "s3://prod"))
        .unwrap();
    emulator
        .put_airflow_pool(&base_id, AirflowPool::new("warehouse", 4))
        .unwrap();
    let mut connection = AirflowConnection::new("warehouse_db", "postgres");
    connection.password = Some("hunter2".into());
    emulator
        .put_airflow_connection(&base_id, connection)
        .unwrap();

    // The pull request opens.
    let opened = preview(
        &setup,
        "create",
        &["--branch", "feature/orders", "--review", "7"],
    )
    .await
    .ok();
    assert_eq!(opened["created"], true, "{opened}");
    let id = id_of(&opened);
    assert_ne!(id, base_id);
    assert_eq!(opened["deploy"]["deployType"], "IMAGE_AND_DAG", "{opened}");
    assert_eq!(opened["deploy"]["deploymentId"], id.as_str());
    assert!(opened["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));

    let made = deployment(&setup, &id).await;
    let name = made["name"].as_str().unwrap();
    assert!(name.starts_with("feature-orders-"), "{name}");
    assert!(name.len() <= 50);
    let description = made["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("base={base_id}")),
        "{description}"
    );
    assert!(
        description.contains("branch=feature%2Forders review=7"),
        "{description}"
    );
    assert_eq!(made["isDevelopmentMode"], true);
    assert_eq!(made["isHighAvailability"], false);
    assert_eq!(made["schedulerSize"], "SMALL");
    let env: Vec<&Value> = made["environmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(env
        .iter()
        .any(|v| v["key"] == "ENVIRONMENT" && v["value"] == "preview"));
    for queue in made["workerQueues"].as_array().unwrap() {
        assert!(queue["maxWorkerCount"].as_i64().unwrap() <= 1, "{queue}");
    }

    // The base's Airflow objects were copied, except the password Airflow never answers.
    let variables = emulator.airflow_variables(&id).unwrap();
    assert!(variables
        .iter()
        .any(|v| v.key == "bucket" && v.value == "s3://prod"));
    let pools = emulator.airflow_pools(&id).unwrap();
    assert!(pools.iter().any(|p| p.name == "warehouse" && p.slots == 4));
    let connections = emulator.airflow_connections(&id).unwrap();
    let copied = connections
        .iter()
        .find(|c| c.connection_id == "warehouse_db")
        .expect("the connection was copied");
    assert_eq!(copied.password, None);
    assert_eq!(
        opened["airflowCopy"]["connectionsWithoutPassword"],
        json!(["warehouse_db"])
    );

    // Two pushes: a DAG change ships as a bundle, then an include/ change as an image.
    setup.write("dags/example_etl.py", "# changed on the branch\n");
    let first = preview(&setup, "deploy", &["--branch", "feature/orders"])
        .await
        .ok();
    assert_eq!(id_of(&first), id);
    assert_eq!(first["created"], false);
    assert_eq!(first["deploy"]["deployType"], "DAG_ONLY", "{first}");

    setup.write("include/report.sql", "select 42;\n");
    let second = preview(&setup, "deploy", &["--branch", "feature/orders"])
        .await
        .ok();
    assert_eq!(id_of(&second), id);
    assert_eq!(second["deploy"]["deployType"], "IMAGE_AND_DAG", "{second}");

    // Re-running create finds the same preview; nothing is duplicated.
    let again = preview(
        &setup,
        "create",
        &["--branch", "feature/orders", "--review", "7"],
    )
    .await
    .ok();
    assert_eq!(id_of(&again), id);
    assert_eq!(again["created"], false);
    let previews = preview(&setup, "list", &[]).await.ok();
    assert_eq!(
        previews["previews"].as_array().unwrap().len(),
        1,
        "{previews}"
    );
    assert_eq!(previews["previews"][0]["branch"], "feature/orders");
    assert_eq!(previews["previews"][0]["review"], 7);
    let status = previews["previews"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        ["DEPLOYING", "HEALTHY"].contains(&status.as_str()),
        "the Deployment's status as Astro gives it: {previews}"
    );
    assert!(
        previews["previews"][0]["createdAt"].is_string(),
        "{previews}"
    );
    // The text listing: a header, then the preview's branch, review, age and status.
    let mut text_args = vec!["preview".to_owned(), "list".to_owned()];
    text_args.extend(["--base-deployment-id".to_owned(), setup.deployment()]);
    let text = setup.run(&text_args).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    let mut lines = text.stdout.lines().skip(1);
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "BRANCH", "REVIEW", "AGE", "STATUS", "ID"],
        "{}",
        text.stdout
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.len(), 6, "{row:?}");
    assert_eq!(
        [row[1], row[2], row[5]],
        ["feature/orders", "#7", id.as_str()],
        "{row:?}"
    );
    // Made minutes ago at most; counted in minutes below an hour.
    let minutes = row[3].strip_suffix('m').and_then(|m| m.parse::<u32>().ok());
    assert!(minutes.is_some_and(|m| m < 60), "{row:?}");
    // The status may have moved on since the JSON listing (the rollout takes 100 ms).
    assert!(["DEPLOYING", "HEALTHY"].contains(&row[4]), "{row:?}");

    // The pull request closes: its preview goes, and deleting it again succeeds.
    let closed = preview(&setup, "delete", &["--review", "7"]).await.ok();
    assert_eq!(closed["deleted"][0]["id"], id.as_str(), "{closed}");
    let again = preview(&setup, "delete", &["--review", "7"]).await.ok();
    assert_eq!(again["deleted"], json!([]));
    assert!(deployments(&setup)
        .await
        .iter()
        .all(|d| d["id"] != id.as_str()));
    assert!(deployments(&setup)
        .await
        .iter()
        .any(|d| d["id"] == base_id.as_str()));
}

#[tokio::test]
async fn branches_that_end_alike_get_their_own_previews_and_gc_keeps_foreign_deployments() {
    let setup = setup().await;
    write_config(&setup, "      ttl: 14d\n");

    let a = preview(&setup, "create", &["--branch", "alice/fix"])
        .await
        .ok();
    let b = preview(&setup, "create", &["--branch", "bob/fix"])
        .await
        .ok();
    assert_ne!(id_of(&a), id_of(&b));
    assert_ne!(a["preview"]["name"], b["preview"]["name"]);

    // Deployments astro-deploy did not make: one plain, one with a forged record whose name
    // is not the one derived from it.
    let base_id = setup.deployment();
    let plain = create_foreign(&setup, "fix-team-sandbox", "hands off").await;
    let forged = format!(
        "astro-deploy-preview/v1 base={base_id} branch=alice%2Ffix review=- \
         created=2020-01-01T00:00:00Z"
    );
    let forged = create_foreign(&setup, "alice-fix-copy", &forged).await;

    let listed = preview(&setup, "list", &[]).await.ok();
    let ids: Vec<&str> = listed["previews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(!ids.contains(&plain.as_str()) && !ids.contains(&forged.as_str()));

    // Deleting a foreign Deployment by name is refused with its own exit code.
    let refused = preview(&setup, "delete", &["--name", "fix-team-sandbox"]).await;
    assert_eq!(refused.code, 6, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not a preview"),
        "{}",
        refused.stderr
    );

    // Nothing is old yet and no code host is asked: gc keeps everything.
    let kept = preview(&setup, "gc", &["--host", "none"]).await.ok();
    let verdicts = kept["entries"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "{kept}");
    assert!(
        verdicts.iter().all(|e| e["verdict"]["action"] == "keep"),
        "{kept}"
    );

    // A dry run with a short TTL says what would go and deletes nothing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dry = preview(
        &setup,
        "gc",
        &["--host", "none", "--ttl", "1s", "--dry-run"],
    )
    .await
    .ok();
    let entries = dry["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .all(|e| e["verdict"]["action"] == "delete" && e["deleted"] == false));
    assert_eq!(deployments(&setup).await.len(), 2 + 2 + 2);

    let collected = preview(&setup, "gc", &["--host", "none", "--ttl", "1s"])
        .await
        .ok();
    let entries = collected["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["deleted"] == true), "{collected}");
    let left: Vec<String> = deployments(&setup)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(left.contains(&plain) && left.contains(&forged) && left.contains(&base_id));
    assert!(!left.contains(&id_of(&a)) && !left.contains(&id_of(&b)));
}

#[tokio::test]
async fn two_jobs_creating_the_same_preview_at_once_end_with_one() {
    let setup = setup().await;
    write_config(&setup, "      development-mode: true\n");

    // Both creates are held back long enough that each job has looked for the preview, found
    // none, and sent its own create: the race happens every time, not by chance.
    let hold = Fault::latency(Duration::from_millis(1500))
        .method("POST")
        .path_contains("/deployments")
        .times(2);
    setup.emulator.add_fault(hold);
    setup.emulator.clear_exchanges();

    let (first, second) = tokio::join!(
        preview(
            &setup,
            "create",
            &["--branch", "feature/race", "--review", "3"]
        ),
        preview(
            &setup,
            "create",
            &["--branch", "feature/race", "--review", "3"]
        ),
    );
    let (first, second) = (first.ok(), second.ok());
    assert_eq!(id_of(&first), id_of(&second), "{first}\n{second}");

    let exchanges = setup.emulator.exchanges();
    let creates = exchanges
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/deployments"))
        .count();
    let deletes: Vec<&str> = exchanges
        .iter()
        .filter(|e| e.method == "DELETE")
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(creates, 2, "both jobs created a preview");
    // Both jobs see both twins and delete the newer one; the second delete finds it gone.
    let kept = id_of(&first);
    assert!(!deletes.is_empty());
    assert!(
        deletes
            .iter()
            .all(|path| path == &deletes[0] && !path.ends_with(&kept)),
        "only the newer twin is deleted: {deletes:?}"
    );
    let twins: Vec<&Value> = [&first, &second]
        .into_iter()
        .filter(|out| !out["twinsDeleted"].as_array().unwrap().is_empty())
        .collect();
    assert!(!twins.is_empty(), "{first}\n{second}");
    assert_eq!(
        [&first, &second]
            .iter()
            .filter(|out| out["created"] == true)
            .count(),
        1,
        "one job made the preview, the other took it over"
    );

    let listed = preview(&setup, "list", &[]).await.ok();
    assert_eq!(listed["previews"].as_array().unwrap().len(), 1, "{listed}");
    let records = deployments(&setup)
        .await
        .iter()
        .filter(|d| {
            d["description"]
                .as_str()
                .is_some_and(|text| text.contains("branch=feature%2Frace"))
        })
        .count();
    assert_eq!(records, 1);
}

#[tokio::test]
async fn without_a_base_the_error_says_where_to_name_one() {
    let setup = setup().await;
    let run = setup
        .run(&[
            "preview".into(),
            "list".into(),
            "--config".into(),
            setup
                .project
                .path()
                .join("missing.yaml")
                .display()
                .to_string(),
        ])
        .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("missing.yaml"), "{}", run.stderr);

    let run = setup.run(&["preview".into(), "list".into()]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no base Deployment"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--base-deployment-id"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_policy_for_main_lets_a_feature_branch_have_its_whole_preview() {
    let setup = setup().await;
    // `default` keeps every Deployment to main; previews heed only `previews:` (none here), in
    // the preview's own check and in the plan of the deploy to it alike.
    let config = "version: 1\nprojects:\n  - name: analytics\n    root: .\n    preview:\n      \
                  development-mode: true\npolicy:\n  default: { branches: [main] }\n";
    setup.write("astro-deploy.yaml", config);

    let created = preview(&setup, "create", &["--branch", "feature/orders", "--wait"]).await;

    assert_eq!(created.code, 0, "{}\n{}", created.stdout, created.stderr);
    let created = created.json();
    assert_eq!(created["created"], true, "{created}");
    assert_eq!(created["deploy"]["state"], "live", "{created}");
}
