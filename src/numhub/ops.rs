//! One method per NumHub operation the daemon needs. Each takes the tenant (whose
//! `numhub_client_id` and login are used) and a [`Priority`]; paths, parameters and
//! bodies are the document's, verbatim.

use serde_json::Value;
use uuid::Uuid;

use super::model::*;
use super::transport::{Answer, Body, Request};
use super::{Client, NumhubError, Priority};
use crate::db::HttpMethod;

fn req(method: HttpMethod, path: String, priority: Priority) -> Request {
    let mut r = Request::new(method, path);
    r.priority = priority;
    r
}

fn json_body<T: serde::Serialize>(v: &T) -> Result<Body, NumhubError> {
    serde_json::to_value(v)
        .map(Body::Json)
        .map_err(|e| NumhubError::Setup(format!("encoding a request body: {e}")))
}

fn entity(mut r: Request, id: Uuid) -> Request {
    r.entity = Some(id.to_string());
    r
}

fn identity(mut r: Request, id: Uuid) -> Request {
    r.identity = Some(id.to_string());
    r
}

impl Client {
    /// `GET /authorize/userInfo` (documented as 204 with no body).
    pub async fn user_info(&self, tenant: i64, p: Priority) -> Result<(), NumhubError> {
        let r = req(HttpMethod::Get, "/authorize/userInfo".into(), p);
        self.call(tenant, r, false)
            .await
            .map_err(super::CallError::into_error)?;
        Ok(())
    }

