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

/// A version's place in Astro Runtime's order: `12.10.0` after `12.2.0`; and Runtime 3's
/// `X.Y-N` scheme, which came after every `X.Y.Z` release (4.x to 13.x), after all of those.
fn version_key(version: &str) -> (bool, Vec<u64>) {
    let base = version.split_once(['+', ' ']).map_or(version, |(v, _)| v);
    let runtime_3 =
        matches!(base.split_once('-'), Some((head, _)) if head.matches('.').count() == 1);
    let numbers = base
        .split(['.', '-'])
        .map_while(|part| part.parse().ok())
        .collect();
    (runtime_3, numbers)
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

    #[test]
    fn runtime_3_comes_after_every_earlier_scheme_release() {
        let offered = ["13.1.0", "3.0-1", "3.0-2", "3.1-1"];
        assert!(
            check_runtime(&offered, "13.1.0", "3.0-1").is_ok(),
            "an upgrade to 3"
        );
        assert!(check_runtime(&offered, "3.0-1", "3.0-2").is_ok());
        assert!(check_runtime(&offered, "3.0-2", "3.1-1").is_ok());

        let back = check_runtime(&offered, "3.0-1", "13.1.0").unwrap_err();
        assert!(
            back.message.contains("downgrades are not allowed"),
            "{}",
            back.message
        );
        let older = check_runtime(&offered, "3.1-1", "3.0-2").unwrap_err();
        assert!(
            older.message.contains("downgrades are not allowed"),
            "{}",
            older.message
        );
    }
}
