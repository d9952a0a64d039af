//! The connection to numhubd and the calls several commands share: the version
//! handshake on first contact, every page of a list, the tenants a command covers,
//! and finding an entity in them.

use std::path::Path;

use serde_json::{json, Value};

use numhubd::api::{
    self, codes, Empty, Health, Method, Page, PageQuery, API_VERSION, DAEMON_VERSION,
};
use numhubd::client::{Client, ClientError};

/// Connects and compares versions on first contact.
pub fn connect(socket: &Path) -> Result<(Client, Health), ClientError> {
    let mut c = Client::connect(socket)?;
    let h: Health = c.request::<api::DaemonHealth>(&Empty {})?;
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

/// Calls `method {tenant_id, id}` in the given tenant, or in each tenant the caller
/// may see until one has the entity (as `entity show` finds it).
pub fn on_entity(
    c: &mut Client,
    tenant: Option<i64>,
    id: &str,
    method: &str,
) -> Result<Value, ClientError> {
    for t in tenants_of(c, tenant)? {
        match c.call(method, json!({"tenant_id": t, "id": id})) {
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
paged!(PageQuery);

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

/// Every item of a list method, following its cursor.
pub fn all_pages_by_name(
    c: &mut Client,
    method: &str,
    params: Value,
) -> Result<Vec<Value>, ClientError> {
    let mut items = Vec::new();
    let mut p = params;
    loop {
        let page = c.call(method, p.clone())?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(cur) => p["cursor"] = json!(cur),
            None => return Ok(items),
        }
    }
}

/// Every item of `method` in each tenant the command covers.
pub fn in_tenants(
    c: &mut Client,
    tenant: Option<i64>,
    method: &str,
    params: impl Fn(i64) -> Value,
) -> Result<Vec<Value>, ClientError> {
    let mut items = Vec::new();
    for t in tenants_of(c, tenant)? {
        items.extend(all_pages_by_name(c, method, params(t))?);
    }
    Ok(items)
}
