//! The seeded organization, and how new objects get their ids, names and defaults.
//!
//! A fresh state holds one organization, one workspace and two STANDARD deployments:
//! `dags-enabled` (DAG deploys on, CI/CD enforced, development mode so that it can hibernate)
//! and `dags-disabled` (DAG deploys off, CI/CD not enforced). Values that Astro fills in on its
//! own (namespaces, web server URLs, scheduler sizes) get plausible values of the same shape.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::{Rng as _, RngCore as _};
use time::OffsetDateTime;

use crate::clock;
use crate::model::{
    AstroMachine, CloudProvider, Deployment, DeploymentStatus, DeploymentType, EnvironmentVariable,
    EnvironmentVariableRequest, Executor, HibernationSpec, Organization, ScalingSpec,
    SchedulerSize, StandardDeploymentBody, Subject, SubjectType, WorkerQueue, WorkerQueueRequest,
    Workspace,
};
use crate::state::{DeploymentRecord, Keys, Seed, Settings, StateData, FORMAT};

/// The registry host of `imageRepository` unless the configuration names another.
pub(crate) const DEFAULT_REGISTRY_HOST: &str = "images.emulator.local";

/// Astro Runtime releases the emulator offers: version, Airflow version, release date.
pub(crate) const RUNTIME_RELEASES: &[(&str, &str, &str)] = &[
    ("12.0.0", "2.10.0", "2024-08-16T00:00:00Z"),
    ("12.1.0", "2.10.1", "2024-09-09T00:00:00Z"),
    ("12.2.0", "2.10.2", "2024-10-07T00:00:00Z"),
    ("12.3.0", "2.10.3", "2024-11-11T00:00:00Z"),
    ("12.4.0", "2.10.3", "2024-11-26T00:00:00Z"),
];

/// The runtime version new deployments get in the seed.
const SEED_RUNTIME: &str = "12.2.0";

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A cuid-like id: `c`, eight base-36 digits of time, sixteen random ones; 25 in all.
pub(crate) fn new_id() -> String {
    let millis = u64::try_from(clock::unix_ms(clock::now())).unwrap_or_default();
    let mut time_part = String::new();
    let mut rest = millis;
    for _ in 0..8 {
        time_part.insert(0, char::from(ALPHABET[(rest % 36) as usize]));
        rest /= 36;
    }

    let mut rng = rand::thread_rng();
    let random: String = (0..16)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("c{time_part}{random}")
}

/// A random base64 secret of 32 bytes.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}

/// The Airflow version a runtime release carries, if the emulator offers that release.
pub(crate) fn airflow_version(runtime: &str) -> Option<&'static str> {
    let mut releases = RUNTIME_RELEASES.iter();
    releases
        .find(|(version, _, _)| *version == runtime)
        .map(|(_, airflow, _)| *airflow)
}

/// The person behind user session tokens.
pub(crate) fn user_subject(user_id: &str) -> Subject {
    Subject {
        id: user_id.to_owned(),
        subject_type: SubjectType::User,
        username: Some("emulator.user@example.com".to_owned()),
        full_name: Some("Emulator User".to_owned()),
        api_token_name: None,
    }
}

/// The API token behind API-token requests.
pub(crate) fn token_subject(api_token_id: &str) -> Subject {
    Subject {
        id: api_token_id.to_owned(),
        subject_type: SubjectType::Servicekey,
        username: None,
        full_name: None,
        api_token_name: Some("emulator-api-token".to_owned()),
    }
}

/// A whole new state: keys, the organization, its workspace and the two deployments.
pub(crate) fn fresh(settings: &Settings) -> StateData {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let user_id = new_id();
    let user = user_subject(&user_id);

    let organization = Organization {
        id: new_id(),
        name: "Emulated Organization".to_owned(),
        billing_email: "billing@example.com".to_owned(),
        created_at: stamp.clone(),
        updated_at: stamp.clone(),
        created_by: user.clone(),
        updated_by: user.clone(),
        is_scim_enabled: false,
        payment_method: "CREDIT_CARD".to_owned(),
        product: "HOSTED".to_owned(),
        status: "ACTIVE".to_owned(),
        support_plan: "STANDARD".to_owned(),
    };
    let workspace = Workspace {
        id: new_id(),
        name: "Emulated Workspace".to_owned(),
        description: "The workspace seeded by the Astro emulator".to_owned(),
        organization_id: organization.id.clone(),
        organization_name: organization.name.clone(),
        cicd_enforced_default: false,
        created_at: stamp.clone(),
        updated_at: stamp,
        created_by: user.clone(),
        updated_by: user.clone(),
    };

    let enabled = seeded_deployment("dags-enabled", true, &workspace, settings, &user, now);
    let disabled = seeded_deployment("dags-disabled", false, &workspace, settings, &user, now);
    let seed = Seed {
        organization_id: organization.id.clone(),
        workspace_id: workspace.id.clone(),
        dags_enabled: enabled.deployment.id.clone(),
        dags_disabled: disabled.deployment.id.clone(),
        api_token_id: new_id(),
        user_id,
    };

    StateData {
        format: FORMAT,
        keys: Keys {
            kid: format!("emulator-{}", &new_id()[17..]),
            jwt: new_secret(),
            sas: new_secret(),
        },
        seed,
        organization,
        workspaces: vec![workspace],
        deployments: vec![enabled, disabled],
        deploys: Vec::new(),
        blobs: Default::default(),
        airflow: Default::default(),
        last_version_id: None,
        iam: Default::default(),
    }
}

