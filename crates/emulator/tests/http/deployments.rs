//! Deployments, workspaces and the organization: lists, filters, create, update, delete.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{answer, error_message, new_deployment, start, Harness};

#[tokio::test]
async fn the_seed_is_served() {
    let harness = start().await;
    let base = harness.emulator.base_url();

    let (status, orgs) = harness
        .get(&format!("{base}/platform/v1beta1/organizations"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orgs["organizations"][0]["id"], harness.org().as_str());

    let (status, workspace) = harness
        .get(&harness.org_url(&format!("/workspaces/{}", harness.workspace())))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(workspace["organizationId"], harness.org().as_str());

    let enabled = harness.deployment(&harness.enabled()).await;
    assert_eq!(enabled["name"], "dags-enabled");
    assert_eq!(enabled["isDagDeployEnabled"], true);
    assert_eq!(enabled["isCicdEnforced"], true);
    assert_eq!(enabled["isDevelopmentMode"], true);
    assert_eq!(enabled["status"], "HEALTHY");
    assert_eq!(enabled["astroRuntimeVersion"], "12.2.0");
    let host = base.trim_start_matches("http://");
    assert!(
        enabled["webServerUrl"]
            .as_str()
            .is_some_and(|url| url.starts_with(host)),
        "{enabled}"
    );

    let disabled = harness.deployment(&harness.disabled()).await;
    assert_eq!(disabled["isDagDeployEnabled"], false);
    assert_eq!(disabled["isCicdEnforced"], false);

    let (status, options) = harness.get(&harness.org_url("/deployment-options")).await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<&str> = options["runtimeReleases"]
        .as_array()
        .expect("releases")
        .iter()
        .filter_map(|release| release["version"].as_str())
        .collect();
    assert!(["12.1.0", "12.2.0", "12.3.0", "12.4.0"]
        .iter()
        .all(|v| versions.contains(v)));

    let (status, info) = answer(
        harness
            .http
            .get(format!("{base}/emulator/info"))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info,
        serde_json::to_value(harness.emulator.info()).expect("info as JSON")
    );
}

#[tokio::test]
async fn list_filters_take_repeated_and_comma_separated_values() {
    let harness = start().await;
    let (enabled, disabled) = (harness.enabled(), harness.disabled());
    let list = |query: String| harness.org_url(&format!("/deployments?{query}"));
    let count = |body: &serde_json::Value| body["totalCount"].as_u64();

    let (_, body) = harness
        .get(&list("names=dags-enabled&names=dags-disabled".into()))
        .await;
    assert_eq!(count(&body), Some(2));
    let (_, body) = harness
        .get(&list(format!("deploymentIds={enabled},{disabled}")))
        .await;
    assert_eq!(count(&body), Some(2));
    let (_, body) = harness.get(&list(format!("deploymentIds={enabled}"))).await;
    assert_eq!(count(&body), Some(1));
    let (_, body) = harness
        .get(&list("workspaceIds=cnosuchworkspace".into()))
        .await;
    assert_eq!(count(&body), Some(0));

    let (_, body) = harness
        .get(&list("limit=1&offset=1&sorts=name:asc".into()))
        .await;
    assert_eq!(count(&body), Some(2));
    assert_eq!(body["limit"], 1);
    assert_eq!(body["deployments"][0]["name"], "dags-enabled");

    let (_, body) = harness.get(&harness.org_url("/deployments")).await;
    assert_eq!(body["limit"], 20, "the default limit");

    let (status, body) = harness.get(&list("limit=-1".into())).await;
    error_message(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn created_deployments_start_creating_and_become_healthy() {
    let harness = start().await;
    let url = harness.org_url("/deployments");

    let (status, created) = harness
        .post(&url, new_deployment(&harness.workspace(), "preview"))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "CREATING");
    assert_eq!(created["airflowVersion"], "2.10.3");
    let variables = created["environmentVariables"]
        .as_array()
        .expect("variables");
    assert_eq!(variables[0]["value"], "visible");
    assert!(
        variables[1].get("value").is_none(),
        "secret values are never answered: {created}"
    );

    let id = created["id"].as_str().expect("an id");
    harness.wait_for_status(id, "HEALTHY").await;
}

#[tokio::test]
async fn create_bodies_are_checked() {
    let harness = start().await;
    let url = harness.org_url("/deployments");

    let mut dedicated = new_deployment(&harness.workspace(), "dedicated");
    dedicated["type"] = json!("DEDICATED");
    let (status, body) = harness.post(&url, dedicated).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("only runs STANDARD deployments"),
        "{message}"
    );

    let mut missing = new_deployment(&harness.workspace(), "missing");
    missing
        .as_object_mut()
        .expect("an object")
        .remove("schedulerSize");
    let (status, body) = harness.post(&url, missing).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(message, "missing required field `schedulerSize`");

    let mut old = new_deployment(&harness.workspace(), "old");
    old["astroRuntimeVersion"] = json!("9.1.0");
    let (status, body) = harness.post(&url, old).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("Astro Runtime `9.1.0` is not offered"),
        "{message}"
    );

    let elsewhere = new_deployment("cnosuchworkspace", "elsewhere");
    let (status, body) = harness.post(&url, elsewhere).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("workspace `cnosuchworkspace` not found"),
        "{message}"
    );
}

