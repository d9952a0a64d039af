//! The outbox as the sync engine will use it: one entity's jobs in id order, due
//! times respected, operator retry/resolve only from the states that allow them.

use numhubd::db::{entities, jobs, tenants, EntityType, Store, StoreOptions};

#[test]
fn claims_follow_entity_order_and_due_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::rpc_methods::rt();
    rt.block_on(async {
        let store = Store::open(&dir.path().join("j.db"), StoreOptions::default()).expect("open");
        let (e1, e2) = store
            .write(|tx| {
                tenants::upsert(
                    tx,
                    tenants::TenantInput {
                        id: 1,
                        name: "A".into(),
                        ..Default::default()
                    },
                )?;
                let mk = |name: &str| entities::NewEntity {
                    tenant_id: 1,
                    brand_id: None,
                    entity_type: EntityType::Direct,
                    company_name: name.into(),
                    submit: false,
                    attestation_level: None,
                };
                Ok((
                    entities::create(tx, mk("one"))?.id,
                    entities::create(tx, mk("two"))?.id,
                ))
            })
            .await
            .expect("seed");
        let job = |entity: &str, kind: &'static str| jobs::NewJob {
            tenant_id: 1,
            kind,
            entity_id: Some(entity.to_string()),
            payload: "{}".into(),
            ..Default::default()
        };
        let (a, b, c) = (
            job(&e1, "entity.create"),
            job(&e2, "entity.create"),
            job(&e1, "entity.submit"),
        );
        let ids = store
            .write(move |tx| {
                Ok((
                    jobs::enqueue(tx, a)?.id,
                    jobs::enqueue(tx, b)?.id,
                    jobs::enqueue(tx, c)?.id,
                ))
            })
            .await
            .expect("enqueue");
        let now = "2999-01-01T00:00:00.000000Z";
        let claim = || store.write(move |tx| jobs::claim_next_due(tx, now));
        assert_eq!(claim().await.expect("claim").map(|j| j.id), Some(ids.0));
        assert_eq!(claim().await.expect("claim").map(|j| j.id), Some(ids.1));
        // e1's second job waits for its first.
        assert_eq!(claim().await.expect("claim").map(|j| j.id), None);
        store
            .write(move |tx| jobs::mark_done(tx, ids.0, now))
            .await
            .expect("done");
        let third = claim().await.expect("claim").expect("third job");
        assert_eq!(
            (third.id, third.state.as_str(), third.attempts),
            (ids.2, "running", 1)
        );
        // A failed job is due again only at its next attempt time.
        store
            .write(move |tx| {
                jobs::mark_failed(tx, ids.2, "502", "2999-06-01T00:00:00.000000Z", now)
            })
            .await
            .expect("failed");
        assert_eq!(claim().await.expect("claim").map(|j| j.id), None);
        // Operators: retry from failed; resolve only dead / needs_attention.
        assert!(store
            .write(move |tx| jobs::resolve(tx, 1, ids.2, None))
            .await
            .is_err());
        assert_eq!(
            store
                .write(move |tx| jobs::retry(tx, 1, ids.2))
                .await
                .expect("retry")
                .state,
            "queued"
        );
        store
            .write(move |tx| jobs::mark_running(tx, ids.1, now))
            .await
            .expect("running");
        assert_eq!(
            store
                .write(move |tx| jobs::mark_interrupted(tx, now))
                .await
                .expect("interrupted"),
            1
        );
        assert_eq!(
            store
                .read(move |sql| jobs::get(sql, 1, ids.1))
                .await
                .expect("get")
                .state,
            "queued",
            "an interrupted attempt is resumed (looked up first), not parked"
        );
        assert!(
            store
                .read(move |sql| jobs::get(sql, 2, ids.1))
                .await
                .is_err(),
            "another tenant's job"
        );
        // The interrupted attempt's start is kept for the look-before-resend; a
        // second interruption keeps the first (earliest) start.
        let payload = |id| {
            let store = store.clone();
            async move {
                store
                    .read(move |sql| jobs::get_any(sql, id))
                    .await
                    .expect("get")
                    .payload
            }
        };
        assert_eq!(payload(ids.1).await["resume_since"], now);
        let later = "2999-02-01T00:00:00.000000Z";
        store
            .write(move |tx| {
                jobs::mark_running(tx, ids.1, later)?;
                jobs::mark_interrupted(tx, later)
            })
            .await
            .expect("interrupted again");
        assert_eq!(payload(ids.1).await["resume_since"], now);
        // A disabled tenant's due job is not claimed by the sync engine.
        assert_eq!(
            store
                .write(move |tx| jobs::claim_next_sendable(tx, later))
                .await
                .expect("claim"),
            None
        );
    });
}

#[test]
fn done_jobs_are_purged_in_batches_after_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::rpc_methods::rt();
    rt.block_on(async {
        let store = Store::open(&dir.path().join("p.db"), StoreOptions::default()).expect("open");
        let done_at = [
            "2000-01-01T00:00:00.000000Z",
            "2000-01-02T00:00:00.000000Z",
            "2000-01-03T00:00:00.000000Z",
        ];
        let ids = store
            .write(move |tx| {
                tenants::upsert(
                    tx,
                    tenants::TenantInput {
                        id: 1,
                        name: "A".into(),
                        numhub_enabled: Some(true),
                        ..Default::default()
                    },
                )?;
                let mut ids = Vec::new();
                for _ in 0..4 {
                    ids.push(
                        jobs::enqueue(
                            tx,
                            jobs::NewJob {
                                tenant_id: 1,
                                kind: "entity.update",
                                payload: "{}".into(),
                                ..Default::default()
                            },
                        )?
                        .id,
                    );
                }
                for (id, at) in ids.iter().zip(done_at) {
                    jobs::mark_done(tx, *id, at)?;
                }
                Ok(ids)
            })
            .await
            .expect("seed");
        let before = "2000-01-02T12:00:00.000000Z";
        let purge = |batch| store.write(move |tx| jobs::purge_done(tx, before, batch));
        assert_eq!(purge(1).await.expect("purge"), 1, "one batch of one");
        assert_eq!(purge(10).await.expect("purge"), 1, "the other old one");
        assert_eq!(
            purge(10).await.expect("purge"),
            0,
            "newer and unfinished stay"
        );
        let left: Vec<i64> = store
            .read(|sql| jobs::list(sql, Some(1), None, None, None))
            .await
            .expect("list")
            .items
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, vec![ids[3], ids[2]]);
        // An enabled tenant's due job is claimable by the sync engine.
        let claimed = store
            .write(|tx| jobs::claim_next_sendable(tx, "2999-01-01T00:00:00.000000Z"))
            .await
            .expect("claim");
        assert_eq!(claimed.map(|j| j.id), Some(ids[3]));
    });
}
