//! Operations: every one of both specs is unique and found from a concrete path.

mod common;

use std::collections::HashSet;

use common::concrete;
use spec_conformance::Spec;

fn both() -> [Spec; 2] {
    [Spec::platform(), Spec::iam()]
}

#[test]
fn base_paths_come_from_the_first_server() {
    assert_eq!(Spec::platform().base_path(), "/platform/v1beta1");
    assert_eq!(Spec::iam().base_path(), "/iam/v1beta1");
}

#[test]
fn the_specs_have_the_expected_number_of_operations() {
    assert_eq!(Spec::platform().operations().len(), 28);
    assert_eq!(Spec::iam().operations().len(), 31);
}

#[test]
fn every_operation_is_unique_and_found_by_a_concrete_path() {
    for spec in both() {
        let operations = spec.operations();
        let mut ids = HashSet::new();
        let mut shapes = HashSet::new();
        for op in &operations {
            assert!(
                ids.insert(op.operation_id.clone()),
                "{op}: duplicate operationId"
            );
            let shape: String = concrete(&op.path).replace("p-", "{}");
            let erased: String = shape
                .split('{')
                .map(|s| s.split_once('}').map_or(s, |(_, r)| r))
                .collect();
            assert!(
                shapes.insert((op.method.clone(), erased)),
                "{op}: ambiguous with another"
            );

            let path = concrete(&op.path);
            let with_base = format!("{}{path}", spec.base_path());
            for (method, path) in [
                (op.method.clone(), &path),
                (op.method.to_lowercase(), &with_base),
            ] {
                let found = spec.operation(&method, path);
                assert_eq!(
                    found.as_ref(),
                    Some(op),
                    "{} {path} in `{}`",
                    op.method,
                    spec.name()
                );
            }
        }
    }
}

#[test]
fn literal_segments_are_preferred_over_parameters() {
    let spec = Spec::platform();
    let options = spec.operation("GET", "/organizations/o1/deployment-options");
    assert_eq!(
        options.map(|o| o.operation_id),
        Some("GetDeploymentOptions".into())
    );
    let deployment = spec.operation("GET", "/organizations/o1/deployments/d1");
    assert_eq!(
        deployment.map(|o| o.operation_id),
        Some("GetDeployment".into())
    );

    let spec = Spec::parse(
        "literal.yaml",
        r#"
openapi: 3.0.3
info: { title: t, version: "1" }
servers: [{ url: "https://example.test/v1/" }]
paths:
  /deployments/{deploymentId}:
    get:
      operationId: GetDeployment
      parameters: [{ name: deploymentId, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: OK } }
  /deployments/options:
    get:
      operationId: GetOptions
      responses: { "200": { description: OK } }
"#,
    )
    .expect("the spec parses");
    assert_eq!(spec.base_path(), "/v1");
    let id = |path: &str| spec.operation("GET", path).map(|o| o.operation_id);
    assert_eq!(id("/v1/deployments/options"), Some("GetOptions".into()));
    assert_eq!(id("/v1/deployments/d1"), Some("GetDeployment".into()));
    assert_eq!(
        id("/v1/deployments/"),
        None,
        "a parameter takes a non-empty segment"
    );
    assert_eq!(id("/v1/deployments/d1/x"), None);
}

#[test]
fn templates_differing_only_in_parameter_names_are_told_apart_by_method() {
    let spec = Spec::iam();
    let id = |method: &str| {
        spec.operation(method, "/organizations/o/roles/r")
            .map(|o| o.operation_id)
    };
    assert_eq!(id("GET"), Some("GetCustomRole".into()));
    assert_eq!(id("POST"), Some("UpdateCustomRole".into()));
    assert_eq!(id("DELETE"), Some("DeleteCustomRole".into()));
}

#[test]
fn an_unknown_operation_is_a_violation() {
    let spec = Spec::platform();
    assert_eq!(spec.operation("GET", "/organizations/o1/nonsense"), None);

    let violations = spec.check_request("GET", "/organizations/o1/nonsense", &[], None);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].operation, "GET /organizations/o1/nonsense");
    assert_eq!(violations[0].location, "request");
    assert_eq!(
        violations[0].message,
        "no operation of `platform-v1beta1.yaml` matches `GET /organizations/o1/nonsense`"
    );

    let violations = spec.check_response("PUT", "/organizations/o1/deployments/d1", 200, None);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].location, "response 200");
    assert_eq!(
        violations[0].message,
        "`/organizations/o1/deployments/d1` matches a path of `platform-v1beta1.yaml` but not \
         with method PUT (it takes GET, POST, DELETE)"
    );
}

#[test]
fn ambiguous_templates_are_refused_at_load() {
    let error = Spec::parse(
        "ambiguous.yaml",
        r#"
openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /a/{x}:
    get:
      parameters: [{ name: x, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: OK } }
  /a/{y}:
    get:
      parameters: [{ name: y, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: OK } }
"#,
    )
    .expect_err("two GET templates of one shape are ambiguous");
    assert_eq!(
        error.to_string(),
        "reading `ambiguous.yaml` as OpenAPI 3.0: `/paths`: GET `/a/{x}` and `/a/{y}` match the \
         same paths"
    );
}

#[test]
fn a_spec_can_be_shared_between_test_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Spec>();
    let a = Spec::platform();
    let b = std::thread::spawn(Spec::platform)
        .join()
        .expect("the thread finishes");
    assert_eq!(a.operations(), b.operations());
}
