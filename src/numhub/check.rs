//! "Test connection" (`numhub.check`, `numhubctl numhub check`): logs in afresh with
//! each account the tenants use and reports, per tenant, whether its
//! `numhub_client_id` is one of the clients NumHub says that account may act for
//! (`AccessModel.userClients`). The fresh login replaces the cached token, so a
//! client NumHub has since granted is taken from then on.

use std::collections::HashMap;

use super::tokens::{Account, UserClient, UserClients};
use super::{Client, NumhubError, Priority};
use crate::db;

/// One tenant's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantCheck {
    pub tenant_id: i64,
    pub name: String,
    pub numhub_client_id: Option<String>,
    /// `global` or `tenant:<id>`; `None` when no account could be chosen.
    pub account: Option<String>,
    pub verdict: Verdict,
    /// What the account's login listed (empty when it listed none or did not log in).
    pub account_clients: Vec<UserClient>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The account may act for the tenant's client.
    Listed { client_name: Option<String> },
    /// NumHub listed the account's clients, and this one is not among them: every
    /// call for the tenant is refused before it is sent.
    NotListed,
    /// The login listed no clients: nothing to compare with (calls are not refused).
    NotReported,
    /// The tenant cannot be checked (no `numhub_client_id`, no credentials, the
    /// login failed or is blocked); the reason.
    Failed(String),
}

impl Client {
    /// Checks `only` that tenant, or every tenant.
    pub async fn check(&self, only: Option<i64>) -> Result<Vec<TenantCheck>, NumhubError> {
        let tenants = self
            .inner
            .store
            .read(move |sql| match only {
                Some(id) => Ok(vec![db::tenants::get(sql, id)?]),
                None => db::tenants::all(sql),
            })
            .await?;
        // One login per account, however many tenants share it.
        let mut logins: HashMap<Account, Result<UserClients, String>> = HashMap::new();
        let mut out = Vec::with_capacity(tenants.len());
        for t in tenants {
            let mut check = TenantCheck {
                tenant_id: t.id,
                name: t.name.clone(),
                numhub_client_id: t.numhub_client_id.clone(),
                account: None,
                verdict: Verdict::NotReported,
                account_clients: Vec::new(),
            };
            let ctx = match self.tenant(t.id).await {
                Ok(c) => c,
                Err(e) => {
                    check.verdict = Verdict::Failed(e.to_string());
                    out.push(check);
                    continue;
                }
            };
            check.account = Some(ctx.account.key());
            if !logins.contains_key(&ctx.account) {
                let login = self.fresh_login(&ctx.account, &ctx.credentials).await;
                logins.insert(ctx.account.clone(), login.map_err(|e| e.to_string()));
            }
            check.verdict = match &logins[&ctx.account] {
                Err(why) => Verdict::Failed(why.clone()),
                Ok(UserClients(None)) => Verdict::NotReported,
                Ok(UserClients(Some(listed))) => {
                    check.account_clients = listed.clone();
                    match listed.iter().find(|c| c.client_id == ctx.client_id) {
                        Some(c) => Verdict::Listed {
                            client_name: c.client_name.clone(),
                        },
                        None => Verdict::NotListed,
                    }
                }
            };
            out.push(check);
        }
        Ok(out)
    }

    /// Logs `account` in now (a blocked login stays blocked: the check reports it
    /// rather than lifting it) and caches the new token.
    async fn fresh_login(
        &self,
        account: &Account,
        creds: &super::Credentials,
    ) -> Result<UserClients, NumhubError> {
        self.check_block(account, creds).await?;
        let slot = self.slot(account);
        let mut guard = slot.lock().await;
        let fresh = self.login(account, creds, Priority::Interactive).await?;
        let clients = fresh.clients.clone();
        *guard = Some(fresh);
        Ok(clients)
    }
}
