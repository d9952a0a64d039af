//! The in-memory store (users, tokens, applications, identities, documents), the vetting
//! progression driven by the sandbox clock, and the counters `/__sandbox/state` reports.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::clock::{eastern, Clock};
use crate::faults::FaultState;
use crate::model::{self, GetBCApplicationDtoStatus as Status};
use crate::rate::RateLimiter;
use crate::storage::Storage;
use crate::{Break, SandboxConfig, User};

pub struct Shared {
    pub config: SandboxConfig,
    pub clock: Clock,
    pub rate: RateLimiter,
    pub faults: FaultState,
    pub storage: Storage,
    store: Mutex<Store>,
    counters: Mutex<Counters>,
    /// How `downloadtemplate` answers (`POST /__sandbox/template`).
    template_form: Mutex<crate::routes::TemplateForm>,
    /// How the attestation list spells statuses (`POST /__sandbox/spellings/attestation-status`).
    list_status_spellings: Mutex<ListStatusSpellings>,
}

/// The attestation list's `status` has no enum in the document (only the application's
/// has): a status → the spelling the list shows instead of the enum's name.
pub type ListStatusSpellings = HashMap<Status, String>;

/// Who is calling, as established by the auth gate.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: usize,
    pub email: String,
    pub client_id: i32,
}

#[derive(Debug, Default, Serialize)]
pub struct Counters {
    /// "METHOD /route/{template}" → requests seen (faulted and rejected ones included).
    pub routes: BTreeMap<String, u64>,
    pub token_requests: u64,
    pub rate_limited_429: u64,
    pub unauthorized_401: u64,
    pub faults_injected: u64,
}

#[derive(Debug, Default)]
pub struct Store {
    pub users: Vec<User>,
    tokens: HashMap<String, (usize, DateTime<Utc>)>,
    pub apps: HashMap<Uuid, App>,
    /// Creation order, for stable listings.
    pub app_order: Vec<Uuid>,
    /// Applications the vetting clock still has to move.
    pending: BTreeSet<Uuid>,
    pub identities: HashMap<Uuid, Identity>,
    pub identity_order: Vec<Uuid>,
    pub documents: HashMap<Uuid, Document>,
    /// The sandbox's own identity status words (`Active`, `Inactive`, `Pending`) → the
    /// word it answers with instead (`POST /__sandbox/spellings/identity-status`): the
    /// document gives the field no enum, so a client must read any spelling.
    pub identity_status_spellings: BTreeMap<String, String>,
    next_seq: u64,
    next_change_request: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Sections {
    pub applicant: model::ApplicantInformation,
    pub entity: model::BusinessEntityDetails,
    pub identity: model::BusinessIdentityDetails,
    pub contacts: model::ConsumerProtectionContacts,
    pub agent: model::BusinessAgentOfRecord,
    pub references: model::References,
    pub certificate: model::RegisterCertificate,
    pub section: i32,
}

/// A display identity as requested in an application body, before vetting completes.
#[derive(Debug, Clone, Default)]
pub struct RequestedIdentity {
    pub numhub_identity_id: Option<Uuid>,
    pub phone_numbers: Vec<String>,
    pub caller_name: Option<String>,
    pub logo_url: Option<String>,
    pub call_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Otp {
    pub generated: bool,
    pub wrong: u32,
    pub verified: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub id: Uuid,
    pub client_id: i32,
    pub application_id: String,
    pub created_by: String,
    pub updated_by: String,
    pub sections: Sections,
    pub requested: Vec<RequestedIdentity>,
    pub loa_url: Option<String>,
    pub loa_id: Option<Uuid>,
    pub status: Status,
    pub submitted_at: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub eid: Option<String>,
    pub identity_ids: Vec<Uuid>,
    pub document_ids: Vec<Uuid>,
    pub otp: Otp,
    /// The review flagging the application (shown by the notifications operations and
    /// the vetting report).
    pub flag: Option<Flag>,
    pub verification_count: i32,
}

impl App {
    pub fn company(&self) -> Option<String> {
        self.sections.entity.legal_business_name.clone()
    }
}

/// A review in 'flag' status: what `GET /notifications` alerts and
/// `GET /notifications/{id}/flag` details. The document does not say how alerts spell
/// things, so each reading can be played: the company as the alert writes it, the
/// alert's `clientId`, and one alert per application or per flagged section.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub message: String,
    pub comments: Vec<FlagComment>,
    /// The alert's `companyName` (None: the application's legal business name).
    pub alert_company: Option<String>,
    /// The alert's `clientId` (None: the application's client).
    pub alert_client_id: Option<i32>,
    /// One alert per flagged section instead of one per application.
    pub alert_per_section: bool,
}

/// One flagged section and the reviewer's comment on it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagComment {
    pub section_number: i32,
    pub section_name: String,
    pub comments: String,
}

