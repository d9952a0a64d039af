//! `tenants`: the tenants the caller may see, as a table.

use numhubd::api::{self, PageQuery};
use numhubd::client::{Client, ClientError};

use crate::output::table;

pub fn tenants(c: &mut Client, json_out: bool) -> Result<(), ClientError> {
    let page = c.request::<api::TenantList>(&PageQuery::default())?;
    table!(json_out, &page, &page.items; id, name, slug, numhub_client_id, numhub_enabled)
}
