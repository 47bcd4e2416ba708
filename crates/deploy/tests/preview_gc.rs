//! What `gc` decides for each preview, against the emulator, with a code host whose answers
//! the test sets: closed or merged reviews and deleted branches go, open ones stay, and a
//! host that cannot tell never leads to a deletion. Also: a twin left by an interrupted job
//! goes, and the TTL wins over everything.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use astro_api::{ApiToken, Client, ClientConfig};
use deploy::preview::{
    self, CreateOptions, GcOptions, Liveness, PreviewOverrides, ReviewHost, Verdict,
};
use deploy::NoProgress;
use time::OffsetDateTime;

/// A code host that answers from tables; anything not in them is unknown.
#[derive(Default)]
struct ScriptedHost {
    branches: HashMap<String, Liveness>,
    reviews: HashMap<u64, Liveness>,
}

impl ReviewHost for ScriptedHost {
    async fn branch_state(&self, branch: &str) -> Liveness {
        self.branches
            .get(branch)
            .cloned()
            .unwrap_or(Liveness::Unknown {
                reason: "not scripted".into(),
            })
    }

    async fn review_state(&self, number: u64) -> Liveness {
        self.reviews
            .get(&number)
            .cloned()
            .unwrap_or(Liveness::Unknown {
                reason: "not scripted".into(),
            })
    }
}

fn closed(reason: &str) -> Liveness {
    Liveness::Closed {
        reason: reason.into(),
    }
}

fn client(emulator: &emulator::RunningEmulator) -> Client {
    let token = ApiToken::new(emulator.info().api_token.clone()).unwrap();
    let config = ClientConfig {
        base_url: emulator.base_url().to_owned(),
        retry: common::quick_retries(),
        ..ClientConfig::new(token)
    };
    Client::new(config).unwrap()
}

fn options(branch: &str, review: Option<u64>) -> CreateOptions {
    CreateOptions {
        branch: branch.into(),
        review,
        overrides: PreviewOverrides::default(),
        ready_timeout: Duration::from_secs(10),
        max_poll_interval: Duration::from_millis(100),
        now: OffsetDateTime::now_utc(),
    }
}

fn verdict_of<'a>(entries: &'a [preview::GcEntry], branch: &str) -> &'a Verdict {
    &entries
        .iter()
        .find(|e| e.preview.branch.as_deref() == Some(branch))
        .unwrap_or_else(|| panic!("no entry for {branch}"))
        .verdict
}

#[tokio::test]
async fn gc_deletes_what_the_host_says_is_closed_and_keeps_everything_else() {
    let emulator = common::start(Duration::from_millis(50)).await;
    let client = client(&emulator);
    let base_id = emulator.info().deployments.dags_enabled.clone();
    let base = client.get_deployment(&base_id).await.unwrap();

    let cases = [
        ("merged/pr", Some(1)),
        ("open/pr", Some(2)),
        ("deleted/branch", None),
        ("live/branch", None),
        ("nobody/knows", Some(5)),
    ];
    for (branch, review) in cases {
        preview::ensure(&client, &base, &options(branch, review), &NoProgress)
            .await
            .unwrap();
    }
    let host = ScriptedHost {
        branches: HashMap::from([
            ("deleted/branch".to_owned(), closed("branch deleted")),
            ("live/branch".to_owned(), Liveness::Alive),
            // The review decides before the branch: an open review keeps its preview.
            ("open/pr".to_owned(), closed("branch deleted")),
        ]),
        reviews: HashMap::from([(1, closed("pull request #1 merged")), (2, Liveness::Alive)]),
    };

    let gc_options = GcOptions {
        ttl: None,
        now: OffsetDateTime::now_utc(),
        dry_run: false,
    };
    let entries = preview::gc(&client, &base, &host, &gc_options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(entries.len(), cases.len());

    let deleted = |branch| matches!(verdict_of(&entries, branch), Verdict::Delete { .. });
    assert!(deleted("merged/pr"));
    assert!(deleted("deleted/branch"));
    assert!(!deleted("open/pr"));
    assert!(!deleted("live/branch"));
    let Verdict::Keep { reason } = verdict_of(&entries, "nobody/knows") else {
        panic!("a preview nobody can vouch for is kept");
    };
    assert!(reason.contains("cannot tell"), "{reason}");

    let left = preview::list(&client, &base).await.unwrap();
    let mut branches: Vec<_> = left.iter().filter_map(|p| p.branch.clone()).collect();
    branches.sort();
    assert_eq!(branches, ["live/branch", "nobody/knows", "open/pr"]);
    assert!(
        client.get_deployment(&base_id).await.is_ok(),
        "the base stays"
    );
}

#[tokio::test]
async fn the_ttl_wins_and_a_leftover_twin_goes() {
    let emulator = common::start(Duration::from_millis(50)).await;
    let client = client(&emulator);
    let base_id = emulator.info().deployments.dags_enabled.clone();
    let base = client.get_deployment(&base_id).await.unwrap();

    let ensured = preview::ensure(&client, &base, &options("old/one", Some(9)), &NoProgress)
        .await
        .unwrap();

    // A job that created a twin and died before converging: same name and record.
    let name = ensured.preview.name.clone();
    let record =
        preview::PreviewRecord::new(&base_id, "old/one", Some(9), OffsetDateTime::now_utc());
    let (request, _) = preview::lifecycle::preview_request(
        &base,
        &name,
        &record.description(&base.name),
        &PreviewOverrides::default(),
    )
    .unwrap();
    let twin = client.create_deployment(&request).await.unwrap();

    let host = ScriptedHost {
        reviews: HashMap::from([(9, Liveness::Alive)]),
        ..ScriptedHost::default()
    };
    let later = OffsetDateTime::now_utc() + time::Duration::days(30);
    let dry = GcOptions {
        ttl: None,
        now: later,
        dry_run: true,
    };
    let entries = preview::gc(&client, &base, &host, &dry, &NoProgress)
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        matches!(entries[0].verdict, Verdict::Keep { .. }),
        "{:?}",
        entries[0]
    );
    assert_eq!(entries[1].preview.id, twin.id);
    assert!(matches!(entries[1].verdict, Verdict::Delete { .. }));
    assert!(
        entries.iter().all(|e| !e.deleted),
        "a dry run deletes nothing"
    );
    assert_eq!(preview::list(&client, &base).await.unwrap().len(), 2);

    let expired = GcOptions {
        ttl: Some(Duration::from_secs(14 * 86_400)),
        now: later,
        dry_run: false,
    };
    let entries = preview::gc(&client, &base, &host, &expired, &NoProgress)
        .await
        .unwrap();
    let Verdict::Delete { reason } = &entries[0].verdict else {
        panic!("an open review does not save a preview past its TTL");
    };
    assert!(reason.contains("TTL"), "{reason}");
    assert!(preview::list(&client, &base).await.unwrap().is_empty());
}
