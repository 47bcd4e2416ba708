//! The vendored Airflow stable REST API spec loads, and its `allOf` bodies (a `Connection` is
//! `ConnectionCollectionItem` plus `password` and `extra`; every collection is its items plus
//! `CollectionInfo`) validate as the union of their parts, still STRICT.

mod common;

use common::show;
use serde_json::json;
use spec_conformance::Spec;

fn airflow() -> Spec {
    let loaded = Spec::load(&common::spec_path(common::AIRFLOW));
    loaded.expect("the vendored Airflow spec loads")
}

#[test]
fn merged_all_of_bodies_take_every_part_and_nothing_else() {
    let spec = airflow();
    assert_eq!(spec.base_path(), "/api/v1");
    assert_eq!(Spec::airflow().operations().len(), spec.operations().len());
    let connection = json!({
        "connection_id": "warehouse", "conn_type": "postgres", "host": "db", "port": 5432,
        "login": "etl", "schema": "dw", "description": null, "extra": "{}", "password": "pw",
    });
    let found = spec.check_request("POST", "/api/v1/connections", &[], Some(&connection));
    assert!(found.is_empty(), "{}", show(&found));

    let mut invented = connection.clone();
    invented["passwd"] = json!("pw");
    let found = spec.check_request("POST", "/api/v1/connections", &[], Some(&invented));
    assert_eq!(found.len(), 1, "{}", show(&found));
    assert!(found[0].message.contains("passwd"), "{}", show(&found));

    let page = json!({ "connections": [{ "connection_id": "a", "conn_type": "http" }],
        "total_entries": 1 });
    let found = spec.check_response("GET", "/api/v1/connections", 200, Some(&page));
    assert!(found.is_empty(), "{}", show(&found));
    let wrong = json!({ "connections": [], "total_entries": "1" });
    let found = spec.check_response("GET", "/api/v1/connections", 200, Some(&wrong));
    assert_eq!(found.len(), 1, "{}", show(&found));
}
