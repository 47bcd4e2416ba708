//! Organizations, workspaces and deployment options: the read-only part of the seed.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{ok, page, sort_by, ApiError, Op, Query};
use crate::auth::Caller;
use crate::model::{OrganizationsPage, Workspace, WorkspacesPage};
use crate::seed::RUNTIME_RELEASES;
use crate::server::App;
use crate::state::State as EmulatorState;

/// The organization in the path must exist (else 404 where the operation lists it, 403
/// elsewhere) and be the token's own (else 403). Every route but the organization list starts
/// here; the organization never changes, so one check per request is enough.
pub(super) fn check_org(
    state: &EmulatorState,
    caller: &Caller,
    op: Op,
    org: &str,
) -> Result<(), ApiError> {
    if state.data.organization.id != org {
        return Err(ApiError::not_found(
            op,
            format!("organization `{org}` not found"),
        ));
    }
    caller.check_org(org)
}

pub(super) async fn list_organizations(
    State(app): State<App>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let offset = query.count("offset", 0, None)?;
    let limit = query.count("limit", 20, Some(1000))?;
    query.sorts()?;

    let organizations = app.read(|state| {
        let organization = &state.data.organization;
        let plan = query
            .single("supportPlan")
            .is_none_or(|plan| plan == organization.support_plan);
        let product = query
            .single("product")
            .is_none_or(|product| product == organization.product);
        let visible = caller.org_id == organization.id && plan && product;
        Ok(if visible {
            vec![organization.clone()]
        } else {
            Vec::new()
        })
    })?;

    let (organizations, total_count) = page(organizations, offset, limit);
    Ok(ok(OrganizationsPage {
        organizations,
        limit,
        offset,
        total_count,
    }))
}

pub(super) async fn get_organization(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::GetOrganization, &org))?;

    let organization = app.read(|state| Ok(state.data.organization.clone()))?;
    Ok(ok(organization))
}

pub(super) async fn list_workspaces(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::ListWorkspaces, &org))?;
    let query = Query::parse(raw.as_deref());
    let offset = query.count("offset", 0, None)?;
    let limit = query.count("limit", 20, Some(1000))?;
    let sorts = query.sorts()?;
    let ids = query.list("workspaceIds");
    let names = query.list("names");

    let mut workspaces: Vec<Workspace> = app.read(|state| {
        let workspaces = state.data.workspaces.iter().filter(|workspace| {
            caller.may_see_workspace(&workspace.id)
                && ids.as_ref().is_none_or(|ids| ids.contains(&workspace.id))
                && names
                    .as_ref()
                    .is_none_or(|names| names.contains(&workspace.name))
        });
        Ok(workspaces.cloned().collect())
    })?;

    sort_by(&mut workspaces, &sorts, |w| {
        [&w.name, &w.created_at, &w.updated_at]
    });
    let (workspaces, total_count) = page(workspaces, offset, limit);
    Ok(ok(WorkspacesPage {
        workspaces,
        limit,
        offset,
        total_count,
    }))
}

pub(super) async fn get_workspace(
    State(app): State<App>,
    caller: Caller,
    Path((org, workspace_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::GetWorkspace, &org))?;

    let workspace = app.read(|state| {
        let workspace = state.workspace(&workspace_id).ok_or_else(|| {
            ApiError::not_found(
                Op::GetWorkspace,
                format!("workspace `{workspace_id}` not found"),
            )
        })?;
        caller.check_workspace(&workspace.id)?;
        Ok(workspace.clone())
    })?;
    Ok(ok(workspace))
}

pub(super) async fn deployment_options(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::GetDeploymentOptions, &org))?;
    let query = Query::parse(raw.as_deref());

    let deployment = match query.single("deploymentId") {
        Some(id) => Some(app.read(|state| {
            let op = Op::GetDeploymentOptions;
            let index = super::deployments::find(state, &caller, op, &org, id)?;
            let deployment = &state.data.deployments[index].deployment;
            Ok(OwnRuntime {
                version: deployment.astro_runtime_version.clone(),
                airflow: deployment.airflow_version.clone(),
                // The emulator does not know when that release came out; no later than the
                // Deployment that runs it.
                released: deployment.created_at.clone(),
            })
        })?),
        None => None,
    };
    Ok(ok(options(deployment)))
}

