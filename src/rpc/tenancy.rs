//! Methods over tenants, brands, NumHub credentials and tokens: the handlers of
//! `api::tenancy`'s methods, converting between its types and `db`'s.

use std::sync::Arc;

use super::access::{Caller, Role, Tenants};
use super::error::RpcError;
use super::methods::{method, MethodDef, Scope};
use super::port::SecretText;
use super::wire::ToWire;
use super::Rpc;
use crate::api::{
    Brand, BrandDetail, BrandFields, BrandGet, BrandList, BrandNumbers, BrandNumbersSet, BrandRef,
    BrandUpsert, ById, Credentials, CredentialsSet, CredentialsStored, MaybeTenant, Page,
    PageQuery, PhoneNumber, Tenant, TenantFields, TenantGet, TenantList, TenantPage, TenantUpsert,
    TokenStatus, TokenStatusGet,
};
use crate::db::{self, brands, credentials, tenants, tokens};

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        method::<TenantUpsert>(
            "Creates or updates a tenant (BrandCall's id).",
            Write,
            Tenant("id"),
            tenant_upsert,
        ),
        method::<TenantGet>("One tenant.", Read, Tenant("id"), tenant_get),
        method::<TenantList>(
            "The tenants the caller may see.",
            Read,
            Open,
            tenant_list,
        ),
        method::<BrandUpsert>(
            "Creates a brand (no id) or updates one.",
            Write,
            Tenant("tenant_id"),
            brand_upsert,
        ),
        method::<BrandGet>(
            "One brand with its phone numbers.",
            Read,
            Tenant("tenant_id"),
            brand_get,
        ),
        method::<BrandList>(
            "The tenant's brands.",
            Read,
            Tenant("tenant_id"),
            brand_list,
        ),
        method::<BrandNumbersSet>(
            "Replaces a brand's phone numbers (E.164).",
            Write,
            Tenant("tenant_id"),
            brand_numbers_set,
        ),
        method::<CredentialsSet>(
            "Stores the tenant's NumHub login, age-encrypted. Write-only: never returned.",
            Admin,
            Tenant("tenant_id"),
            credentials_set,
        ),
        method::<TokenStatusGet>(
            "Whether a NumHub token is held (tenant's, or the global account's without tenant_id), and until when. Never the token.",
            Read,
            OptionalTenant("tenant_id"),
            token_status,
        ),
    ]
}

/// `numhub_client_id`, `numhub_osp_id` and `numhub_enabled` decide under which NumHub
/// client a tenant's work is sent and whose applications the poller imports into it,
/// so only an admin sets them. A writer's upsert keeps them as they are (omitting one
/// does not clear it); naming one with another value is refused, naming the field.
/// The check and the write are one transaction, so an admin's change meanwhile is
/// never written back.
async fn tenant_upsert(rpc: Arc<Rpc>, caller: Caller, p: TenantFields) -> Result<Tenant, RpcError> {
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

async fn tenant_get(rpc: Arc<Rpc>, _: Caller, p: ById) -> Result<Tenant, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| tenants::get(sql, p.id))
        .await?)
}

async fn tenant_list(
    rpc: Arc<Rpc>,
    caller: Caller,
    p: PageQuery,
) -> Result<Page<Tenant>, RpcError> {
    let only: Option<Vec<i64>> = match &caller.tenants {
        Tenants::All => None,
        Tenants::Only(set) => Some(set.iter().copied().collect()),
    };
    let page = rpc
        .store
        .read(move |sql| tenants::list(sql, only.as_deref(), p.cursor.as_deref(), p.limit))
        .await?;
    page.to_wire()
}

async fn brand_upsert(rpc: Arc<Rpc>, _: Caller, p: BrandFields) -> Result<Brand, RpcError> {
    Ok(rpc
        .store
        .write(move |tx| brands::upsert(tx, p.clone()))
        .await?)
}

async fn brand_get(rpc: Arc<Rpc>, _: Caller, p: BrandRef) -> Result<BrandDetail, RpcError> {
    let (brand, numbers) = rpc
        .store
        .read_point(move |sql| {
            Ok((
                brands::get(sql, p.tenant_id, p.id)?,
                brands::phone_numbers(sql, p.tenant_id, p.id)?,
            ))
        })
        .await?;
    Ok(BrandDetail {
        brand,
        phone_numbers: numbers,
    })
}

async fn brand_list(rpc: Arc<Rpc>, _: Caller, p: TenantPage) -> Result<Page<Brand>, RpcError> {
    let page = rpc
        .store
        .read(move |sql| brands::list(sql, p.tenant_id, p.cursor.as_deref(), p.limit))
        .await?;
    page.to_wire()
}

async fn brand_numbers_set(
    rpc: Arc<Rpc>,
    _: Caller,
    p: BrandNumbers,
) -> Result<Page<PhoneNumber>, RpcError> {
    let items = rpc
        .store
        .write(move |tx| brands::set_phone_numbers(tx, p.tenant_id, p.brand_id, &p.phone_numbers))
        .await?;
    db::Page {
        items,
        next_cursor: None,
    }
    .to_wire()
}

/// Through the NumHub client, which encrypts the login before the store sees it and
/// drops the account's cached token and login block with it: a token of the old login
/// must not outlive it in memory.
async fn credentials_set(
    rpc: Arc<Rpc>,
    _: Caller,
    p: Credentials,
) -> Result<CredentialsStored, RpcError> {
    let tenant_id = p.tenant_id;
    super::operations::port(&rpc)?
        .credentials_set(tenant_id, p.email, SecretText::new(p.password.into_inner()))
        .await?;
    Ok(CredentialsStored {
        tenant_id,
        stored: true,
    })
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
