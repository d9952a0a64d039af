//! The store through its public API, on real SQLite files: validation names the
//! field and writes nothing, status transitions follow the seed's flow, and tenant
//! scoping holds for every tenant-scoped table.

use numhubd::api::{Document, Identity};
use numhubd::db::{
    self, brands, documents, entities, identities, jobs, sync_logs, tenants, DbError, DocumentType,
    EntityStatus, EntityType, HttpMethod, IdentityStatus, Store, StoreOptions, VettingStatus,
};

use crate::store_support::{add_tenant, new_entity, numhub_tenant};
use crate::support::rt;

fn open() -> (tempfile::TempDir, Store) {
    crate::store_support::open("store.db")
}

/// Tenant `id` ("Tenant {id}") on NumHub client 1000 + `id`.
async fn tenant(store: &Store, id: i64) {
    let client = (1000 + id).to_string();
    add_tenant(
        store,
        numhub_tenant(id, &format!("Tenant {id}"), &client, None),
    )
    .await;
}

async fn entity(store: &Store, tenant_id: i64, name: &str) -> entities::Entity {
    let name = name.to_string();
    store
        .write(move |tx| entities::create(tx, new_entity(tenant_id, EntityType::Enterprise, &name)))
        .await
        .expect("entity")
}

fn identity_input(
    entity_id: &str,
    numhub_id: &str,
    display_name: &str,
) -> identities::IdentityInput {
    identities::IdentityInput {
        call_reason: Some("Support".into()),
        ..crate::store_support::identity_input(entity_id, numhub_id, display_name)
    }
}

/// Asserts that `err` is the store's refusal naming `field`; `case` says what was
/// sent, where a test sends several.
fn assert_invalid(err: &DbError, field: &str, case: &str) {
    assert!(
        matches!(err, DbError::Invalid { field: f, .. } if *f == field),
        "{case}: expected {field} refused, got {err}"
    );
}

async fn count(store: &Store, table: &'static str) -> i64 {
    // Counting through the public list functions would hide rows of other tenants;
    // the test opens the file directly for an exact count.
    let path = store.path().expect("a SQLite store").to_path_buf();
    tokio::task::spawn_blocking(move || {
        rusqlite::Connection::open(path)
            .expect("open")
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    })
    .await
    .expect("join")
}

#[test]
fn an_invalid_status_is_refused_naming_the_field() {
    let refused = [
        (
            "aproved",
            EntityStatus::parse("aproved").map(drop),
            "status",
        ),
        (
            "done",
            VettingStatus::parse("done").map(drop),
            "vetting_status",
        ),
        ("gone", IdentityStatus::parse("gone").map(drop), "status"),
    ];
    for (input, result, field) in refused {
        assert_invalid(&result.expect_err(input), field, input);
    }
}

#[test]
fn a_33_character_display_name_is_refused_and_nothing_is_written() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Acme").await;
        let long = "X".repeat(33);
        let id = e.id.clone();
        let err = store
            .write(move |tx| identities::upsert(tx, 1, identity_input(&id, "nh-1", &long)))
            .await
            .expect_err("33 chars");
        assert_invalid(&err, "display_name", "");
        assert_eq!(count(&store, "numhub_identities").await, 0);
        let err = store
            .write(|tx| {
                brands::upsert(
                    tx,
                    brands::BrandFields {
                        tenant_id: 1,
                        id: None,
                        name: "Acme".into(),
                        display_name: Some("Y".repeat(33)),
                    },
                )
            })
            .await
            .expect_err("33 chars");
        assert_invalid(&err, "display_name", "");
        assert_eq!(count(&store, "brands").await, 0);
        // 32 characters (multi-byte ones count as one each) is fine.
        let ok = "É".repeat(32);
        let id = e.id.clone();
        store
            .write(move |tx| identities::upsert(tx, 1, identity_input(&id, "nh-1", &ok)))
            .await
            .expect("32 chars");
    });
}

