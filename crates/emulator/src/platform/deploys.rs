//! Deploys: create, list, get, describe, finalize and roll back, with Astro's deploy rules.
//!
//! - `DAG_ONLY` and `IMAGE_ONLY` deploys need DAG deploys enabled on the Deployment.
//! - A Deployment that enforces CI/CD takes deploys (create, finalize, rollback) from API
//!   tokens only.
//! - Finalizing a deploy that carries DAGs needs the `x-ms-version-id` of a bundle uploaded to
//!   that deploy's `dagsUploadUrl`; a deploy is finalized once.
//! - A finalized deploy starts a rollout: the Deployment is `DEPLOYING` with the new
//!   `desiredDagTarballVersion`, and `HEALTHY` with a matching `dagTarballVersion` after the
//!   rollout delay (later if it hibernates meanwhile).
//! - A rollback is a new, already deployed deploy whose `rollbackFromId` names the deploy whose
//!   image tag and DAG bundle version it brings back.
//!
//! - With a registry of the user's (`EmulatorConfig::registry_host`), finalizing a deploy that
//!   carries an image checks that `<imageRepository>:<imageTag>` was pushed and that its Astro
//!   Runtime is offered and no downgrade, as Astro does; the Deployment then runs that
//!   runtime. With the default, made-up registry host, image finalizes are taken on trust.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use time::OffsetDateTime;

use super::deployments::find;
use super::org::check_org;
use super::{check_length, image_check, ok, page, parse_body, ApiError, Op, Query};
use crate::auth::Caller;
use crate::clock;
use crate::model::{
    CreateDeployBody, Deploy, DeployStatus, DeployType, DeploysPage, DescriptionBody, FinalizeBody,
};
use crate::server::App;
use crate::state::{BlobMeta, State as EmulatorState};
use crate::{blobs, seed};

pub(super) async fn list(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::ListDeploys, &org))?;
    let query = Query::parse(raw.as_deref());
    let offset = query.count("offset", 0, None)?;
    let limit = query.count("limit", 20, Some(1000))?;

    let deploys = app.read(|state| {
        find(state, &caller, Op::ListDeploys, &org, &id)?;
        let deploys = state
            .data
            .deploys
            .iter()
            .rev()
            .filter(|deploy| deploy.deployment_id == id);
        Ok(deploys.cloned().collect::<Vec<_>>())
    })?;

    let (deploys, total_count) = page(deploys, offset, limit);
    Ok(ok(DeploysPage {
        deploys,
        limit,
        offset,
        total_count,
    }))
}

pub(super) async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, id, deploy_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::GetDeploy, &org))?;

    let deploy = app.read(|state| {
        find(state, &caller, Op::GetDeploy, &org, &id)?;
        Ok(deploy(state, Op::GetDeploy, &id, &deploy_id)?.clone())
    })?;
    Ok(ok(deploy))
}

fn deploy<'s>(
    state: &'s EmulatorState,
    op: Op,
    deployment_id: &str,
    deploy_id: &str,
) -> Result<&'s Deploy, ApiError> {
    let deploy = state.deploy(deployment_id, deploy_id);
    deploy.ok_or_else(|| missing(op, deployment_id, deploy_id))
}

fn missing(op: Op, deployment_id: &str, deploy_id: &str) -> ApiError {
    let message = format!("deploy `{deploy_id}` not found in deployment `{deployment_id}`");
    ApiError::not_found(op, message)
}

