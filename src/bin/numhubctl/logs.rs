//! `logs`: the NumHub exchange log as a table, or `--follow` for events as they come.

use numhubd::api::{self, EventFilter, LogQuery};

use crate::events;
use crate::output::table;
use crate::session::{Outcome, Session};

pub fn logs(s: &mut Session, tenant: Option<i64>, follow: bool, limit: Option<u32>) -> Outcome {
    if follow {
        let filter = EventFilter {
            tenant_id: tenant,
            kinds: None,
        };
        return events::follow(s, &filter, None);
    }
    let query = LogQuery {
        tenant_id: tenant,
        limit,
        ..LogQuery::default()
    };
    let page = s.request::<api::LogList>(&query)?;
    table!(s.json, &page, &page.items;
        created_at, tenant_id, method, endpoint, status_code, success, error_message)
}
