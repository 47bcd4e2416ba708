//! Requests: path and query parameters, and bodies, including the deployment unions.

mod common;

use common::show;
use serde_json::{json, Value};
use spec_conformance::{Spec, Violation};

const ORG: &str = "/platform/v1beta1/organizations/clmh59gt0000308lbgswe5fvh";
const DEPLOYS: &str = "/platform/v1beta1/organizations/clmh59gt0000308lbgswe5fvh/deployments/\
                       clmh57jtm000008lb58fe2wmv/deploys";

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn assert_clean(violations: &[Violation]) {
    assert!(violations.is_empty(), "{}", show(violations));
}

/// Asserts exactly one violation, at `location`, saying `message`.
fn assert_one(violations: &[Violation], operation: &str, location: &str, message: &str) {
    assert_eq!(
        violations.len(),
        1,
        "expected one violation, got:{}",
        show(violations)
    );
    let expected = Violation {
        operation: operation.to_string(),
        location: location.to_string(),
        message: message.to_string(),
    };
    assert_eq!(violations[0], expected);
}

#[test]
fn a_create_deploy_request_needs_a_known_type() {
    let spec = Spec::platform();
    for kind in ["DAG_ONLY", "IMAGE_ONLY", "IMAGE_AND_DAG"] {
        let body = json!({ "type": kind, "description": "Deployed by astro-deploy" });
        assert_clean(&spec.check_request("POST", DEPLOYS, &[], Some(&body)));
    }

    let body = json!({ "type": "DAGS" });
    assert_one(
        &spec.check_request("POST", DEPLOYS, &[], Some(&body)),
        "CreateDeploy",
        "request body /type",
        "\"DAGS\" is not one of [\"IMAGE_AND_DAG\",\"IMAGE_ONLY\",\"DAG_ONLY\"] in \
         `CreateDeployRequest`",
    );

    let body = json!({ "type": "DAG_ONLY", "dagOnly": true });
    assert_one(
        &spec.check_request("POST", DEPLOYS, &[], Some(&body)),
        "CreateDeploy",
        "request body /dagOnly",
        "unknown field `dagOnly` in `CreateDeployRequest`",
    );
}

#[test]
fn a_required_body_must_be_sent_and_a_get_takes_none() {
    let spec = Spec::platform();
    assert_one(
        &spec.check_request("POST", DEPLOYS, &[], None),
        "CreateDeploy",
        "request body",
        "required, but the request has none",
    );
    assert_one(
        &spec.check_request("GET", DEPLOYS, &[], Some(&json!({}))),
        "ListDeploys",
        "request body",
        "sent, but the operation takes no request body",
    );
}

#[test]
fn an_unknown_query_parameter_is_a_violation() {
    let spec = Spec::platform();
    let path = format!("{ORG}/deployments");
    assert_one(
        &spec.check_request("GET", &path, &query(&[("pageSize", "10")]), None),
        "ListDeployments",
        "query parameter `pageSize`",
        "unknown query parameter `pageSize` (declared: `deploymentIds`, `names`, \
         `workspaceIds`, `offset`, `limit`, `sorts`)",
    );
    assert_one(
        &spec.check_request(
            "GET",
            &format!("{DEPLOYS}/d1"),
            &query(&[("limit", "1")]),
            None,
        ),
        "GetDeploy",
        "query parameter `limit`",
        "unknown query parameter `limit` (the operation declares none)",
    );
}