/// NumHub's `dirId` and the identity's whole answer are kept as given, a new answer
/// alone changes nothing the identity shows, and a value the columns cannot hold is
/// refused naming the field, writing nothing.
#[test]
fn an_identitys_dir_id_and_answer_are_kept_and_checked() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Acme").await;
        let with = |dir_id: Option<&str>, answer: Option<&str>| {
            let mut input = identity_input(&e.id, "nh-1", "NAME");
            input.dir_id = dir_id.map(String::from);
            input.api_response = answer.map(String::from);
            input
        };
        for (input, field) in [
            (with(Some(&"D".repeat(101)), None), "dir_id"),
            (with(None, Some("{not json")), "api_response"),
        ] {
            let err = store
                .write(move |tx| identities::upsert(tx, 1, input.clone()))
                .await
                .expect_err("refused");
            assert_invalid(&err, field, "");
            assert_eq!(count(&store, "numhub_identities").await, 0);
        }
        let first = with(Some("DIR1"), Some(r#"{"isFeeChecked": true}"#));
        let (row, changed) = store
            .write(move |tx| identities::upsert(tx, 1, first.clone()))
            .await
            .expect("insert");
        assert!(changed);
        assert_eq!(row.dir_id.as_deref(), Some("DIR1"));
        // A new answer alone is stored, and is no change; None keeps what is there.
        let again = with(None, Some(r#"{"isFeeChecked": false}"#));
        let (row, changed) = store
            .write(move |tx| identities::upsert(tx, 1, again.clone()))
            .await
            .expect("same identity");
        assert!(!changed);
        assert_eq!(row.dir_id.as_deref(), Some("DIR1"));
        assert_eq!(
            row.api_response,
            Some(serde_json::json!({"isFeeChecked": false}))
        );
        let id = row.id.clone();
        let err = store
            .write(move |tx| identities::set_remote(tx, 1, &id, Some(&"D".repeat(101)), None))
            .await
            .expect_err("too long");
        assert_invalid(&err, "dir_id", "");
        let id = row.id.clone();
        let row = store
            .write(move |tx| identities::set_remote(tx, 1, &id, Some("DIR2"), None))
            .await
            .expect("set_remote");
        assert_eq!(row.dir_id.as_deref(), Some("DIR2"));
        assert_eq!(
            row.api_response,
            Some(serde_json::json!({"isFeeChecked": false}))
        );
    });
}

#[test]
fn an_unknown_tenant_id_is_refused_naming_the_field() {
    rt().block_on(async {
        let (_dir, store) = open();
        let err = store
            .write(|tx| {
                entities::create(
                    tx,
                    entities::NewEntity {
                        tenant_id: 42,
                        brand_id: None,
                        entity_type: EntityType::Bpo,
                        company_name: "Ghost".into(),
                        submit: true,
                        attestation_level: None,
                    },
                )
            })
            .await
            .expect_err("unknown tenant");
        assert!(
            matches!(
                err,
                DbError::UnknownReference {
                    field: "tenant_id",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(count(&store, "numhub_entities").await, 0);
    });
}

#[test]
fn an_illegal_transition_is_refused_and_the_status_stays() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Acme").await;
        assert_eq!(e.status, EntityStatus::Draft);
        for to in [
            EntityStatus::Submitted,
            EntityStatus::PendingVetting,
            EntityStatus::Approved,
        ] {
            let id = e.id.clone();
            let row = store
                .write(move |tx| entities::transition(tx, 1, &id, to))
                .await
                .expect("legal step");
            assert_eq!(row.status, to);
        }
        let id = e.id.clone();
        let err = store
            .write(move |tx| entities::transition(tx, 1, &id, EntityStatus::Draft))
            .await
            .expect_err("approved -> draft");
        assert!(matches!(err, DbError::IllegalTransition { .. }), "{err}");
        let id = e.id.clone();
        let now = store
            .read(move |sql| entities::get(sql, 1, &id))
            .await
            .expect("get");
        assert_eq!(now.status, EntityStatus::Approved);
        assert!(
            now.approved_at.is_some(),
            "approved_at is set when first approved"
        );
    });
}

#[test]
fn rejected_may_be_resubmitted_and_reported_states_apply_as_reported() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Acme").await;
        let id = e.id.clone();
        // NumHub may report any state: applied even where the local flow has no step.
        let (row, changed) = store
            .write(move |tx| {
                entities::apply_reported_status(
                    tx,
                    1,
                    &id,
                    EntityStatus::Rejected,
                    VettingStatus::Rejected,
                )
            })
            .await
            .expect("reported");
        assert!(changed);
        assert_eq!(row.status, EntityStatus::Rejected);
        let id = e.id.clone();
        let row = store
            .write(move |tx| entities::transition(tx, 1, &id, EntityStatus::Submitted))
            .await
            .expect("rejected -> submitted");
        assert_eq!(row.status, EntityStatus::Submitted);
        let id = e.id.clone();
        let (_, changed) = store
            .write(move |tx| {
                entities::apply_reported_status(
                    tx,
                    1,
                    &id,
                    EntityStatus::Submitted,
                    VettingStatus::Rejected,
                )
            })
            .await
            .expect("same");
        assert!(!changed, "reporting the current state changes nothing");
    });
}

