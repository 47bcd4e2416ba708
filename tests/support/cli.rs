//! Running the `astro-deploy` binary against an emulator as a user would, in a bare
//! environment, and reading what it did: its exit code and output, and the changing requests
//! the emulator saw.

use std::path::Path;

use emulator::{Exchange, RunningEmulator};
use serde_json::Value;

/// What one run of the binary showed.
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Stdout as the one JSON object `--output json` prints.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `bin args` with `token` as ASTRO_API_TOKEN, the emulator as Astro, and only `env`
/// besides PATH: `CI=true` for a generic CI job, nothing for a person's machine.
pub async fn run_cli(
    bin: &Path,
    emulator: &RunningEmulator,
    token: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> CliRun {
    let output = tokio::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", token)
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("astro-deploy runs");
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `METHOD path` of every request that could change something.
pub fn changing_requests(exchanges: &[Exchange]) -> Vec<String> {
    exchanges
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// `method` on `path` under the emulator's organization in the Platform API
/// (`/platform/v1beta1/organizations/{org}{path}`), as its seeded token; the JSON answer.
pub async fn platform(
    emulator: &RunningEmulator,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let info = emulator.info();
    let url = format!(
        "{}/platform/v1beta1/organizations/{}{path}",
        emulator.base_url(),
        info.organization_id
    );
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(&info.api_token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the emulator answers");
    response.json().await.expect("a JSON answer")
}

/// The Deployment `id`, as the Platform API answers it.
pub async fn get_deployment(emulator: &RunningEmulator, id: &str) -> Value {
    platform(
        emulator,
        reqwest::Method::GET,
        &format!("/deployments/{id}"),
        None,
    )
    .await
}
