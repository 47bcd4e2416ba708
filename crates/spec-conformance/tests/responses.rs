//! Responses: status codes, bodies and the strict field checks, on realistic Astro bodies.

mod common;

use common::{component_example, raw, show, PLATFORM};
use serde_json::{json, Value};
use spec_conformance::{Spec, Violation};

const DEPLOYMENT: &str = "/platform/v1beta1/organizations/clmh59gt0000308lbgswe5fvh/deployments/\
                          clmh57jtm000008lb58fe2wmv";

/// A deployment as Astro returns it: the required fields and a few optional ones.
fn deployment() -> Value {
    json!({
        "id": "clmh57jtm000008lb58fe2wmv",
        "name": "My deployment",
        "organizationId": "clmh59gt0000308lbgswe5fvh",
        "workspaceId": "clmh58o7d000108lb74ktc9o64",
        "workspaceName": "my-workspace",
        "namespace": "weightless-diameter-8927",
        "airflowVersion": "2.7.2",
        "astroRuntimeVersion": "9.1.0",
        "runtimeVersion": "9.1.0",
        "imageRepository": "images.astronomer.cloud/clmh59gt0000308lbgswe5fvh/weightless-8927",
        "imageTag": "deploy-2024-08-07T10-00",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "isHighAvailability": false,
        "type": "STANDARD",
        "executor": "CELERY",
        "cloudProvider": "AWS",
        "region": "us-east-1",
        "status": "HEALTHY",
        "schedulerCpu": "1",
        "schedulerMemory": "2Gi",
        "schedulerReplicas": 1,
        "schedulerSize": "SMALL",
        "webServerCpu": "0.5",
        "webServerMemory": "1Gi",
        "webServerReplicas": 1,
        "webServerUrl": "myorg.astronomer.run/d8fe2wmv?orgId=org_edxLzpFcLrgEfpD5",
        "webServerAirflowApiUrl": "myorg.astronomer.run/d8fe2wmv/api/v1",
        "webServerIngressHostname": "myorg.astronomer.run/d8fe2wmv",
        "dagTarballVersion": "2024-08-07T10:00:00.5898930Z",
        "createdAt": "2024-08-07T09:58:12Z",
        "updatedAt": "2024-08-07T10:00:01.123+02:00",
        "createdBy": { "id": "clm8qv74h000008mlf08scq7k", "subjectType": "USER",
                       "username": "user1@company.com", "fullName": "Jane Doe" },
        "updatedBy": { "id": "clm8t5u4q000008jq4qoc3036", "subjectType": "SERVICEKEY",
                       "apiTokenName": "ci-token" },
    })
}

fn get_deployment(body: &Value) -> Vec<Violation> {
    Spec::platform().check_response("GET", DEPLOYMENT, 200, Some(body))
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
fn a_valid_deployment_passes() {
    let violations = get_deployment(&deployment());
    assert!(violations.is_empty(), "{}", show(&violations));

    let full = component_example(&raw(PLATFORM), "Deployment");
    let violations = get_deployment(&full);
    assert!(
        violations.is_empty(),
        "the spec's own example:{}",
        show(&violations)
    );
}

#[test]
fn a_misspelled_field_is_named_with_a_suggestion() {
    let mut body = deployment();
    body["isDagDeploysEnabled"] = json!(true);
    assert_one(
        &get_deployment(&body),
        "GetDeployment",
        "response 200 body /isDagDeploysEnabled",
        "unknown field `isDagDeploysEnabled` in `Deployment` (did you mean `isDagDeployEnabled`?)",
    );

    let violation = &get_deployment(&body)[0];
    assert_eq!(
        violation.to_string(),
        "GetDeployment: response 200 body /isDagDeploysEnabled: unknown field \
         `isDagDeploysEnabled` in `Deployment` (did you mean `isDagDeployEnabled`?)"
    );
}

#[test]
fn a_renamed_field_is_both_unknown_and_missing() {
    let mut body = deployment();
    let value = body
        .as_object_mut()
        .and_then(|o| o.remove("isDagDeployEnabled"))
        .expect("the field is there");
    body["isDagDeploysEnabled"] = value;

    let violations = get_deployment(&body);
    let mut messages: Vec<(&str, &str)> = violations
        .iter()
        .map(|v| (v.location.as_str(), v.message.as_str()))
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            (
                "response 200 body",
                "\"isDagDeployEnabled\" is a required property in `Deployment`"
            ),
            (
                "response 200 body /isDagDeploysEnabled",
                "unknown field `isDagDeploysEnabled` in `Deployment` (did you mean \
                 `isDagDeployEnabled`?)"
            ),
        ]
    );
}

#[test]
fn an_invented_field_in_a_nested_object_is_located() {
    let mut body = deployment();
    body["createdBy"]["email"] = json!("user1@company.com");
    assert_one(
        &get_deployment(&body),
        "GetDeployment",
        "response 200 body /createdBy/email",
        "unknown field `email` in `BasicSubjectProfile`",
    );
}