#[test]
fn every_allowed_transition_and_no_other_is_legal() {
    use EntityStatus::*;
    let allowed = [
        (Draft, Submitted),
        (Submitted, PendingVetting),
        (PendingVetting, Approved),
        (PendingVetting, Rejected),
        (Rejected, Submitted),
    ];
    for &from in EntityStatus::ALL {
        for &to in EntityStatus::ALL {
            assert_eq!(
                from.may_become(to),
                allowed.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn invalid_json_is_refused_and_the_row_keeps_its_value() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Acme").await;
        let id = e.id.clone();
        store
            .write(move |tx| entities::set_api_response(tx, 1, &id, r#"{"status":"Saved"}"#))
            .await
            .expect("valid json");
        let id = e.id.clone();
        let err = store
            .write(move |tx| entities::set_api_response(tx, 1, &id, "{\"status\":"))
            .await
            .expect_err("bad json");
        assert_invalid(&err, "api_response", "");
        let id = e.id.clone();
        let row = store
            .read(move |sql| entities::get(sql, 1, &id))
            .await
            .expect("get");
        assert_eq!(
            row.api_response.map(|r| r.get().to_string()),
            Some(r#"{"status":"Saved"}"#.to_string())
        );
    });
}

#[test]
fn a_client_id_that_is_not_an_int32_is_refused() {
    rt().block_on(async {
        let (_dir, store) = open();
        for bad in ["abc", "-1", "2147483648", ""] {
            let err = store
                .write(move |tx| tenants::upsert(tx, numhub_tenant(1, "T", bad, None)))
                .await
                .expect_err("not int32");
            assert_invalid(&err, "numhub_client_id", bad);
        }
        assert_eq!(count(&store, "tenants").await, 0);
    });
}

#[test]
fn a_failing_call_does_not_undo_the_others_in_its_batch() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        let mut handles = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let name = if i % 2 == 0 {
                    format!("Co {i}")
                } else {
                    String::new()
                };
                store
                    .write(move |tx| entities::create(tx, new_entity(1, EntityType::Direct, &name)))
                    .await
            }));
        }
        let mut ok = 0;
        for h in handles {
            if h.await.expect("join").is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 32);
        assert_eq!(count(&store, "numhub_entities").await, 32);
    });
}

#[test]
fn keyset_pages_cover_every_row_once_in_order() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        for i in 0..250 {
            entity(&store, 1, &format!("Co {i}")).await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let c = cursor.clone();
            let page = store
                .read(move |sql| entities::list(sql, 1, None, c.as_deref(), Some(100)))
                .await
                .expect("page");
            seen.extend(page.items.into_iter().map(|e| e.company_name));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<String> = (0..250).map(|i| format!("Co {i}")).collect();
        assert_eq!(seen, want);
        let err = store
            .read(|sql| entities::list(sql, 1, None, None, Some(0)))
            .await
            .expect_err("limit 0");
        assert!(matches!(err, DbError::Invalid { field: "limit", .. }));
    });
}

