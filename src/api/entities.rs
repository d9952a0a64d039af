//! BCID applications: `entity.*` (NumHub's own, `entity.refresh`, is in
//! [`operations`](super::operations)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use serde_json::value::RawValue;

use crate::api::rows::{raw_json, Page, RowRef, RowWait, WithSync};
use crate::api::schema::{
    application, application_update, boolean, cursor, extend, id, limit, local_id, nullable,
    sha256, shown_text, string, time, wait_s, wire, wire_enum,
};
use crate::api::{methods, Method, Schema};

methods! {
    /// Saves an application locally and queues it for NumHub.
    "entity.create" => EntityCreate(EntityFields) -> WithSync<Entity>;
    /// Changes a draft or rejected application; queued for NumHub.
    "entity.update" => EntityUpdate(EntityChange) -> WithSync<Entity>;
    /// Submits a draft (or resubmits a rejected) application; queued for NumHub.
    "entity.submit" => EntitySubmit(RowWait) -> WithSync<Entity>;
    "entity.get" => EntityGet(EntityLookup) -> EntityDetail;
    "entity.list" => EntityList(EntityQuery) -> Page<WithSync<Entity>>;
    /// Where the application's drop folder is.
    "entity.drop_path" => EntityDropPath(RowRef) -> DropPath;
    /// Downloads NumHub's LOA template into the application's drop folder.
    "entity.loa_template" => EntityLoaTemplate(RowRef) -> LoaTemplate;
}

wire_enum! {
    /// What kind of business applies.
    EntityType { Enterprise = "enterprise", Bpo = "bpo", Direct = "direct" }
}

wire_enum! {
    /// Where an application stands (our own view).
    EntityStatus {
        Draft = "draft",
        Submitted = "submitted",
        PendingVetting = "pending_vetting",
        Approved = "approved",
        Rejected = "rejected",
    }
}

wire_enum! {
    /// NumHub's vetting of an application (`in_review` while it flags it).
    VettingStatus {
        Pending = "pending",
        InReview = "in_review",
        Approved = "approved",
        Rejected = "rejected",
    }
}

wire_enum! {
    /// STIR/SHAKEN attestation.
    AttestationLevel { A = "A", B = "B", C = "C" }
}

wire! { params
    /// `entity.create`: `application` is NumHub's SaveBCApplicationModel; `submit`
    /// asks NumHub to vet it now.
    pub struct EntityFields {
        pub tenant_id: i64 = id(),
        pub entity_type: EntityType,
        pub company_name: String = shown_text(1, 255),
        pub application: Map<String, Value> = application(),
        pub submit: bool = boolean(),
        pub brand_id: Option<i64> = id(),
        pub wait_s: Option<u64> = wait_s(),
    }
}

wire! { params
    /// `entity.update`: `application` is NumHub's UpdateBCApplicationModel.
    pub struct EntityChange {
        pub tenant_id: i64 = id(),
        pub id: String = local_id(),
        pub application: Map<String, Value> = application_update(),
        pub wait_s: Option<u64> = wait_s(),
    }
}

wire! { params
    /// `entity.get`: exactly one of `id` and `numhub_entity_id`.
    pub struct EntityLookup {
        pub tenant_id: i64 = id(),
        pub id: Option<String> = local_id(),
        pub numhub_entity_id: Option<String> = string(100),
    }
}

wire! { params
    /// `entity.list`: a page of the tenant's applications, of one status if given.
    pub struct EntityQuery {
        pub tenant_id: i64 = id(),
        pub status: Option<EntityStatus>,
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
    }
}

wire! { result
    /// A BCID application as the replica holds it.
    pub struct Entity {
        pub id: String,
        pub tenant_id: i64,
        pub brand_id: Option<i64>,
        pub numhub_entity_id: Option<String>,
        pub numhub_eid: Option<String>,
        pub entity_type: EntityType,
        pub company_name: String,
        pub status: EntityStatus,
        pub vetting_status: VettingStatus,
        pub attestation_level: Option<AttestationLevel>,
        /// NumHub's last answer for the application, as it sent it.
        #[serde(deserialize_with = "raw_json")]
        pub api_response: Option<Box<RawValue>>,
        pub submitted_at: Option<String> = time(),
        pub approved_at: Option<String> = time(),
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}

/// `entity.get`: the application, its `sync` object and NumHub's review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityDetail {
    #[serde(flatten)]
    pub entity: WithSync<Entity>,
    /// NumHub's review while it flags the application (null otherwise).
    pub review: Option<Review>,
}

impl Schema for EntityDetail {
    fn schema() -> Value {
        extend(
            WithSync::<Entity>::schema(),
            &[("review", nullable(Review::schema()))],
        )
    }
}

wire! { result
    /// NumHub's review of a flagged application: its message and each flagged
    /// section with its comment.
    #[derive(PartialEq, Eq)]
    pub struct Review {
        pub message: Option<String>,
        pub flagged_comments: Vec<FlaggedSection>,
        /// When this set of comments was first seen.
        pub flagged_at: String = time(),
        pub updated_at: String = time(),
    }
}

wire! { result
    /// One section NumHub flagged (read in NumHub's spelling too, as the replica
    /// stores it).
    #[derive(PartialEq, Eq)]
    pub struct FlaggedSection {
        #[serde(alias = "sectionNumber")]
        pub section_number: Option<i32>,
        #[serde(alias = "sectionName")]
        pub section_name: Option<String>,
        pub comments: Option<String>,
    }
}

wire! { result
    /// `entity.drop_path`: the application's drop folder (it may not exist yet), its
    /// folder per document type, and where the LOA template goes.
    pub struct DropPath {
        pub path: PathBuf,
        pub type_dirs: BTreeMap<String, PathBuf>,
        pub template: PathBuf,
    }
}

wire! { result
    /// `entity.loa_template`: the template NumHub served, as written into the
    /// application's drop folder.
    #[derive(PartialEq)]
    pub struct LoaTemplate {
        pub path: PathBuf,
        pub size_bytes: u64,
        pub sha256: String = sha256(),
    }
}
