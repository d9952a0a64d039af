//! What every command works with, a [`Session`]: the connection to numhubd (the
//! version handshake done), whether to print JSON, and the calls several commands
//! share: every page of a list, the tenants a command covers, finding an entity in
//! them. And a flag's value read as the api enum it names.

use std::path::Path;

use serde_json::json;

use numhubd::api::{
    self, codes, ChildQuery, Empty, EntityQuery, Health, JobQuery, Method, Page, PageQuery,
    WireEnum, API_VERSION, DAEMON_VERSION,
};
use numhubd::client::{Client, ClientError};

/// What a command returns: done, or why not.
pub type Outcome = Result<(), ClientError>;

/// The connection, what the daemon said on first contact, and whether the command
/// prints JSON for scripts.
pub struct Session {
    pub client: Client,
    pub health: Health,
    pub json: bool,
}

impl Session {
    /// Connects and compares versions on first contact.
    pub fn connect(socket: &Path, json: bool) -> Result<Session, ClientError> {
        let mut client = Client::connect(socket)?;
        let health = client.request::<api::DaemonHealth>(&Empty {})?;
        same_api(&health)?;
        Ok(Session {
            client,
            health,
            json,
        })
    }

    pub fn request<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        self.client.request::<M>(params)
    }

    /// Calls `M` (params from the tenant id) in the given tenant, or in each tenant
    /// the caller may see until one has the entity `id` (as `entity show` finds it).
    pub fn on_entity<M: Method>(
        &mut self,
        tenant: Option<i64>,
        id: &str,
        params: impl Fn(i64) -> M::Params,
    ) -> Result<M::Result, ClientError> {
        for t in self.tenants_of(tenant)? {
            match self.request::<M>(&params(t)) {
                Ok(v) => return Ok(v),
                Err(ClientError::Rpc { code, .. }) if code == i64::from(codes::NOT_FOUND) => {
                    continue
                }
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
    pub fn tenants_of(&mut self, tenant: Option<i64>) -> Result<Vec<i64>, ClientError> {
        if let Some(t) = tenant {
            return Ok(vec![t]);
        }
        let tenants = self.all_pages::<api::TenantList, _>(PageQuery::default())?;
        Ok(tenants.iter().map(|t| t.id).collect())
    }

    /// Every item of list method `M`, following its cursor.
    pub fn all_pages<M, T>(&mut self, mut params: M::Params) -> Result<Vec<T>, ClientError>
    where
        M: Method<Result = Page<T>>,
        M::Params: Paged,
    {
        let mut items = Vec::new();
        loop {
            let page = self.request::<M>(&params)?;
            items.extend(page.items);
            match page.next_cursor {
                Some(cursor) => params.set_cursor(cursor),
                None => return Ok(items),
            }
        }
    }

    /// Every item of list method `M` in each tenant the command covers.
    pub fn in_tenants<M, T>(
        &mut self,
        tenant: Option<i64>,
        params: impl Fn(i64) -> M::Params,
    ) -> Result<Vec<T>, ClientError>
    where
        M: Method<Result = Page<T>>,
        M::Params: Paged,
    {
        let mut items = Vec::new();
        for t in self.tenants_of(tenant)? {
            items.extend(self.all_pages::<M, T>(params(t))?);
        }
        Ok(items)
    }

    /// Every identity or document (`M`) of the tenants covered, of one entity if
    /// given.
    pub fn of_entity<M, T>(
        &mut self,
        tenant: Option<i64>,
        entity: Option<&str>,
    ) -> Result<Vec<T>, ClientError>
    where
        M: Method<Params = ChildQuery, Result = Page<T>>,
    {
        self.in_tenants::<M, T>(tenant, |tenant_id| ChildQuery {
            tenant_id,
            entity_id: entity.map(str::to_string),
            cursor: None,
            limit: None,
        })
    }
}

/// An error when numhubd speaks another API version; a note on stderr when only
/// its version differs.
fn same_api(h: &Health) -> Outcome {
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
    Ok(())
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
