//! Deployment files: a Deployment's settings as a versioned YAML (or JSON) document, read from
//! a Deployment, compared with it field by field, and turned into the full update that applies
//! it.
//!
//! ```yaml
//! version: 1
//! deployment:
//!   name: analytics-prod
//!   executor: CELERY
//!   scheduler-size: SMALL
//!   worker-queues:
//!     - { name: default, astro-machine: A5, min-workers: 0, max-workers: 10,
//!         worker-concurrency: 5 }
//!   cicd-enforced: true
//!   environment-variables:
//!     - { key: DBT_TARGET, value: prod }
//!     - { key: WAREHOUSE_PASSWORD, secret: true }
//! ```
//!
//! Every key of `deployment` is optional: a key left out keeps the Deployment's current value,
//! and a list given replaces the whole list. A file never carries a secret's value: a secret
//! variable is listed by key with `secret: true`, and the update sends it without a value,
//! which Astro reads as "keep the stored value". Unknown keys are errors, so a misspelled key
//! never silently means "keep".

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use astro_api::models::{
    AstroMachine, Deployment, EnvironmentVariableRequest, Executor, HibernationSchedule,
    HibernationSpecRequest, ScalingSpecRequest, SchedulerSize, UpdateDeploymentRequest,
    WorkerQueueRequest,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{DeployError, FailureKind};

/// The one format version this tool reads and writes.
pub const VERSION: u32 = 1;

/// A whole deployment file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentFile {
    pub version: u32,
    pub deployment: Settings,
}

/// The settings of a Deployment that an update can change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An empty description clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_size: Option<SchedulerSizeSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_queues: Option<Vec<QueueSetting>>,
    #[serde(
        default,
        deserialize_with = "quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_task_pod_cpu: Option<String>,
    #[serde(
        default,
        deserialize_with = "quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_task_pod_memory: Option<String>,
    #[serde(
        default,
        deserialize_with = "quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_quota_cpu: Option<String>,
    #[serde(
        default,
        deserialize_with = "quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_quota_memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub development_mode: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dag_deploys: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cicd_enforced: Option<bool>,
    /// When a development-mode Deployment sleeps (cron, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hibernation_schedules: Option<Vec<ScheduleSetting>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<VariableSetting>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutorSetting {
    Celery,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulerSizeSetting {
    Small,
    Medium,
    Large,
    ExtraLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MachineSetting {
    A5,
    A10,
    A20,
    A40,
    A60,
    A120,
    A160,
}

/// One worker queue; a queue is given whole.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueueSetting {
    pub name: String,
    pub astro_machine: MachineSetting,
    pub min_workers: i64,
    pub max_workers: i64,
    pub worker_concurrency: i64,
}

/// One hibernation schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScheduleSetting {
    pub hibernate_at: String,
    pub wake_at: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn enabled() -> bool {
    true
}

/// One environment variable: a plain one with its value, a secret one without.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VariableSetting {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// CPU and memory are strings to Astro (`"0.25"`, `"1Gi"`), but YAML reads `0.25` as a number;
/// both are taken, as the text written.
fn quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Quantity;

    impl serde::de::Visitor<'_> for Quantity {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a quantity such as \"0.25\", 2 or \"1Gi\"")
        }
        fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
    }

    deserializer.deserialize_any(Quantity)
}

/// What can go wrong reading, comparing or applying a deployment file.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentFileError {
    #[error("reading `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{path}` is not a valid deployment file: {}", .problem.reason)]
    Invalid { path: String, problem: Problem },

    #[error("Deployment `{deployment}` cannot be written as a deployment file: {reason}")]
    Unrepresentable { deployment: String, reason: String },

    #[error(
        "Deployment `{deployment}` has no environment variable `{key}` whose secret value the \
         file could keep"
    )]
    UnknownSecret { deployment: String, key: String },

    #[error("writing the deployment file")]
    Write(#[source] serde_json::Error),

    #[error("writing the deployment file")]
    WriteYaml(#[source] serde_norway::Error),

    #[error(transparent)]
    Update(DeployError),
}

/// Why a file is not valid, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub hint: String,
}

