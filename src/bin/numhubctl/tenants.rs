//! `tenants`: the tenants the caller may see, as a table.

use serde_json::json;

use numhubd::client::{Client, ClientError};

use crate::output::{cell, table};

pub fn tenants(c: &mut Client, json_out: bool) -> Result<(), ClientError> {
    let page = c.call("tenant.list", json!({}))?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    table(
        json_out,
        &page,
        &items,
        &["id", "name", "slug", "numhub_client_id", "numhub_enabled"],
        |t| {
            vec![
                cell(&t["id"]),
                cell(&t["name"]),
                cell(&t["slug"]),
                cell(&t["numhub_client_id"]),
                cell(&t["numhub_enabled"]),
            ]
        },
    )
}
