//! What Astro checks about the image of a deploy before it takes effect: that
//! `<imageRepository>:<imageTag>` was pushed, and that its Astro Runtime version (the image's
//! `io.astronomer.docker.runtime.version` label) is offered and is no downgrade.
//!
//! The check runs only when the emulator was started with a registry of the user's (so that
//! there is somewhere to look); with the default, made-up registry host, image finalizes are
//! taken on trust. Registries are reached over plain http without credentials, as a registry
//! on loopback is.

use std::time::Duration;

use serde_json::Value;

use super::ApiError;

/// The label Astro Runtime images carry their version in.
pub(crate) const RUNTIME_LABEL: &str = "io.astronomer.docker.runtime.version";

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The runtime version of the pushed image, when it names one.
pub(crate) async fn pushed_runtime(
    repository: &str,
    tag: &str,
) -> Result<Option<String>, ApiError> {
    let (host, path) = repository.split_once('/').unwrap_or((repository, ""));
    let base = format!("http://{host}/v2/{path}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ApiError::internal(format!("building a registry client: {e}")))?;

    let manifest_url = format!("{base}/manifests/{tag}");
    let response = http
        .get(&manifest_url)
        .header("accept", MANIFEST_TYPES)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("reaching the registry `{host}`: {e}")))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(ApiError::bad_request(format!(
            "the image `{repository}:{tag}` was not pushed: push it before finalizing the deploy"
        )));
    }
    let manifest: Value = json_of(response, &manifest_url).await?;

    let Some(config_digest) = manifest.pointer("/config/digest").and_then(Value::as_str) else {
        return Ok(None);
    };
    let config_url = format!("{base}/blobs/{config_digest}");
    let response = http
        .get(&config_url)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("reading the image config: {e}")))?;
    let config: Value = json_of(response, &config_url).await?;

    let label = config
        .pointer("/config/Labels")
        .and_then(|labels| labels.get(RUNTIME_LABEL));
    Ok(label.and_then(Value::as_str).map(str::to_owned))
}

/// Refuses runtime versions that are not offered, and downgrades.
pub(crate) fn check_runtime(offered: &[&str], current: &str, pushed: &str) -> Result<(), ApiError> {
    if !offered.contains(&pushed) {
        return Err(ApiError::bad_request(format!(
            "Astro Runtime `{pushed}` is not offered; use one of {}",
            offered.join(", ")
        )));
    }
    if version_key(pushed) < version_key(current) {
        return Err(ApiError::bad_request(format!(
            "the image's Astro Runtime `{pushed}` is older than the Deployment's `{current}`: \
             runtime downgrades are not allowed"
        )));
    }
    Ok(())
}

/// Numeric parts of a version, for ordering: `12.10.0` after `12.2.0`, `3.0-1` after `2.9.0`.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(['.', '-'])
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

async fn json_of(response: reqwest::Response, url: &str) -> Result<Value, ApiError> {
    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::internal(format!(
            "the registry answered {status} for `{url}`"
        )));
    }
    response
        .json()
        .await
        .map_err(|e| ApiError::internal(format!("the registry's answer for `{url}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_versions_and_no_downgrades_pass() {
        let offered = ["12.1.0", "12.2.0", "12.10.0"];
        assert!(check_runtime(&offered, "12.2.0", "12.2.0").is_ok());
        assert!(check_runtime(&offered, "12.2.0", "12.10.0").is_ok());

        let downgrade = check_runtime(&offered, "12.2.0", "12.1.0").unwrap_err();
        assert!(downgrade.message.contains("downgrades are not allowed"));
        let unknown = check_runtime(&offered, "12.2.0", "13.0.0").unwrap_err();
        assert!(unknown.message.contains("is not offered"));
    }
}
