//! Turning stored records into the document's response DTOs.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::clock::eastern;
use crate::model::{self, Schema};
use crate::state::{status_str, App, Identity, IdentitySnapshot, ListStatusSpellings, Store};

pub fn documents(store: &Store, app: &App) -> Vec<model::Documents> {
    app.document_ids
        .iter()
        .filter_map(|id| store.documents.get(id))
        .map(|d| model::Documents {
            document_id: d.id,
            name: Some(d.name.clone()),
            url: Some(document_url(d.id)),
            created_date: Some(eastern(d.created)),
            modified_date: Some(eastern(d.created)),
            created_by: Some(d.created_by.clone()),
        })
        .collect()
}

pub fn document_url(id: uuid::Uuid) -> String {
    format!("/__sandbox/documents/{id}")
}

fn identity_infos(store: &Store, app: &App) -> Vec<model::GetNewDisplayIdentityInfo> {
    if app.identity_ids.is_empty() {
        // Not vetted yet: what was asked for, without ids.
        return app
            .requested
            .iter()
            .map(|r| model::GetNewDisplayIdentityInfo {
                numhub_identity_id: r.numhub_identity_id,
                phone_numbers: Some(r.phone_numbers.clone()),
                caller_name: r.caller_name.clone(),
                logo_url: r.logo_url.clone(),
                call_reason: r.call_reason.clone(),
                status: Some(store.identity_status_word("Pending")),
                ..Default::default()
            })
            .collect();
    }
    app.identity_ids
        .iter()
        .filter_map(|id| store.identities.get(id))
        .map(|i| model::GetNewDisplayIdentityInfo {
            numhub_identity_id: Some(i.id),
            dir_id: Some(i.dir_id.clone()),
            phone_numbers: Some(i.all_numbers()),
            caller_name: i.caller_name.clone(),
            logo_url: i.logo_url.clone(),
            logo_id: None,
            call_reason: i.call_reason.clone(),
            status: Some(store.identity_status_word(&i.status)),
            created_date: Some(eastern(i.created)),
            updated_date: Some(eastern(i.modified)),
            updated_by: Some(app.updated_by.clone()),
            activation_date: i.activation.map(eastern),
        })
        .collect()
}

pub fn application(store: &Store, app: &App) -> model::GetBCApplicationDto {
    let s = &app.sections;
    model::GetBCApplicationDto {
        numhub_entity_id: app.id,
        application_id: Some(app.application_id.clone()),
        section: s.section,
        client_id: app.client_id,
        certified_role: None,
        status: Some(app.status),
        applicant_information: s.applicant.clone(),
        business_entity_details: s.entity.clone(),
        business_identity_details: s.identity.clone(),
        consumer_protection_contacts: s.contacts.clone(),
        business_agent_of_record: s.agent.clone(),
        references: s.references.clone(),
        display_identity_information: model::GetNewDisplayIdentity {
            display_identities: Some(identity_infos(store, app)),
            loa_url: app.loa_url.clone(),
            loa_id: app.loa_id,
        },
        register_certificate: s.certificate.clone(),
        documents: Some(documents(store, app)),
        created_date: Some(eastern(app.created)),
        last_updated_date: Some(eastern(app.updated)),
        last_updated_by: Some(app.updated_by.clone()),
        eid: app.eid.clone(),
        business_id: None,
        verification_count: Some(app.verification_count),
    }
}

