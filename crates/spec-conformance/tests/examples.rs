//! Bodies built from the specs' own `example`s conform: the strict conversion of every schema
//! accepts what the spec itself shows.

mod common;

use common::{concrete, example, raw, show, IAM, PLATFORM};
use serde_json::Value;
use spec_conformance::Spec;

fn check_every_example(spec: &Spec, file: &str) -> Vec<String> {
    let doc = raw(file);
    let mut problems = Vec::new();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths").iter() {
        for (method, op) in item.as_object().expect("path item") {
            let path = concrete(template);
            let method = method.to_uppercase();
            for (status, response) in op["responses"].as_object().expect("responses") {
                let Some(schema) = response.pointer("/content/application~1json/schema") else {
                    continue;
                };
                let status = status.replace("XX", "00").parse::<u16>().expect("a status");
                let violations =
                    spec.check_response(&method, &path, status, Some(&example(&doc, schema)));
                checked += 1;
                if !violations.is_empty() {
                    problems.push(format!(
                        "{method} {template} {status}:{}",
                        show(&violations)
                    ));
                }
            }
            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            let variants = match schema_variants(&doc, schema) {
                Some(variants) => variants,
                None => vec![schema.clone()],
            };
            for variant in variants {
                let mut body = example(&doc, &variant);
                let name = variant["$ref"].as_str().unwrap_or_default();
                if let Some((field, value)) = discriminator(name) {
                    body[field] = Value::from(value);
                }
                let violations = spec.check_request(&method, &path, &[], Some(&body));
                checked += 1;
                if !violations.is_empty() {
                    problems.push(format!("{method} {template} request:{}", show(&violations)));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} examples checked in `{file}`");
    problems
}

/// The field and value that select a variant of the Astro unions. The spec's `example` of the
/// field is the same in every variant (`type: DEDICATED`), so a variant's example must be told
/// which one it is.
fn discriminator(variant: &str) -> Option<(&'static str, &'static str)> {
    let name = variant.rsplit('/').next()?;
    Some(match name {
        "CreateDedicatedDeploymentRequest" | "UpdateDedicatedDeploymentRequest" => {
            ("type", "DEDICATED")
        }
        "CreateHybridDeploymentRequest" | "UpdateHybridDeploymentRequest" => ("type", "HYBRID"),
        "CreateStandardDeploymentRequest" | "UpdateStandardDeploymentRequest" => {
            ("type", "STANDARD")
        }
        "CreateAwsClusterRequest" => ("cloudProvider", "AWS"),
        "CreateAzureClusterRequest" => ("cloudProvider", "AZURE"),
        "CreateGcpClusterRequest" => ("cloudProvider", "GCP"),
        "UpdateDedicatedClusterRequest" => ("clusterType", "DEDICATED"),
        "UpdateHybridClusterRequest" => ("clusterType", "HYBRID"),
        _ => return None,
    })
}

/// The variants of a `oneOf` union, each to be tried on its own.
fn schema_variants(doc: &Value, schema: &Value) -> Option<Vec<Value>> {
    let target = schema.get("$ref")?.as_str()?.trim_start_matches('#');
    doc.pointer(target)?.get("oneOf")?.as_array().cloned()
}

#[test]
fn every_example_of_the_platform_spec_conforms() {
    let problems = check_every_example(&Spec::platform(), PLATFORM);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_example_of_the_iam_spec_conforms() {
    let problems = check_every_example(&Spec::iam(), IAM);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
