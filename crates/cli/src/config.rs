//! Settings from the environment, read once, with `envy`.

use astro_api::{ApiToken, Client, ClientConfig, TokenClaims};
use deploy::pipeline::Target;
use serde::Deserialize;

use crate::args::ApiArgs;
use crate::exit::Failure;

/// The `ASTRO_*` variables astro-deploy reads.
#[derive(Debug, Default, Deserialize)]
struct AstroEnv {
    api_url: Option<String>,
    api_token: Option<String>,
    organization_id: Option<String>,
}

/// A client and what its token says, ready for a command.
pub struct Connection {
    pub client: Client,
    pub claims: TokenClaims,
    /// For registry logins, which take the API token as password.
    pub token: ApiToken,
}

/// Builds a client from flags and the `ASTRO_*` environment.
pub fn connect(args: &ApiArgs) -> Result<Connection, Failure> {
    let env: AstroEnv = envy::prefixed("ASTRO_").from_env().map_err(|error| {
        Failure::input(format!(
            "reading the ASTRO_* environment variables: {error}"
        ))
    })?;

    let secret =
        env.api_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Failure::authentication("no API token: ASTRO_API_TOKEN is not set")
            .hint("create an API token in Astro (a Deployment token is enough to deploy) and put \
                   it in the CI secret that sets ASTRO_API_TOKEN")
            })?;
    let token = ApiToken::new(secret).map_err(|e| Failure::from_api(astro_api::Error::from(e)))?;
    // Astro tokens are JWTs: a token that is not one is refused here, with a reason, rather
    // than by the server with a bare 401.
    let claims = token
        .claims()
        .map_err(|e| Failure::from_api(astro_api::Error::from(e)))?;

    let mut config = ClientConfig::new(token.clone());
    if let Some(url) = args
        .api_url
        .clone()
        .or(env.api_url)
        .filter(|u| !u.trim().is_empty())
    {
        config.base_url = url;
    }
    config.organization_id = args.organization_id.clone().or(env.organization_id);

    let client = Client::new(config).map_err(Failure::from_api)?;
    Ok(Connection {
        client,
        claims,
        token,
    })
}

/// The Deployment that `--deployment-id` or else `--deployment-name` (looked up in
/// `--workspace-id` when given) names; `None` when neither is given.
pub fn target(
    id: Option<&String>,
    name: Option<&String>,
    workspace_id: Option<&String>,
) -> Option<Target> {
    match (id, name) {
        (Some(id), _) => Some(Target::Id(id.clone())),
        (None, Some(name)) => Some(Target::Name {
            name: name.clone(),
            workspace_id: workspace_id.cloned(),
        }),
        (None, None) => None,
    }
}
