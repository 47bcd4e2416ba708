//! The client-side half of a CI-only deploy policy: rules from the `policy:` section of
//! `astro-deploy.yaml`, facts about the run, the token and the target Deployment, and a
//! decision that lists every rule with the fact it was judged on and how to fix a failure.
//!
//! ```yaml
//! policy:
//!   default:                       # every Deployment without an entry of its own
//!     branches: ["main"]           # globs, as for targets; tags need `tags:`
//!     tags: ["v*"]
//!     ci-only: true
//!     events: [push, workflow_dispatch]
//!     require-cicd-enforcement: true
//!     token: { must-expire: true, min-days-left: 7, warn-days-left: 30, max-scope: deployment }
//!   deployments:
//!     analytics-dev: { ci-only: false }   # by id or by name; keys override `default`
//!   previews:                      # every preview Deployment (preview create|deploy|delete|gc)
//!     branches: ["feature/**"]
//! ```
//!
//! Previews exist to run branches, so a branch or tag rule meant for the Deployments they copy
//! never reaches them: their rules are `previews:` over `default` without its `branches` and
//! `tags`, and no Deployment entry applies. Without `previews.branches`, any branch of this
//! repository may have a preview; forks and the other rules are judged as everywhere.
//!
//! Without a config the rules are the safe defaults. A production-like Deployment (one not in
//! development mode) deploys only from CI and only from the default branch. A pull request
//! from a fork never deploys, nor does `pull_request_target` unless `events` names it. A local
//! run needs an explicit allowance (`--allow-local`), and is refused outright by a Deployment
//! that enforces CI/CD. Evaluating changes nothing; the caller refuses before any change.

use std::collections::BTreeMap;

use astro_api::iam::{IamToken, TokenRole, TokenType};
use astro_api::{TokenClaims, TokenKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::branch_matches;

/// The `policy:` section of the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default)]
    pub default: RuleSet,
    /// Rules of one Deployment, keyed by its id or name, over `default`.
    #[serde(default)]
    pub deployments: BTreeMap<String, RuleSet>,
    /// Rules of every preview Deployment, over `default` without its refs.
    #[serde(default)]
    pub previews: RuleSet,
}

/// Rules; an absent key takes the default's value, then the safe default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSet {
    pub branches: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub ci_only: Option<bool>,
    pub events: Option<Vec<String>>,
    pub require_cicd_enforcement: Option<bool>,
    pub token: Option<TokenRules>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TokenRules {
    pub must_expire: Option<bool>,
    pub min_days_left: Option<u32>,
    pub warn_days_left: Option<u32>,
    pub max_scope: Option<Scope>,
}

/// How much a token may reach, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Deployment,
    Workspace,
    Organization,
}

/// Days before expiry from which a token draws a warning when the policy names none.
pub const DEFAULT_WARN_DAYS: u32 = 14;

impl RuleSet {
    /// `self` with the keys it lacks taken from `under`.
    fn over(&self, under: &RuleSet) -> RuleSet {
        let token = match (&self.token, &under.token) {
            (Some(top), Some(bottom)) => Some(TokenRules {
                must_expire: top.must_expire.or(bottom.must_expire),
                min_days_left: top.min_days_left.or(bottom.min_days_left),
                warn_days_left: top.warn_days_left.or(bottom.warn_days_left),
                max_scope: top.max_scope.or(bottom.max_scope),
            }),
            (top, bottom) => top.clone().or_else(|| bottom.clone()),
        };
        RuleSet {
            branches: self.branches.clone().or_else(|| under.branches.clone()),
            tags: self.tags.clone().or_else(|| under.tags.clone()),
            ci_only: self.ci_only.or(under.ci_only),
            events: self.events.clone().or_else(|| under.events.clone()),
            require_cicd_enforcement: self
                .require_cicd_enforcement
                .or(under.require_cicd_enforcement),
            token,
        }
    }
}

impl PolicyConfig {
    /// The rules for a Deployment: its own entry (by id, else by name) over `default`.
    pub fn rules_for(&self, deployment: &DeploymentFacts) -> RuleSet {
        if deployment.is_preview {
            let under = RuleSet {
                branches: None,
                tags: None,
                ..self.default.clone()
            };
            return self.previews.over(&under);
        }
        let own = self
            .deployments
            .get(&deployment.id)
            .or_else(|| self.deployments.get(&deployment.name));
        match own {
            Some(own) => own.over(&self.default),
            None => self.default.clone(),
        }
    }
}

