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
    });
}
