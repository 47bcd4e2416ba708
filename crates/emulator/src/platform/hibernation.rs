//! Hibernation overrides: wake a sleeping development Deployment, put one to sleep, or hand
//! it back to its schedule.
//!
//! The emulator has no cron: "the schedule" is a flag that `POST
//! /emulator/deployments/{id}/hibernate` sets. An active override wins over it; deleting the
//! override lets the flag rule again. Waking takes the rollout delay, like a deploy.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::deployments::find;
use super::org::check_org;
use super::{ok, parse_body, ApiError, Op};
use crate::auth::Caller;
use crate::clock;
use crate::model::{HibernationOverride, OverrideBody};
use crate::server::App;
use crate::state::DeploymentRecord;

pub(super) async fn set(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::UpdateHibernationOverride, &org))?;
    let body: OverrideBody = parse_body(&body, &["isHibernating"])?;
    let now = clock::now();
    let override_until = check_until(body.override_until.as_deref(), now)?;

    let rule = app.write(|state| {
        let index = find(state, &caller, Op::UpdateHibernationOverride, &org, &id)?;
        let delay = state.settings.rollout_delay;
        let record = &mut state.data.deployments[index];
        check_development(record)?;

        let rule = HibernationOverride {
            is_active: true,
            is_hibernating: body.is_hibernating,
            override_until,
        };
        record.set_override(Some(rule.clone()));
        record.settle_sleep(now, delay);
        record.deployment.updated_at = clock::rfc3339(now);
        Ok(rule)
    })?;
    Ok(ok(rule))
}

pub(super) async fn remove(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::DeleteHibernationOverride, &org))?;

    app.write(|state| {
        let index = find(state, &caller, Op::DeleteHibernationOverride, &org, &id)?;
        let delay = state.settings.rollout_delay;
        let record = &mut state.data.deployments[index];
        check_development(record)?;

        let now = clock::now();
        record.set_override(None);
        record.settle_sleep(now, delay);
        record.deployment.updated_at = clock::rfc3339(now);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Only development Deployments hibernate.
pub(crate) fn check_development(record: &DeploymentRecord) -> Result<(), ApiError> {
    if record.deployment.is_development_mode {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "deployment `{}` is not a development deployment (`isDevelopmentMode` false): only \
         development deployments hibernate",
        record.deployment.id
    )))
}

/// An `overrideUntil` must be an RFC 3339 time in the future; it is answered in Astro's form.
pub(super) fn check_until(
    until: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<String>, ApiError> {
    let Some(text) = until else {
        return Ok(None);
    };
    let at = clock::parse_rfc3339(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`overrideUntil` `{text}` is not an RFC 3339 date-time"
        ))
    })?;

    if at <= now {
        return Err(ApiError::bad_request(format!(
            "`overrideUntil` `{text}` is in the past"
        )));
    }
    Ok(Some(clock::rfc3339(at.to_offset(time::UtcOffset::UTC))))
}
