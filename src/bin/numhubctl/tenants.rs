//! `tenants`: the tenants the caller may see, as a table.

use numhubd::api::{self, PageQuery};

use crate::output::table;
use crate::session::{Outcome, Session};

pub fn tenants(s: &mut Session) -> Outcome {
    let page = s.request::<api::TenantList>(&PageQuery::default())?;
    table!(s.json, &page, &page.items; id, name, slug, numhub_client_id, numhub_enabled)
}
