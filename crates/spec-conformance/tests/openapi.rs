//! OpenAPI 3.0 features the Astro specs use little or not at all, on a small spec of their own.

mod common;

use common::show;
use serde_json::{json, Value};
use spec_conformance::{Spec, SpecError, Violation};

const SPEC: &str = r##"
openapi: 3.0.3
info: { title: features, version: "1" }
servers: [{ url: /api }]
components:
  parameters:
    PetId: { name: petId, in: path, required: true, schema: { type: string, x-go-name: ID } }
  requestBodies:
    Pet:
      required: true
      content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } }
  responses:
    Problem:
      description: a problem
      content: { application/problem+json: { schema: { $ref: "#/components/schemas/Problem" } } }
  schemas:
    Pet:
      type: object
      required: [kind, name]
      x-internal: true
      properties:
        kind: { type: string, enum: [CAT, DOG] }
        name: { type: string, example: Tom }
        example: { type: string, description: a field named like a keyword }
        nickname: { type: string, nullable: true }
        size: { type: string, enum: [S, L], nullable: true }
        owner: { $ref: "#/components/schemas/Owner" }
        weight: { type: number, minimum: 0, exclusiveMinimum: true }
        labels: { type: object, additionalProperties: { type: string } }
        extra: { type: object }
        meta: { type: object, additionalProperties: true, properties: { v: { type: integer } } }
        adopted: { type: string, format: date-time, readOnly: true }
    Owner:
      type: object
      nullable: true
      properties: { name: { type: string } }
    Cat:
      type: object
      required: [petType]
      properties: { petType: { type: string }, purrs: { type: boolean } }
    Dog:
      type: object
      required: [petType]
      properties: { petType: { type: string }, barks: { type: boolean } }
    Animal:
      oneOf: [{ $ref: "#/components/schemas/Cat" }, { $ref: "#/components/schemas/Dog" }]
      discriminator:
        propertyName: petType
        mapping: { kitty: "#/components/schemas/Cat" }
    Problem:
      type: object
      properties: { title: { type: string } }
paths:
  /pets/{petId}:
    parameters: [{ $ref: "#/components/parameters/PetId" }]
    put:
      operationId: PutPet
      requestBody: { $ref: "#/components/requestBodies/Pet" }
      responses:
        "200":
          description: OK
          content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } }
        default: { $ref: "#/components/responses/Problem" }
  /animals:
    post:
      operationId: AddAnimal
      requestBody:
        content: { application/json: { schema: { $ref: "#/components/schemas/Animal" } } }
      responses:
        "201": { description: Created, content: { text/plain: { schema: { type: string } } } }
"##;

fn spec() -> Spec {
    Spec::parse("features.yaml", SPEC).expect("the feature spec parses")
}

fn put_pet(body: &Value) -> Vec<Violation> {
    spec().check_request("PUT", "/api/pets/tom", &[], Some(body))
}

fn messages(violations: &[Violation]) -> Vec<String> {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.location, v.message))
        .collect()
}

#[test]
fn refs_to_parameters_bodies_and_responses_are_followed() {
    let spec = spec();
    let pet = json!({ "kind": "CAT", "name": "Tom" });
    assert!(put_pet(&pet).is_empty(), "{}", show(&put_pet(&pet)));
    assert_eq!(
        messages(&spec.check_request("PUT", "/api/pets/tom", &[], None)),
        ["request body: required, but the request has none"]
    );
    let problem = json!({ "title": "gone", "status": 410 });
    assert_eq!(
        messages(&spec.check_response("PUT", "/api/pets/tom", 410, Some(&problem))),
        ["response 410 body /status: unknown field `status` in `Problem`"],
        "`default` covers 410 and `application/problem+json` is JSON"
    );
}

#[test]
fn nullable_allows_null_and_only_there() {
    let pet =
        json!({ "kind": "DOG", "name": "Rex", "nickname": null, "size": null, "owner": null });
    assert!(put_pet(&pet).is_empty(), "{}", show(&put_pet(&pet)));

    let pet = json!({ "kind": "DOG", "name": null, "size": "M" });
    assert_eq!(
        messages(&put_pet(&pet)),
        [
            "request body /name: null is not of type \"string\" in `Pet`",
            "request body /size: \"M\" is not one of [\"S\",\"L\",null] in `Pet`",
        ]
    );
}

