//! `astro-deploy token list|rotate|create`: the organization's API tokens through the IAM API.
//!
//! Rotating and creating change what CI deploys with, so the deploy policy judges them first,
//! as a change to a target named after the token (`API token <name>`; the policy's
//! `deployments:` names it by the token's id). That target is not production-like: the
//! defaults refuse forks and `pull_request_target`, and a run outside CI needs --allow-local.
//! The new value goes to stdout once, and nowhere else: never to a log, an error or a hint.

use astro_api::iam::{CreateTokenRequest, IamToken, TokenFilter, TokenRole, TokenType};
use deploy::pipeline;
use deploy::policy::{DeploymentFacts, Verdict};
use serde_json::{json, Value};

use crate::args::{
    ChangeArgs, OutputFormat, TokenCommand, TokenCreateArgs, TokenListArgs, TokenRotateArgs,
};
use crate::config::{self, Connection};
use crate::exit::Failure;
use crate::report::print_json;

pub async fn run(command: TokenCommand, format: OutputFormat) -> Result<(), Failure> {
    match command {
        TokenCommand::List(args) => list(args, format).await,
        TokenCommand::Rotate(args) => rotate(args, format).await,
        TokenCommand::Create(args) => create(args, format).await,
    }
}

async fn list(args: TokenListArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.api)?;
    let filter = TokenFilter {
        workspace_id: args.workspace_id,
        deployment_id: args.deployment_id,
        only_organization_tokens: false,
    };
    let tokens = connection
        .client
        .list_tokens(&filter)
        .await
        .map_err(Failure::from_api)?;

    match format {
        OutputFormat::Json => print_json(&tokens.iter().map(describe).collect::<Vec<_>>()),
        OutputFormat::Text => print_table(&tokens),
    }
    Ok(())
}

/// A token as `token list --output json` shows it: everything IAM says but a value.
fn describe(token: &IamToken) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "description": token.description,
        "type": token.token_type.as_str(),
        "shortToken": token.short_token,
        "roles": token.roles,
        "startAt": token.start_at,
        "endAt": token.end_at,
        "expiryPeriodInDays": token.expiry_period_in_days,
        "lastUsedAt": token.last_used_at,
    })
}

fn print_table(tokens: &[IamToken]) {
    println!(
        "{:<26} {:<24} {:<13} {:<21} ROLES",
        "ID", "NAME", "TYPE", "EXPIRES"
    );
    for token in tokens {
        let expires = token.end_at.as_deref().unwrap_or("never");
        println!(
            "{:<26} {:<24} {:<13} {:<21} {}",
            token.id,
            token.name,
            token.token_type.as_str(),
            expires,
            roles(&token.roles)
        );
    }
}

fn roles(roles: &[TokenRole]) -> String {
    let roles: Vec<String> = roles
        .iter()
        .map(|role| format!("{} on {}", role.role, role.entity_id))
        .collect();
    roles.join(", ")
}

async fn rotate(args: TokenRotateArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.change.api)?;
    let client = &connection.client;
    let token = client
        .get_token(&args.token_id)
        .await
        .map_err(Failure::from_api)?;

    judge(&args.change, &connection, &token.id, &token.name).await?;
    let rotated = client
        .rotate_token(&token.id)
        .await
        .map_err(Failure::from_api)?;

    tracing::info!(
        id = %rotated.id,
        "rotated API token `{}`: the old value no longer works",
        rotated.name
    );
    reveal(&rotated, format)
}

async fn create(args: TokenCreateArgs, format: OutputFormat) -> Result<(), Failure> {
    let connection = config::connect(&args.change.api)?;
    let (token_type, entity_id) = match (&args.deployment_id, &args.workspace_id) {
        (Some(id), _) => (TokenType::Deployment, Some(id.clone())),
        (None, Some(id)) => (TokenType::Workspace, Some(id.clone())),
        (None, None) => (TokenType::Organization, None),
    };
    let request = CreateTokenRequest {
        name: args.name.clone(),
        description: args.description.clone(),
        token_type,
        role: args.role.to_uppercase(),
        entity_id,
        token_expiry_period_in_days: Some(args.expires_in_days),
    };

    // The token has no id yet: the policy can name it by its name.
    judge(&args.change, &connection, &args.name, &args.name).await?;
    let created = connection
        .client
        .create_token(&request)
        .await
        .map_err(Failure::from_api)?;

    tracing::info!(id = %created.id, "created API token `{}`", created.name);
    reveal(&created, format)
}

/// Judges the deploy policy for a change to the token `id` (`name`); a denial is a failure
/// with its own exit code, before anything changes.
async fn judge(
    args: &ChangeArgs,
    connection: &Connection,
    id: &str,
    name: &str,
) -> Result<(), Failure> {
    let inputs = super::policy::change_inputs(args).await?;
    let target = DeploymentFacts {
        id: id.to_owned(),
        name: format!("API token {name}"),
        is_cicd_enforced: false,
        is_development_mode: true,
        is_preview: false,
    };
    let token = pipeline::token_facts(&connection.client, &connection.claims).await;

    let mut decision = inputs.decide(target, &token);
    // Only an Organization or Workspace token may manage tokens: a Deployment token would
    // not do here, so the rule's advice to use one is left out.
    decision
        .results
        .retain(|result| !(result.rule == "token-scope" && result.verdict == Verdict::Warn));
    super::policy::admit(decision).map(|_| ())
}

/// Prints a token IAM just made, value included, on stdout only; the warning to keep it goes
/// to the log, without it.
fn reveal(token: &IamToken, format: OutputFormat) -> Result<(), Failure> {
    let value = token.token.as_ref().ok_or_else(|| {
        Failure::input(format!(
            "IAM answered no value for API token `{}`",
            token.id
        ))
        .hint("list the tokens to see whether it changed, and rotate it again if it did")
    })?;

    tracing::warn!(
        "the new value of API token `{}` is printed once, on stdout: store it now (e.g. in the \
         CI secret that sets ASTRO_API_TOKEN); Astro never shows it again",
        token.name
    );
    match format {
        OutputFormat::Json => {
            let mut described = describe(token);
            described["token"] = json!(value.expose());
            print_json(&described);
        }
        OutputFormat::Text => println!("{}", value.expose()),
    }
    Ok(())
}
