//! `logs`: the NumHub exchange log as a table, or `--follow` for events as they come.

use serde_json::json;

use numhubd::client::{Client, ClientError};

use crate::events;
use crate::output::{cell, print_table};

pub fn logs(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    follow: bool,
    limit: Option<u32>,
) -> Result<(), ClientError> {
    let mut p = json!({});
    if let Some(t) = tenant {
        p["tenant_id"] = json!(t);
    }
    if follow {
        return events::follow(c.path(), json_out, p, None);
    }
    if let Some(l) = limit {
        p["limit"] = json!(l);
    }
    let page = c.call("log.list", p)?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    print_table(
        json_out,
        &page,
        &items,
        &[
            "created_at",
            "tenant_id",
            "method",
            "endpoint",
            "status_code",
            "success",
            "error_message",
        ],
        |l| {
            vec![
                cell(&l["created_at"]),
                cell(&l["tenant_id"]),
                cell(&l["method"]),
                cell(&l["endpoint"]),
                cell(&l["status_code"]),
                cell(&l["success"]),
                cell(&l["error_message"]),
            ]
        },
    )
}