/// What kind of run asks to deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFacts {
    /// The CI system, `None` on a person's machine.
    pub ci: Option<String>,
    /// The CI's event name: `push`, `pull_request`, `merge_request_event`, ...
    pub event: Option<String>,
    /// The branch or tag being deployed, when known.
    pub ref_name: Option<String>,
    pub ref_is_tag: bool,
    /// The run is for a pull or merge request from another repository.
    pub from_fork: bool,
    pub default_branch: Option<String>,
    /// The user allowed a deploy from outside CI (`--allow-local`).
    pub local_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentFacts {
    pub id: String,
    pub name: String,
    pub is_cicd_enforced: bool,
    pub is_development_mode: bool,
    /// A preview Deployment (or the previews of a base): judged by the `previews:` rules.
    pub is_preview: bool,
}

impl From<&astro_api::models::Deployment> for DeploymentFacts {
    fn from(deployment: &astro_api::models::Deployment) -> Self {
        Self {
            id: deployment.id.clone(),
            name: deployment.name.clone(),
            is_cicd_enforced: deployment.is_cicd_enforced,
            is_development_mode: deployment.is_development_mode,
            is_preview: false,
        }
    }
}

impl DeploymentFacts {
    /// Production-like: anything not in development mode.
    pub fn production_like(&self) -> bool {
        !self.is_development_mode
    }
}

/// What is known of the token that makes the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub kind: TokenKind,
    /// `None` when the token never expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Its roles, as IAM lists them; empty when only the claims are known.
    pub roles: Vec<TokenRole>,
    pub source: TokenSource,
}

/// Where the expiry and the scope of a token come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The JWT's `permissions` and `exp`: what the token says of itself.
    Claims,
    /// The IAM API's `endAt` and `roles`: what Astro holds, including a token that never
    /// expires (whose JWT still carries an `exp`).
    Iam,
}

impl TokenFacts {
    /// The facts the token's claims give.
    pub fn from_claims(claims: &TokenClaims) -> Self {
        Self {
            kind: claims.kind(),
            expires_at: claims.expires_at(),
            roles: Vec::new(),
            source: TokenSource::Claims,
        }
    }

    /// The facts IAM gives about the token: its `endAt` and roles; the kind follows the widest
    /// role, or the claims when IAM lists none.
    pub fn from_iam(claims: &TokenClaims, token: &IamToken) -> Self {
        let widest = [
            TokenType::Organization,
            TokenType::Workspace,
            TokenType::Deployment,
        ]
        .into_iter()
        .find_map(|kind| token.roles.iter().find(|role| role.entity_type == kind));
        let kind = match widest {
            Some(role) => match role.entity_type {
                TokenType::Organization => TokenKind::Organization(role.entity_id.clone()),
                TokenType::Workspace => TokenKind::Workspace(role.entity_id.clone()),
                _ => TokenKind::Deployment(role.entity_id.clone()),
            },
            None => claims.kind(),
        };
        Self {
            kind,
            expires_at: token.end_at_time(),
            roles: token.roles.clone(),
            source: TokenSource::Iam,
        }
    }

    /// ` (per IAM)` or ` (per its claims)`, for facts.
    fn per(&self) -> &'static str {
        match self.source {
            TokenSource::Claims => " (per its claims)",
            TokenSource::Iam => " (per IAM)",
        }
    }

    /// `, role `WORKSPACE_OPERATOR`` for the roles on the entity of this kind, if known.
    fn role_of(&self, kind: TokenType) -> String {
        let roles: Vec<String> = self
            .roles
            .iter()
            .filter(|role| role.entity_type == kind)
            .map(|role| format!("`{}`", role.role))
            .collect();
        match roles.is_empty() {
            true => String::new(),
            false => format!(", role {}", roles.join(", ")),
        }
    }
}

/// Everything a decision is made on.
#[derive(Debug, Clone)]
pub struct Facts {
    pub run: RunFacts,
    pub deployment: DeploymentFacts,
    pub token: TokenFacts,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// Allowed, but the user should know.
    Warn,
    Fail,
}

/// One rule, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleResult {
    pub rule: &'static str,
    pub verdict: Verdict,
    /// What the rule asks, in words.
    pub requirement: String,
    /// The fact it was judged on.
    pub fact: String,
    /// How to pass it, for a failure or a warning.
    pub fix: Option<String>,
}

