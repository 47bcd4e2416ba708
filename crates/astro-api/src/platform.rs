//! The Platform API calls: organizations, workspaces, deployments, deploys and hibernation.

use reqwest::Method;

use crate::client::{segment, Call, Client};
use crate::error::{Error, Subject};
use crate::models::*;

/// How many items a list call asks for per page.
const PAGE_SIZE: u32 = 100;

/// Filters of a Deployment list; empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub workspace_ids: Vec<String>,
    pub deployment_ids: Vec<String>,
    pub names: Vec<String>,
}

impl Client {
    fn org_path(&self) -> String {
        format!("/organizations/{}", segment(self.organization_id()))
    }

    fn deployment_path(&self, deployment_id: &str) -> String {
        format!("{}/deployments/{}", self.org_path(), segment(deployment_id))
    }

    fn deploy_path(&self, deployment_id: &str, deploy_id: &str) -> String {
        format!(
            "{}/deploys/{}",
            self.deployment_path(deployment_id),
            segment(deploy_id)
        )
    }

    pub async fn get_organization(&self) -> Result<Organization, Error> {
        let operation = format!("getting organization `{}`", self.organization_id());
        self.send(Call::new(
            Method::GET,
            self.org_path(),
            operation,
            Subject::Organization,
        ))
        .await
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, Error> {
        let path = format!("{}/workspaces", self.org_path());
        self.all_pages(|offset| {
            Call::new(
                Method::GET,
                path.clone(),
                "listing Workspaces".into(),
                Subject::Organization,
            )
            .query("offset", offset)
            .query("limit", PAGE_SIZE)
        })
        .await
    }

    pub async fn get_workspace(&self, workspace_id: &str) -> Result<Workspace, Error> {
        let path = format!("{}/workspaces/{}", self.org_path(), segment(workspace_id));
        let operation = format!("getting Workspace `{workspace_id}`");
        self.send(Call::new(Method::GET, path, operation, Subject::Workspace))
            .await
    }

    /// The options for new Deployments of the organization.
    pub async fn deployment_options(&self) -> Result<DeploymentOptions, Error> {
        let path = format!("{}/deployment-options", self.org_path());
        let operation = "getting Deployment options".to_owned();
        self.send(Call::new(
            Method::GET,
            path,
            operation,
            Subject::Organization,
        ))
        .await
    }

    /// The options for one Deployment: what it may change to, which for runtimes includes the
    /// one it runs even when new Deployments are no longer offered it.
    pub async fn deployment_options_for(
        &self,
        deployment_id: &str,
    ) -> Result<DeploymentOptions, Error> {
        let path = format!("{}/deployment-options", self.org_path());
        let operation = format!("getting the Deployment options of `{deployment_id}`");
        let call = Call::new(Method::GET, path, operation, Subject::Deployment)
            .query("deploymentId", deployment_id);
        self.send(call).await
    }

    /// All Deployments that match the filter, across pages.
    pub async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
    ) -> Result<Vec<Deployment>, Error> {
        let path = format!("{}/deployments", self.org_path());
        self.all_pages(|offset| {
            let mut call = Call::new(
                Method::GET,
                path.clone(),
                "listing Deployments".into(),
                Subject::Organization,
            );
            for id in &filter.workspace_ids {
                call = call.query("workspaceIds", id);
            }
            for id in &filter.deployment_ids {
                call = call.query("deploymentIds", id);
            }
            for name in &filter.names {
                call = call.query("names", name);
            }
            call.query("offset", offset).query("limit", PAGE_SIZE)
        })
        .await
    }

    pub async fn get_deployment(&self, deployment_id: &str) -> Result<Deployment, Error> {
        let operation = format!("getting Deployment `{deployment_id}`");
        let path = self.deployment_path(deployment_id);
        self.send(Call::new(Method::GET, path, operation, Subject::Deployment))
            .await
    }

    pub async fn create_deployment(
        &self,
        request: &CreateDeploymentRequest,
    ) -> Result<Deployment, Error> {
        let path = format!("{}/deployments", self.org_path());
        let operation = "creating a Deployment".to_owned();
        let call = Call::new(Method::POST, path, operation, Subject::Workspace).body(request);
        self.send(call).await
    }

    /// Replaces a Deployment's configuration with `request` (a full body, not a patch).
    pub async fn update_deployment(
        &self,
        deployment_id: &str,
        request: &UpdateDeploymentRequest,
    ) -> Result<Deployment, Error> {
        let operation = format!("updating Deployment `{deployment_id}`");
        let path = self.deployment_path(deployment_id);
        let call = Call::new(Method::POST, path, operation, Subject::Deployment).body(request);
        self.send(call.idempotent()).await
    }

