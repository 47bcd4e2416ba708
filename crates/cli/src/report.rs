//! Rendering: results on stdout (text or one JSON object), progress on stderr (bars on a
//! terminal, plain log lines in CI).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;

use deploy::image::produce::ImageRoute;
use deploy::pipeline::{DeployState, Outcome, Plan};
use deploy::progress::human_bytes;
use deploy::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::args::OutputFormat;

/// Every bar of the process, drawn together, so that a log line can be written above them
/// (see [`crate::logging`]) instead of into the middle of one.
pub fn bars() -> &'static MultiProgress {
    static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// Shows the core's progress events.
pub struct Reporter {
    /// Bars only when a person watches: stderr is a terminal and no CI runs us.
    interactive: bool,
    bar: Mutex<Option<ProgressBar>>,
    layers: Mutex<LayerBars>,
}

/// One bar per layer being pushed.
#[derive(Default)]
struct LayerBars {
    bars: HashMap<String, ProgressBar>,
}

impl LayerBars {
    fn start(&mut self, digest: &str, size: u64) {
        let style = ProgressStyle::with_template("  {prefix} {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = bars().add(ProgressBar::new(size).with_style(style));
        bar.set_prefix(short_digest(digest).to_owned());
        self.bars.insert(digest.to_owned(), bar);
    }

    fn advance(&mut self, digest: &str, sent: u64) {
        if let Some(bar) = self.bars.get(digest) {
            bar.set_position(sent);
        }
    }

    fn finish(&mut self, digest: &str) {
        if let Some(bar) = self.bars.remove(digest) {
            bar.finish_and_clear();
        }
    }
}

fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

impl Reporter {
    pub fn new() -> Self {
        let interactive = std::io::stderr().is_terminal() && ci::CiRun::detect().is_none();
        Self {
            interactive,
            bar: Mutex::new(None),
            layers: Mutex::new(LayerBars::default()),
        }
    }

    fn with_layers(&self, f: impl FnOnce(&mut LayerBars)) {
        let mut layers = self
            .layers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut layers);
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        // A poisoned lock only means another thread panicked while drawing; keep drawing.
        let mut bar = self
            .bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut bar);
    }
}