pub(super) async fn create(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::CreateDeploy, &org))?;
    let body: CreateDeployBody = parse_body(&body, &["type"])?;
    check_length("description", body.description.as_deref(), 500)?;

    let deploy = app.write(|state| {
        let index = find(state, &caller, Op::CreateDeploy, &org, &id)?;
        let deployment = &state.data.deployments[index].deployment;
        caller.check_cicd(deployment)?;
        if !deployment.is_dag_deploy_enabled && body.kind != DeployType::ImageAndDag {
            return Err(ApiError::bad_request(format!(
                "deployment `{id}` has DAG deploys disabled (`isDagDeployEnabled` false): a \
                 `{}` deploy needs them; create an `IMAGE_AND_DAG` deploy instead",
                body.kind.as_str()
            )));
        }

        let now = clock::now();
        let deploy_id = seed::new_id();
        let dags = deployment.is_dag_deploy_enabled;
        let upload_url = dags.then(|| blobs::upload_url(state, &id, &deploy_id, now));
        let deploy = Deploy {
            id: deploy_id.clone(),
            deployment_id: id.clone(),
            kind: body.kind,
            status: DeployStatus::Initialized,
            description: body.description,
            created_at: clock::rfc3339(now),
            updated_at: clock::rfc3339(now),
            created_by_subject: caller.subject(),
            updated_by_subject: caller.subject(),
            image_repository: deployment.image_repository.clone(),
            image_tag: unique_tag(state, &id, now),
            is_dag_deploy_enabled: dags,
            dags_upload_url: upload_url,
            dag_tarball_version: None,
            astro_runtime_version: deployment.astro_runtime_version.clone(),
            airflow_version: deployment.airflow_version.clone(),
            rollback_from_id: None,
        };

        tracing::debug!(deploy = %deploy_id, deployment = %id, "created deploy");
        if dags {
            state.data.blobs.insert(deploy_id, BlobMeta::default());
        }
        state.data.deploys.push(deploy.clone());
        Ok(deploy)
    })?;
    Ok(ok(deploy))
}

/// `deploy-<time>`, with a suffix when a deploy of the same second already took it.
fn unique_tag(state: &EmulatorState, deployment_id: &str, now: OffsetDateTime) -> String {
    let base = clock::image_tag(now);
    let taken = |tag: &str| {
        let mut deploys = state.data.deploys.iter();
        deploys.any(|deploy| deploy.deployment_id == deployment_id && deploy.image_tag == tag)
    };

    let mut tag = base.clone();
    let mut suffix = 1;
    while taken(&tag) {
        tag = format!("{base}-{suffix}");
        suffix += 1;
    }
    tag
}

pub(super) async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, id, deploy_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::UpdateDeploy, &org))?;
    let body: DescriptionBody = parse_body(&body, &[])?;
    check_length("description", body.description.as_deref(), 500)?;

    let deploy = app.write(|state| {
        find(state, &caller, Op::UpdateDeploy, &org, &id)?;
        let deploy = state.deploy_mut(&id, &deploy_id);
        let deploy = deploy.ok_or_else(|| missing(Op::UpdateDeploy, &id, &deploy_id))?;

        deploy.description = body.description;
        deploy.updated_at = clock::rfc3339(clock::now());
        deploy.updated_by_subject = caller.subject();
        Ok(deploy.clone())
    })?;
    Ok(ok(deploy))
}

pub(super) async fn finalize(
    State(app): State<App>,
    caller: Caller,
    Path((org, id, deploy_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::FinalizeDeploy, &org))?;
    let body: FinalizeBody = parse_body(&body, &[])?;
    let version = body.dag_tarball_version.unwrap_or_default();
    let runtime = check_pushed_image(&app, &caller, &org, &id, &deploy_id).await?;

    let deploy = app.write(|state| {
        let index = find(state, &caller, Op::FinalizeDeploy, &org, &id)?;
        caller.check_cicd(&state.data.deployments[index].deployment)?;
        let deploy = deploy(state, Op::FinalizeDeploy, &id, &deploy_id)?;
        check_finalize(state, deploy, &version)?;

        let now = clock::now();
        let version = (!version.is_empty()).then_some(version);
        let deploy = finish_deploy(state, &id, &deploy_id, version.clone(), &caller, now)?;
        roll_out(state, index, &deploy, version, now);
        if let Some(runtime) = runtime {
            set_runtime(&mut state.data.deployments[index].deployment, &runtime);
        }
        Ok(deploy)
    })?;
    Ok(ok(deploy))
}