impl Problem {
    fn new(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// serde_norway's errors carry no kind to match on, only a message that names the key and
    /// what was expected; the hint follows the message.
    fn from_serde(error: &serde_norway::Error) -> Self {
        let reason = error.to_string();
        let hint = if reason.contains("unknown field") {
            "remove the key or fix its spelling (the keys this place takes follow `expected`); \
             `astro-deploy deployment inspect` writes a file with every key"
        } else if reason.contains("missing field") {
            "add the missing key; a worker queue, schedule or variable is given whole"
        } else if reason.contains("unknown variant") {
            "use one of the values listed after `expected`"
        } else {
            "give the key a value of the type named after `expected`"
        };
        Self::new(reason, hint)
    }
}

impl DeploymentFileError {
    pub fn kind(&self) -> FailureKind {
        match self {
            DeploymentFileError::Read { .. }
            | DeploymentFileError::Invalid { .. }
            | DeploymentFileError::UnknownSecret { .. } => FailureKind::Input,
            DeploymentFileError::Unrepresentable { .. } => FailureKind::Refused,
            DeploymentFileError::Write(_) | DeploymentFileError::WriteYaml(_) => {
                FailureKind::Internal
            }
            DeploymentFileError::Update(error) => error.kind(),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            DeploymentFileError::Read { .. } => Some("check the path given with --file".into()),
            DeploymentFileError::Invalid { problem, .. } => Some(problem.hint.clone()),
            DeploymentFileError::Unrepresentable { .. } => {
                Some("change the Deployment in the Astro UI instead".into())
            }
            DeploymentFileError::UnknownSecret { .. } => Some(
                "a deployment file carries no secret values: create the secret in Astro first, \
                 or give the variable a `value` without `secret: true`"
                    .into(),
            ),
            DeploymentFileError::Update(error) => error.hint(),
            DeploymentFileError::Write(_) | DeploymentFileError::WriteYaml(_) => None,
        }
    }
}

impl DeploymentFile {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, DeploymentFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|problem| DeploymentFileError::Invalid {
            path: shown,
            problem,
        })
    }

    /// Parses and checks a file (YAML, of which JSON is a part).
    pub fn parse(text: &str) -> Result<Self, Problem> {
        // The version first: a file of another version is refused for its version, not for
        // the keys that version may have added.
        let value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| Problem::from_serde(&e))?;
        check_version(&value)?;

        let file: DeploymentFile =
            serde_norway::from_str(text).map_err(|e| Problem::from_serde(&e))?;
        file.deployment.check()?;
        Ok(file)
    }

    /// The file of `deployment` as it is now.
    pub fn of(deployment: &Deployment) -> Result<Self, DeploymentFileError> {
        Ok(Self {
            version: VERSION,
            deployment: Settings::of(deployment)?,
        })
    }

    pub fn to_yaml(&self) -> Result<String, DeploymentFileError> {
        serde_norway::to_string(self).map_err(DeploymentFileError::WriteYaml)
    }

    pub fn to_json(&self) -> Result<String, DeploymentFileError> {
        serde_json::to_string_pretty(self).map_err(DeploymentFileError::Write)
    }
}

fn check_version(value: &serde_norway::Value) -> Result<(), Problem> {
    let fix = "write `version: 1` at the top of the file";
    let Some(version) = value.get("version") else {
        return Err(Problem::new("the file has no `version`", fix));
    };
    match version.as_u64() {
        Some(1) => Ok(()),
        _ => {
            let shown = serde_norway::to_string(version).unwrap_or_default();
            Err(Problem::new(
                format!(
                    "`version: {}` is not supported; this tool reads `version: {VERSION}`",
                    shown.trim()
                ),
                fix,
            ))
        }
    }
}

impl Settings {
    /// Checks what serde cannot: names and keys given once, values Astro needs.
    fn check(&self) -> Result<(), Problem> {
        if self
            .name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            return Err(Problem::new(
                "`deployment.name` is empty",
                "name the Deployment, or leave `name` out to keep its name",
            ));
        }

        let queues = self.worker_queues.iter().flatten();
        if let Some(name) = repeated(queues.map(|queue| queue.name.as_str())) {
            return Err(Problem::new(
                format!("worker queue `{name}` is given twice in `deployment.worker-queues`"),
                "give each queue once",
            ));
        }
        for queue in self.worker_queues.iter().flatten() {
            if queue.max_workers < 1 || queue.worker_concurrency < 1 {
                return Err(Problem::new(
                    format!(
                        "worker queue `{}` needs `max-workers` and `worker-concurrency` of at \
                         least 1",
                        queue.name
                    ),
                    "raise them to 1 or more",
                ));
            }
            if queue.min_workers < 0 || queue.min_workers > queue.max_workers {
                return Err(Problem::new(
                    format!(
                        "worker queue `{}` has `min-workers: {}`, outside 0 to `max-workers: {}`",
                        queue.name, queue.min_workers, queue.max_workers
                    ),
                    "set `min-workers` between 0 and `max-workers`",
                ));
            }
        }