#[tokio::test]
async fn updates_replace_the_body_and_keep_secret_values() {
    let harness = start().await;
    let (_, created) = harness
        .post(
            &harness.org_url("/deployments"),
            new_deployment(&harness.workspace(), "x"),
        )
        .await;
    let id = created["id"].as_str().expect("an id");
    let url = harness.deployment_url(id, "");

    let mut update = new_deployment(&harness.workspace(), "renamed");
    for field in ["astroRuntimeVersion", "cloudProvider", "region"] {
        update.as_object_mut().expect("an object").remove(field);
    }
    update["environmentVariables"] = json!([{ "key": "SECRET", "isSecret": true }]);
    let (status, updated) = harness.post(&url, update.clone()).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(
        updated["environmentVariables"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        updated["workerQueues"][0]["id"],
        created["workerQueues"][0]["id"]
    );

    update["astroRuntimeVersion"] = json!("12.3.0");
    let (status, body) = harness.post(&url, update).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("`astroRuntimeVersion`"), "{message}");
}

#[tokio::test]
async fn a_second_delete_answers_404() {
    let harness = start().await;
    let (_, created) = harness
        .post(
            &harness.org_url("/deployments"),
            new_deployment(&harness.workspace(), "gone"),
        )
        .await;
    let url = harness.deployment_url(created["id"].as_str().expect("an id"), "");

    let first = harness
        .call(Method::DELETE, &url, &harness.api_token())
        .send()
        .await
        .expect("an answer");
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    assert_eq!(first.text().await.expect("a body"), "");

    let (status, body) = answer(
        harness
            .call(Method::DELETE, &url, &harness.api_token())
            .send()
            .await,
    )
    .await;
    error_message(status, &body, StatusCode::NOT_FOUND);

    let exchanges = harness.emulator.exchanges();
    let last = exchanges.last().expect("recorded");
    assert_eq!(last.method, "DELETE");
    assert_eq!(last.status, 404);
    assert_eq!(
        last.path_template.as_deref(),
        Some("/organizations/{organizationId}/deployments/{deploymentId}")
    );
    assert!(last.path.starts_with("/platform/v1beta1/organizations/"));
}

/// Whether the emulator answered `method path` with one of its Platform handlers, rather than
/// with the 404 for routes it does not serve.
async fn routed(harness: &Harness, method: &str, path: &str) -> bool {
    let url = format!("{}/platform/v1beta1{path}", harness.emulator.base_url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let request = harness.call(method, &url, &harness.api_token());
    let response = request.body("{}").send().await.expect("an answer");
    let body = response.text().await.expect("a body");
    !body.contains("the emulator does not serve")
}

#[tokio::test]
async fn the_router_answers_exactly_the_listed_operations() {
    let harness = start().await;
    let operations = emulator::served_operations();
    // Ids that exist nowhere: the handlers answer 400, 403 or 404, and change nothing.
    let concrete = |template: &str| {
        template
            .replace("{organizationId}", &harness.org())
            .replace("{deploymentId}", "clnosuchdeployment0000000")
            .replace("{deployId}", "clnosuchdeploy00000000000")
            .replace("{workspaceId}", "clnosuchworkspace00000000")
    };

    for (method, template) in operations {
        let path = concrete(template);
        assert!(
            routed(&harness, method, &path).await,
            "listed but not routed: {method} {template}"
        );
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if operations.contains(&(other, template)) {
                continue;
            }
            assert!(
                !routed(&harness, other, &path).await,
                "routed but not listed, so never checked against the spec: {other} {template}"
            );
        }
    }
    assert!(!routed(&harness, "GET", "/organizations/x/clusters").await);
}

#[tokio::test]
async fn every_served_operation_is_listed_once() {
    let operations = emulator::served_operations();

    assert_eq!(operations.len(), 18);
    for (index, operation) in operations.iter().enumerate() {
        assert!(
            !operations[index + 1..].contains(operation),
            "{operation:?} twice"
        );
        assert!(operation.1.starts_with("/organizations"), "{operation:?}");
    }
}