    pub async fn delete_deployment(&self, deployment_id: &str) -> Result<(), Error> {
        let operation = format!("deleting Deployment `{deployment_id}`");
        let path = self.deployment_path(deployment_id);
        let call = Call::new(Method::DELETE, path, operation, Subject::Deployment);
        self.send_without_answer(call).await
    }

    pub async fn create_deploy(
        &self,
        deployment_id: &str,
        request: &CreateDeployRequest,
    ) -> Result<Deploy, Error> {
        let operation = format!("creating a deploy on Deployment `{deployment_id}`");
        let path = format!("{}/deploys", self.deployment_path(deployment_id));
        let call = Call::new(Method::POST, path, operation, Subject::Deployment).body(request);
        self.send(call).await
    }

    /// The deploys of a Deployment, newest first as the API orders them, across pages.
    pub async fn list_deploys(&self, deployment_id: &str) -> Result<Vec<Deploy>, Error> {
        let path = format!("{}/deploys", self.deployment_path(deployment_id));
        let operation = format!("listing the deploys of Deployment `{deployment_id}`");
        self.all_pages(|offset| {
            Call::new(
                Method::GET,
                path.clone(),
                operation.clone(),
                Subject::Deployment,
            )
            .query("offset", offset)
            .query("limit", PAGE_SIZE)
        })
        .await
    }

    pub async fn get_deploy(&self, deployment_id: &str, deploy_id: &str) -> Result<Deploy, Error> {
        let operation = format!("getting deploy `{deploy_id}`");
        let path = self.deploy_path(deployment_id, deploy_id);
        self.send(Call::new(Method::GET, path, operation, Subject::Deploy))
            .await
    }

    pub async fn update_deploy(
        &self,
        deployment_id: &str,
        deploy_id: &str,
        request: &UpdateDeployRequest,
    ) -> Result<Deploy, Error> {
        let operation = format!("updating deploy `{deploy_id}`");
        let path = self.deploy_path(deployment_id, deploy_id);
        let call = Call::new(Method::POST, path, operation, Subject::Deploy).body(request);
        self.send(call.idempotent()).await
    }

    /// Makes a deploy take effect. Not retried on server errors: a second finalize is refused.
    pub async fn finalize_deploy(
        &self,
        deployment_id: &str,
        deploy_id: &str,
        request: &FinalizeDeployRequest,
    ) -> Result<Deploy, Error> {
        let operation = format!("finalizing deploy `{deploy_id}`");
        let path = format!("{}/finalize", self.deploy_path(deployment_id, deploy_id));
        let call = Call::new(Method::POST, path, operation, Subject::Deploy).body(request);
        self.send(call).await
    }

    pub async fn rollback_deploy(
        &self,
        deployment_id: &str,
        deploy_id: &str,
        request: &RollbackDeployRequest,
    ) -> Result<Deploy, Error> {
        let operation = format!("rolling back to deploy `{deploy_id}`");
        let path = format!("{}/rollback", self.deploy_path(deployment_id, deploy_id));
        let call = Call::new(Method::POST, path, operation, Subject::Deploy).body(request);
        self.send(call).await
    }

    /// Wakes (or sends to sleep) a development Deployment regardless of its schedule.
    pub async fn override_hibernation(
        &self,
        deployment_id: &str,
        request: &HibernationOverrideRequest,
    ) -> Result<HibernationOverride, Error> {
        let operation = format!("overriding the hibernation of Deployment `{deployment_id}`");
        let path = format!(
            "{}/hibernation-override",
            self.deployment_path(deployment_id)
        );
        let call = Call::new(Method::POST, path, operation, Subject::Deployment).body(request);
        self.send(call.idempotent()).await
    }

    /// Gives a development Deployment its hibernation schedule back.
    pub async fn remove_hibernation_override(&self, deployment_id: &str) -> Result<(), Error> {
        let operation = format!("removing the hibernation override of `{deployment_id}`");
        let path = format!(
            "{}/hibernation-override",
            self.deployment_path(deployment_id)
        );
        let call = Call::new(Method::DELETE, path, operation, Subject::Deployment);
        self.send_without_answer(call).await
    }

    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        call_for_offset: impl Fn(u32) -> Call,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        loop {
            let page: Page<T> = self.send(call_for_offset(items.len() as u32)).await?;
            let received = page.items.len();
            items.extend(page.items);
            if received == 0 || items.len() >= page.total_count as usize {
                return Ok(items);
            }
        }
    }
}