        let variables = self.environment_variables.iter().flatten();
        if let Some(key) = repeated(variables.map(|variable| variable.key.as_str())) {
            return Err(Problem::new(
                format!("environment variable `{key}` is given twice"),
                "give each key once",
            ));
        }
        for variable in self.environment_variables.iter().flatten() {
            check_variable(variable)?;
        }
        Ok(())
    }

    /// The settings of `deployment` as they are now, every key given.
    pub fn of(deployment: &Deployment) -> Result<Self, DeploymentFileError> {
        let unrepresentable = |reason: String| DeploymentFileError::Unrepresentable {
            deployment: deployment.name.clone(),
            reason,
        };
        let executor = match &deployment.executor {
            Some(Executor::Celery) => Some(ExecutorSetting::Celery),
            Some(Executor::Kubernetes) => Some(ExecutorSetting::Kubernetes),
            Some(Executor::Other(other)) => {
                return Err(unrepresentable(format!(
                    "its executor `{other}` is unknown to this tool"
                )))
            }
            None => None,
        };
        let scheduler_size = match &deployment.scheduler_size {
            Some(size) => Some(scheduler_size_setting(size).ok_or_else(|| {
                unrepresentable(format!(
                    "its scheduler size `{size}` is unknown to this tool"
                ))
            })?),
            None => None,
        };
        let worker_queues = deployment
            .worker_queues
            .iter()
            .map(|queue| {
                let machine = queue.astro_machine.as_deref().unwrap_or("A5");
                let astro_machine = machine_setting(machine).ok_or_else(|| {
                    unrepresentable(format!(
                        "the Astro machine `{machine}` of worker queue `{}` is unknown to this \
                         tool",
                        queue.name
                    ))
                })?;
                Ok(QueueSetting {
                    name: queue.name.clone(),
                    astro_machine,
                    min_workers: queue.min_worker_count,
                    max_workers: queue.max_worker_count,
                    worker_concurrency: queue.worker_concurrency,
                })
            })
            .collect::<Result<Vec<_>, DeploymentFileError>>()?;

        let schedules = crate::deployment_body::current_schedules(deployment).unwrap_or_default();
        let hibernation_schedules = schedules
            .into_iter()
            .map(|schedule| ScheduleSetting {
                hibernate_at: schedule.hibernate_at_cron,
                wake_at: schedule.wake_at_cron,
                enabled: schedule.is_enabled,
                description: schedule.description,
            })
            .collect();
        let environment_variables = deployment
            .environment_variables
            .iter()
            .map(|variable| VariableSetting {
                key: variable.key.clone(),
                // Astro answers no value for a secret; this makes sure none is ever written.
                value: (!variable.is_secret)
                    .then(|| variable.value.clone())
                    .flatten(),
                secret: variable.is_secret,
            })
            .collect();

        Ok(Self {
            name: Some(deployment.name.clone()),
            description: deployment.description.clone(),
            executor,
            scheduler_size,
            worker_queues: Some(worker_queues),
            default_task_pod_cpu: deployment.default_task_pod_cpu.clone(),
            default_task_pod_memory: deployment.default_task_pod_memory.clone(),
            resource_quota_cpu: deployment.resource_quota_cpu.clone(),
            resource_quota_memory: deployment.resource_quota_memory.clone(),
            high_availability: Some(deployment.is_high_availability),
            development_mode: Some(deployment.is_development_mode),
            dag_deploys: Some(deployment.is_dag_deploy_enabled),
            cicd_enforced: Some(deployment.is_cicd_enforced),
            hibernation_schedules: Some(hibernation_schedules),
            contact_emails: Some(deployment.contact_emails.clone()),
            environment_variables: Some(environment_variables),
        })
    }

    /// These settings with every key `file` gives replacing this one's.
    fn overlaid(&self, file: &Settings) -> Settings {
        fn pick<T: Clone>(file: &Option<T>, current: &Option<T>) -> Option<T> {
            file.clone().or_else(|| current.clone())
        }
        let description = pick(&file.description, &self.description).filter(|d| !d.is_empty());
        Settings {
            name: pick(&file.name, &self.name),
            description,
            executor: pick(&file.executor, &self.executor),
            scheduler_size: pick(&file.scheduler_size, &self.scheduler_size),
            worker_queues: pick(&file.worker_queues, &self.worker_queues),
            default_task_pod_cpu: pick(&file.default_task_pod_cpu, &self.default_task_pod_cpu),
            default_task_pod_memory: pick(
                &file.default_task_pod_memory,
                &self.default_task_pod_memory,
            ),
            resource_quota_cpu: pick(&file.resource_quota_cpu, &self.resource_quota_cpu),
            resource_quota_memory: pick(&file.resource_quota_memory, &self.resource_quota_memory),
            high_availability: pick(&file.high_availability, &self.high_availability),
            development_mode: pick(&file.development_mode, &self.development_mode),
            dag_deploys: pick(&file.dag_deploys, &self.dag_deploys),
            cicd_enforced: pick(&file.cicd_enforced, &self.cicd_enforced),
            hibernation_schedules: pick(&file.hibernation_schedules, &self.hibernation_schedules),
            contact_emails: pick(&file.contact_emails, &self.contact_emails),
            environment_variables: pick(&file.environment_variables, &self.environment_variables),
        }
    }
}

fn check_variable(variable: &VariableSetting) -> Result<(), Problem> {
    if variable.key.trim().is_empty() {
        return Err(Problem::new(
            "an environment variable has an empty `key`",
            "give every variable a key",
        ));
    }
    match (variable.secret, &variable.value) {
        (true, Some(_)) => Err(Problem::new(
            format!(
                "environment variable `{}` is `secret: true` and has a `value`",
                variable.key
            ),
            "a deployment file carries no secret values: remove the `value` (the stored \
             value is kept) and set the secret in Astro, or drop `secret: true`",
        )),
        (false, None) => Err(Problem::new(
            format!("environment variable `{}` has no `value`", variable.key),
            "give it a `value`, or mark it `secret: true` to keep its stored secret value",
        )),
        _ => Ok(()),
    }
}

fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().find(|name| !seen.insert(*name))
}

fn scheduler_size_setting(size: &SchedulerSize) -> Option<SchedulerSizeSetting> {
    match size {
        SchedulerSize::Small => Some(SchedulerSizeSetting::Small),
        SchedulerSize::Medium => Some(SchedulerSizeSetting::Medium),
        SchedulerSize::Large => Some(SchedulerSizeSetting::Large),
        SchedulerSize::ExtraLarge => Some(SchedulerSizeSetting::ExtraLarge),
        SchedulerSize::Other(_) => None,
    }
}

fn machine_setting(machine: &str) -> Option<MachineSetting> {
    match AstroMachine::from(machine) {
        AstroMachine::A5 => Some(MachineSetting::A5),
        AstroMachine::A10 => Some(MachineSetting::A10),
        AstroMachine::A20 => Some(MachineSetting::A20),
        AstroMachine::A40 => Some(MachineSetting::A40),
        AstroMachine::A60 => Some(MachineSetting::A60),
        AstroMachine::A120 => Some(MachineSetting::A120),
        AstroMachine::A160 => Some(MachineSetting::A160),
        AstroMachine::Other(_) => None,
    }
}

impl ExecutorSetting {
    fn api(self) -> Executor {
        match self {
            ExecutorSetting::Celery => Executor::Celery,
            ExecutorSetting::Kubernetes => Executor::Kubernetes,
        }
    }
}

impl SchedulerSizeSetting {
    fn api(self) -> SchedulerSize {
        match self {
            SchedulerSizeSetting::Small => SchedulerSize::Small,
            SchedulerSizeSetting::Medium => SchedulerSize::Medium,
            SchedulerSizeSetting::Large => SchedulerSize::Large,
            SchedulerSizeSetting::ExtraLarge => SchedulerSize::ExtraLarge,
        }
    }
}

impl MachineSetting {
    fn api(self) -> AstroMachine {
        AstroMachine::from(self.as_str())
    }

    fn as_str(self) -> &'static str {
        match self {
            MachineSetting::A5 => "A5",
            MachineSetting::A10 => "A10",
            MachineSetting::A20 => "A20",
            MachineSetting::A40 => "A40",
            MachineSetting::A60 => "A60",
            MachineSetting::A120 => "A120",
            MachineSetting::A160 => "A160",
        }
    }
}

/// One setting the file changes: `field: before -> after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The key as the file names it, with the queue's name or the variable's key:
    /// `worker-queues.default.max-workers`, `environment-variables.DBT_TARGET`.
    pub field: String,
    pub before: String,
    pub after: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.before, self.after)
    }
}

/// What applying a file to a Deployment does: the changes, and the full update that makes them.
#[derive(Debug, Clone)]
pub struct Application {
    pub changes: Vec<Change>,
    /// The Deployment's whole configuration with the file's values applied.
    pub request: UpdateDeploymentRequest,
}

/// Compares `file` with `deployment` and builds the update that applies it. Fails before any
/// comparison when the Deployment is of a type an update cannot express (Hybrid).
pub fn apply(file: &Settings, deployment: &Deployment) -> Result<Application, DeploymentFileError> {
    // Refused first: a Deployment this tool cannot update is refused even when nothing differs.
    crate::deployment_body::update_request(deployment, |_| {})
        .map_err(DeploymentFileError::Update)?;

    let current = Settings::of(deployment)?;
    let desired = current.overlaid(file);
    let changes = changes(&current, &desired);
    let request = update_request(deployment, &desired)?;
    Ok(Application { changes, request })
}

