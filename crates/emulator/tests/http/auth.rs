//! Bearer tokens: refused shapes, and what each kind of token may touch.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::support::{answer, error_message, start};

#[tokio::test]
async fn bad_tokens_answer_401_and_never_echo_the_token() {
    let harness = start().await;
    let other = start().await;
    let url = harness.deployment_url(&harness.enabled(), "");
    let expired = harness.emulator.mint_token(None, Duration::ZERO);
    let foreign = other.emulator.info().api_token.clone();

    let missing = answer(harness.http.get(&url).send().await).await;
    let message = error_message(missing.0, &missing.1, StatusCode::UNAUTHORIZED);
    assert!(
        message.contains("missing `Authorization` header"),
        "{message}"
    );

    let basic = harness
        .http
        .get(&url)
        .header("authorization", "Basic c2VjcmV0")
        .send()
        .await;
    let (status, body) = answer(basic).await;
    let message = error_message(status, &body, StatusCode::UNAUTHORIZED);
    assert!(message.contains("Bearer"), "{message}");
    assert!(!message.contains("c2VjcmV0"), "{message}");

    for (token, expected) in [
        ("not-a-jwt-secret", "three base64url parts"),
        ("e30.e30.e30", "signed with `none`"),
        (foreign.as_str(), "signature does not verify"),
        (expired.as_str(), "expired at"),
    ] {
        let (status, body) = answer(harness.call(Method::GET, &url, token).send().await).await;
        let message = error_message(status, &body, StatusCode::UNAUTHORIZED);
        assert!(message.contains(expected), "{message}");
        assert!(
            !message.contains(token),
            "the message echoes the token: {message}"
        );
    }

    let exchanges = harness.emulator.exchanges();
    assert_eq!(exchanges.len(), 6);
    assert!(exchanges
        .iter()
        .all(|exchange| exchange.status == 401 && !exchange.fault));
}

#[tokio::test]
async fn an_unknown_organization_is_404_where_the_spec_lists_it_and_403_elsewhere() {
    let harness = start().await;
    let other = format!(
        "{}/platform/v1beta1/organizations/cotherorg0000000000000000",
        harness.emulator.base_url()
    );

    let (status, body) = harness.get(&other).await;
    let message = error_message(status, &body, StatusCode::NOT_FOUND);
    assert!(message.contains("organization `cotherorg"), "{message}");

    let (status, body) = harness.get(&format!("{other}/deployments")).await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(message.contains("organization `cotherorg"), "{message}");
}

#[tokio::test]
async fn workspace_tokens_reach_only_their_workspace() {
    let harness = start().await;
    let day = Duration::from_secs(86_400);
    let inside = harness.emulator.mint_token(
        Some(vec![format!("workspaceId:{}", harness.workspace())]),
        day,
    );
    let outside = harness
        .emulator
        .mint_token(Some(vec!["workspaceId:cotherws".to_owned()]), day);
    let url = harness.deployment_url(&harness.enabled(), "");

    let (status, _) = answer(harness.call(Method::GET, &url, &inside).send().await).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = answer(harness.call(Method::GET, &url, &outside).send().await).await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(message.contains("`workspaceId:cotherws`"), "{message}");
    assert!(message.contains(&harness.enabled()), "{message}");
}

#[tokio::test]
async fn deployment_tokens_reach_only_their_deployment() {
    let harness = start().await;
    let day = Duration::from_secs(86_400);
    let token = harness.emulator.mint_token(
        Some(vec![format!("deploymentId:{}", harness.enabled())]),
        day,
    );

    let own = harness.deployment_url(&harness.enabled(), "");
    let (status, _) = answer(harness.call(Method::GET, &own, &token).send().await).await;
    assert_eq!(status, StatusCode::OK);

    let other = harness.deployment_url(&harness.disabled(), "/deploys");
    let request = harness
        .call(Method::POST, &other, &token)
        .json(&serde_json::json!({"type": "IMAGE_AND_DAG"}));
    let (status, body) = answer(request.send().await).await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(
        message.contains(&format!("do not cover deployment `{}`", harness.disabled())),
        "{message}"
    );

    let list = harness.org_url("/deployments");
    let (status, body) = answer(harness.call(Method::GET, &list, &token).send().await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totalCount"], 1, "{body}");
    assert_eq!(body["deployments"][0]["id"], harness.enabled().as_str());
}
