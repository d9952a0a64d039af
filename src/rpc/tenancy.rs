//! Methods over tenants, brands, NumHub credentials and tokens.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, handler, MethodDef, Scope};
use super::port::SecretText;
use super::schema::{boolean, cursor, e164, id, limit, list_of, object, shown_text, string, text};
use super::Rpc;
use crate::db::{self, brands, credentials, tenants, tokens};

fn obj() -> Value {
    json!({"type": "object"})
}

fn page_schema() -> Value {
    json!({"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}, "required": ["items", "next_cursor"]})
}

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        def(
            "tenant.upsert",
            "Creates or updates a tenant (BrandCall's id).",
            Write,
            Tenant("id"),
            object(
                &[("id", id()), ("name", string(255))],
                &[
                    ("email", text(255)),
                    ("slug", text(255)),
                    ("numhub_client_id", string(100)),
                    ("numhub_osp_id", text(100)),
                    ("numhub_enabled", boolean()),
                ],
            ),
            obj(),
            handler(tenant_upsert),
        ),
        def(
            "tenant.get",
            "One tenant.",
            Read,
            Tenant("id"),
            object(&[("id", id())], &[]),
            obj(),
            handler(tenant_get),
        ),
        def(
            "tenant.list",
            "The tenants the caller may see.",
            Read,
            Open,
            object(&[], &[("cursor", cursor()), ("limit", limit())]),
            page_schema(),
            handler(tenant_list),
        ),
        def(
            "brand.upsert",
            "Creates a brand (no id) or updates one.",
            Write,
            Tenant("tenant_id"),
            object(
                &[("tenant_id", id()), ("name", string(255))],
                &[("id", id()), ("display_name", shown_text(0, 32))],
            ),
            obj(),
            handler(brand_upsert),
        ),
        def(
            "brand.get",
            "One brand with its phone numbers.",
            Read,
            Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", id())], &[]),
            obj(),
            handler(brand_get),
        ),
        def(
            "brand.list",
            "The tenant's brands.",
            Read,
            Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("cursor", cursor()), ("limit", limit())]),
            page_schema(),
            handler(brand_list),
        ),
        def(
            "brand.phone_numbers.set",
            "Replaces a brand's phone numbers (E.164).",
            Write,
            Tenant("tenant_id"),
            object(
                &[
                    ("tenant_id", id()),
                    ("brand_id", id()),
                    ("phone_numbers", list_of(e164(), 10_000)),
                ],
                &[],
            ),
            page_schema(),
            handler(brand_numbers_set),
        ),
        def(
            "credentials.set",
            "Stores the tenant's NumHub login, age-encrypted. Write-only: never returned.",
            Admin,
            Tenant("tenant_id"),
            object(
                &[
                    ("tenant_id", id()),
                    ("email", string(255)),
                    ("password", string(1024)),
                ],
                &[],
            ),
            obj(),
            handler(credentials_set),
        ),
        def(
            "token.status",
            "Whether a NumHub token is held (tenant's, or the global account's without tenant_id), and until when. Never the token.",
            Read,
            OptionalTenant("tenant_id"),
            object(&[], &[("tenant_id", id())]),
            obj(),
            handler(token_status),
        ),
    ]
}

/// `numhub_client_id`, `numhub_osp_id` and `numhub_enabled` decide under which NumHub
/// client a tenant's work is sent and whose applications the poller imports into it,
/// so only an admin sets them. A writer's upsert keeps them as they are (omitting one
/// does not clear it); naming one with another value is refused, naming the field.
/// The check and the write are one transaction, so an admin's change meanwhile is
/// never written back.
async fn tenant_upsert(
    rpc: Arc<Rpc>,
    caller: Caller,
    p: tenants::TenantInput,
) -> Result<tenants::Tenant, RpcError> {
    if caller.role >= Role::Admin {
        return Ok(rpc
            .store
            .write(move |tx| tenants::upsert(tx, p.clone()))
            .await?);
    }
    let outcome = rpc
        .store
        .write(move |tx| {
            let current = tenants::find(tx, p.id)?;
            let (client, osp, enabled) = match &current {
                Some(t) => (
                    t.numhub_client_id.clone(),
                    t.numhub_osp_id.clone(),
                    Some(t.numhub_enabled),
                ),
                None => (None, None, Some(false)),
            };
            let changed = [
                (
                    "numhub_client_id",
                    p.numhub_client_id.is_some() && p.numhub_client_id != client,
                ),
                (
                    "numhub_osp_id",
                    p.numhub_osp_id.is_some() && p.numhub_osp_id != osp,
                ),
                (
                    "numhub_enabled",
                    p.numhub_enabled.is_some() && p.numhub_enabled != enabled,
                ),
            ];
            if let Some((field, _)) = changed.iter().find(|(_, c)| *c) {
                return Ok(Err(*field));
            }
            let mut p = p.clone();
            (p.numhub_client_id, p.numhub_osp_id, p.numhub_enabled) = (client, osp, enabled);
            tenants::upsert(tx, p).map(Ok)
        })
        .await?;
    outcome.map_err(|field| {
        RpcError::Forbidden(format!(
            "{field}: only an admin may set a tenant's NumHub client, OSP id or enabled flag"
        ))
    })
}

