//! Monorepos: which projects of the config file deploy for a branch and a change, and how.
//!
//! For every project with a target for the branch, the change detection decides: nothing
//! changed under its root (skip, with the reason), only files under its `dags/` changed (a DAG
//! deploy), or anything else, including "cannot tell" (a full `image-and-dags` deploy). The
//! result is a value the CLI prints as a plan, a CI matrix, or deploys with `deploy --all`.

use serde::Serialize;

use crate::changes::{Decision, Detection, ProjectRoot};
use crate::config::{ProjectConfig, TargetEntry};
use crate::pipeline::DeployKind;

/// What one project of the repository does for this run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectPlan {
    pub project: String,
    /// Normalised, relative to the repository root (`.` for the root itself).
    pub root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// `dags` or `image-and-dags`; absent when the project is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_type: Option<DeployKind>,
    pub deploy: bool,
    pub reason: String,
    #[serde(skip)]
    pub target: TargetEntry,
}

/// The projects of `config` that deploy from `branch`, each decided from `detection`.
pub fn plan_projects(
    config: &ProjectConfig,
    branch: &str,
    detection: &Detection,
) -> Result<Vec<ProjectPlan>, crate::changes::ChangesError> {
    let mut plans = Vec::new();
    for (project, target) in config.targets_for_branch(branch) {
        let root = ProjectRoot::parse(&project.root)?;
        let decision = detection.decide(&root);
        let deploy_type = match decision {
            Decision::Nothing { .. } => None,
            Decision::DagsOnly { .. } => Some(DeployKind::Dags),
            Decision::Full { .. } => Some(DeployKind::ImageAndDags),
        };
        plans.push(ProjectPlan {
            project: project.name.clone(),
            root: root.to_string(),
            deployment_id: target.deployment_id.clone(),
            deployment_name: target.deployment_name.clone(),
            workspace_id: target.workspace_id.clone(),
            deploy: deploy_type.is_some(),
            deploy_type,
            reason: decision.reason().to_owned(),
            target: target.clone(),
        });
    }
    Ok(plans)
}

/// GitHub's `strategy.matrix` of the projects that deploy: `{"include": [...]}`.
pub fn github_matrix(plans: &[ProjectPlan]) -> serde_json::Value {
    let include: Vec<&ProjectPlan> = plans.iter().filter(|p| p.deploy).collect();
    serde_json::json!({ "include": include })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeSet, RangeKind, RevisionRange};

    const CONFIG: &str = r#"
version: 1
projects:
  - name: analytics
    root: projects/analytics
    targets:
      - branch: main
        deployment-id: clanalytics
  - name: ml
    root: ./projects/ml/
    targets:
      - branch: main
        deployment-name: ml-prod
  - name: legacy
    root: legacy
    targets:
      - branch: "release/*"
        deployment-id: cllegacy
"#;

    fn compared(files: &[&str]) -> Detection {
        Detection::Compared {
            changes: ChangeSet {
                files: files.iter().map(|f| f.to_string()).collect(),
                range: RevisionRange {
                    base: Some("a".repeat(40)),
                    head: "b".repeat(40),
                    kind: RangeKind::Push,
                },
            },
            merge_base: "a".repeat(40),
        }
    }

    #[test]
    fn each_project_deploys_what_changed_under_its_own_root() {
        let config = ProjectConfig::parse(CONFIG).unwrap();
        let detection = compared(&[
            "projects/analytics/dags/a.py",
            "projects/ml/requirements.txt",
        ]);

        let plans = plan_projects(&config, "main", &detection).unwrap();

        assert_eq!(plans.len(), 2, "legacy has no target for main");
        assert_eq!(plans[0].deploy_type, Some(DeployKind::Dags));
        assert_eq!(plans[1].deploy_type, Some(DeployKind::ImageAndDags));
        assert_eq!(plans[1].root, "projects/ml");

        let matrix = github_matrix(&plans);
        assert_eq!(matrix["include"][0]["project"], "analytics");
        assert_eq!(matrix["include"][0]["deploy-type"], "dags");
        assert_eq!(matrix["include"][1]["deployment-name"], "ml-prod");
    }

    #[test]
    fn unchanged_projects_are_skipped_with_the_reason_and_unknown_means_full() {
        let config = ProjectConfig::parse(CONFIG).unwrap();

        let plans = plan_projects(&config, "main", &compared(&["README.md"])).unwrap();
        assert!(plans.iter().all(|p| !p.deploy));
        assert!(
            plans[0].reason.contains("nothing under"),
            "{}",
            plans[0].reason
        );
        assert_eq!(github_matrix(&plans)["include"], serde_json::json!([]));

        let unknown = Detection::Unknown {
            reason: "a manual run".into(),
        };
        let plans = plan_projects(&config, "main", &unknown).unwrap();
        assert!(plans
            .iter()
            .all(|p| p.deploy_type == Some(DeployKind::ImageAndDags)));
        assert_eq!(plans[0].reason, "a manual run");
    }
}
