//! Deciding how a deploy's image is made, and making it, before anything changes on Astro.
//!
//! Three routes lead to an image:
//! - **code only**: when the Dockerfile is a plain `FROM` of an Astro Runtime image with its
//!   `ONBUILD` steps, and the dependency inputs (see [`super::inputs`]) are the ones the
//!   deployed image records in its labels, the new image is the deployed one with its last
//!   layer (the project files) replaced by a fresh, reproducible layer. No builder runs; only
//!   that layer, the config and the manifest are pushed.
//! - **full build**: otherwise, the project is built with the user's builder, checked
//!   (`--pytest`, `--parse`) inside the image, and exported as an OCI layout to push. The reason
//!   the code-only route was not taken is always reported.
//! - **prebuilt**: `--image-name` names an image that a builder holds locally, or that a
//!   registry serves.
//!
//! Every image astro-deploy builds records in labels what the next deploy needs to decide
//! safely: the dependency fingerprint (only when the Dockerfile is plain), the project files
//! fingerprint (for `--type infer`), and whether `dags/` was left out.

use std::ffi::OsString;
use std::path::Path;

use astro_api::models::Deployment;
use registry::{
    BlobOrigin, Digest, ImageConfig, ImageManifest, ImageReference, ImageSource, LayerSource,
    ManifestFormat, OciLayout, Platform, RegistryClient, RegistryConfig,
};
/// A registry login, and its password that never prints: for [`ImageRequest`].
pub use registry::{Credentials, Secret};
use serde::Serialize;

use super::builder::{self, BuildRequest, BuildSecret, BuilderOptions, ImageBuilder, Mount};
use super::dockerfile::{self, DockerfileAnalysis};
use super::inputs::{
    dependency_fingerprint, project_fingerprint, Fingerprint, DEPENDENCY_INPUTS_LABEL,
    PROJECT_FILES_LABEL,
};
use super::layer::{self, LayerOptions};
use crate::error::DeployError;
use crate::progress::{Event, Progress};
use crate::project::Project;

/// Whether the image leaves `dags/` out (`true`/`false`).
pub const DAGS_EXCLUDED_LABEL: &str = "io.astro-deploy.dags-excluded";
/// The astro-deploy version that made the image.
pub const MADE_BY_LABEL: &str = "io.astro-deploy.version";
/// The label Astro Runtime images carry their version in.
pub const RUNTIME_LABEL: &str = "io.astronomer.docker.runtime.version";

/// The user Astro's registries take with the API token as password.
const REGISTRY_USER: &str = "cli";

/// How the user asked for the image to be made.
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    /// Deploy this image instead of building one.
    pub prebuilt: Option<String>,
    /// `docker`, `podman` or `buildah`; the first found when `None`.
    pub builder: Option<String>,
    /// Where to look for builders, like `PATH`.
    pub builder_search_path: OsString,
    pub builder_options: BuilderOptions,
    pub build_args: Vec<(String, String)>,
    pub secrets: Vec<BuildSecret>,
    /// Run `pytest` on this path inside the image.
    pub pytest: Option<String>,
    /// Import every DAG inside the image.
    pub parse: bool,
    /// Skip the checks even if asked for (said so in the plan).
    pub skip_checks: bool,
    /// Never take the code-only route.
    pub full_build: bool,
    /// The login for pulling a prebuilt image from a registry other than the Deployment's;
    /// pulls from there are anonymous without it.
    pub source_credentials: Option<Credentials>,
}

/// How the image is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageRoute {
    CodeOnly,
    FullBuild,
    Prebuilt,
}

impl std::fmt::Display for ImageRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageRoute::CodeOnly => "code-only",
            ImageRoute::FullBuild => "full-build",
            ImageRoute::Prebuilt => "prebuilt",
        })
    }
}