#[test]
fn tenant_a_never_sees_tenant_b_rows() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        tenant(&store, 2).await;
        let a = entity(&store, 1, "A Corp").await;
        let b = entity(&store, 2, "B Corp").await;
        for (t, e, nid) in [(1, &a, "nh-a"), (2, &b, "nh-b")] {
            let id = e.id.clone();
            store
                .write(move |tx| identities::upsert(tx, t, identity_input(&id, nid, "NAME")))
                .await
                .expect("identity");
            let id = e.id.clone();
            store
                .write(move |tx| documents::create(tx, t, &id, None, DocumentType::Loa, "loa.pdf"))
                .await
                .expect("document");
            let id = e.id.clone();
            store
                .write(move |tx| {
                    sync_logs::insert(
                        tx,
                        sync_logs::NewSyncLog {
                            tenant_id: Some(t),
                            entity_id: Some(id.clone()),
                            identity_id: None,
                            endpoint: "/api/v1/application".into(),
                            method: HttpMethod::Post,
                            direction: db::Direction::Outbound,
                            status_code: Some(200),
                            request_payload: Some("{}".into()),
                            response_payload: None,
                            response_time_ms: Some(5),
                            error_message: None,
                            success: true,
                        },
                    )
                })
                .await
                .expect("log");
        }
        // Lists show only the tenant's own rows.
        let ents = store
            .read(|s| entities::list(s, 1, None, None, None))
            .await
            .expect("list");
        assert_eq!(
            ents.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
            vec![&a.id]
        );
        let ids = store
            .read(|s| jobs::children::<Identity>(s, 1, None, None, None))
            .await
            .expect("list");
        assert!(ids.items.iter().all(|(i, _)| i.entity_id == a.id) && ids.items.len() == 1);
        let docs = store
            .read(|s| jobs::children::<Document>(s, 1, None, None, None))
            .await
            .expect("list");
        assert!(docs.items.iter().all(|(d, _)| d.entity_id == a.id) && docs.items.len() == 1);
        let filter = sync_logs::LogQuery {
            tenant_id: Some(1),
            ..Default::default()
        };
        let logs = store
            .read(move |s| sync_logs::list(s, &filter))
            .await
            .expect("list");
        assert!(logs.items.iter().all(|l| l.tenant_id == Some(1)) && logs.items.len() == 1);
        // Even filtering by B's entity through A's scope finds nothing.
        let b_id = b.id.clone();
        let cross = store
            .read(move |s| jobs::children::<Identity>(s, 1, Some(&b_id), None, None))
            .await
            .expect("list");
        assert!(cross.items.is_empty());
        // Gets by id of B's rows, and a write to B's entity, through A's scope are
        // not found.
        let b_doc = store
            .read(|s| jobs::children::<Document>(s, 2, None, None, None))
            .await
            .expect("b docs")
            .items[0]
            .0
            .id
            .clone();
        let b_ident = store
            .read(|s| jobs::children::<Identity>(s, 2, None, None, None))
            .await
            .expect("b ids")
            .items[0]
            .0
            .id
            .clone();
        let (e, w) = (b.id.clone(), b.id.clone());
        let scoped = [
            (
                "entity",
                store.read(move |s| entities::get(s, 1, &e).map(drop)).await,
            ),
            (
                "document",
                store
                    .read(move |s| documents::get(s, 1, &b_doc).map(drop))
                    .await,
            ),
            (
                "identity",
                store
                    .read(move |s| identities::get(s, 1, &b_ident).map(drop))
                    .await,
            ),
            (
                "entity transition",
                store
                    .write(move |tx| {
                        entities::transition(tx, 1, &w, EntityStatus::Submitted).map(drop)
                    })
                    .await,
            ),
        ];
        for (what, result) in scoped {
            assert!(
                matches!(result, Err(DbError::NotFound { .. })),
                "B's {what} through A's scope: {result:?}"
            );
        }
    });
}

#[test]
fn tokens_refuse_clear_text() {
    rt().block_on(async {
        let (_dir, store) = open();
        let err = store
            .write(|tx| {
                db::tokens::put_access(
                    tx,
                    None,
                    "eyJhbGciOi.clear.text",
                    "2030-01-01T00:00:00Z",
                    None,
                )
            })
            .await
            .expect_err("clear text");
        assert_invalid(&err, "access_token", "");
        assert_eq!(count(&store, "numhub_tokens").await, 0);
    });
}

#[test]
fn close_finishes_queued_writes_and_later_writes_fail() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        for i in 0..100 {
            let s = store.clone();
            s.write_detached("test", move |tx| {
                entities::create(
                    tx,
                    new_entity(1, EntityType::Enterprise, &format!("Co {i}")),
                )
                .map(|_| ())
            })
            .await;
        }
        store.close().await.expect("close");
        assert_eq!(count(&store, "numhub_entities").await, 100);
        let err = store.write(|_| Ok(())).await.expect_err("closed");
        assert!(matches!(err, DbError::Closed));
    });
}