/// The runtime release a Deployment runs.
struct OwnRuntime {
    version: String,
    airflow: String,
    released: String,
}

/// `DeploymentOptions` for Astro Hosted STANDARD deployments. For one Deployment, the releases
/// include the one it runs, as Astro's do: a Deployment may stay on its runtime even after that
/// runtime is no longer offered to new Deployments.
fn options(deployment: Option<OwnRuntime>) -> Value {
    let mut releases: Vec<(String, String, String)> = RUNTIME_RELEASES
        .iter()
        .map(|(version, airflow, date)| {
            (version.to_string(), airflow.to_string(), date.to_string())
        })
        .collect();
    if let Some(own) = deployment {
        if !releases.iter().any(|(version, ..)| *version == own.version) {
            releases.insert(0, (own.version, own.airflow, own.released));
        }
    }

    let releases: Vec<Value> = releases
        .iter()
        .map(|(version, airflow, date)| {
            json!({
                "version": version,
                "airflowVersion": airflow,
                "channel": "stable",
                "releaseDate": date,
                "airflowDatabaseMigration": false,
                "stellarDatabaseMigration": false,
            })
        })
        .collect();

    json!({
        "executors": ["CELERY", "KUBERNETES"],
        "resourceQuotas": {
            "defaultPodSize": {
                "cpu": resource("0.25", "0.25", "6"),
                "memory": resource("0.5Gi", "0.5Gi", "12Gi"),
            },
            "resourceQuota": {
                "cpu": resource("1", "10", "1000"),
                "memory": resource("2Gi", "20Gi", "2000Gi"),
            },
        },
        "runtimeReleases": releases,
        "schedulerMachines": [
            machine("SMALL", "1", "2Gi"),
            machine("MEDIUM", "2", "4Gi"),
            machine("LARGE", "4", "8Gi"),
            machine("EXTRA_LARGE", "8", "16Gi"),
        ],
        "workerMachines": [
            worker("A5", 5, 15, "1", "2Gi"),
            worker("A10", 10, 30, "2", "4Gi"),
            worker("A20", 20, 60, "4", "8Gi"),
        ],
        "workerQueues": {
            "maxWorkers": range(1, 10, 100),
            "minWorkers": range(0, 0, 30),
            "workerConcurrency": range(1, 5, 256),
        },
    })
}

/// `Range` (numbers) and `ResourceRange` (strings) share their shape.
fn range<T: serde::Serialize>(floor: T, default: T, ceiling: T) -> Value {
    json!({ "floor": floor, "default": default, "ceiling": ceiling })
}

fn resource(floor: &str, default: &str, ceiling: &str) -> Value {
    range(floor, default, ceiling)
}

/// `SchedulerMachine`.
fn machine(name: &str, cpu: &str, memory: &str) -> Value {
    json!({ "name": name, "spec": { "cpu": cpu, "memory": memory } })
}

/// `WorkerMachine`: an Astro machine with its task concurrency range.
fn worker(name: &str, default: u32, ceiling: u32, cpu: &str, memory: &str) -> Value {
    let mut worker = machine(name, cpu, memory);
    worker["concurrency"] = range(1, default, ceiling);
    worker
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(options: &Value) -> Vec<&str> {
        options["runtimeReleases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|release| release["version"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_deployment_is_always_offered_the_runtime_it_runs() {
        let for_org = options(None);
        assert!(!versions(&for_org).contains(&"11.4.0"));

        let own = |version: &str, airflow: &str| {
            Some(OwnRuntime {
                version: version.to_owned(),
                airflow: airflow.to_owned(),
                released: "2024-05-01T00:00:00Z".to_owned(),
            })
        };
        let for_deployment = options(own("11.4.0", "2.9.1"));
        assert_eq!(versions(&for_deployment)[0], "11.4.0");
        assert_eq!(
            for_deployment["runtimeReleases"][0]["airflowVersion"],
            "2.9.1"
        );
        assert_eq!(
            versions(&for_deployment).len(),
            versions(&for_org).len() + 1
        );

        assert_eq!(
            versions(&options(own("12.2.0", "2.10.2"))),
            versions(&for_org)
        );
    }
}
