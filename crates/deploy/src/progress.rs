//! How the core tells its caller what it is doing, without knowing how that is shown.

use astro_api::models::DeploymentStatus;

/// A step of a deploy, as it happens.
#[derive(Debug, Clone)]
pub enum Event {
    /// The target Deployment was read.
    DeploymentFound {
        id: String,
        name: String,
        status: DeploymentStatus,
    },
    /// The DAG bundle was written.
    BundleBuilt {
        files: u64,
        bytes: u64,
        sha256: String,
    },
    /// A hibernating Deployment is being woken for the deploy.
    Waking {
        deployment_id: String,
    },
    DeployCreated {
        deploy_id: String,
    },
    UploadStarted {
        total_bytes: u64,
    },
    UploadProgress {
        sent_bytes: u64,
        total_bytes: u64,
    },
    UploadFinished {
        version: String,
    },
    Finalized {
        deploy_id: String,
    },
    /// Waiting for the Deployment; sent each time its status is read.
    Waiting {
        status: DeploymentStatus,
        rolled_out: bool,
    },
    /// The hibernation schedule of a woken Deployment was given back.
    HibernationRestored {
        deployment_id: String,
    },
    /// How the image is made, and why not the quick way when it is a full build.
    ImagePlanned {
        route: String,
        reason: Option<String>,
    },
    Building {
        builder: String,
        tag: String,
    },
    /// A line the builder printed.
    BuilderOutput(String),
    CheckStarted {
        check: String,
    },
    CheckPassed {
        check: String,
    },
    Pushing {
        reference: String,
    },
    LayerStarted {
        digest: String,
        size: u64,
    },
    LayerProgress {
        digest: String,
        sent: u64,
    },
    /// `how` is `skipped`, `mounted` or `uploaded`.
    LayerDone {
        digest: String,
        how: &'static str,
    },
    ImagePushed {
        reference: String,
        digest: String,
        bytes_uploaded: u64,
    },
    /// The branch's preview already existed.
    PreviewFound {
        id: String,
        name: String,
    },
    PreviewCreated {
        id: String,
        name: String,
    },
    PreviewDeleted {
        id: String,
        name: String,
        reason: String,
    },
    /// Something the user should know that does not stop the deploy.
    Warning(String),
}

/// Receives progress events. Implementations must be cheap: events arrive on the deploy's path.
pub trait Progress: Send + Sync {
    fn event(&self, event: Event);
}

/// Discards every event.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event) {}
}

/// A size as people write it: `900 B`, `1.5 KiB`, `5.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_would_write_them() {
        assert_eq!(human_bytes(900), "900 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