/// With a registry of the user's, Astro's image checks: the image was pushed, and its runtime
/// is offered and no downgrade. Answers the image's runtime version when it names one.
async fn check_pushed_image(
    app: &App,
    caller: &Caller,
    org: &str,
    id: &str,
    deploy_id: &str,
) -> Result<Option<String>, ApiError> {
    let target = app.read(|state| {
        let index = find(state, caller, Op::FinalizeDeploy, org, id)?;
        let deploy = deploy(state, Op::FinalizeDeploy, id, deploy_id)?;
        let checked = state.settings.registry_host != seed::DEFAULT_REGISTRY_HOST
            && deploy.kind.carries_image()
            && deploy.status == DeployStatus::Initialized;
        let current = state.data.deployments[index]
            .deployment
            .astro_runtime_version
            .clone();
        Ok(checked.then(|| {
            (
                deploy.image_repository.clone(),
                deploy.image_tag.clone(),
                current,
            )
        }))
    })?;
    let Some((repository, tag, current)) = target else {
        return Ok(None);
    };

    let Some(pushed) = image_check::pushed_runtime(&repository, &tag).await? else {
        return Ok(None);
    };
    // As deployment-options for this Deployment: the releases on offer, and its own runtime.
    let mut offered: Vec<&str> = seed::RUNTIME_RELEASES.iter().map(|(v, _, _)| *v).collect();
    offered.push(current.as_str());
    image_check::check_runtime(&offered, &current, &pushed)?;
    Ok(Some(pushed))
}

fn set_runtime(deployment: &mut crate::model::Deployment, runtime: &str) {
    deployment.astro_runtime_version = runtime.to_owned();
    deployment.runtime_version = runtime.to_owned();
    if let Some(airflow) = seed::airflow_version(runtime) {
        deployment.airflow_version = airflow.to_owned();
    }
}

/// The finalize rules: once only, and a DAG bundle version that was really uploaded.
fn check_finalize(state: &EmulatorState, deploy: &Deploy, version: &str) -> Result<(), ApiError> {
    if deploy.status != DeployStatus::Initialized {
        return Err(ApiError::bad_request(format!(
            "deploy `{}` is already finalized (status `DEPLOYED`); create a new deploy",
            deploy.id
        )));
    }

    let kind = deploy.kind.as_str();
    if !deploy.is_dag_deploy_enabled {
        if version.is_empty() {
            return Ok(());
        }
        return Err(ApiError::bad_request(format!(
            "deployment `{}` has DAG deploys disabled: finalize deploy `{}` without a \
             `dagTarballVersion` (its DAGs ship in the image)",
            deploy.deployment_id, deploy.id
        )));
    }
    if deploy.kind == DeployType::ImageOnly {
        if version.is_empty() {
            return Ok(());
        }
        return Err(ApiError::bad_request(format!(
            "deploy `{}` is `IMAGE_ONLY` and carries no DAGs: finalize it with an empty \
             `dagTarballVersion`",
            deploy.id
        )));
    }

    if version.is_empty() {
        return Err(ApiError::bad_request(format!(
            "`dagTarballVersion` is required to finalize the `{kind}` deploy `{}`: upload the DAG \
             bundle to its `dagsUploadUrl` and send the `x-ms-version-id` the upload answered",
            deploy.id
        )));
    }
    let uploaded = state
        .data
        .blobs
        .get(&deploy.id)
        .map(|blob| blob.versions.as_slice());
    match uploaded.unwrap_or_default() {
        [] => Err(ApiError::bad_request(format!(
            "`dagTarballVersion` `{version}` was not uploaded: nothing was uploaded to the \
             `dagsUploadUrl` of deploy `{}` yet",
            deploy.id
        ))),
        versions if !versions.iter().any(|known| known == version) => {
            Err(ApiError::bad_request(format!(
                "`dagTarballVersion` `{version}` is not a version uploaded to the \
                 `dagsUploadUrl` of deploy `{}` (the latest upload is `{}`)",
                deploy.id,
                versions.last().map_or("", String::as_str)
            )))
        }
        _ => Ok(()),
    }
}

