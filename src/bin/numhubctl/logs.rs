//! `logs`: the NumHub exchange log as a table, or `--follow` for events as they come.

use numhubd::api::{self, EventFilter, LogQuery};
use numhubd::client::{Client, ClientError};

use crate::events;
use crate::output::table;

pub fn logs(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    follow: bool,
    limit: Option<u32>,
) -> Result<(), ClientError> {
    if follow {
        let filter = EventFilter {
            tenant_id: tenant,
            kinds: None,
        };
        return events::follow(c.path(), json_out, &filter, None);
    }
    let query = LogQuery {
        tenant_id: tenant,
        limit,
        ..LogQuery::default()
    };
    let page = c.request::<api::LogList>(&query)?;
    table!(json_out, &page, &page.items;
        created_at, tenant_id, method, endpoint, status_code, success, error_message)
}