#[test]
fn a_wrong_enum_value_is_a_violation() {
    let mut body = deployment();
    body["status"] = json!("RUNNING");
    assert_one(
        &get_deployment(&body),
        "GetDeployment",
        "response 200 body /status",
        "\"RUNNING\" is not one of [\"CREATING\",\"DEPLOYING\",\"HEALTHY\",\"UNHEALTHY\",\
         \"UNKNOWN\",\"HIBERNATING\"] in `Deployment`",
    );
}

#[test]
fn a_missing_required_field_is_a_violation() {
    let mut body = deployment();
    body.as_object_mut().and_then(|o| o.remove("namespace"));
    assert_one(
        &get_deployment(&body),
        "GetDeployment",
        "response 200 body",
        "\"namespace\" is a required property in `Deployment`",
    );
}

#[test]
fn created_at_must_be_rfc3339() {
    for bad in [
        "yesterday",
        "2024-08-07 09:58:12Z",
        "2024-08-07T09:58:12",
        "2024-13-07T09:58:12Z",
    ] {
        let mut body = deployment();
        body["createdAt"] = json!(bad);
        assert_one(
            &get_deployment(&body),
            "GetDeployment",
            "response 200 body /createdAt",
            &format!("\"{bad}\" is not a \"date-time\" in `Deployment`"),
        );
    }
}

#[test]
fn null_is_not_a_string() {
    let mut body = deployment();
    body["statusReason"] = Value::Null;
    assert_one(
        &get_deployment(&body),
        "GetDeployment",
        "response 200 body /statusReason",
        "null is not of type \"string\" in `Deployment`",
    );
}

#[test]
fn errors_in_a_list_are_located_by_index() {
    let mut second = deployment();
    second["status"] = json!("RUNNING");
    let page = json!({
        "deployments": [deployment(), second],
        "limit": 20,
        "offset": 0,
        "totalCount": 2,
    });
    let path = "/organizations/clmh59gt0000308lbgswe5fvh/deployments";
    let violations = Spec::platform().check_response("GET", path, 200, Some(&page));
    assert_eq!(violations.len(), 1, "{}", show(&violations));
    assert_eq!(violations[0].operation, "ListDeployments");
    assert_eq!(
        violations[0].location,
        "response 200 body /deployments/1/status"
    );
}

#[test]
fn an_undeclared_status_is_a_violation() {
    let error = json!({ "message": "teapot", "requestId": "r1", "statusCode": 418 });
    assert_one(
        &Spec::platform().check_response("GET", DEPLOYMENT, 418, Some(&error)),
        "GetDeployment",
        "response 418",
        "status 418 is not declared (declared: 200, 400, 401, 403, 404, 500)",
    );

    let created = Spec::platform().check_response("POST", DEPLOYMENT, 201, Some(&deployment()));
    assert_one(
        &created,
        "UpdateDeployment",
        "response 201",
        "status 201 is not declared (declared: 200, 400, 401, 403, 404, 500)",
    );
}

#[test]
fn a_declared_error_status_needs_an_error_body() {
    let spec = Spec::platform();
    let error = json!({ "message": "no such deployment", "requestId": "r1", "statusCode": 404 });
    let violations = spec.check_response("GET", DEPLOYMENT, 404, Some(&error));
    assert!(violations.is_empty(), "{}", show(&violations));

    assert_one(
        &spec.check_response("GET", DEPLOYMENT, 404, None),
        "GetDeployment",
        "response 404 body",
        "declared as `application/json`, but missing",
    );

    let wrong = json!({ "message": "no such deployment", "requestId": "r1", "status": 404 });
    let violations = spec.check_response("GET", DEPLOYMENT, 404, Some(&wrong));
    let mut found: Vec<String> = violations.iter().map(ToString::to_string).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "GetDeployment: response 404 body /status: unknown field `status` in `Error` (did \
             you mean `statusCode`?)",
            "GetDeployment: response 404 body: \"statusCode\" is a required property in `Error`",
        ]
    );
}

#[test]
fn status_ranges_are_declared_statuses() {
    let spec = Spec::platform();
    let path = format!("{DEPLOYMENT}/hibernation-override");
    let error = json!({ "message": "not hibernating", "requestId": "r1", "statusCode": 409 });
    let violations = spec.check_response("DELETE", &path, 409, Some(&error));
    assert!(
        violations.is_empty(),
        "4XX covers 409:{}",
        show(&violations)
    );

    assert_one(
        &spec.check_response("DELETE", &path, 302, None),
        "DeleteDeploymentHibernationOverride",
        "response 302",
        "status 302 is not declared (declared: 204, 4XX, 5XX)",
    );
}

#[test]
fn a_204_has_no_body() {
    let spec = Spec::platform();
    let violations = spec.check_response("DELETE", DEPLOYMENT, 204, None);
    assert!(violations.is_empty(), "{}", show(&violations));

    assert_one(
        &spec.check_response("DELETE", DEPLOYMENT, 204, Some(&json!({}))),
        "DeleteDeployment",
        "response 204 body",
        "status 204 has no content, got a body",
    );
}

#[test]
fn a_200_without_its_body_is_a_violation() {
    assert_one(
        &Spec::platform().check_response("GET", DEPLOYMENT, 200, None),
        "GetDeployment",
        "response 200 body",
        "declared as `application/json`, but missing",
    );
}