/// Copies a section into its `Vetted…Dto` look-alike, keeping only the fields the target
/// declares, and adds the vetting verdict.
fn vetted<T: Schema + DeserializeOwned + Default>(base: &impl Serialize, review: &Value) -> T {
    let Ok(Value::Object(mut map)) = serde_json::to_value(base) else {
        return T::default();
    };
    map.retain(|k, _| T::FIELDS.contains(&k.as_str()));
    if let Value::Object(extra) = review {
        for (k, v) in extra {
            if T::FIELDS.contains(&k.as_str()) {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(Value::Object(map)).unwrap_or_default()
}

pub fn vetting_report(store: &Store, app: &App) -> model::GetVettedApplicationDto {
    let verdict = match app.status {
        model::GetBCApplicationDtoStatus::Complete => Some("Pass"),
        model::GetBCApplicationDtoStatus::Rejected => Some("Fail"),
        _ => None,
    };
    // Sections in the report's order, numbered as flags name them; a flagged section
    // carries its comment (and reads `Flag` until the application is rejected), the
    // others the status's verdict.
    let review = |section: i32| match app.flag.as_ref().and_then(|f| f.comment_on(section)) {
        Some(comment) => serde_json::json!({
            "vettingReview": verdict.filter(|v| *v == "Fail").unwrap_or("Flag"),
            "comments": comment,
        }),
        None => serde_json::json!({"vettingReview": verdict, "comments": Value::Null}),
    };
    let identities = review(7);
    let s = &app.sections;
    let status = serde_json::to_value(app.status)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok());
    model::GetVettedApplicationDto {
        numhub_entity_id: app.id,
        application_id: Some(app.application_id.clone()),
        section: s.section,
        client_id: app.client_id,
        certified_role: None,
        status,
        applicant_information: vetted(&s.applicant, &review(1)),
        business_entity_details: vetted(&s.entity, &review(2)),
        business_identity_details: vetted(&s.identity, &review(3)),
        consumer_protection_contacts: vetted(&s.contacts, &review(4)),
        business_agent_of_record: vetted(&s.agent, &review(5)),
        references: vetted(&s.references, &review(6)),
        display_identity_information: model::GetVettedDisplayIdentity {
            display_identities: Some(identity_infos(store, app)),
            loa_url: app.loa_url.clone(),
            loa_id: app.loa_id,
            vetting_review: identities["vettingReview"].as_str().map(str::to_owned),
            comments: identities["comments"].as_str().map(str::to_owned),
            path: None,
            document_name: None,
        },
        register_certificate: s.certificate.clone(),
        documents: Some(documents(store, app)),
        created_date: Some(eastern(app.created)),
        last_updated_date: Some(eastern(app.updated)),
        last_updated_by: Some(app.updated_by.clone()),
        eid: app.eid.clone(),
    }
}

pub fn entity_summary(store: &Store, app: &App) -> model::EntitiesResponseDto {
    let numbers: usize = app
        .identity_ids
        .iter()
        .filter_map(|i| store.identities.get(i))
        .map(|i| i.all_numbers().len())
        .sum();
    model::EntitiesResponseDto {
        numhub_entity_id: app.id,
        application_id: Some(app.application_id.clone()),
        company_name: app.company(),
        client_id: app.client_id,
        user_name: Some(app.created_by.clone()),
        logo_url: first_logo(store, app),
        tn_count: i32::try_from(numbers).unwrap_or(i32::MAX),
        status: Some(status_str(app.status).into()),
        created_date: eastern(app.created),
        modified_date: Some(eastern(app.updated)),
        eid: app.eid.clone(),
        is_flagged: app.flag.is_some(),
        has_pending_change_request: false,
    }
}

pub fn first_logo(store: &Store, app: &App) -> Option<String> {
    app.identity_ids
        .iter()
        .filter_map(|i| store.identities.get(i))
        .find_map(|i| i.logo_url.clone())
        .or_else(|| app.requested.iter().find_map(|r| r.logo_url.clone()))
}

/// One application of the attestation list; its `status` as `spellings` (the admin
/// route's) spell it, else as the document's enum does.
pub fn attestation(
    store: &Store,
    app: &App,
    spellings: &ListStatusSpellings,
) -> model::AttestationResponseDto {
    let summary = entity_summary(store, app);
    let applicant = &app.sections.applicant;
    let name = [
        applicant.first_name.as_deref(),
        applicant.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    model::AttestationResponseDto {
        numhub_entity_id: app.id,
        last_modified_date: eastern(app.updated),
        applicant_name: (!name.is_empty()).then_some(name),
        company_name: app.company(),
        status: Some(
            spellings
                .get(&app.status)
                .cloned()
                .unwrap_or_else(|| status_str(app.status).into()),
        ),
        eid: app.eid.clone(),
        logo_url: summary.logo_url,
        telephone_numbers: summary.tn_count,
    }
}

pub fn identity_list_item(store: &Store, i: &Identity) -> model::NewDisplayIdentityDto {
    let app = store.apps.get(&i.entity_id);
    model::NewDisplayIdentityDto {
        company_name: app.and_then(App::company),
        dir_id: Some(i.dir_id.clone()),
        logo_url: i.logo_url.clone(),
        status: Some(store.identity_status_word(&i.status)),
        tele_phone_count: i32::try_from(i.all_numbers().len()).unwrap_or(i32::MAX),
        numhub_identity_id: i.id,
        modified_date: Some(eastern(i.modified)),
        caller_name: i.caller_name.clone(),
        numhub_entity_id: i.entity_id,
        change_request_id: i.change_request.as_ref().map_or(0, |c| c.id),
        eid: app.and_then(|a| a.eid.clone()),
    }
}

fn metadata(
    store: &Store,
    i: &Identity,
    snap: &IdentitySnapshot,
) -> model::DisplayIdentityByIdResponse {
    let app = store.apps.get(&i.entity_id);
    model::DisplayIdentityByIdResponse {
        caller_name: snap.caller_name.clone(),
        call_reason: snap.call_reason.clone(),
        logo_url: snap.logo_url.clone(),
        dir_id: Some(i.dir_id.clone()),
        activation_date: i.activation.map(eastern),
        deactivation_date: i.deactivation.map(eastern),
        modified_date: Some(eastern(snap.modified)),
        company_name: app.and_then(App::company),
        eid: app.and_then(|a| a.eid.clone()),
        numhub_entity_id: i.entity_id,
        numhub_identity_id: i.id,
        status: Some(store.identity_status_word(&snap.status)),
        additional_tns_path: i.additional_tns_path.clone(),
        is_fee_checked: i.is_fee_checked,
        phone_numbers: Some(snap.phone_numbers.clone()),
    }
}

pub fn identity_detail(store: &Store, i: &Identity) -> model::DisplayIdentityByIdResponseDto {
    let current = metadata(store, i, &i.snapshot());
    let change = match &i.change_request {
        Some(c) => model::DisplayIdentitiesChangeRequest {
            change_request_id: c.id,
            numhub_identity_id: i.id,
            dir_id: Some(i.dir_id.clone()),
            is_deactivation_request: c.is_deactivation,
            old_metadata: metadata(store, i, &c.old),
            new_metadata: metadata(store, i, &c.new),
            status: Some("Completed".into()),
            notes: None,
        },
        // The schema makes this object non-nullable: with no change request yet, it says
        // so with id 0 and the current metadata on both sides.
        None => model::DisplayIdentitiesChangeRequest {
            change_request_id: 0,
            numhub_identity_id: i.id,
            dir_id: Some(i.dir_id.clone()),
            is_deactivation_request: false,
            old_metadata: current.clone(),
            new_metadata: current.clone(),
            status: None,
            notes: None,
        },
    };
    model::DisplayIdentityByIdResponseDto {
        caller_name: current.caller_name,
        call_reason: current.call_reason,
        logo_url: current.logo_url,
        dir_id: current.dir_id,
        activation_date: current.activation_date,
        deactivation_date: current.deactivation_date,
        modified_date: current.modified_date,
        company_name: current.company_name,
        eid: current.eid,
        numhub_entity_id: i.entity_id,
        numhub_identity_id: i.id,
        status: current.status,
        additional_tns_path: current.additional_tns_path,
        is_fee_checked: current.is_fee_checked,
        phone_numbers: current.phone_numbers,
        display_identities_change_request: change,
    }
}