    /// `GET /application/{NumhubEntityId}`.
    pub async fn get_application(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<Application, NumhubError> {
        let r = entity(req(HttpMethod::Get, format!("/application/{id}"), p), id);
        let env: Envelope<Application> = self.call_json(tenant, r).await?;
        result(env, "/application/{NumhubEntityId}")
    }

    /// `GET /application/{NumhubEntityId}/downloadtemplate`: the "BCID Appendix A – TN
    /// Authorization" PDF to sign. The document does not say what the body is, so
    /// every reading is taken (see `numhub::template`); the audit row holds its size
    /// and SHA-256, not its bytes.
    pub async fn download_template(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<Vec<u8>, NumhubError> {
        let mut r = entity(
            req(
                HttpMethod::Get,
                format!("/application/{id}/downloadtemplate"),
                p,
            ),
            id,
        );
        r.answer = Answer::Bytes {
            max_bytes: super::template::MAX_BYTES,
        };
        let (body, content_type) = self
            .call_answer(tenant, r, false)
            .await
            .map_err(super::CallError::into_error)?;
        super::template::pdf_from_answer(&body, content_type.as_deref()).map_err(|reason| {
            NumhubError::Decode {
                endpoint: "/api/v1/application/{NumhubEntityId}/downloadtemplate".into(),
                reason,
            }
        })
    }

    /// `GET /application/{NumhubEntityId}/view`.
    pub async fn view_application(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<Application, NumhubError> {
        let r = entity(
            req(HttpMethod::Get, format!("/application/{id}/view"), p),
            id,
        );
        let env: Envelope<Application> = self.call_json(tenant, r).await?;
        result(env, "/application/{NumhubEntityId}/view")
    }

    /// `PUT /application/{NumhubEntityId}` (`UpdateBCApplicationModel`): saves the
    /// body as the application, and with `status: Submit` submits it ("2: Submit - To
    /// submit the application for processing"). The attestation PUT, which "depends on
    /// the `changesRequired` flag", is not used.
    pub async fn update_application(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        body: &ApplicationModel,
    ) -> Result<CreateEntityResponse, NumhubError> {
        let mut r = entity(req(HttpMethod::Put, format!("/application/{id}"), p), id);
        r.body = json_body(body)?;
        self.call_json(tenant, r).await
    }

    /// `GET /application/vetting-report/{NumhubEntityId}`.
    pub async fn vetting_report(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<VettingReport, NumhubError> {
        let r = entity(
            req(
                HttpMethod::Get,
                format!("/application/vetting-report/{id}"),
                p,
            ),
            id,
        );
        let env: Envelope<VettingReport> = self.call_json(tenant, r).await?;
        result(env, "/application/vetting-report/{NumhubEntityId}")
    }

    /// `GET /application/{clientId}/completedEntities` for the tenant's client
    /// (`result` is untyped in the document; read as `EntitiesResponseDto` items).
    pub async fn completed_entities(
        &self,
        tenant: i64,
        p: Priority,
    ) -> Result<Vec<CompletedEntity>, NumhubError> {
        let client_id = self.tenant(tenant).await?.client_id;
        let r = req(
            HttpMethod::Get,
            format!("/application/{client_id}/completedEntities"),
            p,
        );
        let env: Envelope<Vec<CompletedEntity>> = self.call_json(tenant, r).await?;
        Ok(env.result.unwrap_or_default())
    }

    /// `GET /application/attestation/{clientId}?PageNumber=&pageSize=` (one page).
    pub async fn attestation_list(
        &self,
        tenant: i64,
        p: Priority,
        page_number: i32,
        page_size: i32,
    ) -> Result<AttestationPage, NumhubError> {
        let client_id = self.tenant(tenant).await?.client_id;
        let mut r = req(
            HttpMethod::Get,
            format!("/application/attestation/{client_id}"),
            p,
        );
        r.query = vec![
            ("PageNumber".into(), page_number.to_string()),
            ("pageSize".into(), page_size.to_string()),
        ];
        let env: Envelope<AttestationPage> = self.call_json(tenant, r).await?;
        result(env, "/application/attestation/{clientId}")
    }

    /// `POST /application/{NumhubEntityId}/documents`: `Files` streamed from disk
    /// (each part with its own `Content-Type`), `DocumentType`, `Description`.
    pub async fn upload_documents(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        document_type: DocumentType,
        description: Option<&str>,
        files: &[UploadFile],
    ) -> Result<UploadDocumentResponse, NumhubError> {
        let mut r = entity(
            req(HttpMethod::Post, format!("/application/{id}/documents"), p),
            id,
        );
        let mut fields = vec![(
            "DocumentType".to_string(),
            document_type.as_str().to_string(),
        )];
        if let Some(d) = description {
            fields.push(("Description".into(), d.to_string()));
        }
        r.body = Body::Multipart {
            files: files
                .iter()
                .map(|f| ("Files".to_string(), f.clone()))
                .collect(),
            fields,
        };
        // Not idempotent: a resent upload would add the files again. After a lost
        // answer (any 5xx, or a loss once sent), look at the application's documents
        // before resending.
        let endpoint = r.endpoint();
        let mut sends = 0;
        loop {
            sends += 1;
            let started = chrono::Utc::now();
            let reason = match self.call(tenant, r.clone(), true).await {
                Ok(body) => return super::decode(&endpoint, &body),
                Err(super::CallError::Error(e)) => return Err(e),
                Err(super::CallError::Ambiguous(reason)) => reason,
            };
            let unknown = |why: String| NumhubError::OutcomeUnknown {
                company_name: format!("upload to {id}"),
                reason: why,
            };
            let names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
            let arrived = match self
                .find_uploaded_documents(tenant, p, id, &names, started)
                .await
            {
                Ok(a) => a,
                Err(NumhubError::OutcomeUnknown { reason: why, .. }) => {
                    return Err(unknown(format!("{reason}; {why}")))
                }
                Err(e) => {
                    return Err(super::create::look_failed(
                        e,
                        endpoint,
                        sends,
                        &reason,
                        "the application",
                        unknown,
                    ))
                }
            };
            if arrived.len() == files.len() {
                return Ok(UploadDocumentResponse {
                    documents: Some(arrived),
                });
            }
            if !arrived.is_empty() || sends >= self.inner.opts.retry.max_attempts {
                return Err(unknown(format!(
                    "{reason}; {} of {} files found at NumHub",
                    arrived.len(),
                    files.len()
                )));
            }
            tracing::info!(endpoint = %endpoint, "the unanswered upload did not reach NumHub; resending");
        }
    }

    /// The application's documents named like one of `names` and created since
    /// `started` (minus the allowed clock skew): what an upload begun at `started`
    /// left at NumHub. Used after a lost answer and by the outbox after a crash.
    /// A document of one of those names whose `createdDate` is missing or does not
    /// parse is [`NumhubError::OutcomeUnknown`]: it may be this upload's.
    pub async fn find_uploaded_documents(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        names: &[&str],
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<DocumentItem>, NumhubError> {
        let app = self.get_application(tenant, p, id).await?;
        let skew = chrono::Duration::from_std(self.inner.opts.clock_skew).unwrap_or_default();
        let since = started - skew;
        let mut found = Vec::new();
        for d in app.documents.unwrap_or_default() {
            if !names.iter().any(|n| d.name.as_deref() == Some(*n)) {
                continue;
            }
            let recent =
                super::create::dated_since("createdDate", d.created_date.as_deref(), since)
                    .map_err(|why| NumhubError::OutcomeUnknown {
                        company_name: format!("upload to {id}"),
                        reason: format!("document {:?}: {why}", d.name.as_deref().unwrap_or("")),
                    })?;
            if recent {
                found.push(DocumentItem {
                    id: d.document_id,
                    url: d.url,
                    name: d.name,
                    created_date: d.created_date,
                    created_by: d.created_by,
                });
            }
        }
        Ok(found)
    }

    /// `DELETE /application/{NumhubEntityId}/documents/{documentId}`.
    pub async fn delete_document(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        document_id: Uuid,
    ) -> Result<DeleteResponse, NumhubError> {
        let r = entity(
            req(
                HttpMethod::Delete,
                format!("/application/{id}/documents/{document_id}"),
                p,
            ),
            id,
        );
        self.call_json(tenant, r).await
    }

    /// `POST /application/{NumhubEntityId}/generateOtp?isResend=`.
    pub async fn generate_otp(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        is_resend: bool,
    ) -> Result<Envelope<Value>, NumhubError> {
        let mut r = entity(
            req(
                HttpMethod::Post,
                format!("/application/{id}/generateOtp"),
                p,
            ),
            id,
        );
        r.query = vec![("isResend".into(), is_resend.to_string())];
        self.call_json(tenant, r).await
    }

    /// `POST /application/{NumhubEntityId}/verifyOtp?otp=` — an int32, so a code
    /// with leading zeros cannot survive (the document's choice).
    pub async fn verify_otp(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        otp: i32,
    ) -> Result<Envelope<Value>, NumhubError> {
        let mut r = entity(
            req(HttpMethod::Post, format!("/application/{id}/verifyOtp"), p),
            id,
        );
        r.query = vec![("otp".into(), otp.to_string())];
        self.call_json(tenant, r).await
    }

    /// `GET /applications/newdisplayidentity` (a bare array, no paging metadata).
    pub async fn list_display_identities(
        &self,
        tenant: i64,
        p: Priority,
        q: &IdentityQuery,
    ) -> Result<Vec<DisplayIdentityListItem>, NumhubError> {
        let mut r = req(
            HttpMethod::Get,
            "/applications/newdisplayidentity".into(),
            p,
        );
        let mut query = Vec::new();
        if let Some(v) = q.page_number {
            query.push(("pageNumber".to_string(), v.to_string()));
        }
        if let Some(v) = q.page_size {
            query.push(("pageSize".into(), v.to_string()));
        }
        if let Some(v) = &q.search_key {
            query.push(("searchKey".into(), v.clone()));
        }
        if let Some(v) = &q.start_date {
            query.push(("startDate".into(), v.clone()));
        }
        if let Some(v) = &q.end_date {
            query.push(("endDate".into(), v.clone()));
        }
        r.query = query;
        self.call_json(tenant, r).await
    }

    /// `GET /applications/newidentities/{NumhubIdentityId}`.
    pub async fn get_display_identity(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<DisplayIdentity, NumhubError> {
        let r = identity(
            req(
                HttpMethod::Get,
                format!("/applications/newidentities/{id}"),
                p,
            ),
            id,
        );
        self.call_json(tenant, r).await
    }

    /// `PUT /applications/updatedisplayidentity`.
    pub async fn update_display_identity(
        &self,
        tenant: i64,
        p: Priority,
        body: &DisplayIdentityUpdate,
    ) -> Result<ChangeRequestResult, NumhubError> {
        let mut r = req(
            HttpMethod::Put,
            "/applications/updatedisplayidentity".into(),
            p,
        );
        r.entity = body.numhub_entity_id.map(|u| u.to_string());
        r.identity = body.numhub_identity_id.map(|u| u.to_string());
        r.body = json_body(body)?;
        let env: Envelope<ChangeRequestResult> = self.call_json(tenant, r).await?;
        result(env, "/applications/updatedisplayidentity")
    }

    /// `PUT /applications/deactivationrequest` (one object).
    pub async fn deactivate_display_identity(
        &self,
        tenant: i64,
        p: Priority,
        body: &DeactivationRequest,
    ) -> Result<ChangeRequestResult, NumhubError> {
        let mut r = req(
            HttpMethod::Put,
            "/applications/deactivationrequest".into(),
            p,
        );
        r.identity = body.numhub_identity_id.map(|u| u.to_string());
        r.body = json_body(body)?;
        let env: Envelope<ChangeRequestResult> = self.call_json(tenant, r).await?;
        result(env, "/applications/deactivationrequest")
    }

    /// `POST /applications/{NumhubIdentityId}/uploadadditionaltns` (multipart `File`).
    pub async fn upload_additional_tns(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
        file: &UploadFile,
    ) -> Result<Envelope<Value>, NumhubError> {
        let mut r = identity(
            req(
                HttpMethod::Post,
                format!("/applications/{id}/uploadadditionaltns"),
                p,
            ),
            id,
        );
        r.body = Body::Multipart {
            files: vec![("File".into(), file.clone())],
            fields: Vec::new(),
        };
        self.call_json(tenant, r).await
    }

    /// `DELETE /applications/{NumhubIdentityId}/additionaltns`.
    pub async fn delete_additional_tns(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<DeleteResponse, NumhubError> {
        let r = identity(
            req(
                HttpMethod::Delete,
                format!("/applications/{id}/additionaltns"),
                p,
            ),
            id,
        );
        self.call_json(tenant, r).await
    }

    /// `GET /applications/downloadphonenumbers` — the file's bytes (XLSX per the
    /// document).
    pub async fn download_phone_numbers(
        &self,
        tenant: i64,
        p: Priority,
        identity_id: Uuid,
        entity_id: Uuid,
    ) -> Result<bytes::Bytes, NumhubError> {
        let mut r = identity(
            entity(
                req(
                    HttpMethod::Get,
                    "/applications/downloadphonenumbers".into(),
                    p,
                ),
                entity_id,
            ),
            identity_id,
        );
        r.query = vec![
            ("NumhubIdentityId".into(), identity_id.to_string()),
            ("NumhubEntityId".into(), entity_id.to_string()),
        ];
        self.call(tenant, r, false)
            .await
            .map_err(super::CallError::into_error)
    }

    /// `GET /notifications`.
    pub async fn notifications(&self, tenant: i64, p: Priority) -> Result<Vec<Alert>, NumhubError> {
        self.call_json(tenant, req(HttpMethod::Get, "/notifications".into(), p))
            .await
    }

    /// `GET /notifications/{NumhubEntityId}/flag`: the application's flagged comments.
    pub async fn flagged_comments(
        &self,
        tenant: i64,
        p: Priority,
        id: Uuid,
    ) -> Result<FlaggedResponse, NumhubError> {
        let r = entity(
            req(HttpMethod::Get, format!("/notifications/{id}/flag"), p),
            id,
        );
        let env: Envelope<FlaggedResponse> = self.call_json(tenant, r).await?;
        result(env, "/notifications/{NumhubEntityId}/flag")
    }

    /// `GET /reports/status`.
    pub async fn status_report(
        &self,
        tenant: i64,
        p: Priority,
    ) -> Result<StatusReport, NumhubError> {
        self.call_json(tenant, req(HttpMethod::Get, "/reports/status".into(), p))
            .await
    }
}

fn result<T>(env: Envelope<T>, endpoint: &str) -> Result<T, NumhubError> {
    env.result.ok_or_else(|| NumhubError::Decode {
        endpoint: format!("/api/v1{endpoint}"),
        reason: format!("no result ({})", env.message.unwrap_or_default()),
    })
}