impl Progress for Reporter {
    fn event(&self, event: Event) {
        match event {
            Event::DeploymentFound { id, name, status } => {
                tracing::info!("Deployment `{name}` ({id}) is {status}");
            }
            Event::BundleBuilt {
                files,
                bytes,
                sha256,
            } => {
                tracing::info!(
                    "bundled dags/: {files} files, {}, sha256 {sha256}",
                    human_bytes(bytes)
                );
            }
            Event::Waking { deployment_id } => {
                tracing::info!("waking Deployment `{deployment_id}` for the deploy");
            }
            Event::DeployCreated { deploy_id } => tracing::info!("created deploy `{deploy_id}`"),
            Event::UploadStarted { total_bytes } => {
                tracing::info!("uploading the bundle ({})", human_bytes(total_bytes));
                if self.interactive {
                    let bar = ProgressBar::new(total_bytes).with_style(
                        ProgressStyle::with_template("  {bar:30} {bytes}/{total_bytes} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    let bar = bars().add(bar);
                    self.with_bar(|slot| *slot = Some(bar));
                }
            }
            Event::UploadProgress { sent_bytes, .. } => self.with_bar(|slot| {
                if let Some(bar) = slot {
                    bar.set_position(sent_bytes);
                }
            }),
            Event::UploadFinished { version } => {
                self.with_bar(|slot| {
                    if let Some(bar) = slot.take() {
                        bar.finish_and_clear();
                    }
                });
                tracing::info!("uploaded; bundle version {version}");
            }
            Event::Finalized { deploy_id } => tracing::info!("finalized deploy `{deploy_id}`"),
            Event::Waiting { status, rolled_out } => {
                let bundle = if rolled_out {
                    "new bundle live"
                } else {
                    "new bundle pending"
                };
                tracing::info!("waiting: Deployment is {status}, {bundle}");
            }
            Event::PreviewFound { id, name } => {
                tracing::info!("preview `{name}` ({id}) is already there");
            }
            Event::PreviewCreated { id, name } => tracing::info!("created preview `{name}` ({id})"),
            Event::PreviewDeleted { id, name, reason } => {
                tracing::info!("deleted preview `{name}` ({id}): {reason}");
            }
            Event::HibernationRestored { deployment_id } => {
                tracing::info!("gave Deployment `{deployment_id}` its hibernation schedule back");
            }
            Event::ImagePlanned { route, reason } => match reason {
                Some(reason) => tracing::info!("image: {route}, because {reason}"),
                None => tracing::info!("image: {route}"),
            },
            Event::Building { builder, tag } => tracing::info!("building `{tag}` with {builder}"),
            Event::BuilderOutput(line) => tracing::info!("  | {line}"),
            Event::CheckStarted { check } => tracing::info!("running `{check}` in the image"),
            Event::CheckPassed { check } => tracing::info!("`{check}` passed"),
            Event::Pushing { reference } => tracing::info!("pushing to `{reference}`"),
            Event::LayerStarted { digest, size } => {
                tracing::debug!("layer {} ({})", short_digest(&digest), human_bytes(size));
                if self.interactive {
                    self.with_layers(|layers| layers.start(&digest, size));
                }
            }
            Event::LayerProgress { digest, sent } => {
                self.with_layers(|layers| layers.advance(&digest, sent));
            }
            Event::LayerDone { digest, how } => {
                self.with_layers(|layers| layers.finish(&digest));
                tracing::info!("layer {} {how}", short_digest(&digest));
            }
            Event::ImagePushed {
                reference,
                digest,
                bytes_uploaded,
            } => tracing::info!(
                "pushed `{reference}` ({}), {} uploaded",
                short_digest(&digest),
                human_bytes(bytes_uploaded)
            ),
            Event::Warning(text) => tracing::warn!("{text}"),
        }
    }
}

/// What `--output json` prints for a dry run.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRun<'a> {
    dry_run: bool,
    deployment_id: &'a str,
    #[serde(flatten)]
    plan: &'a Plan,
}

/// What `--output json` prints for a deploy.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deployed<'a> {
    dry_run: bool,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

pub fn plan(plan: &Plan, format: OutputFormat) {
    if format == OutputFormat::Json {
        return print_json(&DryRun {
            dry_run: true,
            deployment_id: &plan.deployment.id,
            plan,
        });
    }

    let target = &plan.deployment;
    println!("Dry run: nothing was changed. The deploy would:");
    if let Some(why) = &plan.inferred {
        println!("  - deploy {} (--type infer: {why})", plan.deploy_type);
    }
    if let Some(image) = &plan.image {
        match image.route {
            ImageRoute::CodeOnly => println!(
                "  - make the image without a builder: the deployed image with a new layer of \
                 the project files"
            ),
            ImageRoute::FullBuild => println!(
                "  - build the image with the builder ({})",
                image.full_build_reason.as_deref().unwrap_or("a full build")
            ),
            ImageRoute::Prebuilt => println!("  - take the prebuilt image as it is"),
        }
        for check in &image.checks {
            println!("  - run `{check}` inside the image");
        }
    }
    if plan.wake {
        println!(
            "  - wake Deployment `{}` and give its schedule back after",
            target.name
        );
    }
    println!(
        "  - create a {} deploy on `{}` ({})",
        plan.deploy_type, target.name, target.id
    );
    if plan.image.is_some() {
        println!("  - push the image to the Deployment's repository");
    }
    if let Some(bundle) = &plan.bundle {
        println!(
            "  - upload the DAG bundle: {} files, {}, sha256 {}",
            bundle.files,
            human_bytes(bundle.bytes),
            bundle.sha256
        );
    }
    println!("  - finalize the deploy");
    if plan.wait {
        println!("  - wait until the Deployment is healthy and runs the new code");
    }
    println!("Checks passed: the Deployment accepts this deploy from this token.");
}

pub fn outcome(outcome: &Outcome, format: OutputFormat) {
    if format == OutputFormat::Json {
        return print_json(&Deployed {
            dry_run: false,
            outcome,
        });
    }

    let state = match outcome.state {
        DeployState::Live => {
            format!(
                "live: {} and running the new code",
                outcome.deployment_status
            )
        }
        DeployState::Finalized => "finalized; Astro is rolling it out (use --wait to wait)".into(),
        DeployState::PendingWake => {
            "finalized; the Deployment hibernates and runs the new code when it wakes".into()
        }
    };
    let what = if outcome.image.is_some() {
        "the project"
    } else {
        "dags/"
    };
    println!(
        "Deployed {what} to `{}` ({})",
        outcome.deployment_name, outcome.deployment_id
    );
    println!(
        "  deploy          {} ({})",
        outcome.deploy_id, outcome.deploy_type
    );
    if let Some(why) = &outcome.inferred {
        println!("  inferred        {why}");
    }
    if let Some(image) = &outcome.image {
        println!("  image           {}", image.reference);
        println!("  image digest    {}", image.digest);
        let how = match image.route {
            ImageRoute::CodeOnly => "code only: project layer replaced, no builder".to_owned(),
            ImageRoute::Prebuilt => "prebuilt".to_owned(),
            ImageRoute::FullBuild => format!(
                "full build ({})",
                image.full_build_reason.as_deref().unwrap_or("requested")
            ),
        };
        println!("  image made by   {how}");
        println!(
            "  pushed          {} in {} layers ({} already there, {} mounted)",
            human_bytes(image.bytes_uploaded),
            image.layers_uploaded,
            image.layers_skipped,
            image.layers_mounted
        );
    }
    if let Some(bundle) = &outcome.bundle {
        println!(
            "  bundle          {} files, {}, sha256 {}",
            bundle.files,
            human_bytes(bundle.bytes),
            bundle.sha256
        );
    }
    if let Some(version) = &outcome.bundle_version {
        println!("  bundle version  {version}");
    }
    println!("  status          {state}");
    // Astro gives the address without a scheme; printed with one, terminals make it a link.
    let ui = astro_api::airflow::with_scheme(&outcome.web_server_url);
    println!(
        "  Airflow UI      {}",
        ui.as_deref().unwrap_or("(none yet)")
    );
    for warning in &outcome.warnings {
        println!("  warning         {warning}");
    }
}

pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => tracing::error!("rendering JSON: {error}"),
    }
}