/// Every rule for one Deployment, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub deployment: DeploymentFacts,
    pub results: Vec<RuleResult>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.results.iter().all(|r| r.verdict != Verdict::Fail)
    }

    pub fn failures(&self) -> impl Iterator<Item = &RuleResult> {
        self.results.iter().filter(|r| r.verdict == Verdict::Fail)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &RuleResult> {
        self.results.iter().filter(|r| r.verdict == Verdict::Warn)
    }
}

/// Judges every rule that applies to the Deployment; changes nothing.
pub fn evaluate(config: &PolicyConfig, facts: &Facts) -> Decision {
    let rules = config.rules_for(&facts.deployment);
    let results = vec![
        forks(facts),
        event(&rules, facts),
        ci_only(&rules, facts),
        git_ref(&rules, facts),
        cicd_enforcement(&rules, facts),
        token_expiry(&rules, facts),
        token_scope(&rules, facts),
    ];
    Decision {
        deployment: facts.deployment.clone(),
        results,
    }
}

fn result(rule: &'static str, verdict: Verdict, requirement: &str, fact: String) -> RuleResult {
    RuleResult {
        rule,
        verdict,
        requirement: requirement.to_owned(),
        fact,
        fix: None,
    }
}

impl RuleResult {
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

fn forks(facts: &Facts) -> RuleResult {
    let requirement = "pull requests from forks never deploy";
    match facts.run.from_fork {
        true => result(
            "forks",
            Verdict::Fail,
            requirement,
            "the run is for a pull or merge request from another repository".into(),
        )
        .fix("deploy after the change is merged, or from a branch of this repository"),
        false => result(
            "forks",
            Verdict::Pass,
            requirement,
            "not from a fork".into(),
        ),
    }
}

fn event(rules: &RuleSet, facts: &Facts) -> RuleResult {
    let Some(event) = &facts.run.event else {
        let fact = "no CI event".to_owned();
        return result("event", Verdict::Pass, "any event", fact);
    };
    let listed = rules
        .events
        .as_ref()
        .map(|events| events.iter().any(|e| e == event));
    let requirement = match &rules.events {
        Some(events) => format!("the CI event is one of: {}", events.join(", ")),
        None => "any CI event but `pull_request_target`".to_owned(),
    };
    let fact = format!("the event is `{event}`");

    // `pull_request_target` runs with the base repository's secrets on code the pull request
    // may have changed: only a policy that names it allows it.
    let allowed = match listed {
        Some(listed) => listed,
        None => event != "pull_request_target",
    };
    match allowed {
        true => result("event", Verdict::Pass, &requirement, fact),
        false => result("event", Verdict::Fail, &requirement, fact).fix(format!(
            "deploy from another event, or add `{event}` to the policy's `events` if its code \
             is trusted"
        )),
    }
}

fn ci_only(rules: &RuleSet, facts: &Facts) -> RuleResult {
    let production_like = facts.deployment.production_like();
    let ci_only = rules.ci_only.unwrap_or(production_like);
    let requirement = match ci_only {
        true => "deploys come from CI",
        false => "local deploys need --allow-local and a Deployment without CI/CD enforcement",
    };
    if let Some(ci) = &facts.run.ci {
        return result(
            "ci-only",
            Verdict::Pass,
            requirement,
            format!("runs in {ci}"),
        );
    }

    let fact = "runs outside CI".to_owned();
    if ci_only {
        let why = match (rules.ci_only, production_like) {
            (Some(_), _) => "the policy says `ci-only: true`",
            (None, _) => "the Deployment is not in development mode",
        };
        return result(
            "ci-only",
            Verdict::Fail,
            requirement,
            format!("{fact}; {why}"),
        )
        .fix("deploy from CI, or set `ci-only: false` for this Deployment in the policy");
    }
    if facts.deployment.is_cicd_enforced {
        let fact = format!("{fact}, and the Deployment enforces CI/CD");
        return result("ci-only", Verdict::Fail, requirement, fact)
            .fix("deploy from CI with an API token; enforcement refuses local deploys");
    }
    if !facts.run.local_allowed {
        return result("ci-only", Verdict::Fail, requirement, fact)
            .fix("add --allow-local to deploy from this machine");
    }
    result(
        "ci-only",
        Verdict::Pass,
        requirement,
        format!("{fact}, with --allow-local"),
    )
}

fn git_ref(rules: &RuleSet, facts: &Facts) -> RuleResult {
    // The default-branch default guards what runs in production; a preview runs a branch.
    let production_like = facts.deployment.production_like() && !facts.deployment.is_preview;
    let default_branches = match &facts.run.default_branch {
        Some(branch) => vec![branch.clone()],
        None => vec!["main".to_owned(), "master".to_owned()],
    };
    let branches = match (&rules.branches, production_like) {
        (Some(branches), _) => Some(branches.clone()),
        (None, true) => Some(default_branches),
        (None, false) => None,
    };
    let tags = match (&rules.tags, production_like) {
        (Some(tags), _) => Some(tags.clone()),
        (None, true) => Some(Vec::new()),
        (None, false) => None,
    };
    if branches.is_none() && tags.is_none() {
        let fact = facts
            .run
            .ref_name
            .as_ref()
            .map_or("the ref is not known".to_owned(), |r| format!("`{r}`"));
        return result("ref", Verdict::Pass, "any branch or tag", fact);
    }

    let branches = branches.unwrap_or_else(|| vec!["**".to_owned()]);
    let tags = tags.unwrap_or_else(|| vec!["**".to_owned()]);
    let requirement = format!("branches: {}; tags: {}", listing(&branches), listing(&tags));
    let Some(name) = &facts.run.ref_name else {
        if facts.deployment.is_preview {
            let fact = "no branch: this step removes previews and deploys no code".to_owned();
            return result("ref", Verdict::Pass, &requirement, fact);
        }
        return result(
            "ref",
            Verdict::Fail,
            &requirement,
            "the ref is not known".into(),
        )
        .fix("name the branch with --branch");
    };
    let (kind, patterns) = match facts.run.ref_is_tag {
        true => ("tag", &tags),
        false => ("branch", &branches),
    };
    let fact = format!("the {kind} is `{name}`");
    match patterns.iter().any(|p| branch_matches(p, name)) {
        true => result("ref", Verdict::Pass, &requirement, fact),
        false => {
            let key = match (kind, facts.deployment.is_preview) {
                ("branch", false) => "branches",
                ("branch", true) => "previews.branches",
                (_, false) => "tags",
                (_, true) => "previews.tags",
            };
            let allowed = listing(patterns);
            result("ref", Verdict::Fail, &requirement, fact).fix(format!(
                "deploy from an allowed {kind} ({allowed}), or add it to the policy's `{key}`"
            ))
        }
    }
}

fn listing(patterns: &[String]) -> String {
    match patterns.is_empty() {
        true => "none".to_owned(),
        false => patterns
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn cicd_enforcement(rules: &RuleSet, facts: &Facts) -> RuleResult {
    let required = rules.require_cicd_enforcement.unwrap_or(false);
    let on = facts.deployment.is_cicd_enforced;
    let fact = format!("CI/CD enforcement is {}", if on { "on" } else { "off" });
    match (required, on) {
        (false, _) => result("cicd-enforcement", Verdict::Pass, "not required", fact),
        (true, true) => result("cicd-enforcement", Verdict::Pass, "must be on", fact),
        (true, false) => {
            result("cicd-enforcement", Verdict::Fail, "must be on", fact).fix(format!(
                "turn it on with `astro-deploy policy enforce --deployment-id {}`",
                facts.deployment.id
            ))
        }
    }
}

fn token_expiry(rules: &RuleSet, facts: &Facts) -> RuleResult {
    let token = rules.token.clone().unwrap_or_default();
    let must_expire = token.must_expire.unwrap_or(false);
    let min_days = token.min_days_left.unwrap_or(0);
    let warn_days = token.warn_days_left.unwrap_or(DEFAULT_WARN_DAYS);
    let requirement = match (must_expire, min_days) {
        (false, 0) => "not expired".to_owned(),
        (true, 0) => "has an expiry date".to_owned(),
        (_, days) => format!("has an expiry date at least {days} days away"),
    };
    let rotate = "rotate the token (a new one with an expiry date) and update the CI secret";

    let per = facts.token.per();
    let Some(expires_at) = facts.token.expires_at else {
        let fact = format!("the token never expires{per}");
        return match must_expire || min_days > 0 {
            true => result("token-expiry", Verdict::Fail, &requirement, fact).fix(rotate),
            false => result("token-expiry", Verdict::Pass, &requirement, fact),
        };
    };
    let left = expires_at - facts.now;
    let days = left.whole_days();
    if left.is_negative() || left.is_zero() {
        let fact = format!("the token expired at {}{per}", rfc3339(expires_at));
        return result("token-expiry", Verdict::Fail, &requirement, fact).fix(rotate);
    }
    let fact = format!(
        "the token expires at {} ({days} days left){per}",
        rfc3339(expires_at)
    );
    if days < i64::from(min_days) {
        return result("token-expiry", Verdict::Fail, &requirement, fact).fix(rotate);
    }
    if days < i64::from(warn_days) {
        return result("token-expiry", Verdict::Warn, &requirement, fact).fix(rotate);
    }
    result("token-expiry", Verdict::Pass, &requirement, fact)
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

fn token_scope(rules: &RuleSet, facts: &Facts) -> RuleResult {
    let max = rules.token.as_ref().and_then(|t| t.max_scope);
    let requirement = match max {
        Some(Scope::Deployment) => "a Deployment API token".to_owned(),
        Some(Scope::Workspace) => "a Deployment or Workspace API token".to_owned(),
        Some(Scope::Organization) | None => "an API token".to_owned(),
    };
    let token = &facts.token;
    let (per, role) = (token.per(), |kind| token.role_of(kind));
    let (scope, fact) = match &token.kind {
        TokenKind::Deployment(id) => (
            Some(Scope::Deployment),
            format!(
                "Deployment token ({id}{}){per}",
                role(TokenType::Deployment)
            ),
        ),
        TokenKind::Workspace(id) => (
            Some(Scope::Workspace),
            format!("Workspace token ({id}{}){per}", role(TokenType::Workspace)),
        ),
        TokenKind::Organization(id) => (
            Some(Scope::Organization),
            format!(
                "Organization token ({id}{}){per}",
                role(TokenType::Organization)
            ),
        ),
        TokenKind::ApiOther => (
            None,
            "an API token of a scope this tool does not know".into(),
        ),
        TokenKind::UserSession => (None, "a personal session token, not an API token".into()),
    };
    let least = "use a Deployment API token: it is all a deploy needs";

    if facts.token.kind == TokenKind::UserSession {
        let verdict = match facts.run.ci.is_some() || max.is_some() {
            true => Verdict::Fail,
            false => Verdict::Warn,
        };
        return result("token-scope", verdict, &requirement, fact)
            .fix("create an API token in Astro; personal tokens do not belong in CI");
    }
    match (max, scope) {
        (Some(max), Some(scope)) if scope > max => {
            result("token-scope", Verdict::Fail, &requirement, fact).fix(least)
        }
        (Some(_), None) => result("token-scope", Verdict::Fail, &requirement, fact).fix(least),
        (None, Some(Scope::Workspace | Scope::Organization)) => result(
            "token-scope",
            Verdict::Warn,
            &requirement,
            format!("{fact}: wider than needed"),
        )
        .fix(least),
        _ => result("token-scope", Verdict::Pass, &requirement, fact),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use time::Duration;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);

    /// A context, changed by the table's steps.
    #[derive(Clone)]
    struct Case {
        facts: Facts,
        config: PolicyConfig,
    }

    fn github_push(branch: &str) -> Case {
        Case {
            facts: Facts {
                run: RunFacts {
                    ci: Some("GitHub Actions".into()),
                    event: Some("push".into()),
                    ref_name: Some(branch.into()),
                    ref_is_tag: false,
                    from_fork: false,
                    default_branch: Some("main".into()),
                    local_allowed: false,
                },
                deployment: DeploymentFacts {
                    id: "clprod".into(),
                    name: "analytics-prod".into(),
                    is_cicd_enforced: true,
                    is_development_mode: false,
                    is_preview: false,
                },
                token: TokenFacts {
                    kind: TokenKind::Deployment("clprod".into()),
                    expires_at: Some(NOW + Duration::days(90)),
                    roles: Vec::new(),
                    source: TokenSource::Claims,
                },
                now: NOW,
            },
            config: PolicyConfig::default(),
        }
    }

    impl Case {
        fn gitlab(mut self, event: &str) -> Self {
            self.facts.run.ci = Some("GitLab CI".into());
            self.facts.run.event = Some(event.into());
            self
        }
        fn local(mut self, allowed: bool) -> Self {
            self.facts.run.ci = None;
            self.facts.run.event = None;
            self.facts.run.default_branch = None;
            self.facts.run.local_allowed = allowed;
            self
        }
        fn event(mut self, event: &str) -> Self {
            self.facts.run.event = Some(event.into());
            self
        }
        fn tag(mut self, tag: &str) -> Self {
            self.facts.run.ref_name = Some(tag.into());
            self.facts.run.ref_is_tag = true;
            self
        }
        fn fork(mut self) -> Self {
            self.facts.run.from_fork = true;
            self
        }
        fn development(mut self, enforced: bool) -> Self {
            self.facts.deployment.is_development_mode = true;
            self.facts.deployment.is_cicd_enforced = enforced;
            self
        }
        /// A preview of the Deployment, in development mode unless `production_like`.
        fn preview(mut self, production_like: bool) -> Self {
            self.facts.deployment.is_preview = true;
            self.facts.deployment.is_development_mode = !production_like;
            self.facts.deployment.is_cicd_enforced = false;
            self
        }
        fn no_ref(mut self) -> Self {
            self.facts.run.ref_name = None;
            self
        }
        fn enforcement(mut self, on: bool) -> Self {
            self.facts.deployment.is_cicd_enforced = on;
            self
        }
        fn token(mut self, kind: TokenKind, days: Option<i64>) -> Self {
            self.facts.token = TokenFacts {
                kind,
                expires_at: days.map(|d| NOW + Duration::days(d)),
                roles: Vec::new(),
                source: TokenSource::Claims,
            };
            self
        }
        /// The token as IAM describes it: roles and `endAt` (`None`: never expires).
        fn iam(mut self, roles: &[(&str, &str, &str)], end_at: Option<&str>) -> Self {
            let token: IamToken = serde_json::from_value(serde_json::json!({
                "id": "cltoken", "name": "ci", "shortToken": "ab12cd34", "type": roles[0].0,
                "startAt": "2026-01-01T00:00:00Z", "endAt": end_at,
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "roles": roles.iter().map(|(kind, id, role)| serde_json::json!({
                    "entityType": kind, "entityId": id, "role": role,
                })).collect::<Vec<_>>(),
            }))
            .unwrap();
            let claims = TokenClaims {
                permissions: Some(vec!["deploymentId:clprod".into()]),
                expires_at_unix: Some((NOW + Duration::days(36_500)).unix_timestamp()),
                ..TokenClaims::default()
            };
            self.facts.token = TokenFacts::from_iam(&claims, &token);
            self
        }
        fn policy(mut self, yaml: &str) -> Self {
            self.config = serde_norway::from_str(yaml).unwrap();
            self
        }
        fn decide(&self) -> Decision {
            evaluate(&self.config, &self.facts)
        }
    }

    fn workspace() -> TokenKind {
        TokenKind::Workspace("clws".into())
    }

    #[test]
    fn the_decision_for_each_context() {
        use Verdict::{Fail, Pass, Warn};

        // A context, and the verdict of each rule that does not pass.
        type Row = (&'static str, Case, Vec<(&'static str, Verdict)>);
        let table: Vec<Row> = vec![
            ("github push to main", github_push("main"), vec![]),
            (
                "a preview of a feature branch, though `default` names only main",
                github_push("feature/x")
                    .event("pull_request")
                    .preview(false)
                    .policy("default: { branches: [main] }"),
                vec![],
            ),
            (
                "a production-like preview of a feature branch",
                github_push("feature/x").event("pull_request").preview(true),
                vec![],
            ),
            (
                "a preview for a fork's pull request",
                github_push("feature/x")
                    .event("pull_request")
                    .preview(false)
                    .fork(),
                vec![("forks", Fail)],
            ),
            (
                "a preview of a branch `previews.branches` does not name",
                github_push("spike/x")
                    .event("pull_request")
                    .preview(false)
                    .policy("previews: { branches: ['feature/**'] }"),
                vec![("ref", Fail)],
            ),
            (
                "a preview under a Deployment entry that would refuse its branch",
                github_push("feature/x")
                    .event("pull_request")
                    .preview(false)
                    .policy("deployments: { clprod: { branches: [main] } }"),
                vec![],
            ),
            (
                "removing previews, with no branch to judge",
                github_push("main")
                    .event("schedule")
                    .preview(false)
                    .policy("previews: { branches: ['feature/**'] }")
                    .no_ref(),
                vec![],
            ),
            (
                "a preview keeps the default's token rules",
                github_push("feature/x")
                    .event("pull_request")
                    .preview(false)
                    .token(TokenKind::Deployment("clprod".into()), None)
                    .policy("default: { token: { must-expire: true } }"),
                vec![("token-expiry", Fail)],
            ),
            (
                "github push to a feature branch",
                github_push("feature/x"),
                vec![("ref", Fail)],
            ),
            (
                "gitlab push to main",
                github_push("main").gitlab("push"),
                vec![],
            ),
            (
                "gitlab merge request pipeline of a branch",
                github_push("feature/x").gitlab("merge_request_event"),
                vec![("ref", Fail)],
            ),
            (
                "a tag, by default",
                github_push("main").tag("v1.2.0"),
                vec![("ref", Fail)],
            ),
            (
                "a tag the policy allows",
                github_push("main")
                    .tag("v1.2.0")
                    .policy("default: { tags: ['v*'] }"),
                vec![],
            ),
            (
                "a fork's pull request",
                github_push("main").event("pull_request").fork(),
                vec![("forks", Fail)],
            ),
            (
                "a fork's merge request to a development Deployment",
                github_push("feature/x")
                    .gitlab("merge_request_event")
                    .fork()
                    .development(false),
                vec![("forks", Fail)],
            ),
            (
                "pull_request_target",
                github_push("main").event("pull_request_target"),
                vec![("event", Fail)],
            ),
            (
                "pull_request_target named by the policy",
                github_push("main")
                    .event("pull_request_target")
                    .policy("default: { events: [pull_request_target] }"),
                vec![],
            ),
            (
                "an event the policy does not list",
                github_push("main")
                    .event("workflow_dispatch")
                    .policy("default: { events: [push] }"),
                vec![("event", Fail)],
            ),
            (
                "local, production-like",
                github_push("main").local(true),
                vec![("ci-only", Fail)],
            ),
            (
                "local to a development Deployment without the flag",
                github_push("feature/x").local(false).development(false),
                vec![("ci-only", Fail)],
            ),
            (
                "local to a development Deployment with --allow-local",
                github_push("feature/x").local(true).development(false),
                vec![],
            ),
            (
                "local with --allow-local to a Deployment that enforces CI/CD",
                github_push("feature/x").local(true).development(true),
                vec![("ci-only", Fail)],
            ),
            (
                "local, production-like, where the policy lifts ci-only",
                github_push("main")
                    .local(true)
                    .enforcement(false)
                    .policy("deployments: { analytics-prod: { ci-only: false } }"),
                vec![],
            ),
            (
                "a feature branch to a development Deployment",
                github_push("feature/x").development(false),
                vec![],
            ),
            (
                "enforcement required and off",
                github_push("main")
                    .enforcement(false)
                    .policy("default: { require-cicd-enforcement: true }"),
                vec![("cicd-enforcement", Fail)],
            ),
            (
                "enforcement required and on",
                github_push("main").policy("default: { require-cicd-enforcement: true }"),
                vec![],
            ),
            (
                "a token that never expires, by default",
                github_push("main").token(TokenKind::Deployment("clprod".into()), None),
                vec![],
            ),
            (
                "a token that never expires, where it must",
                github_push("main")
                    .token(TokenKind::Deployment("clprod".into()), None)
                    .policy("default: { token: { must-expire: true } }"),
                vec![("token-expiry", Fail)],
            ),
            (
                "a token expiring within the warning window",
                github_push("main").token(TokenKind::Deployment("clprod".into()), Some(5)),
                vec![("token-expiry", Warn)],
            ),
            (
                "a token with fewer days left than required",
                github_push("main")
                    .token(TokenKind::Deployment("clprod".into()), Some(5))
                    .policy("default: { token: { min-days-left: 7 } }"),
                vec![("token-expiry", Fail)],
            ),
            (
                "an expired token",
                github_push("main").token(TokenKind::Deployment("clprod".into()), Some(-1)),
                vec![("token-expiry", Fail)],
            ),
            (
                "a Workspace token where a Deployment token would do",
                github_push("main").token(workspace(), Some(90)),
                vec![("token-scope", Warn)],
            ),
            (
                "an Organization token where a Deployment token would do",
                github_push("main").token(TokenKind::Organization("clorg".into()), Some(90)),
                vec![("token-scope", Warn)],
            ),
            (
                "IAM's Organization role on a token whose claims say Deployment",
                github_push("main").iam(
                    &[("ORGANIZATION", "clorg", "ORGANIZATION_OWNER")],
                    Some("2027-03-03T12:00:00Z"),
                ),
                vec![("token-scope", Warn)],
            ),
            (
                "IAM's Workspace role beyond a Deployment limit",
                github_push("main")
                    .iam(
                        &[("WORKSPACE", "clws", "WORKSPACE_OPERATOR")],
                        Some("2027-03-03T12:00:00Z"),
                    )
                    .policy("default: { token: { max-scope: deployment } }"),
                vec![("token-scope", Fail)],
            ),
            (
                "IAM says the token never expires, though its JWT has an exp",
                github_push("main")
                    .iam(&[("DEPLOYMENT", "clprod", "DEPLOYMENT_ADMIN")], None)
                    .policy("default: { token: { must-expire: true } }"),
                vec![("token-expiry", Fail)],
            ),
            (
                "IAM's endAt within the warning window",
                github_push("main").iam(
                    &[("DEPLOYMENT", "clprod", "DEPLOYMENT_ADMIN")],
                    Some("2026-12-08T12:00:00Z"),
                ),
                vec![("token-expiry", Warn)],
            ),
            (
                "a Workspace token where the policy wants a Deployment token",
                github_push("main")
                    .token(workspace(), Some(90))
                    .policy("default: { token: { max-scope: deployment } }"),
                vec![("token-scope", Fail)],
            ),
            (
                "an Organization token within a workspace limit",
                github_push("main")
                    .token(TokenKind::Organization("clorg".into()), Some(90))
                    .policy("default: { token: { max-scope: workspace } }"),
                vec![("token-scope", Fail)],
            ),
            (
                "a personal token in CI",
                github_push("main").token(TokenKind::UserSession, Some(1)),
                vec![("token-expiry", Warn), ("token-scope", Fail)],
            ),
            (
                "a Deployment's own rules over the default",
                github_push("release/1").policy(
                    "default: { branches: [main] }\n\
                     deployments: { clprod: { branches: ['release/*'] } }",
                ),
                vec![],
            ),
        ];

        for (name, case, expected) in table {
            let decision = case.decide();
            let got: Vec<(&str, Verdict)> = decision
                .results
                .iter()
                .filter(|r| r.verdict != Pass)
                .map(|r| (r.rule, r.verdict))
                .collect();
            assert_eq!(got, expected, "{name}: {:#?}", decision.results);
            assert_eq!(
                decision.allowed(),
                expected.iter().all(|(_, v)| *v != Fail),
                "{name}"
            );
            for failure in decision.failures() {
                assert!(failure.fix.is_some(), "{name}: {failure:?} has no fix");
            }
        }
    }

    #[test]
    fn a_failure_names_the_fact_and_the_fix() {
        let decision = github_push("feature/x").decide();
        let failure = decision.failures().next().unwrap();
        assert_eq!(failure.rule, "ref");
        assert_eq!(failure.fact, "the branch is `feature/x`");
        assert!(
            failure.requirement.contains("`main`"),
            "{}",
            failure.requirement
        );
        assert!(failure.fix.as_deref().unwrap().contains("`branches`"));

        let local = github_push("main").local(false).decide();
        let ref_rule = local.results.iter().find(|r| r.rule == "ref").unwrap();
        assert!(
            ref_rule.requirement.contains("`main`, `master`"),
            "{ref_rule:?}"
        );
    }

    #[test]
    fn facts_say_where_they_come_from() {
        let iam = github_push("main")
            .iam(
                &[("WORKSPACE", "clws", "WORKSPACE_OPERATOR")],
                Some("2027-03-03T12:00:00Z"),
            )
            .decide();
        let scope = iam
            .results
            .iter()
            .find(|r| r.rule == "token-scope")
            .unwrap();
        assert_eq!(
            scope.fact,
            "Workspace token (clws, role `WORKSPACE_OPERATOR`) (per IAM): wider than needed"
        );
        let expiry = iam
            .results
            .iter()
            .find(|r| r.rule == "token-expiry")
            .unwrap();
        assert_eq!(
            expiry.fact,
            "the token expires at 2027-03-03T12:00:00Z (90 days left) (per IAM)"
        );

        let claims = github_push("main").decide();
        let scope = claims
            .results
            .iter()
            .find(|r| r.rule == "token-scope")
            .unwrap();
        assert_eq!(scope.fact, "Deployment token (clprod) (per its claims)");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let error = serde_norway::from_str::<PolicyConfig>("default: { ci_only: true }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ci_only"), "{error}");
    }
}