/// The image part of a deploy plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlan {
    pub route: ImageRoute,
    /// Why the code-only route was not taken, for a full build.
    pub full_build_reason: Option<String>,
    pub exclude_dags: bool,
    /// The image the Deployment runs now.
    pub deployed_image: String,
    pub dependency_inputs: String,
    pub project_files: String,
    /// The checks that run inside the built image.
    pub checks: Vec<String>,
    pub checks_skipped: bool,
    /// The registry of the Deployment's `imageRepository`: the only one that gets the token.
    #[serde(skip)]
    astro_registry: String,
    #[serde(skip)]
    deployed: Option<DeployedImage>,
    #[serde(skip)]
    dockerfile: Option<DockerfileAnalysis>,
}

/// The image the Deployment runs, as its registry has it.
#[derive(Debug, Clone)]
struct DeployedImage {
    reference: ImageReference,
    format: ManifestFormat,
    manifest: ImageManifest,
    config: ImageConfig,
}

/// An image ready to push, with the files it is pushed from.
pub struct ProducedImage {
    pub source: ImageSource,
    pub route: ImageRoute,
    /// The Astro Runtime version of the image, from its label or its Dockerfile.
    pub runtime_version: Option<String>,
    /// Keeps the layer files until the push is done.
    _workdir: tempfile::TempDir,
}

/// A client of Astro's registry, the one of a Deployment's `imageRepository`, logged in as it
/// expects: user `cli`, the API token as password.
pub fn registry_client(repository: &str, token: &str) -> Result<RegistryClient, DeployError> {
    client_for(registry_host(repository), Some(astro_login(token)), None)
}

/// A client for reading the deployed image while planning: one retry only, since a failed
/// read just means a full build, and a plan should not wait long to learn that.
fn planning_client(repository: &str, token: &str) -> Result<RegistryClient, DeployError> {
    client_for(registry_host(repository), Some(astro_login(token)), Some(2))
}

fn astro_login(token: &str) -> Credentials {
    Credentials::new(REGISTRY_USER, Secret::new(token))
}

