//! The method table: every method's name, the role it needs, where its tenant id is,
//! its parameter and result schemas, and its handler. Registration, access checks
//! and parameter validation are done here once for all methods, from this table, and
//! `rpc.discover` publishes the same table.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Extensions, RpcModule};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::middleware::Conn;
use super::{schema, Rpc};
use crate::api::{Method, Schema, Subscription};

/// Where a method finds the tenant it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No tenant: anyone with the role may call it.
    Open,
    /// This param is a tenant id the caller must hold.
    Tenant(&'static str),
    /// This param, if given, is a tenant id the caller must hold; absent means every
    /// tenant, which needs `tenants = "*"`.
    OptionalTenant(&'static str),
    /// Not tenant data (logs of every tenant, key rotation): needs `tenants = "*"`.
    Global,
    /// The handler finds the tenant from the row (e.g. a job id) and checks it.
    ByRow,
    /// This param, if given, is a tenant id the caller must hold; absent means the
    /// caller's own tenants (the handler filters by them).
    OwnTenants(&'static str),
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Box<RawValue>, RpcError>> + Send>>;
/// What runs a method once it is admitted.
pub type Handler = Arc<dyn Fn(Arc<Rpc>, Caller, Value) -> HandlerFuture + Send + Sync>;

#[derive(Clone)]
pub struct MethodDef {
    pub name: &'static str,
    pub summary: &'static str,
    pub role: Role,
    pub scope: Scope,
    pub params: Arc<Value>,
    pub result: Arc<Value>,
    pub handler: Option<Handler>,
}

/// What runs a method of types `P` → `R`: any `async fn(Arc<Rpc>, Caller, P)`.
pub trait Handles<P, R>: Send + Sync + 'static {
    fn call(&self, rpc: Arc<Rpc>, caller: Caller, params: P) -> TypedFuture<R>;
}

pub type TypedFuture<R> = Pin<Box<dyn Future<Output = Result<R, RpcError>> + Send>>;

impl<P, R, F, Fut> Handles<P, R> for F
where
    F: Fn(Arc<Rpc>, Caller, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
{
    fn call(&self, rpc: Arc<Rpc>, caller: Caller, params: P) -> TypedFuture<R> {
        Box::pin(self(rpc, caller, params))
    }
}

/// A method's entry from its marker type: its name and both schemas come from
/// `api`, and the handler takes and gives the same types numhubctl does.
pub fn method<M>(
    summary: &'static str,
    role: Role,
    scope: Scope,
    handler: impl Handles<M::Params, M::Result>,
) -> MethodDef
where
    M: Method,
    M::Params: Send + 'static,
    M::Result: 'static,
{
    let handler = Arc::new(handler);
    let run: Handler = Arc::new(move |rpc, caller, value| {
        let handler = handler.clone();
        Box::pin(async move {
            let result = handler.call(rpc, caller, typed(value)?).await?;
            raw(&result)
        })
    });
    def(
        M::NAME,
        summary,
        role,
        scope,
        M::Params::schema(),
        M::Result::schema(),
        Some(run),
    )
}

/// A subscription's entry: its name and params schema from `api`; its answer is the
/// subscription id. Registered apart (`rpc::module`), so no handler here.
pub fn subscription<S: Subscription>(summary: &'static str, role: Role, scope: Scope) -> MethodDef {
    def(
        S::NAME,
        summary,
        role,
        scope,
        S::Params::schema(),
        json!({"type": "string", "description": "the subscription id"}),
        None,
    )
}

fn typed<P: DeserializeOwned>(value: Value) -> Result<P, RpcError> {
    serde_json::from_value(value).map_err(|e| RpcError::invalid("params", e.to_string()))
}

fn raw<R: Serialize>(result: &R) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(result)
        .map_err(|e| RpcError::failed("serializing the result", e))
}

#[allow(clippy::too_many_arguments)]
pub fn def(
    name: &'static str,
    summary: &'static str,
    role: Role,
    scope: Scope,
    params: Value,
    result: Value,
    handler: Option<Handler>,
) -> MethodDef {
    MethodDef {
        name,
        summary,
        role,
        scope,
        params: Arc::new(params),
        result: Arc::new(result),
        handler,
    }
}

/// Every method, in the order `rpc.discover` lists them.
pub fn all() -> Vec<MethodDef> {
    let mut v = Vec::new();
    v.extend(super::tenancy::methods());
    v.extend(super::entities::methods());
    v.extend(super::identities::methods());
    v.extend(super::documents::methods());
    v.extend(super::operations::methods());
    v.extend(super::backup::methods());
    v
}

/// Registers every method of the table on the module.
pub fn register(
    module: &mut RpcModule<Rpc>,
    defs: &[MethodDef],
) -> Result<(), RegisterMethodError> {
    for d in defs {
        // Shared, not cloned per call: a definition holds its JSON schemas.
        let d = Arc::new(d.clone());
        let Some(h) = d.handler.clone() else {
            continue;
        };
        let registered = module.register_async_method(d.name, move |params, rpc, ext| {
            let d = d.clone();
            let h = h.clone();
            async move {
                let (caller, value) = admit(&d, params.as_str(), &ext)?;
                h(rpc, caller, value).await.map_err(ErrorObjectOwned::from)
            }
        });
        registered?;
    }
    Ok(())
}

/// Access and validation, before anything runs: the caller's role, the params'
/// shape, then the tenant the params name.
pub fn admit(
    d: &MethodDef,
    raw: Option<&str>,
    ext: &Extensions,
) -> Result<(Caller, Value), RpcError> {
    let caller = ext
        .get::<Arc<Conn>>()
        .map(|conn| conn.caller())
        .ok_or_else(|| RpcError::Internal("connection without peer credentials".into()))?;
    if caller.role < d.role {
        return Err(forbid(
            &caller,
            d.name,
            None,
            format!(
                "{} needs role {}; uid {} has {}",
                d.name,
                d.role.as_str(),
                caller.peer.uid,
                caller.role.as_str()
            ),
        ));
    }
    let value: Value = match raw {
        None => Value::Object(Default::default()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| RpcError::invalid("params", e.to_string()))?
        }
    };
    if !value.is_object() {
        return Err(RpcError::invalid(
            "params",
            "must be an object: this API takes parameters by name",
        ));
    }
    let errors = schema::validate(&d.params, &value);
    if !errors.is_empty() {
        return Err(RpcError::InvalidParams(errors));
    }
    check_tenant(&caller, d.name, d.scope, &value)?;
    Ok((caller, value))
}

fn check_tenant(
    caller: &Caller,
    method: &str,
    scope: Scope,
    value: &Value,
) -> Result<(), RpcError> {
    let tenant = |key: &str| value.get(key).and_then(Value::as_i64);
    match scope {
        Scope::Open | Scope::ByRow => Ok(()),
        Scope::Tenant(key) | Scope::OptionalTenant(key) | Scope::OwnTenants(key)
            if tenant(key).is_some() =>
        {
            require_tenant_of_row(caller, method, tenant(key).unwrap_or_default())
        }
        Scope::Tenant(key) => Err(RpcError::invalid(key, "is required")),
        Scope::OwnTenants(_) => Ok(()),
        Scope::OptionalTenant(_) | Scope::Global => {
            if caller.all_tenants() {
                Ok(())
            } else {
                Err(forbid(
                    caller,
                    method,
                    None,
                    format!(
                        "{method} without a tenant_id covers every tenant; uid {} holds only some",
                        caller.peer.uid
                    ),
                ))
            }
        }
    }
}

/// Logs a refusal (who, what) and builds the error.
pub fn forbid(caller: &Caller, method: &str, tenant: Option<i64>, why: String) -> RpcError {
    tracing::warn!(
        uid = caller.peer.uid,
        gid = caller.peer.gid,
        pid = caller.peer.pid,
        method,
        tenant,
        reason = %why,
        "forbidden RPC call"
    );
    RpcError::Forbidden(why)
}

/// The tenant must be one the caller may act on: the params' (checked before the
/// handler) or, for handlers of [`Scope::ByRow`] methods, the row's.
pub fn require_tenant_of_row(
    caller: &Caller,
    method: &str,
    tenant_id: i64,
) -> Result<(), RpcError> {
    if caller.may_see_tenant(tenant_id) {
        Ok(())
    } else {
        Err(forbid(
            caller,
            method,
            Some(tenant_id),
            format!("uid {} may not act on tenant {tenant_id}", caller.peer.uid),
        ))
    }
}