/// The settings that differ between `current` and `desired`, in the file's key order.
pub fn changes(current: &Settings, desired: &Settings) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut scalar = |field: &str, before: Option<String>, after: Option<String>| {
        if before != after {
            changes.push(Change {
                field: field.to_owned(),
                before: shown(before),
                after: shown(after),
            });
        }
    };
    let text = |value: &Option<String>| value.clone();

    scalar("name", text(&current.name), text(&desired.name));
    scalar(
        "description",
        text(&current.description),
        text(&desired.description),
    );
    scalar(
        "executor",
        current.executor.map(|e| e.api().to_string()),
        desired.executor.map(|e| e.api().to_string()),
    );
    scalar(
        "scheduler-size",
        current.scheduler_size.map(|s| s.api().to_string()),
        desired.scheduler_size.map(|s| s.api().to_string()),
    );
    scalar(
        "default-task-pod-cpu",
        text(&current.default_task_pod_cpu),
        text(&desired.default_task_pod_cpu),
    );
    scalar(
        "default-task-pod-memory",
        text(&current.default_task_pod_memory),
        text(&desired.default_task_pod_memory),
    );
    scalar(
        "resource-quota-cpu",
        text(&current.resource_quota_cpu),
        text(&desired.resource_quota_cpu),
    );
    scalar(
        "resource-quota-memory",
        text(&current.resource_quota_memory),
        text(&desired.resource_quota_memory),
    );
    let flag = |value: Option<bool>| value.map(|v| v.to_string());
    let flags = [
        (
            "high-availability",
            current.high_availability,
            desired.high_availability,
        ),
        (
            "development-mode",
            current.development_mode,
            desired.development_mode,
        ),
        ("dag-deploys", current.dag_deploys, desired.dag_deploys),
        (
            "cicd-enforced",
            current.cicd_enforced,
            desired.cicd_enforced,
        ),
    ];
    for (field, before, after) in flags {
        scalar(field, flag(before), flag(after));
    }
    let schedules = |value: &Option<Vec<ScheduleSetting>>| {
        Some(list(value.iter().flatten().map(schedule_text)))
    };
    scalar(
        "hibernation-schedules",
        schedules(&current.hibernation_schedules),
        schedules(&desired.hibernation_schedules),
    );
    let emails = |value: &Option<Vec<String>>| Some(list(value.iter().flatten().cloned()));
    scalar(
        "contact-emails",
        emails(&current.contact_emails),
        emails(&desired.contact_emails),
    );

    changes.extend(queue_changes(
        current.worker_queues.as_deref().unwrap_or_default(),
        desired.worker_queues.as_deref().unwrap_or_default(),
    ));
    changes.extend(variable_changes(
        current.environment_variables.as_deref().unwrap_or_default(),
        desired.environment_variables.as_deref().unwrap_or_default(),
    ));
    changes
}