/// The host of `repository` (`images.astronomer.cloud/org/deployment`).
fn registry_host(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

fn client_for(
    host: &str,
    credentials: Option<Credentials>,
    max_attempts: Option<u32>,
) -> Result<RegistryClient, DeployError> {
    let mut config = RegistryConfig::new(host);
    config.credentials = credentials;
    if let Some(attempts) = max_attempts {
        config.retry.max_attempts = attempts;
    }
    RegistryClient::new(config).map_err(DeployError::Registry)
}

/// The login for pulling a prebuilt image from `source`: Astro's only on the Deployment's own
/// registry, so that the API token never reaches a registry `--image-name` happens to name;
/// elsewhere the user's source login, or none.
fn pull_login(
    source: &str,
    astro_registry: &str,
    token: &str,
    request: &ImageRequest,
) -> Option<Credentials> {
    if source.eq_ignore_ascii_case(astro_registry) {
        return Some(astro_login(token));
    }
    request.source_credentials.clone()
}

/// Decides how the image is made: reads the Dockerfile, the fingerprints and the deployed
/// image's labels. Reads only; changes nothing.
pub async fn plan(
    project: &Project,
    deployment: &Deployment,
    request: &ImageRequest,
    exclude_dags: bool,
    token: &str,
) -> Result<ImagePlan, DeployError> {
    let root = project.root();
    let dependency_inputs = dependency_fingerprint(root).map_err(DeployError::Inputs)?;
    let project_files = project_fingerprint(root).map_err(DeployError::Inputs)?;
    let deployed_image = format!("{}:{}", deployment.image_repository, deployment.image_tag);
    let checks = requested_checks(request);

    let mut plan = ImagePlan {
        route: ImageRoute::Prebuilt,
        full_build_reason: None,
        exclude_dags,
        deployed_image: deployed_image.clone(),
        dependency_inputs: dependency_inputs.as_str().to_owned(),
        project_files: project_files.as_str().to_owned(),
        checks: if request.skip_checks {
            Vec::new()
        } else {
            checks
        },
        checks_skipped: request.skip_checks,
        astro_registry: registry_host(&deployment.image_repository).to_owned(),
        deployed: None,
        dockerfile: None,
    };
    if request.prebuilt.is_some() {
        return Ok(plan);
    }

    let dockerfile =
        dockerfile::analyze_file(&root.join("Dockerfile")).map_err(DeployError::Dockerfile)?;
    let deployed = read_deployed(&deployed_image, token).await;
    let decision = code_only_blocker(request, &plan, &dockerfile, &deployed, &dependency_inputs);

    plan.dockerfile = Some(dockerfile);
    match decision {
        None => {
            plan.route = ImageRoute::CodeOnly;
            plan.deployed = deployed.ok();
        }
        Some(reason) => {
            plan.route = ImageRoute::FullBuild;
            plan.full_build_reason = Some(reason);
        }
    }
    Ok(plan)
}

/// Whether only files under `dags/` differ from the deployed image, for `--type infer`:
/// `Ok(None)` when that cannot be told (the deployed image records no fingerprint).
pub async fn only_dags_changed(
    project: &Project,
    deployment: &Deployment,
    token: &str,
) -> Result<Option<bool>, DeployError> {
    let current = project_fingerprint(project.root()).map_err(DeployError::Inputs)?;
    let deployed_image = format!("{}:{}", deployment.image_repository, deployment.image_tag);
    let Ok(deployed) = read_deployed(&deployed_image, token).await else {
        return Ok(None);
    };
    let recorded = deployed.config.labels().get(PROJECT_FILES_LABEL).cloned();
    Ok(recorded.map(|label| label == current.as_str()))
}

fn requested_checks(request: &ImageRequest) -> Vec<String> {
    let mut checks = Vec::new();
    if let Some(path) = &request.pytest {
        checks.push(format!("pytest {path}"));
    }
    if request.parse {
        checks.push("parse".to_owned());
    }
    checks
}

/// Why the code-only route cannot be proven equivalent to a full build, if it cannot.
fn code_only_blocker(
    request: &ImageRequest,
    plan: &ImagePlan,
    dockerfile: &DockerfileAnalysis,
    deployed: &Result<DeployedImage, String>,
    dependency_inputs: &Fingerprint,
) -> Option<String> {
    if request.full_build {
        return Some("--full-build was given".to_owned());
    }
    if !plan.checks.is_empty() {
        return Some(format!(
            "the checks ({}) run inside a built image",
            plan.checks.join(", ")
        ));
    }
    if !request.build_args.is_empty() || !request.secrets.is_empty() {
        return Some("build arguments and secrets need a build".to_owned());
    }
    if let Some(not_plain) = &dockerfile.not_plain {
        return Some(not_plain.to_string());
    }
    match &dockerfile.runtime {
        None => {
            return Some(format!(
                "`{}` is not an Astro Runtime image with a version in its tag",
                dockerfile.base_image
            ))
        }
        Some(runtime) if !runtime.has_onbuild() => {
            return Some(format!(
                "`{}` is a base image without the ONBUILD steps that copy the project",
                dockerfile.base_image
            ))
        }
        Some(_) => {}
    }

    let deployed = match deployed {
        Ok(deployed) => deployed,
        Err(reason) => return Some(reason.clone()),
    };
    let labels = deployed.config.labels();
    match labels.get(DEPENDENCY_INPUTS_LABEL) {
        None => {
            return Some(
                "the deployed image records no dependency fingerprint (it was not built by \
                 astro-deploy from a plain Dockerfile)"
                    .to_owned(),
            )
        }
        Some(recorded) if recorded != dependency_inputs.as_str() => {
            return Some(
                "Dockerfile, requirements.txt or packages.txt changed since the deployed image"
                    .to_owned(),
            )
        }
        Some(_) => {}
    }
    let excluded = labels.get(DAGS_EXCLUDED_LABEL).map(String::as_str);
    if excluded != Some(if plan.exclude_dags { "true" } else { "false" }) {
        return Some("DAG deploys were switched since the deployed image was built".to_owned());
    }
    if deployed.manifest.layers.is_empty() || deployed.config.diff_ids().is_empty() {
        return Some("the deployed image has no layers".to_owned());
    }
    if !last_layer_is_a_copy(&deployed.config) {
        return Some("the deployed image's last layer was not made by a COPY".to_owned());
    }
    None
}

/// Whether the history says the last layer came from a `COPY` (the project copy), rather than
/// from a build whose steps were squashed into one layer.
fn last_layer_is_a_copy(config: &ImageConfig) -> bool {
    let history = config.history.as_deref().unwrap_or_default();
    let mut with_layers = history.iter().filter(|h| h.empty_layer != Some(true));
    let last = with_layers.next_back();
    last.and_then(|h| h.created_by.as_deref())
        .is_some_and(|by| by.contains("COPY"))
}

/// Reads the deployed image's manifest and config; the error is a reason for a full build.
async fn read_deployed(reference: &str, token: &str) -> Result<DeployedImage, String> {
    let cannot = |why: String| format!("the deployed image `{reference}` could not be read: {why}");
    let reference = ImageReference::parse(reference).map_err(|e| cannot(e.to_string()))?;
    let client = planning_client(reference.registry(), token).map_err(|e| cannot(e.to_string()))?;
    let tag = reference.reference();

    let (raw, manifest) = client
        .get_image_manifest(reference.repository(), &tag, &Platform::linux_amd64())
        .await
        .map_err(|e| cannot(e.to_string()))?;
    let format = ManifestFormat::of_media_type(&raw.media_type)
        .ok_or_else(|| cannot(format!("its manifest type `{}` is unknown", raw.media_type)))?;
    let config_bytes = client
        .get_blob_bytes(reference.repository(), &manifest.config.digest)
        .await
        .map_err(|e| cannot(e.to_string()))?;
    let config = ImageConfig::from_slice(&config_bytes).map_err(|e| cannot(e.to_string()))?;
    Ok(DeployedImage {
        reference,
        format,
        manifest,
        config,
    })
}

/// Makes the planned image, locally: builds and checks it, or writes the new project layer.
/// Nothing is pushed and nothing changes on Astro.
pub async fn produce(
    plan: &ImagePlan,
    project: &Project,
    request: &ImageRequest,
    deployment_id: &str,
    token: &str,
    progress: &dyn Progress,
) -> Result<ProducedImage, DeployError> {
    let workdir = tempfile::Builder::new()
        .prefix("astro-deploy-image-")
        .tempdir()
        .map_err(DeployError::TempFile)?;

    let (source, runtime) = match plan.route {
        ImageRoute::CodeOnly => code_only(plan, project, workdir.path(), token).await?,
        ImageRoute::FullBuild => {
            full_build(
                plan,
                project,
                request,
                deployment_id,
                workdir.path(),
                progress,
            )
            .await?
        }
        ImageRoute::Prebuilt => {
            let name = request.prebuilt.as_deref().unwrap_or_default();
            let login = |source: &str| pull_login(source, &plan.astro_registry, token, request);
            prebuilt(name, request, &login, workdir.path(), progress).await?
        }
    };
    let runtime_version = runtime.or_else(|| {
        let runtime = plan.dockerfile.as_ref()?.runtime.as_ref()?;
        Some(runtime.version.to_string())
    });
    Ok(ProducedImage {
        source,
        route: plan.route,
        runtime_version,
        _workdir: workdir,
    })
}

/// The deployed image with its last layer replaced by the project's files as they are now.
async fn code_only(
    plan: &ImagePlan,
    project: &Project,
    workdir: &Path,
    token: &str,
) -> Result<(ImageSource, Option<String>), DeployError> {
    let deployed = plan.deployed.as_ref().ok_or(DeployError::Internal(
        "the code-only route was planned without the deployed image",
    ))?;
    let client = registry_client(deployed.reference.registry(), token)?;
    let repository = deployed.reference.repository();
    let layers = &deployed.manifest.layers;
    let (last, kept) = layers
        .split_last()
        .ok_or(DeployError::Internal("no layers"))?;

    // The replaced layer tells the owner and the folders above the project, as the runtime
    // image made them.
    let old_layer = workdir.join("replaced-layer.tar.gz");
    client
        .get_blob_to_file(repository, &last.digest, &old_layer)
        .await
        .map_err(DeployError::Registry)?;
    let options = layer_options_from(&old_layer, plan.exclude_dags)?;

    let new_layer = workdir.join("project-layer.tar.gz");
    let root = project.root().to_owned();
    let output = new_layer.clone();
    let summary =
        tokio::task::spawn_blocking(move || layer::write_project_layer(&root, &options, &output))
            .await
            .map_err(|e| DeployError::TempFile(std::io::Error::other(e.to_string())))?
            .map_err(DeployError::Layer)?;

    let config = replace_last_diff_id(&deployed.config, &summary.diff_id, plan)?;
    let origin = BlobOrigin::of(&deployed.reference);
    let mut sources: Vec<LayerSource> = kept
        .iter()
        .map(|d| LayerSource::in_registry(&d.media_type, d.digest.clone(), d.size, origin.clone()))
        .collect();
    let digest = parse_digest(&summary.digest)?;
    sources.push(LayerSource::file(
        &last.media_type,
        digest,
        summary.size,
        new_layer,
    ));

    let runtime = config.labels().get(RUNTIME_LABEL).cloned();
    let source = ImageSource {
        format: deployed.format,
        config: config.to_vec().map_err(DeployError::Json)?.into(),
        layers: sources,
        annotations: None,
        stored_manifest: None,
    };
    Ok((source, runtime))
}

/// The owner and parent folders of the layer being replaced.
fn layer_options_from(old_layer: &Path, exclude_dags: bool) -> Result<LayerOptions, DeployError> {
    let read = || std::fs::File::open(old_layer).map_err(DeployError::TempFile);
    let parent_dirs =
        layer::parent_dirs_from_layer(read()?, layer::AIRFLOW_HOME).map_err(DeployError::Layer)?;
    let (uid, gid) = project_owner(read()?)?.unwrap_or((layer::ASTRO_UID, layer::ASTRO_GID));
    Ok(LayerOptions {
        uid,
        gid,
        exclude_dags,
        parent_dirs,
        ..LayerOptions::default()
    })
}

/// The owner of the project's files in a project layer: that of its first entry below the
/// project folder.
fn project_owner(layer: impl std::io::Read) -> Result<Option<(u64, u64)>, DeployError> {
    let prefix = format!("{}/", layer::AIRFLOW_HOME);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    for entry in archive.entries().map_err(DeployError::TempFile)? {
        let entry = entry.map_err(DeployError::TempFile)?;
        let path = entry
            .path()
            .map_err(DeployError::TempFile)?
            .to_string_lossy()
            .into_owned();
        let below = path.trim_start_matches("./").strip_prefix(&prefix);
        if below.is_some_and(|rest| !rest.trim_end_matches('/').is_empty()) {
            let header = entry.header();
            let uid = header.uid().map_err(DeployError::TempFile)?;
            let gid = header.gid().map_err(DeployError::TempFile)?;
            return Ok(Some((uid, gid)));
        }
    }
    Ok(None)
}

fn replace_last_diff_id(
    config: &ImageConfig,
    diff_id: &str,
    plan: &ImagePlan,
) -> Result<ImageConfig, DeployError> {
    let mut config = config.clone();
    let rootfs = config
        .rootfs
        .as_mut()
        .ok_or(DeployError::Internal("config without rootfs"))?;
    let last = rootfs
        .diff_ids
        .last_mut()
        .ok_or(DeployError::Internal("no diff_ids"))?;
    *last = parse_digest(diff_id)?;
    config.set_label(PROJECT_FILES_LABEL, &plan.project_files);
    config.set_label(MADE_BY_LABEL, env!("CARGO_PKG_VERSION"));
    Ok(config)
}

fn parse_digest(text: &str) -> Result<Digest, DeployError> {
    Digest::parse(text).map_err(|_| DeployError::Internal("the layer writer made a bad digest"))
}

/// Builds the project, runs the checks inside the image, and exports it for the push.
async fn full_build(
    plan: &ImagePlan,
    project: &Project,
    request: &ImageRequest,
    deployment_id: &str,
    workdir: &Path,
    progress: &dyn Progress,
) -> Result<(ImageSource, Option<String>), DeployError> {
    let builder = find_builder(request).await?;
    let tag = format!(
        "localhost/astro-deploy/{deployment_id}:{}",
        short(&plan.project_files)
    );

    let mut build = BuildRequest::new(project.root(), &tag);
    build.build_args = request.build_args.clone();
    build.secrets = request.secrets.clone();
    build.exclude_dags = plan.exclude_dags;
    build.labels = labels_for(plan);
    progress.event(Event::Building {
        builder: builder.builder().name().to_owned(),
        tag: tag.clone(),
    });
    let on_line = |line: &str| progress.event(Event::BuilderOutput(line.to_owned()));
    builder
        .build(&build, &on_line)
        .await
        .map_err(DeployError::Builder)?;

    run_checks(&builder, &tag, plan, project.root(), progress).await?;
    export(&builder, &tag, workdir).await
}

/// The labels every built image carries. The dependency fingerprint is recorded only for a
/// plain Dockerfile: only then is the last layer the project files.
fn labels_for(plan: &ImagePlan) -> Vec<(String, String)> {
    let plain = plan
        .dockerfile
        .as_ref()
        .is_some_and(DockerfileAnalysis::is_plain);
    let mut labels = vec![
        (PROJECT_FILES_LABEL.to_owned(), plan.project_files.clone()),
        (
            DAGS_EXCLUDED_LABEL.to_owned(),
            plan.exclude_dags.to_string(),
        ),
        (
            MADE_BY_LABEL.to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ];
    if plain {
        labels.push((
            DEPENDENCY_INPUTS_LABEL.to_owned(),
            plan.dependency_inputs.clone(),
        ));
    }
    labels
}

async fn run_checks(
    builder: &ImageBuilder,
    image: &str,
    plan: &ImagePlan,
    project_root: &Path,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let on_line = |line: &str| progress.event(Event::BuilderOutput(line.to_owned()));
    // An image without dags/ sees the project's DAGs through a read-only mount.
    let mounts: Vec<Mount> = if plan.exclude_dags {
        vec![Mount::project_dags(project_root)]
    } else {
        Vec::new()
    };

    for check in &plan.checks {
        let argv = match check.strip_prefix("pytest ") {
            Some(path) => builder::pytest_command(Some(path)),
            None => builder::parse_command(),
        };
        progress.event(Event::CheckStarted {
            check: check.clone(),
        });
        builder
            .run_in_image(image, &argv, &mounts, &on_line)
            .await
            .map_err(DeployError::Builder)?
            .ensure_passed(check, image)
            .map_err(DeployError::Builder)?;
        progress.event(Event::CheckPassed {
            check: check.clone(),
        });
    }
    Ok(())
}

async fn export(
    builder: &ImageBuilder,
    image: &str,
    workdir: &Path,
) -> Result<(ImageSource, Option<String>), DeployError> {
    let dir = workdir.join("oci");
    let exported = builder
        .export_oci_layout(image, &dir)
        .await
        .map_err(DeployError::Builder)?;
    let layout = OciLayout::open(&exported.dir).map_err(DeployError::Registry)?;
    let local = layout
        .image(Some(&exported.reference), &Platform::linux_amd64())
        .map_err(DeployError::Registry)?;
    let runtime = local.config.labels().get(RUNTIME_LABEL).cloned();
    Ok((local.to_source(), runtime))
}

async fn find_builder(request: &ImageRequest) -> Result<ImageBuilder, DeployError> {
    let builder = builder::detect(request.builder.as_deref(), &request.builder_search_path)
        .await
        .map_err(DeployError::Builder)?;
    Ok(builder.with_options(request.builder_options.clone()))
}

/// A prebuilt image: from a registry when its name starts with a registry host, else from the
/// builder that holds it. Either way it is deployed as it is, without checks.
async fn prebuilt(
    name: &str,
    request: &ImageRequest,
    login: &dyn Fn(&str) -> Option<Credentials>,
    workdir: &Path,
    progress: &dyn Progress,
) -> Result<(ImageSource, Option<String>), DeployError> {
    if !names_registry(name) {
        let builder = find_builder(request).await?;
        progress.event(Event::Warning(format!(
            "deploying the prebuilt image `{name}` as it is: no checks run on it"
        )));
        return export(&builder, name, workdir).await;
    }

    let reference = ImageReference::parse(name).map_err(|e| DeployError::ImageName {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    let client = client_for(reference.registry(), login(reference.registry()), None)?;
    let repository = reference.repository();
    let (raw, manifest) = client
        .get_image_manifest(repository, &reference.reference(), &Platform::linux_amd64())
        .await
        .map_err(DeployError::Registry)?;
    let config = client
        .get_blob_bytes(repository, &manifest.config.digest)
        .await
        .map_err(DeployError::Registry)?;

    let mut layers = Vec::new();
    for (index, layer) in manifest.layers.iter().enumerate() {
        let path = workdir.join(format!("layer-{index}"));
        client
            .get_blob_to_file(repository, &layer.digest, &path)
            .await
            .map_err(DeployError::Registry)?;
        // On the target's registry, the push mounts the layer instead of sending it again.
        let source = LayerSource::file(&layer.media_type, layer.digest.clone(), layer.size, path);
        layers.push(source.with_origin(BlobOrigin::of(&reference)));
    }
    let runtime = ImageConfig::from_slice(&config)
        .ok()
        .and_then(|c| c.labels().get(RUNTIME_LABEL).cloned());
    let source = ImageSource {
        format: ManifestFormat::of_media_type(&raw.media_type).unwrap_or(ManifestFormat::Oci),
        config,
        layers,
        annotations: None,
        stored_manifest: None,
    };
    Ok((source, runtime))
}

/// Whether an image name starts with a registry host (`host.tld/`, `host:port/`). A bare
/// `localhost/` is how Buildah and Podman name the images they built, so it means local.
fn names_registry(name: &str) -> bool {
    match name.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':'),
        None => false,
    }
}

fn short(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

/// Refuses a runtime that Astro does not offer for the Deployment, or older than the
/// Deployment's. Answers a warning when the versions cannot be compared, so that a version this
/// code cannot read is said out loud rather than let through in silence.
pub fn check_runtime(
    runtime: &str,
    deployment: &Deployment,
    offered: &[String],
) -> Result<Option<String>, DeployError> {
    if !offered.iter().any(|v| v == runtime) {
        return Err(DeployError::RuntimeNotOffered {
            runtime: runtime.to_owned(),
            offered: offered.to_vec(),
        });
    }

    let current = &deployment.astro_runtime_version;
    let (wanted, now) = match (
        runtime.parse::<dockerfile::RuntimeVersion>(),
        current.parse::<dockerfile::RuntimeVersion>(),
    ) {
        (Ok(wanted), Ok(now)) => (wanted, now),
        (Err(error), _) | (_, Err(error)) => {
            return Ok(Some(format!(
                "Astro Runtime `{runtime}` was not compared with the Deployment's `{current}` \
                 ({error}); Astro checks for a downgrade when the deploy is finalized"
            )))
        }
    };
    if wanted < now {
        return Err(DeployError::RuntimeDowngrade {
            runtime: runtime.to_owned(),
            current: current.clone(),
        });
    }
    Ok(None)
}

/// Where the pushed image should go, from the create-deploy answer.
pub fn target_reference(repository: &str, tag: &str) -> Result<ImageReference, DeployError> {
    ImageReference::parse(&format!("{repository}:{tag}")).map_err(|e| DeployError::ImageName {
        name: format!("{repository}:{tag}"),
        reason: e.to_string(),
    })
}

/// Pushes a produced image to Astro's registry.
pub async fn push(
    image: &ProducedImage,
    target: &ImageReference,
    token: &str,
    progress: &dyn registry::PushProgress,
) -> Result<registry::PushReport, DeployError> {
    let client = registry_client(target.registry(), token)?;
    registry::push_image(&client, &image.source, target, progress)
        .await
        .map_err(DeployError::Registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_have_a_host_with_a_dot_or_port() {
        assert!(names_registry("quay.io/astronomer/astro-runtime:12.2.0"));
        assert!(names_registry("127.0.0.1:5000/team/image:1"));
        assert!(!names_registry("localhost/astro-deploy/cdep:abc"));
        assert!(!names_registry("my-image:latest"));
        assert!(!names_registry("team/image:1"));
    }

    #[test]
    fn the_api_token_goes_only_to_the_deployments_registry() {
        let astro = "images.astronomer.cloud";
        let mut request = ImageRequest::default();

        let own = pull_login("Images.Astronomer.Cloud", astro, "astro-token", &request);
        let own = own.expect("Astro's registry gets Astro's login");
        assert_eq!(own.username, "cli");
        assert_eq!(own.password.expose(), "astro-token");
        assert!(pull_login("quay.io", astro, "astro-token", &request).is_none());

        request.source_credentials = Some(Credentials::new("puller", "pull-secret"));
        let other = pull_login("quay.io", astro, "astro-token", &request).unwrap();
        assert_eq!(other.username, "puller");
        assert_eq!(other.password.expose(), "pull-secret");
    }

    #[test]
    fn only_offered_runtimes_and_no_downgrades_pass() {
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "id": "cdep", "name": "d", "organizationId": "o", "workspaceId": "w",
            "status": "HEALTHY", "isDagDeployEnabled": true, "isCicdEnforced": false,
            "astroRuntimeVersion": "12.2.0", "imageRepository": "r", "imageTag": "t",
            "webServerUrl": "u"
        }))
        .unwrap();
        let offered = vec![
            "12.1.0".to_owned(),
            "12.2.0".to_owned(),
            "12.10.0".to_owned(),
        ];

        assert!(matches!(
            check_runtime("12.2.0", &deployment, &offered),
            Ok(None)
        ));
        assert!(matches!(
            check_runtime("12.10.0", &deployment, &offered),
            Ok(None)
        ));
        assert!(matches!(
            check_runtime("12.1.0", &deployment, &offered),
            Err(DeployError::RuntimeDowngrade { .. })
        ));
        assert!(matches!(
            check_runtime("13.0.0", &deployment, &offered),
            Err(DeployError::RuntimeNotOffered { .. })
        ));
    }

    #[test]
    fn runtime_3_versions_are_checked_and_unreadable_ones_warned_about() {
        let on = |runtime: &str| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "id": "cdep", "name": "d", "organizationId": "o", "workspaceId": "w",
                "status": "HEALTHY", "isDagDeployEnabled": true, "isCicdEnforced": false,
                "astroRuntimeVersion": runtime, "imageRepository": "r", "imageTag": "t",
                "webServerUrl": "u"
            }))
            .unwrap()
        };
        let offered: Vec<String> = ["12.2.0", "3.0-9", "3.0-10", "3.1-1", "nightly"]
            .map(str::to_owned)
            .into();

        assert!(matches!(
            check_runtime("3.0-10", &on("12.2.0"), &offered),
            Ok(None)
        ));
        assert!(matches!(
            check_runtime("3.1-1", &on("3.0-10"), &offered),
            Ok(None)
        ));
        assert!(matches!(
            check_runtime("3.0-9", &on("3.0-10"), &offered),
            Err(DeployError::RuntimeDowngrade { .. })
        ));
        assert!(matches!(
            check_runtime("12.2.0", &on("3.0-9"), &offered),
            Err(DeployError::RuntimeDowngrade { .. })
        ));

        let warning = check_runtime("nightly", &on("12.2.0"), &offered).unwrap();
        let warning = warning.expect("an unreadable version is said out loud");
        assert!(warning.contains("`nightly` was not compared"), "{warning}");
        assert!(
            warning.contains("Astro checks for a downgrade"),
            "{warning}"
        );
    }
}
