//! The outbox as the sync engine will use it: one entity's jobs in id order, due
//! times respected, operator retry/resolve only from the states that allow them.

use numhubd::db::{entities, jobs, tenants, EntityType, JobState};

use crate::store_support::{new_entity, numhub_tenant, tenant};

#[test]
fn claims_follow_entity_order_and_due_times() {
    crate::support::rt().block_on(async {
        let (_dir, store) = crate::store_support::open("j.db");
        let (e1, e2) = store
            .write(|tx| {
                tenants::upsert(tx, tenant(1, "A"))?;
                let mk = |name: &str| new_entity(1, EntityType::Direct, name);
                Ok((
                    entities::create(tx, mk("one"))?.id,
                    entities::create(tx, mk("two"))?.id,
                ))
            })
            .await
            .expect("seed");
        let create = || {
            jobs::JobPayload::EntityCreate(jobs::ApplicationChange {
                application: Default::default(),
            })
        };
        let job = |entity: &str, payload| jobs::NewJob::on_entity(1, entity, payload);
        let (a, b, c) = (
            job(&e1, create()),
            job(&e2, create()),
            job(&e1, jobs::JobPayload::EntitySubmit(jobs::Nothing {})),
        );
        let ids = store
            .write(move |tx| {
                Ok((
                    jobs::enqueue(tx, a.clone())?.id,
                    jobs::enqueue(tx, b.clone())?.id,
                    jobs::enqueue(tx, c.clone())?.id,
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
            JobState::Queued
        );
        store
            .write(move |tx| jobs::mark_running(tx, ids.1, now))
            .await
            .expect("running");
        assert_eq!(
            store
                .write(move |tx| jobs::mark_interrupted(tx, now, now))
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
            JobState::Queued,
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
        let resume_since = |id| {
            let store = store.clone();
            async move {
                store
                    .read(move |sql| jobs::get_any(sql, id))
                    .await
                    .expect("get")
                    .resume_since
            }
        };
        assert_eq!(resume_since(ids.1).await.as_deref(), Some(now));
        let later = "2999-02-01T00:00:00.000000Z";
        store
            .write(move |tx| {
                jobs::mark_running(tx, ids.1, later)?;
                jobs::mark_interrupted(tx, later, later)
            })
            .await
            .expect("interrupted again");
        assert_eq!(resume_since(ids.1).await.as_deref(), Some(now));
        // A disabled tenant's due job is not claimed by the sync engine.
        assert_eq!(
            store
                .write(move |tx| jobs::claim_next_sendable(tx, later, None))
                .await
                .expect("claim"),
            None
        );
    });
}

#[test]
fn done_jobs_are_purged_in_batches_after_retention() {
    crate::support::rt().block_on(async {
        let (_dir, store) = crate::store_support::open("p.db");
        let done_at = [
            "2000-01-01T00:00:00.000000Z",
            "2000-01-02T00:00:00.000000Z",
            "2000-01-03T00:00:00.000000Z",
        ];
        let ids = store
            .write(move |tx| {
                tenants::upsert(
                    tx,
                    tenants::TenantFields {
                        numhub_enabled: Some(true),
                        ..tenant(1, "A")
                    },
                )?;
                let mut ids = Vec::new();
                for _ in 0..4 {
                    ids.push(
                        jobs::enqueue(
                            tx,
                            jobs::NewJob {
                                tenant_id: 1,
                                payload: jobs::JobPayload::EntityUpdate(jobs::ApplicationChange {
                                    application: Default::default(),
                                }),
                                entity_id: None,
                                identity_id: None,
                                document_id: None,
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
            .write(|tx| jobs::claim_next_sendable(tx, "2999-01-01T00:00:00.000000Z", None))
            .await
            .expect("claim");
        assert_eq!(claimed.map(|j| j.id), Some(ids[3]));
    });
}

/// A job blocked by something outside it is `waiting` (not `failed`) with its attempt
/// given back; it is claimed again when due, and an operator may make it due now.
#[test]
fn a_waiting_job_keeps_its_attempts_and_is_claimed_again_when_due() {
    crate::support::rt().block_on(async {
        let (_dir, store) = crate::store_support::open("w.db");
        let id = store
            .write(|tx| {
                tenants::upsert(tx, tenant(1, "A"))?;
                let e = entities::create(tx, new_entity(1, EntityType::Direct, "w"))?;
                Ok(jobs::enqueue(
                    tx,
                    jobs::NewJob::on_entity(
                        1,
                        e.id,
                        jobs::JobPayload::EntitySubmit(jobs::Nothing {}),
                    ),
                )?
                .id)
            })
            .await
            .expect("seed");
        let (now, later) = ("2999-01-01T00:00:00.000000Z", "2999-01-01T00:00:30.000000Z");
        let claim_at = |at| store.write(move |tx| jobs::claim_next_due(tx, at));
        let wait =
            || store.write(move |tx| jobs::mark_waiting(tx, id, "login blocked", later, now));
        let claimed = claim_at(now).await.expect("claim").expect("due");
        assert_eq!((claimed.id, claimed.attempts), (id, 1));
        wait().await.expect("waiting");
        let get = || store.read(move |sql| jobs::get(sql, 1, id));
        let j = get().await.expect("get");
        assert_eq!(
            (j.state, j.attempts, j.last_error.as_deref()),
            (JobState::Waiting, 0, Some("login blocked"))
        );
        assert_eq!(
            claim_at(now).await.expect("claim"),
            None,
            "not before its next look"
        );
        let again = claim_at(later).await.expect("claim").expect("due again");
        assert_eq!((again.id, again.attempts), (id, 1));
        wait().await.expect("waiting");
        let retried = store
            .write(move |tx| jobs::retry(tx, 1, id))
            .await
            .expect("an operator may retry a waiting job");
        assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    });
}

/// The sync engine's claims go round the tenants: a tenant with many jobs queued
/// first does not hold back another tenant's one job until all of its own are sent.
#[test]
fn claims_go_round_the_tenants() {
    crate::support::rt().block_on(async {
        let (_dir, store) = crate::store_support::open("rr.db");
        let queued = store
            .write(|tx| {
                let mut ids = Vec::new();
                // Tenant 1 queues five creates, then tenants 2 and 3 one each.
                for (tenant, count) in [(1, 5), (2, 1), (3, 1)] {
                    tenants::upsert(
                        tx,
                        numhub_tenant(
                            tenant,
                            &format!("T{tenant}"),
                            &(1000 + tenant).to_string(),
                            Some(true),
                        ),
                    )?;
                    for n in 0..count {
                        let e = entities::create(
                            tx,
                            new_entity(
                                tenant,
                                EntityType::Direct,
                                &format!("T{tenant} company {n}"),
                            ),
                        )?;
                        let payload = jobs::JobPayload::EntityCreate(jobs::ApplicationChange {
                            application: Default::default(),
                        });
                        ids.push(
                            jobs::enqueue(tx, jobs::NewJob::on_entity(tenant, &e.id, payload))?.id,
                        );
                    }
                }
                Ok(ids)
            })
            .await
            .expect("seed");
        assert_eq!(queued.len(), 7);
        let now = "2999-01-01T00:00:00.000000Z";
        let mut last = None;
        let mut order = Vec::new();
        while let Some(job) = store
            .write(move |tx| jobs::claim_next_sendable(tx, now, last))
            .await
            .expect("claim")
        {
            last = Some(job.tenant_id);
            order.push(job.tenant_id);
        }
        assert_eq!(order, vec![1, 2, 3, 1, 1, 1, 1]);
    });
}