#[test]
fn identity_upserts_update_in_place_and_cannot_take_another_tenants_row() {
    rt().block_on(async {
        let (_dir, store) = open();
        tenant(&store, 1).await;
        tenant(&store, 2).await;
        let a = entity(&store, 1, "A Corp").await;
        let b = entity(&store, 2, "B Corp").await;
        let a_id = a.id.clone();
        let (first, created) = store
            .write(move |tx| identities::upsert(tx, 1, identity_input(&a_id, "nh-shared", "OLD")))
            .await
            .expect("create");
        assert!(created);
        let a_id = a.id.clone();
        let (second, changed) = store
            .write(move |tx| identities::upsert(tx, 1, identity_input(&a_id, "nh-shared", "NEW")))
            .await
            .expect("update");
        assert!(changed);
        assert_eq!(second.id, first.id, "updated in place");
        assert_eq!(second.display_name, "NEW");
        let a_id = a.id.clone();
        let (_, changed) = store
            .write(move |tx| identities::upsert(tx, 1, identity_input(&a_id, "nh-shared", "NEW")))
            .await
            .expect("same");
        assert!(!changed);
        let b_id = b.id.clone();
        store
            .write(move |tx| {
                identities::upsert(tx, 2, identity_input(&b_id, "nh-shared", "HIJACK"))
            })
            .await
            .expect_err("another tenant's NumHub id");
        let a_row = store
            .read(move |s| identities::get(s, 1, &first.id))
            .await
            .expect("still A's");
        assert_eq!(a_row.display_name, "NEW");
        assert_eq!(a_row.entity_id, a.id);
    });
}

#[test]
fn a_read_sees_one_snapshot_while_the_writer_commits() {
    let rt = rt();
    let (_dir, store) = open();
    rt.block_on(tenant(&store, 1));
    let writer = store.clone();
    let handle = rt.handle().clone();
    // Between the read's two statements the writer renames the tenant and commits;
    // the second statement must still see the name the first one saw.
    let names = rt
        .block_on(store.read(move |sql| {
            let before = tenants::get(sql, 1)?.name;
            handle
                .block_on(
                    writer.write(|tx| {
                        tenants::upsert(tx, crate::store_support::tenant(1, "Renamed"))
                    }),
                )
                .expect("rename");
            Ok((before, tenants::get(sql, 1)?.name))
        }))
        .expect("read");
    assert_eq!(names, ("Tenant 1".to_string(), "Tenant 1".to_string()));
    let after = rt
        .block_on(store.read(|sql| tenants::get(sql, 1)))
        .expect("read after");
    assert_eq!(after.name, "Renamed", "the next read sees the commit");
}

#[test]
fn a_read_that_panics_gives_its_connection_back() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let one_reader = StoreOptions {
        readers: 1,
        ..StoreOptions::default()
    };
    let store = Store::open(&dir.path().join("store.db"), one_reader).expect("open");
    rt.block_on(tenant(&store, 1));
    let panicked = rt.block_on(store.read(|_| -> db::Result<()> { panic!("a bug in a read") }));
    assert!(panicked.is_err());
    let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(store.read_point(|_| -> db::Result<()> { panic!("a bug in a point read") }))
    }));
    assert!(inline.is_err());
    // The pool's only connection is back, and in no transaction left open.
    for _ in 0..3 {
        let t = rt
            .block_on(store.read(|sql| tenants::get(sql, 1)))
            .expect("read after the panics");
        assert_eq!(t.id, 1);
        rt.block_on(store.read_point(|sql| tenants::get(sql, 1)))
            .expect("point read after the panics");
    }
}

/// `in_review` is shown over the stored vetting status while NumHub's review stands;
/// a local transition meanwhile (a submit) must not write it into the column, or the
/// application would still read `in_review` after the review ends.
#[test]
fn a_local_transition_during_a_review_keeps_the_stored_vetting_status() {
    use numhubd::db::reviews::{self, FlaggedSection};
    let rt = rt();
    let (_dir, store) = open();
    rt.block_on(async {
        tenant(&store, 1).await;
        let e = entity(&store, 1, "Under Review LLC").await;
        let id = e.id.clone();
        let shown = store
            .write(move |tx| {
                let comment = FlaggedSection {
                    section_number: Some(2),
                    section_name: Some("Business".into()),
                    comments: Some("EIN does not match".into()),
                };
                reviews::record(tx, &id, Some("flagged"), &[comment])?;
                entities::submit(tx, 1, &id)
            })
            .await
            .expect("review and submit");
        assert_eq!(shown.vetting_status.to_string(), "in_review");
        let id = e.id.clone();
        let after = store
            .write(move |tx| {
                reviews::clear(tx, &id)?;
                entities::get(tx, 1, &id)
            })
            .await
            .expect("review over");
        assert_eq!(
            (after.status.to_string(), after.vetting_status.to_string()),
            ("submitted".into(), "pending".into())
        );
    });
}