#[derive(Deserialize)]
struct ById {
    id: i64,
}

async fn tenant_get(rpc: Arc<Rpc>, _: Caller, p: ById) -> Result<tenants::Tenant, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| tenants::get(sql, p.id))
        .await?)
}

#[derive(Deserialize)]
struct PageParams {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn tenant_list(
    rpc: Arc<Rpc>,
    caller: Caller,
    p: PageParams,
) -> Result<db::Page<tenants::Tenant>, RpcError> {
    let only: Option<Vec<i64>> = match &caller.tenants {
        super::access::Tenants::All => None,
        super::access::Tenants::Only(set) => Some(set.iter().copied().collect()),
    };
    Ok(rpc
        .store
        .read(move |sql| tenants::list(sql, only.as_deref(), p.cursor.as_deref(), p.limit))
        .await?)
}

async fn brand_upsert(
    rpc: Arc<Rpc>,
    _: Caller,
    p: brands::BrandInput,
) -> Result<brands::Brand, RpcError> {
    Ok(rpc
        .store
        .write(move |tx| brands::upsert(tx, p.clone()))
        .await?)
}

#[derive(Deserialize)]
struct TenantRow {
    tenant_id: i64,
    id: i64,
}

#[derive(Serialize)]
struct BrandWithNumbers {
    #[serde(flatten)]
    brand: brands::Brand,
    phone_numbers: Vec<brands::BrandPhoneNumber>,
}

async fn brand_get(rpc: Arc<Rpc>, _: Caller, p: TenantRow) -> Result<BrandWithNumbers, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| {
            Ok(BrandWithNumbers {
                brand: brands::get(sql, p.tenant_id, p.id)?,
                phone_numbers: brands::phone_numbers(sql, p.tenant_id, p.id)?,
            })
        })
        .await?)
}

#[derive(Deserialize)]
struct TenantPage {
    tenant_id: i64,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn brand_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: TenantPage,
) -> Result<db::Page<brands::Brand>, RpcError> {
    Ok(rpc
        .store
        .read(move |sql| brands::list(sql, p.tenant_id, p.cursor.as_deref(), p.limit))
        .await?)
}

#[derive(Deserialize)]
struct NumbersSet {
    tenant_id: i64,
    brand_id: i64,
    phone_numbers: Vec<String>,
}

async fn brand_numbers_set(
    rpc: Arc<Rpc>,
    _: Caller,
    p: NumbersSet,
) -> Result<db::Page<brands::BrandPhoneNumber>, RpcError> {
    let items = rpc
        .store
        .write(move |tx| brands::set_phone_numbers(tx, p.tenant_id, p.brand_id, &p.phone_numbers))
        .await?;
    Ok(db::Page {
        items,
        next_cursor: None,
    })
}

#[derive(Deserialize)]
struct CredentialsSet {
    tenant_id: i64,
    email: String,
    password: String,
}

/// Through the NumHub client, which encrypts the login before the store sees it and
/// drops the account's cached token and login block with it: a token of the old login
/// must not outlive it in memory.
async fn credentials_set(rpc: Arc<Rpc>, _: Caller, p: CredentialsSet) -> Result<Value, RpcError> {
    let tenant_id = p.tenant_id;
    super::operations::port(&rpc)?
        .credentials_set(tenant_id, p.email, SecretText::new(p.password))
        .await?;
    Ok(json!({"tenant_id": tenant_id, "stored": true}))
}

#[derive(Deserialize)]
struct MaybeTenant {
    tenant_id: Option<i64>,
}

#[derive(Serialize)]
struct TokenStatus {
    tenant_id: Option<i64>,
    present: bool,
    expires_at: Option<String>,
    seconds_left: Option<i64>,
    credentials_set: Option<bool>,
}

async fn token_status(rpc: Arc<Rpc>, _: Caller, p: MaybeTenant) -> Result<TokenStatus, RpcError> {
    let tenant_id = p.tenant_id;
    let (token, creds) = rpc
        .store
        .read(move |sql| {
            if let Some(t) = tenant_id {
                tenants::get(sql, t)?;
            }
            let creds = tenant_id.map(|t| credentials::exists(sql, t)).transpose()?;
            Ok((tokens::get_access(sql, tenant_id)?, creds))
        })
        .await?;
    let expires_at = token.map(|t| t.expires_at);
    let seconds_left = expires_at
        .as_deref()
        .and_then(|e| db::parse_ts("expires_at", e).ok())
        .map(|e| (e - chrono::Utc::now()).num_seconds().max(0));
    Ok(TokenStatus {
        tenant_id,
        present: expires_at.is_some(),
        expires_at,
        seconds_left,
        credentials_set: creds,
    })
}
