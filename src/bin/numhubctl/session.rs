//! The connection to numhubd and the calls several commands share: the version
//! handshake on first contact, every page of a list, the tenants a command covers,
//! finding an entity in them, and a flag's value read as the api enum it names.

use std::path::Path;

use serde_json::json;

use numhubd::api::{
    self, codes, ChildQuery, Empty, EntityQuery, Health, JobQuery, Method, Page, PageQuery,
    WireEnum, API_VERSION, DAEMON_VERSION,
};
use numhubd::client::{Client, ClientError};

/// Connects and compares versions on first contact.
pub fn connect(socket: &Path) -> Result<(Client, Health), ClientError> {
    let mut c = Client::connect(socket)?;
    let h = c.request::<api::DaemonHealth>(&Empty {})?;
    if h.api_version != API_VERSION {
        return Err(ClientError::Protocol(format!(
            "numhubctl {DAEMON_VERSION} speaks API v{API_VERSION} but numhubd {} speaks API v{}: use the numhubctl that came with that numhubd, or restart numhubd after upgrading",
            h.daemon_version, h.api_version
        )));
    }
    if h.daemon_version != DAEMON_VERSION {
        eprintln!(
            "numhubctl: note: numhubctl is {DAEMON_VERSION}, numhubd is {} (same API v{API_VERSION}); restart numhubd if you upgraded",
            h.daemon_version
        );
    }
    Ok((c, h))
}

/// Calls `M` (params from the tenant id) in the given tenant, or in each tenant the
/// caller may see until one has the entity `id` (as `entity show` finds it).
pub fn on_entity<M: Method>(
    c: &mut Client,
    tenant: Option<i64>,
    id: &str,
    params: impl Fn(i64) -> M::Params,
) -> Result<M::Result, ClientError> {
    for t in tenants_of(c, tenant)? {
        match c.request::<M>(&params(t)) {
            Ok(v) => return Ok(v),
            Err(ClientError::Rpc { code, .. }) if code == i64::from(codes::NOT_FOUND) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ClientError::Rpc {
        code: i64::from(codes::NOT_FOUND),
        message: format!("entity {id} not found in your tenants"),
        data: None,
    })
}

/// The given tenant, or every tenant the caller may see.
pub fn tenants_of(c: &mut Client, tenant: Option<i64>) -> Result<Vec<i64>, ClientError> {
    if let Some(t) = tenant {
        return Ok(vec![t]);
    }
    let tenants = all_pages::<api::TenantList, _>(c, PageQuery::default())?;
    Ok(tenants.iter().map(|t| t.id).collect())
}

/// A list method's params: which page to ask for next.
pub trait Paged {
    fn set_cursor(&mut self, cursor: String);
}

/// [`Paged`] for params types with a `cursor` field.
macro_rules! paged {
    ($($params:ty),+) => {
        $(impl Paged for $params {
            fn set_cursor(&mut self, cursor: String) {
                self.cursor = Some(cursor);
            }
        })+
    };
}
paged!(PageQuery, EntityQuery, ChildQuery, JobQuery);

/// Every item of list method `M`, following its cursor.
pub fn all_pages<M, T>(c: &mut Client, mut params: M::Params) -> Result<Vec<T>, ClientError>
where
    M: Method<Result = Page<T>>,
    M::Params: Paged,
{
    let mut items = Vec::new();
    loop {
        let page = c.request::<M>(&params)?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => params.set_cursor(cursor),
            None => return Ok(items),
        }
    }
}

/// Every item of list method `M` in each tenant the command covers.
pub fn in_tenants<M, T>(
    c: &mut Client,
    tenant: Option<i64>,
    params: impl Fn(i64) -> M::Params,
) -> Result<Vec<T>, ClientError>
where
    M: Method<Result = Page<T>>,
    M::Params: Paged,
{
    let mut items = Vec::new();
    for t in tenants_of(c, tenant)? {
        items.extend(all_pages::<M, T>(c, params(t))?);
    }
    Ok(items)
}

/// Every identity or document (`M`) of the tenants covered, of one entity if given.
pub fn of_entity<M, T>(
    c: &mut Client,
    tenant: Option<i64>,
    entity: Option<&str>,
) -> Result<Vec<T>, ClientError>
where
    M: Method<Params = ChildQuery, Result = Page<T>>,
{
    in_tenants::<M, T>(c, tenant, |tenant_id| ChildQuery {
        tenant_id,
        entity_id: entity.map(str::to_string),
        cursor: None,
        limit: None,
    })
}

/// `value` as the api enum `E`, the `field` of the call it is for. A name `E` does
/// not have is refused as numhubd refuses it (the same `-32602`, message and data),
/// before anything is sent.
pub fn named<E: WireEnum>(field: &str, value: &str) -> Result<E, ClientError> {
    E::from_name(value).ok_or_else(|| {
        let known: Vec<String> = E::NAMES.iter().map(|n| json!(n).to_string()).collect();
        let reason = format!("{} is not one of {}", json!(value), known.join(", "));
        ClientError::Rpc {
            code: i64::from(codes::INVALID_PARAMS),
            message: format!("invalid params: {field}: {reason}"),
            data: Some(json!({"fields": [{"field": field, "reason": reason}]})),
        }
    })
}

/// `path` as the string the call carries.
pub fn utf8(path: &Path) -> Result<&str, ClientError> {
    path.to_str()
        .ok_or_else(|| ClientError::Protocol(format!("{}: not UTF-8", path.display())))
}