#[test]
fn keyword_names_are_field_names_inside_properties() {
    let pet = json!({ "kind": "CAT", "name": "Tom", "example": "yes" });
    assert!(put_pet(&pet).is_empty(), "{}", show(&put_pet(&pet)));
    let pet = json!({ "kind": "CAT", "name": "Tom", "example": 1 });
    assert_eq!(
        messages(&put_pet(&pet)),
        ["request body /example: 1 is not of type \"string\" in `Pet`"]
    );
}

#[test]
fn declared_additional_properties_are_respected() {
    let pet = json!({
        "kind": "CAT", "name": "Tom",
        "labels": { "colour": "grey" },
        "extra": { "anything": [1, 2] },
        "meta": { "v": 1, "free": true },
    });
    assert!(put_pet(&pet).is_empty(), "{}", show(&put_pet(&pet)));

    let pet = json!({ "kind": "CAT", "name": "Tom", "labels": { "age": 3 } });
    assert_eq!(
        messages(&put_pet(&pet)),
        ["request body /labels/age: 3 is not of type \"string\" in `Pet`"]
    );
}

#[test]
fn boolean_exclusive_minimum_is_honoured() {
    let pet = json!({ "kind": "CAT", "name": "Tom", "weight": 0 });
    assert_eq!(
        messages(&put_pet(&pet)),
        ["request body /weight: 0 is less than or equal to the minimum of 0 in `Pet`"]
    );
    let pet = json!({ "kind": "CAT", "name": "Tom", "weight": 0.5 });
    assert!(put_pet(&pet).is_empty());
}

#[test]
fn a_declared_discriminator_and_its_mapping_decide_the_variant() {
    let spec = spec();
    let add = |body: Value| spec.check_request("POST", "/api/animals", &[], Some(&body));

    assert!(add(json!({ "petType": "kitty", "purrs": true })).is_empty());
    assert!(add(json!({ "petType": "Dog", "barks": true })).is_empty());
    assert_eq!(
        messages(&add(json!({ "petType": "Dog", "purrs": true }))),
        ["request body /purrs: unknown field `purrs` in `Dog`"]
    );
    assert_eq!(
        messages(&add(json!({ "petType": "Cow" }))),
        ["request body /petType: \"Cow\" is not one of [\"kitty\",\"Dog\"] in `Animal`"]
    );
}

#[test]
fn an_optional_body_may_be_absent_and_other_media_types_are_not_validated() {
    let spec = spec();
    assert!(spec
        .check_request("POST", "/api/animals", &[], None)
        .is_empty());
    let text = json!("created");
    assert!(spec
        .check_response("POST", "/api/animals", 201, Some(&text))
        .is_empty());
    assert_eq!(
        messages(&spec.check_response("POST", "/api/animals", 201, None)),
        ["response 201 body: declared as `text/plain`, but missing"]
    );
}

fn parse_error(yaml: &str) -> String {
    match Spec::parse("bad.yaml", yaml) {
        Ok(spec) => panic!("{spec:?} should not parse"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn unusable_documents_are_refused_with_the_place_at_fault() {
    assert_eq!(
        parse_error("openapi: 3.1.0\npaths: {}\n"),
        "reading `bad.yaml` as OpenAPI 3.0: `/openapi`: version `3.1.0` is not OpenAPI 3.0.x"
    );
    assert_eq!(
        parse_error(
            "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        \"200\":\n\
             \x20         content: { application/json: { schema: { $ref: '#/components/schemas/\
             Nope' } } }\n"
        ),
        "reading `bad.yaml` as OpenAPI 3.0: `/paths/~1a/get/responses/200/content/\
         application~1json/schema`: `$ref` to unknown schema `Nope`"
    );
    assert_eq!(
        parse_error("openapi: 3.0.3\npaths:\n  /a/{id}:\n    get:\n      responses: {}\n"),
        "reading `bad.yaml` as OpenAPI 3.0: `/paths/~1a~1{id}/get`: path parameter `id` is not \
         declared"
    );
    assert!(parse_error("openapi: [").starts_with("parsing `bad.yaml` as YAML"));
}

#[test]
fn a_missing_file_is_a_read_error() {
    let path = std::path::Path::new("/nonexistent/spec.yaml");
    match Spec::load(path) {
        Err(error @ SpecError::Read { .. }) => {
            assert_eq!(error.to_string(), "reading `/nonexistent/spec.yaml`");
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}
