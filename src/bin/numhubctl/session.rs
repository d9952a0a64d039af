//! The connection to numhubd and the calls several commands share: the version
//! handshake on first contact, every page of a list, the tenants a command covers,
//! and finding an entity in them.

use std::path::Path;

use serde_json::{json, Value};

use numhubd::api::{codes, Health, API_VERSION, DAEMON_VERSION};
use numhubd::client::{Client, ClientError};

/// Connects and compares versions on first contact.
pub fn connect(socket: &Path) -> Result<(Client, Health), ClientError> {
    let mut c = Client::connect(socket)?;
    let h: Health = serde_json::from_value(c.call("daemon.health", json!({}))?)
        .map_err(|e| ClientError::Protocol(format!("daemon.health: {e}")))?;
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
    Ok(all_pages(c, "tenant.list", json!({}))?
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect())
}

/// Every item of a list method, following its cursor.
pub fn all_pages(c: &mut Client, method: &str, params: Value) -> Result<Vec<Value>, ClientError> {
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
        items.extend(all_pages(c, method, params(t))?);
    }
    Ok(items)
}
