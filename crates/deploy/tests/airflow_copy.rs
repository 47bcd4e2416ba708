//! Copying Airflow connections, variables and pools from a base Deployment to a preview, end to
//! end against the emulator's Airflow REST API: what is created, updated and kept, a re-run
//! that changes nothing, and a preview that answers 503 until it is up.

mod common;

use std::time::Duration;

use deploy::preview::airflow_copy::{copy_airflow_objects, CopyError, CopyOptions, KindReport};
use emulator::{AirflowConnection, AirflowPool, AirflowVariable, RunningEmulator};

const ALL: CopyOptions = CopyOptions {
    connections: true,
    variables: true,
    pools: true,
};

/// More variables than one page holds, so that the copy has to follow `total_entries`.
const VARIABLES: usize = 105;

fn seed_base(emulator: &RunningEmulator, base: &str) {
    let mut warehouse = AirflowConnection::new("warehouse", "postgres");
    warehouse.host = Some("db.internal".into());
    warehouse.port = Some(5432);
    warehouse.password = Some("base-secret".into());
    warehouse.extra = Some(r#"{"sslmode": "require"}"#.into());
    let mut s3 = AirflowConnection::new("s3", "aws");
    s3.password = Some("aws-secret".into());
    for connection in [warehouse, s3] {
        emulator
            .put_airflow_connection(base, connection)
            .expect("the base");
    }

    for i in 0..VARIABLES {
        let variable = AirflowVariable::new(&format!("var_{i:03}"), &format!("value {i}"));
        emulator
            .put_airflow_variable(base, variable)
            .expect("the base");
    }

    let mut default_pool = AirflowPool::new("default_pool", 64);
    default_pool.description = Some("Default pool".into());
    emulator
        .put_airflow_pool(base, default_pool)
        .expect("the base");
    emulator
        .put_airflow_pool(base, AirflowPool::new("etl", 3))
        .expect("the base");
}

/// What the preview has before the copy: a connection that differs (with its own password),
/// a variable and a pool only it has, and a pool that differs.
fn seed_preview(emulator: &RunningEmulator, preview: &str) {
    let mut warehouse = AirflowConnection::new("warehouse", "postgres");
    warehouse.host = Some("old-db.internal".into());
    warehouse.password = Some("preview-secret".into());
    emulator
        .put_airflow_connection(preview, warehouse)
        .expect("the preview");

    let own = AirflowVariable::new("only_on_preview", "kept");
    emulator
        .put_airflow_variable(preview, own)
        .expect("the preview");
    emulator
        .put_airflow_variable(preview, AirflowVariable::new("var_000", "stale"))
        .expect("the preview");
    emulator
        .put_airflow_pool(preview, AirflowPool::new("etl", 1))
        .expect("the preview");
    emulator
        .put_airflow_pool(preview, AirflowPool::new("scratch", 2))
        .expect("the preview");
}

#[tokio::test]
async fn copies_what_is_missing_updates_what_differs_and_deletes_nothing() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let base = emulator.info().deployments.dags_enabled.clone();
    let preview = emulator.info().deployments.dags_disabled.clone();
    seed_base(&emulator, &base);
    seed_preview(&emulator, &preview);
    let from = common::airflow(&emulator, &base, Duration::from_secs(5));
    let to = common::airflow(&emulator, &preview, Duration::from_secs(5));

    let report = copy_airflow_objects(&from, &to, &ALL)
        .await
        .expect("the copy");

    let counts = |created, updated, unchanged| KindReport {
        created,
        updated,
        unchanged,
    };
    assert_eq!(report.connections, counts(1, 1, 0));
    assert_eq!(report.variables, counts(VARIABLES - 1, 1, 0));
    assert_eq!(report.pools, counts(0, 2, 0), "default_pool and etl differ");
    assert_eq!(report.connections_without_password, ["s3"]);

    let connections = emulator.airflow_connections(&preview).expect("the preview");
    let warehouse = connections
        .iter()
        .find(|c| c.connection_id == "warehouse")
        .expect("kept");
    assert_eq!(warehouse.host.as_deref(), Some("db.internal"));
    assert_eq!(
        warehouse.extra.as_deref(),
        Some(r#"{"sslmode": "require"}"#)
    );
    assert_eq!(
        warehouse.password.as_deref(),
        Some("preview-secret"),
        "an update keeps it"
    );
    let s3 = connections
        .iter()
        .find(|c| c.connection_id == "s3")
        .expect("created");
    assert_eq!(
        s3.password, None,
        "Airflow never answers the base's password"
    );

    let variables = emulator.airflow_variables(&preview).expect("the preview");
    assert_eq!(variables.len(), VARIABLES + 1);
    assert!(variables.contains(&AirflowVariable::new("only_on_preview", "kept")));
    assert!(variables.contains(&AirflowVariable::new("var_000", "value 0")));
    assert!(variables.contains(&AirflowVariable::new("var_104", "value 104")));

    let pools = emulator.airflow_pools(&preview).expect("the preview");
    let slots: Vec<(&str, i64)> = pools.iter().map(|p| (p.name.as_str(), p.slots)).collect();
    assert_eq!(slots, [("default_pool", 64), ("etl", 3), ("scratch", 2)]);
}

#[tokio::test]
async fn a_rerun_changes_nothing() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let base = emulator.info().deployments.dags_enabled.clone();
    let preview = emulator.info().deployments.dags_disabled.clone();
    seed_base(&emulator, &base);
    seed_preview(&emulator, &preview);
    let from = common::airflow(&emulator, &base, Duration::from_secs(5));
    let to = common::airflow(&emulator, &preview, Duration::from_secs(5));
    copy_airflow_objects(&from, &to, &ALL)
        .await
        .expect("the first copy");
    let after_first = (
        emulator.airflow_connections(&preview).expect("the preview"),
        emulator.airflow_variables(&preview).expect("the preview"),
        emulator.airflow_pools(&preview).expect("the preview"),
    );
    emulator.clear_airflow_exchanges();

    let report = copy_airflow_objects(&from, &to, &ALL)
        .await
        .expect("the second copy");

    assert!(!report.changed_anything(), "{report:?}");
    assert_eq!(report.connections.unchanged, 2);
    assert_eq!(report.variables.unchanged, VARIABLES);
    assert_eq!(report.pools.unchanged, 2);
    assert!(report.connections_without_password.is_empty());
    let writes: Vec<String> = emulator
        .airflow_exchanges()
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let after_second = (
        emulator.airflow_connections(&preview).expect("the preview"),
        emulator.airflow_variables(&preview).expect("the preview"),
        emulator.airflow_pools(&preview).expect("the preview"),
    );
    assert_eq!(after_first, after_second);
}

