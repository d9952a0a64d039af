//! Tenants, brands, NumHub credentials and tokens: `tenant.*`, `brand.*`,
//! `credentials.set`, `token.status`.

use crate::api::rows::Page;
use crate::api::schema::wire;
use crate::api::schema::{
    boolean, cursor, e164, id, limit, list_of, shown_text, string, text, time,
};
use crate::api::{methods, Method, Schema, Secret};

methods! {
    /// Creates or updates a tenant (BrandCall's id).
    "tenant.upsert" => TenantUpsert(TenantFields) -> Tenant;
    "tenant.get" => TenantGet(ById) -> Tenant;
    /// The tenants the caller may see.
    "tenant.list" => TenantList(PageQuery) -> Page<Tenant>;
    /// Creates a brand (no id) or updates one.
    "brand.upsert" => BrandUpsert(BrandFields) -> Brand;
    "brand.get" => BrandGet(BrandRef) -> BrandDetail;
    "brand.list" => BrandList(TenantPage) -> Page<Brand>;
    /// Replaces a brand's phone numbers.
    "brand.phone_numbers.set" => BrandNumbersSet(BrandNumbers) -> Page<PhoneNumber>;
    /// Stores the tenant's NumHub login (write-only).
    "credentials.set" => CredentialsSet(Credentials) -> CredentialsStored;
    "token.status" => TokenStatusGet(MaybeTenant) -> TokenStatus;
}

wire! { params
    /// `tenant.upsert`, as `db` writes it. The NumHub fields are an admin's to set.
    #[derive(Default)]
    pub struct TenantFields {
        pub id: i64 = id(),
        pub name: String = string(255),
        pub email: Option<String> = text(255),
        pub slug: Option<String> = text(255),
        pub numhub_client_id: Option<String> = string(100),
        pub numhub_osp_id: Option<String> = text(100),
        pub numhub_enabled: Option<bool> = boolean(),
    }
}

wire! { params
    /// A row by its integer id (a tenant, a job).
    pub struct ById {
        pub id: i64 = id(),
    }
}

wire! { params
    /// A page of a list of everything the caller may see.
    #[derive(Default)]
    pub struct PageQuery {
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
    }
}

wire! { params
    /// A page of one tenant's rows.
    pub struct TenantPage {
        pub tenant_id: i64 = id(),
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
    }
}

wire! { params
    /// A tenant's brand: a new one without `id` (as `db` writes it).
    #[derive(Default)]
    pub struct BrandFields {
        pub tenant_id: i64 = id(),
        pub name: String = string(255),
        pub id: Option<i64> = id(),
        pub display_name: Option<String> = shown_text(0, 32),
    }
}

wire! { params
    /// One brand of a tenant.
    pub struct BrandRef {
        pub tenant_id: i64 = id(),
        pub id: i64 = id(),
    }
}

wire! { params
    /// `brand.phone_numbers.set`: the brand's numbers (E.164), all of them.
    pub struct BrandNumbers {
        pub tenant_id: i64 = id(),
        pub brand_id: i64 = id(),
        pub phone_numbers: Vec<String> = list_of(e164(), 10_000),
    }
}

wire! { params
    /// `credentials.set`: the tenant's NumHub login.
    pub struct Credentials {
        pub tenant_id: i64 = id(),
        pub email: String = string(255),
        pub password: Secret = string(1024),
    }
}

wire! { params
    /// A tenant, or (left out) the global account / every tenant.
    #[derive(Default)]
    pub struct MaybeTenant {
        pub tenant_id: Option<i64> = id(),
    }
}

wire! { result
    /// A tenant (BrandCall's id) and the NumHub client its work is sent under.
    #[derive(PartialEq)]
    pub struct Tenant {
        pub id: i64,
        pub name: String,
        pub email: Option<String>,
        pub slug: Option<String>,
        pub numhub_client_id: Option<String>,
        pub numhub_osp_id: Option<String>,
        pub numhub_enabled: bool,
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}

wire! { result
    /// A tenant's brand.
    #[derive(PartialEq)]
    pub struct Brand {
        pub id: i64,
        pub tenant_id: i64,
        pub name: String,
        pub display_name: Option<String>,
        /// NumHub's id of the application this brand maps to.
        pub numhub_entity_id: Option<String>,
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}

wire! { result
    /// One of a brand's phone numbers.
    #[derive(PartialEq)]
    pub struct PhoneNumber {
        pub id: i64,
        pub brand_id: i64,
        pub phone_number: String,
        /// The local identity NumHub lists this number under.
        pub identity_id: Option<String>,
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}

/// `brand.get`: the brand's fields and its phone numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrandDetail {
    #[serde(flatten)]
    pub brand: Brand,
    pub phone_numbers: Vec<PhoneNumber>,
}

impl Schema for BrandDetail {
    fn schema() -> serde_json::Value {
        crate::api::schema::extend(
            Brand::schema(),
            &[("phone_numbers", Vec::<PhoneNumber>::schema())],
        )
    }
}

wire! { result
    /// `credentials.set`: stored (never returned).
    pub struct CredentialsStored {
        pub tenant_id: i64,
        pub stored: bool,
    }
}

wire! { result
    /// `token.status`: whether a token is held and until when; never the token.
    pub struct TokenStatus {
        /// Null: the global account's.
        pub tenant_id: Option<i64>,
        pub present: bool,
        pub expires_at: Option<String> = time(),
        pub seconds_left: Option<i64>,
        /// Whether the tenant has a login of its own (null for the global account).
        pub credentials_set: Option<bool>,
    }
}