/// A HEALTHY Deployment like the seeded ones: with `dags`, DAG deploys on, CI/CD enforced and
/// development mode; without, all three off.
pub(crate) fn seeded_deployment(
    name: &str,
    dags: bool,
    workspace: &Workspace,
    settings: &Settings,
    user: &Subject,
    now: OffsetDateTime,
) -> DeploymentRecord {
    let body = StandardDeploymentBody {
        kind: DeploymentType::Standard,
        name: name.to_owned(),
        description: Some(format!(
            "Seeded by the Astro emulator: DAG deploys {}",
            on_off(dags)
        )),
        workspace_id: workspace.id.clone(),
        astro_runtime_version: Some(SEED_RUNTIME.to_owned()),
        cloud_provider: Some(CloudProvider::Aws),
        cluster_id: None,
        region: Some("us-east-1".to_owned()),
        contact_emails: None,
        default_task_pod_cpu: "0.25".to_owned(),
        default_task_pod_memory: "0.5Gi".to_owned(),
        resource_quota_cpu: "10".to_owned(),
        resource_quota_memory: "20Gi".to_owned(),
        environment_variables: None,
        executor: Executor::Celery,
        is_cicd_enforced: dags,
        is_dag_deploy_enabled: dags,
        is_development_mode: Some(dags),
        is_high_availability: false,
        scaling_spec: None,
        scheduler_size: SchedulerSize::Small,
        worker_queues: None,
        workload_identity: None,
    };

    let mut record = new_deployment(body, workspace, settings, user, now);
    record.deployment.status = DeploymentStatus::Healthy;
    record.deployment.status_reason = Some("Successfully Deployed".to_owned());
    record.rollout_due_ms = None;
    record.refresh_scaling_status();
    record
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// A new Deployment from a checked create body; it answers `CREATING` until the rollout delay
/// has passed.
pub(crate) fn new_deployment(
    body: StandardDeploymentBody,
    workspace: &Workspace,
    settings: &Settings,
    by: &Subject,
    now: OffsetDateTime,
) -> DeploymentRecord {
    let stamp = clock::rfc3339(now);
    let runtime = body
        .astro_runtime_version
        .unwrap_or_else(|| SEED_RUNTIME.to_owned());
    let airflow = airflow_version(&runtime).unwrap_or("NA").to_owned();
    let (environment_variables, secret_values) = environment(
        body.environment_variables.unwrap_or_default(),
        &Default::default(),
        &stamp,
    );
    let schedules = body
        .scaling_spec
        .and_then(|spec| spec.hibernation_spec?.schedules);
    let is_development_mode = body.is_development_mode.unwrap_or(false);

    let mut deployment = Deployment {
        id: new_id(),
        name: body.name,
        description: body.description,
        organization_id: workspace.organization_id.clone(),
        workspace_id: workspace.id.clone(),
        workspace_name: workspace.name.clone(),
        kind: DeploymentType::Standard,
        cloud_provider: body.cloud_provider.unwrap_or(CloudProvider::Aws),
        region: body.region.unwrap_or_else(|| "us-east-1".to_owned()),
        cluster_id: body.cluster_id.unwrap_or_else(new_id),
        airflow_version: airflow,
        astro_runtime_version: runtime.clone(),
        runtime_version: runtime,
        status: DeploymentStatus::Creating,
        status_reason: Some("Creating".to_owned()),
        created_at: stamp.clone(),
        updated_at: stamp.clone(),
        created_by: by.clone(),
        updated_by: by.clone(),
        contact_emails: body.contact_emails,
        dag_tarball_version: None,
        desired_dag_tarball_version: None,
        default_task_pod_cpu: body.default_task_pod_cpu,
        default_task_pod_memory: body.default_task_pod_memory,
        resource_quota_cpu: body.resource_quota_cpu,
        resource_quota_memory: body.resource_quota_memory,
        environment_variables,
        executor: body.executor,
        image_repository: String::new(),
        image_tag: clock::image_tag(now),
        image_version: clock::image_tag(now),
        is_cicd_enforced: body.is_cicd_enforced,
        is_dag_deploy_enabled: body.is_dag_deploy_enabled,
        is_development_mode,
        is_high_availability: body.is_high_availability,
        namespace: new_namespace(),
        scaling_spec: is_development_mode.then_some(ScalingSpec {
            hibernation_spec: Some(HibernationSpec {
                override_: None,
                schedules,
            }),
        }),
        scaling_status: None,
        scheduler_cpu: String::new(),
        scheduler_memory: String::new(),
        scheduler_replicas: if body.is_high_availability { 2 } else { 1 },
        scheduler_size: body.scheduler_size,
        web_server_airflow_api_url: String::new(),
        web_server_cpu: "0.5".to_owned(),
        web_server_ingress_hostname: String::new(),
        web_server_memory: "2Gi".to_owned(),
        web_server_replicas: if body.is_high_availability { 2 } else { 1 },
        web_server_url: String::new(),
        worker_queues: queues(body.executor, body.worker_queues, &[]),
        workload_identity: body.workload_identity,
    };
    set_scheduler(&mut deployment);
    set_urls(&mut deployment, settings);

    let mut record = DeploymentRecord {
        deployment,
        secret_values,
        rollout_due_ms: Some(clock::unix_ms(now + settings.rollout_delay)),
        scheduled_asleep: false,
    };
    record.refresh_scaling_status();
    record
}

/// Scheduler resources follow the scheduler size, as on Astro Hosted.
pub(crate) fn set_scheduler(deployment: &mut Deployment) {
    let (cpu, memory) = match deployment.scheduler_size {
        SchedulerSize::Small => ("1", "2Gi"),
        SchedulerSize::Medium => ("2", "4Gi"),
        SchedulerSize::Large => ("4", "8Gi"),
        SchedulerSize::ExtraLarge => ("8", "16Gi"),
    };
    deployment.scheduler_cpu = cpu.to_owned();
    deployment.scheduler_memory = memory.to_owned();
}

/// Web server URLs (scheme-less, as Astro writes them) and the image repository.
pub(crate) fn set_urls(deployment: &mut Deployment, settings: &Settings) {
    let short = &deployment.id[deployment.id.len().saturating_sub(8)..];
    let ingress = format!("{}/airflow/{short}", settings.base_host);

    deployment.web_server_url = ingress.clone();
    deployment.web_server_airflow_api_url = format!("{ingress}/api/v1");
    deployment.web_server_ingress_hostname = ingress;
    deployment.image_repository = format!(
        "{}/{}/airflow",
        settings.registry_host, deployment.namespace
    );
}

/// Environment variables as answered, and the secret values kept aside. A secret sent back
/// without a value keeps the value stored under its key in `kept`.
pub(crate) fn environment(
    requests: Vec<EnvironmentVariableRequest>,
    kept: &std::collections::BTreeMap<String, String>,
    stamp: &str,
) -> (
    Vec<EnvironmentVariable>,
    std::collections::BTreeMap<String, String>,
) {
    let mut secrets = std::collections::BTreeMap::new();
    let mut variables = Vec::new();

    for mut request in requests {
        if request.is_secret {
            let value = request
                .value
                .take()
                .or_else(|| kept.get(&request.key).cloned());
            if let Some(value) = value {
                secrets.insert(request.key.clone(), value);
            }
        }
        variables.push(EnvironmentVariable {
            value: request.value,
            key: request.key,
            is_secret: request.is_secret,
            updated_at: stamp.to_owned(),
        });
    }
    (variables, secrets)
}

/// Worker queues for a body: Celery Deployments always have one, named `default`. A queue
/// keeps its id when the request names it or a queue of the same name exists.
pub(crate) fn queues(
    executor: Executor,
    requests: Option<Vec<WorkerQueueRequest>>,
    existing: &[WorkerQueue],
) -> Vec<WorkerQueue> {
    if executor == Executor::Kubernetes {
        return Vec::new();
    }
    let requests = requests.unwrap_or_else(|| {
        vec![WorkerQueueRequest {
            id: None,
            name: "default".to_owned(),
            is_default: true,
            astro_machine: AstroMachine::A5,
            max_worker_count: 10,
            min_worker_count: 0,
            worker_concurrency: 5,
        }]
    });

    let known = |request: &WorkerQueueRequest| {
        let by_id = existing
            .iter()
            .find(|queue| Some(&queue.id) == request.id.as_ref());
        by_id.or_else(|| existing.iter().find(|queue| queue.name == request.name))
    };
    requests
        .into_iter()
        .map(|request| {
            let (pod_cpu, pod_memory) = request.astro_machine.pod_size();
            WorkerQueue {
                id: known(&request).map_or_else(new_id, |queue| queue.id.clone()),
                name: request.name,
                is_default: request.is_default,
                astro_machine: request.astro_machine,
                max_worker_count: request.max_worker_count,
                min_worker_count: request.min_worker_count,
                worker_concurrency: request.worker_concurrency,
                pod_cpu: pod_cpu.to_owned(),
                pod_memory: pod_memory.to_owned(),
            }
        })
        .collect()
}

/// A Kubernetes namespace in Astro's style: `adjective-noun-1234`.
fn new_namespace() -> String {
    const ADJECTIVES: &[&str] = &["celestial", "weightless", "sparkling", "quiet", "radiant"];
    const NOUNS: &[&str] = &["nebula", "diameter", "orbit", "quasar", "meteor"];

    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.gen_range(0..NOUNS.len())];
    format!("{adjective}-{noun}-{:04}", rng.gen_range(0..10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_cuids() {
        let id = new_id();

        assert_eq!(id.len(), 25);
        assert!(id.starts_with('c'));
        assert!(id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase()));
        assert_ne!(id, new_id());
    }
}