#[tokio::test]
async fn only_the_chosen_kinds_are_copied() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let base = emulator.info().deployments.dags_enabled.clone();
    let preview = emulator.info().deployments.dags_disabled.clone();
    seed_base(&emulator, &base);
    let from = common::airflow(&emulator, &base, Duration::from_secs(5));
    let to = common::airflow(&emulator, &preview, Duration::from_secs(5));
    let pools_only = CopyOptions {
        connections: false,
        variables: false,
        pools: true,
    };

    let report = copy_airflow_objects(&from, &to, &pools_only)
        .await
        .expect("the copy");

    assert_eq!(report.connections, KindReport::default());
    assert_eq!(report.variables, KindReport::default());
    assert_eq!(report.pools.created, 1);
    assert!(emulator
        .airflow_connections(&preview)
        .expect("the preview")
        .is_empty());
    assert!(emulator
        .airflow_variables(&preview)
        .expect("the preview")
        .is_empty());
}

#[tokio::test]
async fn a_preview_that_is_still_creating_is_waited_for() {
    let emulator = common::start(Duration::from_millis(1500)).await;
    let base = emulator.info().deployments.dags_enabled.clone();
    seed_base(&emulator, &base);
    let preview = common::create_deployment(&emulator, "preview-feature-x").await;
    let from = common::airflow(&emulator, &base, Duration::from_secs(5));

    // Without time to wait, the 503 of an Airflow not yet up is the error.
    let impatient = common::airflow(&emulator, &preview, Duration::ZERO);
    let error = copy_airflow_objects(&from, &impatient, &ALL)
        .await
        .expect_err("not up yet");
    let CopyError::Preview { source, .. } = &error else {
        panic!("the preview's error, not {error:?}");
    };
    assert_eq!(source.status(), Some(503), "{source}");
    assert!(error.hint().is_some_and(|hint| hint.contains("HEALTHY")));

    let patient = common::airflow(&emulator, &preview, Duration::from_secs(30));
    let report = copy_airflow_objects(&from, &patient, &ALL)
        .await
        .expect("the copy");

    assert_eq!(report.connections.created, 2);
    assert_eq!(report.variables.created, VARIABLES);
    let waited = emulator
        .airflow_exchanges()
        .iter()
        .filter(|e| e.status == 503)
        .count();
    assert!(waited >= 2, "the copy met the 503 and waited: {waited}");
    assert_eq!(
        emulator
            .airflow_variables(&preview)
            .expect("the preview")
            .len(),
        VARIABLES
    );
}