impl Flag {
    /// A rejection's flag: its reason, on the business entity section.
    pub fn rejection(why: String) -> Flag {
        Flag {
            message: why.clone(),
            comments: vec![FlagComment {
                section_number: 2,
                section_name: "Business Entity Details".into(),
                comments: why,
            }],
            alert_company: None,
            alert_client_id: None,
            alert_per_section: false,
        }
    }

    /// The comment on `section_number`, if that section is flagged.
    pub fn comment_on(&self, section_number: i32) -> Option<&str> {
        self.comments
            .iter()
            .find(|c| c.section_number == section_number)
            .map(|c| c.comments.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySnapshot {
    pub caller_name: Option<String>,
    pub call_reason: Option<String>,
    pub logo_url: Option<String>,
    pub status: String,
    pub phone_numbers: Vec<String>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub id: i64,
    pub is_deactivation: bool,
    pub old: IdentitySnapshot,
    pub new: IdentitySnapshot,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub id: Uuid,
    pub entity_id: Uuid,
    pub client_id: i32,
    pub dir_id: String,
    pub caller_name: Option<String>,
    pub call_reason: Option<String>,
    pub logo_url: Option<String>,
    pub phone_numbers: Vec<String>,
    /// Numbers from the last `uploadadditionaltns` file (removed by `DELETE …/additionaltns`).
    pub additional_tns: Vec<String>,
    pub additional_tns_path: Option<String>,
    pub status: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub activation: Option<DateTime<Utc>>,
    pub deactivation: Option<DateTime<Utc>>,
    pub change_request: Option<ChangeRequest>,
    pub is_fee_checked: bool,
}

impl Identity {
    /// Base numbers plus uploaded ones, without duplicates, in order.
    pub fn all_numbers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in self.phone_numbers.iter().chain(&self.additional_tns) {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out
    }

    pub fn snapshot(&self) -> IdentitySnapshot {
        IdentitySnapshot {
            caller_name: self.caller_name.clone(),
            call_reason: self.call_reason.clone(),
            logo_url: self.logo_url.clone(),
            status: self.status.clone(),
            phone_numbers: self.all_numbers(),
            modified: self.modified,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Document {
    pub id: Uuid,
    pub entity_id: Uuid,
    pub doc_type: String,
    pub name: String,
    pub description: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub created: DateTime<Utc>,
    pub created_by: String,
    /// Wall-clock (real time, not the sandbox clock) milliseconds since the Unix epoch
    /// at which the upload request reached its handler, and at which its files were
    /// on disk and recorded: for benchmarks timing an upload from outside.
    pub received_at_ms: u64,
    pub stored_at_ms: u64,
}

pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::PendingReview => "PendingReview",
        Status::Complete => "Complete",
        Status::Saved => "Saved",
        Status::Rejected => "Rejected",
        Status::Resubmitted => "Resubmitted",
        Status::InProgress => "InProgress",
        Status::Submitted => "Submitted",
    }
}

/// The documented reject rule: a legal business name containing `REJECT`.
fn rejects(app: &App) -> bool {
    app.sections
        .entity
        .legal_business_name
        .as_deref()
        .is_some_and(|n| n.to_ascii_uppercase().contains("REJECT"))
}

impl Shared {
    pub fn new(config: SandboxConfig) -> std::io::Result<Shared> {
        let storage = Storage::new(config.storage_dir.clone())?;
        let users = if config.users.is_empty() {
            vec![User::demo()]
        } else {
            config.users.clone()
        };
        Ok(Shared {
            clock: Clock::default(),
            rate: RateLimiter::new(config.rate_limit, config.rate_window),
            faults: FaultState::default(),
            storage,
            store: Mutex::new(Store {
                users,
                next_change_request: 1000,
                ..Store::default()
            }),
            counters: Mutex::new(Counters::default()),
            template_form: Mutex::new(Default::default()),
            list_status_spellings: Mutex::new(ListStatusSpellings::new()),
            config,
        })
    }

    pub fn template_form(&self) -> crate::routes::TemplateForm {
        *self.template_form.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_template_form(&self, form: crate::routes::TemplateForm) {
        *self.template_form.lock().unwrap_or_else(|e| e.into_inner()) = form;
    }

    pub fn list_status_spellings(&self) -> ListStatusSpellings {
        self.list_status_spellings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_list_status_spellings(&self, spellings: ListStatusSpellings) {
        *self
            .list_status_spellings
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = spellings;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store, with vetting progress applied up to the sandbox's now: progression is
    /// lazy, evaluated on every access.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        let mut g = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.now();
        g.progress(now, &self.config);
        g
    }

    pub fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn advance_clock(&self, secs: u64) {
        self.clock.advance(secs);
        drop(self.store());
    }

    pub fn expire_tokens(&self) {
        self.store().tokens.clear();
    }

    /// A 200 JSON answer; the one place the `ExtraField` conformance break applies.
    pub fn json<T: Serialize>(&self, value: &T) -> Response {
        // Straight from the struct (keeps the document's field order) unless the test-only
        // break asks for an undeclared field.
        let body = if self.config.conformance_break == Some(Break::ExtraField) {
            serde_json::to_value(value).map(|mut v| {
                if let Value::Object(map) = &mut v {
                    map.insert("sandboxExtra".into(), Value::Bool(true));
                }
                v.to_string().into_bytes()
            })
        } else {
            serde_json::to_vec(value)
        };
        match body {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response(),
            Err(e) => crate::error::ApiError::Internal(e.to_string()).into_response(),
        }
    }

    pub fn seed(&self, client_id: i32, count: usize, status: Status) -> Vec<Uuid> {
        let now = self.now();
        let form = self.config.phone_form;
        let mut store = self.store();
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let n = store.app_order.len() as u64 + 1;
            let sections = Sections {
                entity: model::BusinessEntityDetails {
                    legal_business_name: Some(format!("Seeded Company {n}")),
                    ..Default::default()
                },
                section: 8,
                ..Default::default()
            };
            let requested = vec![RequestedIdentity {
                phone_numbers: [2 * n, 2 * n + 1]
                    .iter()
                    .map(|k| {
                        let k = k % 10_000_000;
                        let (exchange, line) = (k / 10_000, k % 10_000);
                        form.nanp("555", &format!("{exchange:03}"), &format!("{line:04}"))
                    })
                    .collect(),
                caller_name: Some(format!("Seeded {n}")),
                call_reason: Some("Customer service".into()),
                ..Default::default()
            }];
            let id = store.create_app(client_id, "sandbox-seed", sections, requested, now);
            store.set_status(id, status, now, None);
            ids.push(id);
        }
        ids
    }

    pub fn state_json(&self) -> Value {
        let store = self.store();
        let entities: Vec<Value> = store
            .app_order
            .iter()
            .filter_map(|id| store.apps.get(id))
            .map(|a| {
                json!({
                    "numhubEntityId": a.id,
                    "applicationId": a.application_id,
                    "clientId": a.client_id,
                    "companyName": a.company(),
                    "status": status_str(a.status),
                    "eid": a.eid,
                    "identities": a.identity_ids,
                    "documents": a.document_ids,
                    "flagged": a.flag.is_some(),
                    "otpVerified": a.otp.verified,
                    "createdDate": eastern(a.created),
                    "lastUpdatedDate": eastern(a.updated),
                })
            })
            .collect();
        let mut documents: Vec<&Document> = store.documents.values().collect();
        documents.sort_by_key(|d| (d.created, d.id));
        let documents: Vec<Value> = documents
            .into_iter()
            .map(|d| {
                json!({
                    "documentId": d.id,
                    "numhubEntityId": d.entity_id,
                    "name": d.name,
                    "type": d.doc_type,
                    "description": d.description,
                    "size": d.size,
                    "sha256": d.sha256,
                    "receivedAtMs": d.received_at_ms,
                    "storedAtMs": d.stored_at_ms,
                })
            })
            .collect();
        let identities: Vec<Value> = store
            .identity_order
            .iter()
            .filter_map(|id| store.identities.get(id))
            .map(|i| {
                json!({
                    "numhubIdentityId": i.id,
                    "numhubEntityId": i.entity_id,
                    "clientId": i.client_id,
                    "dirId": i.dir_id,
                    "status": i.status,
                    "isFeeChecked": i.is_fee_checked,
                    "callerName": i.caller_name,
                    "callReason": i.call_reason,
                    "logoUrl": i.logo_url,
                    "phoneNumbers": i.all_numbers(),
                    "additionalTns": i.additional_tns,
                    "modifiedDate": eastern(i.modified),
                })
            })
            .collect();
        drop(store);
        let counters = self.counters();
        let (limit, window) = self.rate.settings();
        json!({
            "clock": {
                "now": eastern(self.now()),
                "offsetSecs": self.clock.offset_secs(),
            },
            "rateLimit": { "limit": limit, "windowSecs": window.as_secs_f64() },
            "rateWindows": self.rate.windows(),
            "faults": self.faults.get(),
            "entities": entities,
            "documents": documents,
            "identities": identities,
            "requests": counters.routes,
            "totals": {
                "requests": counters.routes.values().sum::<u64>(),
                "tokenRequests": counters.token_requests,
                "rateLimited429": counters.rate_limited_429,
                "unauthorized401": counters.unauthorized_401,
                "faultsInjected": counters.faults_injected,
            },
        })
    }
}

impl Store {
    pub fn issue_token(&mut self, user: usize, expires: DateTime<Utc>) -> String {
        let token = format!("sbx.{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), (user, expires));
        token
    }

    pub fn resolve_token(&self, token: &str, now: DateTime<Utc>) -> Option<usize> {
        match self.tokens.get(token) {
            Some((user, expires)) if *expires > now => Some(*user),
            _ => None,
        }
    }

    pub fn create_app(
        &mut self,
        client_id: i32,
        by: &str,
        sections: Sections,
        requested: Vec<RequestedIdentity>,
        now: DateTime<Utc>,
    ) -> Uuid {
        self.next_seq += 1;
        let id = Uuid::new_v4();
        let app = App {
            id,
            client_id,
            application_id: format!("BC-{:08}", self.next_seq),
            created_by: by.to_owned(),
            updated_by: by.to_owned(),
            sections,
            requested,
            loa_url: None,
            loa_id: None,
            status: Status::Saved,
            submitted_at: None,
            created: now,
            updated: now,
            eid: None,
            identity_ids: Vec::new(),
            document_ids: Vec::new(),
            otp: Otp::default(),
            flag: None,
            verification_count: 0,
        };
        self.apps.insert(id, app);
        self.app_order.push(id);
        id
    }

    /// Moves an application to `status` as NumHub would, with the side effects that status
    /// implies (vetting clock start, eid + identities on completion, flag on rejection).
    pub fn set_status(
        &mut self,
        id: Uuid,
        status: Status,
        now: DateTime<Utc>,
        why: Option<String>,
    ) {
        let Some(app) = self.apps.get_mut(&id) else {
            return;
        };
        app.status = status;
        app.updated = now;
        match status {
            Status::Submitted | Status::Resubmitted | Status::InProgress => {
                app.submitted_at = Some(now);
                app.flag = None;
                self.pending.insert(id);
            }
            Status::Complete => {
                self.pending.remove(&id);
                self.complete(id, now);
            }
            Status::Rejected => {
                self.pending.remove(&id);
                app.flag =
                    Some(Flag::rejection(why.unwrap_or_else(|| {
                        "Application rejected during vetting".into()
                    })));
            }
            Status::Saved | Status::PendingReview => {
                self.pending.remove(&id);
            }
        }
    }

    fn progress(&mut self, now: DateTime<Utc>, cfg: &SandboxConfig) {
        if self.pending.is_empty() {
            return;
        }
        let in_progress =
            Duration::from_std(cfg.vetting_in_progress_after).unwrap_or(Duration::MAX);
        let complete = Duration::from_std(cfg.vetting_complete_after).unwrap_or(Duration::MAX);
        let due: Vec<Uuid> = self.pending.iter().copied().collect();
        for id in due {
            let Some(app) = self.apps.get_mut(&id) else {
                self.pending.remove(&id);
                continue;
            };
            let Some(since) = app.submitted_at else {
                continue;
            };
            let elapsed = now - since;
            if matches!(app.status, Status::Submitted | Status::Resubmitted)
                && elapsed >= in_progress
            {
                if rejects(app) {
                    app.status = Status::Rejected;
                    app.updated = since + in_progress;
                    app.flag = Some(Flag::rejection(
                        "Legal business name failed vetting (sandbox reject rule)".into(),
                    ));
                    self.pending.remove(&id);
                    continue;
                }
                app.status = Status::InProgress;
                app.updated = since + in_progress;
            }
            if app.status == Status::InProgress && elapsed >= complete {
                let at = since + complete;
                app.status = Status::Complete;
                app.updated = at;
                self.pending.remove(&id);
                self.complete(id, at);
            }
        }
    }

    /// Assigns the eid and turns the requested display identities into live ones.
    fn complete(&mut self, id: Uuid, at: DateTime<Utc>) {
        let Some(app) = self.apps.get_mut(&id) else {
            return;
        };
        app.verification_count += 1;
        if app.eid.is_none() {
            app.eid = Some(format!(
                "SBXEID{:08}",
                app.application_id
                    .trim_start_matches("BC-")
                    .parse::<u64>()
                    .unwrap_or(0)
            ));
        }
        let requested = app.requested.clone();
        let client_id = app.client_id;
        let mut new_ids = Vec::new();
        for r in requested {
            if let Some(existing) = r
                .numhub_identity_id
                .and_then(|i| self.identities.get_mut(&i))
            {
                existing.caller_name = r.caller_name.clone();
                existing.call_reason = r.call_reason.clone();
                existing.logo_url = r.logo_url.clone();
                existing.phone_numbers = r.phone_numbers.clone();
                existing.modified = at;
                continue;
            }
            self.next_seq += 1;
            let identity = Identity {
                id: Uuid::new_v4(),
                entity_id: id,
                client_id,
                dir_id: format!("DIR{:08}", self.next_seq),
                caller_name: r.caller_name,
                call_reason: r.call_reason,
                logo_url: r.logo_url,
                phone_numbers: r.phone_numbers,
                additional_tns: Vec::new(),
                additional_tns_path: None,
                status: "Active".into(),
                created: at,
                modified: at,
                activation: Some(at),
                deactivation: None,
                change_request: None,
                is_fee_checked: false,
            };
            new_ids.push(identity.id);
            self.identity_order.push(identity.id);
            self.identities.insert(identity.id, identity);
        }
        if let Some(app) = self.apps.get_mut(&id) {
            app.identity_ids.extend(new_ids);
            // The requests are now live identities; a later update refers to them by id.
            app.requested = app
                .identity_ids
                .iter()
                .filter_map(|i| self.identities.get(i))
                .map(|i| RequestedIdentity {
                    numhub_identity_id: Some(i.id),
                    phone_numbers: i.phone_numbers.clone(),
                    caller_name: i.caller_name.clone(),
                    logo_url: i.logo_url.clone(),
                    call_reason: i.call_reason.clone(),
                })
                .collect();
        }
    }

    /// Removes display identities an application no longer holds.
    pub fn drop_identities(&mut self, ids: &[Uuid]) {
        for id in ids {
            self.identities.remove(id);
        }
        self.identity_order.retain(|i| !ids.contains(i));
    }

    pub fn next_change_request(&mut self) -> i64 {
        self.next_change_request += 1;
        self.next_change_request
    }

    /// The application `id` if it belongs to `client_id`; another client's is "not found".
    pub fn app_of(&self, id: Uuid, client_id: i32) -> Option<&App> {
        self.apps.get(&id).filter(|a| a.client_id == client_id)
    }

    pub fn app_of_mut(&mut self, id: Uuid, client_id: i32) -> Option<&mut App> {
        self.apps.get_mut(&id).filter(|a| a.client_id == client_id)
    }

    /// An identity status as the sandbox answers it: in the spelling set for it, if any.
    pub fn identity_status_word(&self, own: &str) -> String {
        self.identity_status_spellings
            .get(own)
            .cloned()
            .unwrap_or_else(|| own.to_owned())
    }

    pub fn identity_of(&self, id: Uuid, client_id: i32) -> Option<&Identity> {
        self.identities
            .get(&id)
            .filter(|i| i.client_id == client_id)
    }

    pub fn identity_of_mut(&mut self, id: Uuid, client_id: i32) -> Option<&mut Identity> {
        self.identities
            .get_mut(&id)
            .filter(|i| i.client_id == client_id)
    }
}