fn finish_deploy(
    state: &mut EmulatorState,
    deployment_id: &str,
    deploy_id: &str,
    version: Option<String>,
    caller: &Caller,
    now: OffsetDateTime,
) -> Result<Deploy, ApiError> {
    let deploy = state.deploy_mut(deployment_id, deploy_id);
    let deploy = deploy.ok_or_else(|| missing(Op::FinalizeDeploy, deployment_id, deploy_id))?;

    deploy.status = DeployStatus::Deployed;
    deploy.dag_tarball_version = version;
    deploy.updated_at = clock::rfc3339(now);
    deploy.updated_by_subject = caller.subject();
    Ok(deploy.clone())
}

/// Makes a deployed deploy the Deployment's desired state and starts the rollout.
fn roll_out(
    state: &mut EmulatorState,
    index: usize,
    deploy: &Deploy,
    version: Option<String>,
    now: OffsetDateTime,
) {
    let delay = state.settings.rollout_delay;
    let record = &mut state.data.deployments[index];
    let deployment = &mut record.deployment;

    if deploy.kind.carries_image() {
        deployment.image_tag = deploy.image_tag.clone();
        deployment.image_version = deploy.image_tag.clone();
    }
    if version.is_some() {
        deployment.desired_dag_tarball_version = version;
    }
    deployment.updated_at = clock::rfc3339(now);
    tracing::debug!(deployment = %deployment.id, "rollout started");
    record.start_rollout(now, delay);
}

pub(super) async fn rollback(
    State(app): State<App>,
    caller: Caller,
    Path((org, id, deploy_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::DeployRollback, &org))?;
    let body: DescriptionBody = parse_body(&body, &[])?;
    check_length("description", body.description.as_deref(), 500)?;

    let deploy = app.write(|state| {
        let index = find(state, &caller, Op::DeployRollback, &org, &id)?;
        caller.check_cicd(&state.data.deployments[index].deployment)?;
        let target = deploy(state, Op::DeployRollback, &id, &deploy_id)?.clone();
        check_rollback(state, &target)?;

        let now = clock::now();
        let deployment = &state.data.deployments[index].deployment;
        let deploy = Deploy {
            id: seed::new_id(),
            status: DeployStatus::Deployed,
            description: body
                .description
                .or_else(|| Some(format!("Rollback to deploy {deploy_id}"))),
            created_at: clock::rfc3339(now),
            updated_at: clock::rfc3339(now),
            created_by_subject: caller.subject(),
            updated_by_subject: caller.subject(),
            is_dag_deploy_enabled: deployment.is_dag_deploy_enabled,
            dags_upload_url: None,
            astro_runtime_version: deployment.astro_runtime_version.clone(),
            airflow_version: deployment.airflow_version.clone(),
            rollback_from_id: Some(target.id.clone()),
            ..target.clone()
        };

        state.data.deploys.push(deploy.clone());
        roll_out(
            state,
            index,
            &deploy,
            target.dag_tarball_version.clone(),
            now,
        );
        Ok(deploy)
    })?;
    Ok(ok(deploy))
}

/// Only a deploy that took effect, and is not the one in effect now, can be rolled back to.
fn check_rollback(state: &EmulatorState, target: &Deploy) -> Result<(), ApiError> {
    if target.status != DeployStatus::Deployed {
        return Err(ApiError::bad_request(format!(
            "deploy `{}` was never finalized: only a deployed deploy can be rolled back to",
            target.id
        )));
    }
    let active = state
        .active_deploy(&target.deployment_id)
        .map(|deploy| deploy.id.as_str());
    if active == Some(target.id.as_str()) {
        return Err(ApiError::bad_request(format!(
            "deploy `{}` is the deploy in effect already; roll back to an earlier one",
            target.id
        )));
    }
    Ok(())
}