fn shown(value: Option<String>) -> String {
    value.unwrap_or_else(|| "(none)".to_owned())
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

fn schedule_text(schedule: &ScheduleSetting) -> String {
    let off = if schedule.enabled { "" } else { ", disabled" };
    format!(
        "hibernate `{}` wake `{}`{off}",
        schedule.hibernate_at, schedule.wake_at
    )
}

/// Queues compare by name: a queue's order does not matter to Astro.
fn queue_changes(current: &[QueueSetting], desired: &[QueueSetting]) -> Vec<Change> {
    let before: BTreeMap<&str, &QueueSetting> =
        current.iter().map(|q| (q.name.as_str(), q)).collect();
    let after: BTreeMap<&str, &QueueSetting> =
        desired.iter().map(|q| (q.name.as_str(), q)).collect();
    let describe = |queue: &QueueSetting| {
        format!(
            "{}, {}-{} workers, concurrency {}",
            queue.astro_machine.as_str(),
            queue.min_workers,
            queue.max_workers,
            queue.worker_concurrency
        )
    };

    let mut changes = Vec::new();
    for (name, queue) in &after {
        let Some(old) = before.get(name) else {
            changes.push(Change {
                field: format!("worker-queues.{name}"),
                before: "(none)".to_owned(),
                after: describe(queue),
            });
            continue;
        };
        let fields = [
            (
                "astro-machine",
                old.astro_machine.as_str().to_owned(),
                queue.astro_machine.as_str().to_owned(),
            ),
            (
                "min-workers",
                old.min_workers.to_string(),
                queue.min_workers.to_string(),
            ),
            (
                "max-workers",
                old.max_workers.to_string(),
                queue.max_workers.to_string(),
            ),
            (
                "worker-concurrency",
                old.worker_concurrency.to_string(),
                queue.worker_concurrency.to_string(),
            ),
        ];
        for (field, was, now) in fields {
            if was != now {
                changes.push(Change {
                    field: format!("worker-queues.{name}.{field}"),
                    before: was,
                    after: now,
                });
            }
        }
    }
    for (name, queue) in &before {
        if !after.contains_key(name) {
            changes.push(Change {
                field: format!("worker-queues.{name}"),
                before: describe(queue),
                after: "(none)".to_owned(),
            });
        }
    }
    changes
}

/// Variables compare by key; a secret shows as `(secret)`, never with a value.
fn variable_changes(current: &[VariableSetting], desired: &[VariableSetting]) -> Vec<Change> {
    let shown = |variable: Option<&&VariableSetting>| match variable {
        None => "(none)".to_owned(),
        Some(variable) if variable.secret => "(secret)".to_owned(),
        Some(variable) => format!("`{}`", variable.value.as_deref().unwrap_or_default()),
    };
    let before: BTreeMap<&str, &VariableSetting> =
        current.iter().map(|v| (v.key.as_str(), v)).collect();
    let after: BTreeMap<&str, &VariableSetting> =
        desired.iter().map(|v| (v.key.as_str(), v)).collect();

    let mut keys: Vec<&str> = after.keys().chain(before.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter(|key| before.get(key) != after.get(key))
        .map(|key| Change {
            field: format!("environment-variables.{key}"),
            before: shown(before.get(key)),
            after: shown(after.get(key)),
        })
        .collect()
}

/// The full update of `deployment` with `desired` applied.
fn update_request(
    deployment: &Deployment,
    desired: &Settings,
) -> Result<UpdateDeploymentRequest, DeploymentFileError> {
    let environment = desired
        .environment_variables
        .as_ref()
        .map(|variables| variable_requests(deployment, variables))
        .transpose()?;
    let worker_queues = desired
        .worker_queues
        .as_ref()
        .map(|queues| queue_requests(deployment, queues));
    let scaling_spec = desired
        .hibernation_schedules
        .as_ref()
        .filter(|schedules| !schedules.is_empty())
        .map(|schedules| schedule_request(schedules));

    crate::deployment_body::update_request(deployment, |body| {
        if let Some(name) = &desired.name {
            body.name = name.clone();
        }
        body.description = desired.description.clone();
        if let Some(executor) = desired.executor {
            body.executor = executor.api();
        }
        if let Some(size) = desired.scheduler_size {
            body.scheduler_size = size.api();
        }
        let quantities = [
            (
                &mut body.default_task_pod_cpu,
                &desired.default_task_pod_cpu,
            ),
            (
                &mut body.default_task_pod_memory,
                &desired.default_task_pod_memory,
            ),
            (&mut body.resource_quota_cpu, &desired.resource_quota_cpu),
            (
                &mut body.resource_quota_memory,
                &desired.resource_quota_memory,
            ),
        ];
        for (field, value) in quantities {
            if let Some(value) = value {
                field.clone_from(value);
            }
        }
        body.is_high_availability = desired
            .high_availability
            .unwrap_or(body.is_high_availability);
        body.is_development_mode = desired.development_mode.or(body.is_development_mode);
        body.is_dag_deploy_enabled = desired.dag_deploys.unwrap_or(body.is_dag_deploy_enabled);
        body.is_cicd_enforced = desired.cicd_enforced.unwrap_or(body.is_cicd_enforced);
        if let Some(emails) = &desired.contact_emails {
            body.contact_emails = Some(emails.clone());
        }
        if let Some(environment) = environment {
            body.environment_variables = Some(environment);
        }
        if let Some(queues) = worker_queues {
            body.worker_queues = (!queues.is_empty()).then_some(queues);
        }
        if desired.hibernation_schedules.is_some() {
            body.scaling_spec = scaling_spec;
        }
    })
    .map_err(DeploymentFileError::Update)
}

/// A secret goes without a value, so Astro keeps the stored one; a plain variable made secret
/// goes with its current value, which Astro would otherwise drop.
fn variable_requests(
    deployment: &Deployment,
    variables: &[VariableSetting],
) -> Result<Vec<EnvironmentVariableRequest>, DeploymentFileError> {
    variables
        .iter()
        .map(|variable| {
            let existing = deployment
                .environment_variables
                .iter()
                .find(|current| current.key == variable.key);
            let value = match (variable.secret, existing) {
                (false, _) => variable.value.clone(),
                (true, Some(current)) if current.is_secret => None,
                (true, Some(current)) => current.value.clone(),
                (true, None) => {
                    return Err(DeploymentFileError::UnknownSecret {
                        deployment: deployment.name.clone(),
                        key: variable.key.clone(),
                    })
                }
            };
            Ok(EnvironmentVariableRequest {
                key: variable.key.clone(),
                is_secret: variable.secret,
                value,
            })
        })
        .collect()
}

/// Queues keep their ids by name, so Astro updates them rather than replacing them; a queue
/// named `default` is the default one, as on Astro.
fn queue_requests(deployment: &Deployment, queues: &[QueueSetting]) -> Vec<WorkerQueueRequest> {
    queues
        .iter()
        .map(|queue| {
            let existing = deployment
                .worker_queues
                .iter()
                .find(|current| current.name == queue.name);
            WorkerQueueRequest {
                id: existing.map(|current| current.id.clone()),
                name: queue.name.clone(),
                is_default: existing.map_or(queue.name == "default", |current| current.is_default),
                astro_machine: queue.astro_machine.api(),
                min_worker_count: queue.min_workers,
                max_worker_count: queue.max_workers,
                worker_concurrency: queue.worker_concurrency,
            }
        })
        .collect()
}

fn schedule_request(schedules: &[ScheduleSetting]) -> ScalingSpecRequest {
    let schedules = schedules
        .iter()
        .map(|schedule| HibernationSchedule {
            hibernate_at_cron: schedule.hibernate_at.clone(),
            wake_at_cron: schedule.wake_at.clone(),
            is_enabled: schedule.enabled,
            description: schedule.description.clone(),
        })
        .collect();
    ScalingSpecRequest {
        hibernation_spec: Some(HibernationSpecRequest {
            schedules: Some(schedules),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn deployment(kind: &str) -> Deployment {
        serde_json::from_value(json!({
            "id": "cdep", "name": "analytics-prod", "organizationId": "corg",
            "workspaceId": "cws", "description": "Nightly ELT", "status": "HEALTHY",
            "type": kind, "isDagDeployEnabled": true, "isCicdEnforced": false,
            "isDevelopmentMode": true, "isHighAvailability": false,
            "astroRuntimeVersion": "12.2.0", "imageRepository": "r", "imageTag": "t",
            "webServerUrl": "w", "executor": "CELERY", "schedulerSize": "SMALL",
            "defaultTaskPodCpu": "0.25", "defaultTaskPodMemory": "0.5Gi",
            "resourceQuotaCpu": "10", "resourceQuotaMemory": "20Gi",
            "contactEmails": ["data@example.com"],
            "environmentVariables": [
                { "key": "DBT_TARGET", "isSecret": false, "value": "prod" },
                { "key": "WAREHOUSE_PASSWORD", "isSecret": true },
            ],
            "workerQueues": [{
                "id": "cq1", "name": "default", "isDefault": true, "astroMachine": "A5",
                "minWorkerCount": 0, "maxWorkerCount": 10, "workerConcurrency": 5,
            }],
            "scalingSpec": { "hibernationSpec": { "schedules": [{
                "hibernateAtCron": "0 19 * * *", "wakeAtCron": "0 7 * * *", "isEnabled": true,
            }]}},
        }))
        .unwrap()
    }

    fn file(text: &str) -> DeploymentFile {
        DeploymentFile::parse(text).unwrap_or_else(|p| panic!("{}: {}", p.reason, p.hint))
    }

    fn body(request: &UpdateDeploymentRequest) -> Value {
        serde_json::to_value(request).unwrap()
    }

    fn shown(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::to_string).collect()
    }

    #[test]
    fn an_inspected_file_reads_back_and_applies_as_no_change() {
        let current = deployment("STANDARD");
        let yaml = DeploymentFile::of(&current).unwrap().to_yaml().unwrap();
        assert!(yaml.starts_with("version: 1\ndeployment:\n"), "{yaml}");
        assert!(
            yaml.contains("- key: WAREHOUSE_PASSWORD\n    secret: true\n"),
            "{yaml}"
        );
        assert!(yaml.contains("max-workers: 10"), "{yaml}");

        let read = file(&yaml);
        assert_eq!(read, DeploymentFile::of(&current).unwrap());
        let applied = apply(&read.deployment, &current).unwrap();
        assert_eq!(shown(&applied.changes), Vec::<String>::new());

        // Nothing changed, so the update is the one that keeps everything.
        let kept = crate::deployment_body::update_request(&current, |_| {}).unwrap();
        assert_eq!(body(&applied.request), body(&kept));

        let json = DeploymentFile::of(&current).unwrap().to_json().unwrap();
        assert_eq!(file(&json), read, "JSON output reads back too");
    }

    #[test]
    fn changes_are_listed_field_by_field_and_the_rest_is_kept() {
        let current = deployment("STANDARD");
        let read = file(
            "version: 1\ndeployment:\n  cicd-enforced: true\n  worker-queues:\n    - name: \
             default\n      astro-machine: A5\n      min-workers: 0\n      max-workers: 4\n      \
             worker-concurrency: 5\n  environment-variables:\n    - { key: DBT_TARGET, value: \
             staging }\n    - { key: WAREHOUSE_PASSWORD, secret: true }\n",
        );
        let applied = apply(&read.deployment, &current).unwrap();
        assert_eq!(
            shown(&applied.changes),
            [
                "cicd-enforced: false -> true",
                "worker-queues.default.max-workers: 10 -> 4",
                "environment-variables.DBT_TARGET: `prod` -> `staging`",
            ]
        );

        let sent = body(&applied.request);
        assert_eq!(sent["type"], "STANDARD");
        assert_eq!(sent["isCicdEnforced"], true);
        assert_eq!(sent["workerQueues"][0]["maxWorkerCount"], 4);
        assert_eq!(
            sent["workerQueues"][0]["id"], "cq1",
            "the queue keeps its id"
        );
        assert_eq!(
            sent["environmentVariables"],
            json!([
                { "key": "DBT_TARGET", "isSecret": false, "value": "staging" },
                { "key": "WAREHOUSE_PASSWORD", "isSecret": true },
            ]),
            "the secret goes without a value, so Astro keeps it"
        );
        // Left out of the file: kept as they are.
        assert_eq!(sent["description"], "Nightly ELT");
        assert_eq!(sent["schedulerSize"], "SMALL");
        assert_eq!(sent["defaultTaskPodMemory"], "0.5Gi");
        assert_eq!(sent["contactEmails"], json!(["data@example.com"]));
        assert_eq!(
            sent["scalingSpec"]["hibernationSpec"]["schedules"][0]["hibernateAtCron"],
            "0 19 * * *"
        );
        assert!(sent.get("astroRuntimeVersion").is_none());
    }

    #[test]
    fn lists_replace_whole_lists_and_an_empty_description_clears_it() {
        let current = deployment("STANDARD");
        let read = file(
            "version: 1\ndeployment:\n  description: ''\n  hibernation-schedules: []\n  \
             contact-emails: [a@example.com, b@example.com]\n  worker-queues:\n    - { name: \
             default, astro-machine: A5, min-workers: 0, max-workers: 10, worker-concurrency: 5 \
             }\n    - { name: heavy, astro-machine: A10, min-workers: 1, max-workers: 2, \
             worker-concurrency: 8 }\n  default-task-pod-cpu: 0.5\n",
        );
        let applied = apply(&read.deployment, &current).unwrap();
        assert_eq!(
            shown(&applied.changes),
            [
                "description: Nightly ELT -> (none)",
                "default-task-pod-cpu: 0.25 -> 0.5",
                "hibernation-schedules: [hibernate `0 19 * * *` wake `0 7 * * *`] -> []",
                "contact-emails: [data@example.com] -> [a@example.com, b@example.com]",
                "worker-queues.heavy: (none) -> A10, 1-2 workers, concurrency 8",
            ]
        );
        let sent = body(&applied.request);
        assert!(sent.get("description").is_none());
        assert!(sent.get("scalingSpec").is_none(), "{sent}");
        assert_eq!(sent["defaultTaskPodCpu"], "0.5");
        let heavy = &sent["workerQueues"][1];
        assert_eq!(
            (heavy["name"].clone(), heavy.get("id")),
            (json!("heavy"), None)
        );
        assert_eq!(heavy["isDefault"], false);
    }

    #[test]
    fn a_plain_variable_made_secret_keeps_its_value_and_an_unknown_secret_is_refused() {
        let current = deployment("STANDARD");
        let read = file(
            "version: 1\ndeployment:\n  environment-variables:\n    - { key: DBT_TARGET, \
             secret: true }\n    - { key: WAREHOUSE_PASSWORD, secret: true }\n",
        );
        let applied = apply(&read.deployment, &current).unwrap();
        assert_eq!(
            shown(&applied.changes),
            ["environment-variables.DBT_TARGET: `prod` -> (secret)"]
        );
        let sent = body(&applied.request);
        assert_eq!(
            sent["environmentVariables"][0],
            json!({ "key": "DBT_TARGET", "isSecret": true, "value": "prod" })
        );

        let read = file(
            "version: 1\ndeployment:\n  environment-variables:\n    - { key: NEW_TOKEN, secret: \
             true }\n",
        );
        let error = apply(&read.deployment, &current).unwrap_err();
        let DeploymentFileError::UnknownSecret { key, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(key, "NEW_TOKEN");
        assert_eq!(error.kind(), FailureKind::Input);
    }

    #[test]
    fn bad_files_name_the_key_and_the_fix() {
        let unknown =
            DeploymentFile::parse("version: 1\ndeployment:\n  max-worker: 3\n").unwrap_err();
        assert!(
            unknown.reason.contains("unknown field `max-worker`"),
            "{unknown:?}"
        );
        assert!(unknown.reason.contains("line 3"), "{unknown:?}");
        assert!(unknown.hint.contains("fix its spelling"), "{unknown:?}");

        let wrong = DeploymentFile::parse("version: 1\ndeployment:\n  cicd-enforced: yes please\n")
            .unwrap_err();
        assert!(wrong.reason.contains("cicd-enforced"), "{wrong:?}");
        assert!(wrong.reason.contains("expected a boolean"), "{wrong:?}");

        let size =
            DeploymentFile::parse("version: 1\ndeployment:\n  scheduler-size: HUGE\n").unwrap_err();
        assert!(size.reason.contains("unknown variant `HUGE`"), "{size:?}");
        assert!(size.hint.contains("one of the values"), "{size:?}");

        let version = DeploymentFile::parse("version: 2\ndeployment:\n  other: 1\n").unwrap_err();
        assert_eq!(
            version.reason,
            "`version: 2` is not supported; this tool reads `version: 1`"
        );
        let none = DeploymentFile::parse("deployment: {}\n").unwrap_err();
        assert_eq!(none.reason, "the file has no `version`");

        let secret = DeploymentFile::parse(
            "version: 1\ndeployment:\n  environment-variables:\n    - { key: S, value: x, \
             secret: true }\n",
        )
        .unwrap_err();
        assert!(secret
            .reason
            .contains("`S` is `secret: true` and has a `value`"));
        let plain = DeploymentFile::parse(
            "version: 1\ndeployment:\n  environment-variables:\n    - { key: P }\n",
        )
        .unwrap_err();
        assert!(plain.reason.contains("`P` has no `value`"), "{plain:?}");
        let twice = DeploymentFile::parse(
            "version: 1\ndeployment:\n  environment-variables:\n    - { key: P, value: a }\n    \
             - { key: P, value: b }\n",
        )
        .unwrap_err();
        assert!(twice.reason.contains("`P` is given twice"), "{twice:?}");
    }

    #[test]
    fn a_hybrid_deployment_is_refused_even_without_changes() {
        let hybrid = deployment("HYBRID");
        let read = file("version: 1\ndeployment: {}\n");
        let error = apply(&read.deployment, &hybrid).unwrap_err();
        assert_eq!(error.kind(), FailureKind::Refused);
        assert!(error.to_string().contains("Hybrid Deployment"), "{error}");
    }
}