#[test]
fn every_limit_parameter_must_be_an_integer() {
    let mut checked = 0;
    for spec in [Spec::platform(), Spec::iam()] {
        for op in spec.operations() {
            let path = common::concrete(&op.path);
            let ok = spec.check_request(&op.method, &path, &query(&[("limit", "20")]), None);
            if ok
                .iter()
                .any(|v| v.message.starts_with("unknown query parameter"))
            {
                continue;
            }
            assert_clean(&ok);

            let bad = spec.check_request(&op.method, &path, &query(&[("limit", "abc")]), None);
            let location = "query parameter `limit`";
            assert_one(&bad, &op.operation_id, location, "`abc` is not an integer");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 11,
        "list operations with `limit`: 5 of the platform, 6 of IAM"
    );
}

#[test]
fn query_values_fit_their_schema() {
    let spec = Spec::platform();
    let path = format!("{ORG}/deployments");
    let list = |pairs: &[(&str, &str)]| spec.check_request("GET", &path, &query(pairs), None);

    assert_clean(&list(&[("offset", "0"), ("limit", "1000")]));
    assert_one(
        &list(&[("offset", "-1")]),
        "ListDeployments",
        "query parameter `offset`",
        "-1 is less than the minimum of 0",
    );
    assert_one(
        &list(&[("limit", "1"), ("limit", "2")]),
        "ListDeployments",
        "query parameter `limit`",
        "given 2 times, but it is not an array and takes one value",
    );
    assert_one(
        &list(&[("limit", "")]),
        "ListDeployments",
        "query parameter `limit`",
        "`` is not an integer",
    );

    let organizations =
        |pairs: &[(&str, &str)]| spec.check_request("GET", "/organizations", &query(pairs), None);
    assert_one(
        &organizations(&[("limit", "1001")]),
        "ListOrganizations",
        "query parameter `limit`",
        "1001 is greater than the maximum of 1000",
    );
    assert_one(
        &organizations(&[("product", "CLOUD")]),
        "ListOrganizations",
        "query parameter `product`",
        "\"CLOUD\" is not one of [\"HOSTED\",\"HYBRID\"]",
    );
    assert_one(
        &spec.check_request("GET", ORG, &query(&[("isLookUpOnly", "yes")]), None),
        "GetOrganization",
        "query parameter `isLookUpOnly`",
        "`yes` is not a boolean (`true` or `false`)",
    );
    assert_clean(&spec.check_request("GET", ORG, &query(&[("isLookUpOnly", "true")]), None));
}

#[test]
fn array_parameters_take_repeated_keys_or_commas() {
    let spec = Spec::platform();
    let path = format!("{ORG}/deployments");
    let list = |pairs: &[(&str, &str)]| spec.check_request("GET", &path, &query(pairs), None);

    assert_clean(&list(&[("sorts", "name:asc,createdAt:desc")]));
    assert_clean(&list(&[("sorts", "name:asc"), ("sorts", "updatedAt:desc")]));
    assert_clean(&list(&[("workspaceIds", "w1,w2"), ("workspaceIds", "w3")]));

    let violations = list(&[("sorts", "name:asc"), ("sorts", "name:up")]);
    assert_eq!(violations.len(), 1, "{}", show(&violations));
    assert_eq!(violations[0].location, "query parameter `sorts` /1");
    assert!(violations[0]
        .message
        .starts_with("\"name:up\" is not one of [\"name:asc\""));
}

#[test]
fn a_required_query_parameter_must_be_given() {
    let spec = Spec::platform();
    let path = format!("{ORG}/cluster-options");
    assert_clean(&spec.check_request("GET", &path, &query(&[("type", "DEDICATED")]), None));
    assert_one(
        &spec.check_request("GET", &path, &query(&[("provider", "AWS")]), None),
        "GetClusterOptions",
        "query parameter `type`",
        "required, but missing",
    );
}

/// A standard deployment as `astro-deploy` would create it.
fn standard_deployment() -> Value {
    json!({
        "type": "STANDARD",
        "name": "etl-prod",
        "description": "Nightly ETL",
        "workspaceId": "clmh8ol3x000008jo656y4285",
        "astroRuntimeVersion": "11.7.0",
        "executor": "CELERY",
        "cloudProvider": "AWS",
        "region": "us-east-1",
        "schedulerSize": "SMALL",
        "isCicdEnforced": true,
        "isDagDeployEnabled": true,
        "isHighAvailability": false,
        "isDevelopmentMode": false,
        "defaultTaskPodCpu": "0.25",
        "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10",
        "resourceQuotaMemory": "20Gi",
        "workerQueues": [{
            "name": "default",
            "isDefault": true,
            "astroMachine": "A5",
            "minWorkerCount": 1,
            "maxWorkerCount": 10,
            "workerConcurrency": 5,
        }],
        "environmentVariables": [{ "key": "ENV", "value": "prod", "isSecret": false }],
    })
}

/// A dedicated deployment: the standard one on a dedicated cluster, without the region.
fn dedicated_deployment() -> Value {
    let mut body = standard_deployment();
    let object = body.as_object_mut().expect("an object");
    object.remove("cloudProvider");
    object.remove("region");
    body["type"] = json!("DEDICATED");
    body["clusterId"] = json!("clmh9g6zj000008mg77if5wa2");
    body
}

fn hybrid_deployment() -> Value {
    json!({
        "type": "HYBRID",
        "name": "etl-hybrid",
        "workspaceId": "clmh8ol3x000008jo656y4285",
        "clusterId": "clmh9grqp000108mg4r2l5ok4",
        "astroRuntimeVersion": "11.7.0",
        "executor": "KUBERNETES",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "scheduler": { "au": 5, "replicas": 1 },
        "taskPodNodePoolId": "clmh9hbjb000008m9eutqg68h",
    })
}

fn create_deployment(body: &Value) -> Vec<Violation> {
    Spec::platform().check_request("POST", &format!("{ORG}/deployments"), &[], Some(body))
}

#[test]
fn each_create_deployment_variant_validates_on_its_own() {
    assert_clean(&create_deployment(&standard_deployment()));
    assert_clean(&create_deployment(&dedicated_deployment()));
    assert_clean(&create_deployment(&hybrid_deployment()));

    let mut standard_on_a_cluster = standard_deployment();
    standard_on_a_cluster["clusterId"] = json!("clmh93n2n000008ms3tv79voh");
    assert_clean(&create_deployment(&standard_on_a_cluster));
}

#[test]
fn a_dedicated_body_is_held_to_the_dedicated_variant() {
    let mut body = dedicated_deployment();
    body["region"] = json!("us-east-1");
    assert_one(
        &create_deployment(&body),
        "CreateDeployment",
        "request body /region",
        "unknown field `region` in `CreateDedicatedDeploymentRequest`",
    );

    let mut body = dedicated_deployment();
    body.as_object_mut().and_then(|o| o.remove("clusterId"));
    assert_one(
        &create_deployment(&body),
        "CreateDeployment",
        "request body",
        "\"clusterId\" is a required property in `CreateDedicatedDeploymentRequest`",
    );
}

#[test]
fn a_standard_body_with_a_hybrid_field_names_it() {
    let mut body = standard_deployment();
    body["taskPodNodePoolId"] = json!("clmh9hbjb000008m9eutqg68h");
    assert_one(
        &create_deployment(&body),
        "CreateDeployment",
        "request body /taskPodNodePoolId",
        "unknown field `taskPodNodePoolId` in `CreateStandardDeploymentRequest`",
    );

    let mut body = standard_deployment();
    body["workerQueues"][0]["astro_machine"] = json!("A5");
    let violations = create_deployment(&body);
    assert!(
        violations.iter().any(
            |v| v.location == "request body /workerQueues/0/astro_machine"
                && v.message
                    == "unknown field `astro_machine` in `WorkerQueueRequest` (did you \
                             mean `astroMachine`?)"
        ),
        "{}",
        show(&violations)
    );
}

#[test]
fn the_deployment_type_must_be_given_and_known() {
    let mut body = standard_deployment();
    body["type"] = json!("SERVERLESS");
    assert_one(
        &create_deployment(&body),
        "CreateDeployment",
        "request body /type",
        "\"SERVERLESS\" is not one of [\"DEDICATED\",\"HYBRID\",\"STANDARD\"] in \
         `CreateDeploymentRequest`",
    );

    let mut body = standard_deployment();
    body.as_object_mut().and_then(|o| o.remove("type"));
    assert_one(
        &create_deployment(&body),
        "CreateDeployment",
        "request body",
        "\"type\" is a required property in `CreateDeploymentRequest`",
    );
}

#[test]
fn update_bodies_of_identical_variants_are_not_ambiguous() {
    // `UpdateDedicatedDeploymentRequest` and `UpdateStandardDeploymentRequest` declare the
    // same fields: a plain `oneOf` would find every such body valid twice, and refuse it.
    let path = format!("{ORG}/deployments/clmh57jtm000008lb58fe2wmv");
    let spec = Spec::platform();
    for kind in ["STANDARD", "DEDICATED"] {
        let mut body = dedicated_deployment();
        let object = body.as_object_mut().expect("an object");
        for create_only in ["clusterId", "astroRuntimeVersion"] {
            object.remove(create_only);
        }
        body["type"] = json!(kind);
        assert_clean(&spec.check_request("POST", &path, &[], Some(&body)));
    }
}

#[test]
fn an_update_cluster_body_without_its_type_is_decided_by_shape() {
    let path = format!("{ORG}/clusters/clmh9g6zj000008mg77if5wa2");
    let spec = Spec::platform();
    let dedicated = json!({ "name": "prod", "k8sTags": [{ "key": "team", "value": "data" }] });
    assert_clean(&spec.check_request("POST", &path, &[], Some(&dedicated)));
    let hybrid = json!({ "clusterType": "HYBRID", "workspaceIds": ["w1"] });
    assert_clean(&spec.check_request("POST", &path, &[], Some(&hybrid)));

    let neither = json!({ "workspaceIds": ["w1"] });
    let violations = spec.check_request("POST", &path, &[], Some(&neither));
    assert_eq!(violations.len(), 1, "{}", show(&violations));
    assert_eq!(
        violations[0].message,
        "{\"workspaceIds\":[\"w1\"]} is not valid under any of the schemas listed in the \
         'oneOf' keyword in `UpdateClusterRequest`"
    );
}

#[test]
fn path_parameters_come_from_the_path() {
    let spec = Spec::platform();
    assert_eq!(
        spec.check_request("GET", "/organizations//deployments", &[], None)[0].message,
        "no operation of `platform-v1beta1.yaml` matches `GET /organizations//deployments`"
    );
    assert_clean(&spec.check_request("GET", &format!("{ORG}/deployments"), &[], None));
}

#[test]
fn a_query_string_left_in_the_path_is_checked() {
    let spec = Spec::platform();
    let path = format!("{ORG}/deployments?limit=abc&sorts=name%3Aasc");
    assert_one(
        &spec.check_request("GET", &path, &[], None),
        "ListDeployments",
        "query parameter `limit`",
        "`abc` is not an integer",
    );
}
