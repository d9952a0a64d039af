//! The drop folder's layout: how a tenant's and an entity's folders are named, which
//! type folders exist, and where taken or refused files go. Pure naming, no I/O, so
//! the watcher, `entity.drop_path` and the LOA template agree on every path.
//!
//! ```text
//! DROP/<tenant>/<entity>/{loa,logo,business_license,tax_id,other}/<file>
//! DROP/<local entity id or NumHub entity id>/<type>/<file>
//! DROP/<tenant>/<entity>/LOA-template.pdf      (fetched; never uploaded)
//! DROP/.processed/<tenant>/<entity>/<type>/<file>
//! DROP/.failed/<same path as dropped>  +  <file>.error.txt
//! ```

use std::path::{Path, PathBuf};

use crate::api::{Entity, Tenant};
use crate::db::DocumentType;

/// Files NumHub has (kept `[drop] keep_processed_days`).
pub const PROCESSED: &str = ".processed";
/// Files refused or whose upload died, each with `<file>.error.txt`; never emptied.
pub const FAILED: &str = ".failed";
/// The LOA template's name in the entity folder (outside the type folders, so it is
/// never uploaded back by mistake).
pub const TEMPLATE: &str = "LOA-template.pdf";
/// Beside a file in `.processed/` whose content had been sent before.
pub const DUPLICATE_SUFFIX: &str = ".duplicate.txt";
/// Suffix of the reason file written beside a refused file.
pub const ERROR_SUFFIX: &str = ".error.txt";

/// The type folders, in the order they are listed and created.
pub const TYPE_DIRS: [(&str, DocumentType); 5] = [
    ("loa", DocumentType::Loa),
    ("logo", DocumentType::Logo),
    ("business_license", DocumentType::BusinessLicense),
    ("tax_id", DocumentType::TaxId),
    ("other", DocumentType::Other),
];

/// The document type a type folder stands for (case-insensitive: `LOA/` is `loa/`).
pub fn type_of_dir(name: &str) -> Option<DocumentType> {
    TYPE_DIRS
        .iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(name))
        .map(|(_, t)| *t)
}

/// The type folder's name for a document type.
pub fn dir_of_type(t: DocumentType) -> &'static str {
    TYPE_DIRS
        .iter()
        .find(|(_, dt)| *dt == t)
        .map(|(d, _)| *d)
        .unwrap_or("other")
}

/// A tenant's folder: its slug made filesystem-safe, or `tenant-<id>` without one.
pub fn tenant_dir_name(tenant_id: i64, slug: Option<&str>) -> String {
    match slug.map(slugify).filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => format!("tenant-{tenant_id}"),
    }
}

/// The short id that ends an entity's folder name: the last 8 hex digits of its
/// local id (the random end of a v7 uuid, so entities created in the same
/// millisecond still differ).
pub fn short_id(entity_id: &str) -> String {
    let hex: String = entity_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex[hex.len().saturating_sub(8)..].to_ascii_lowercase()
}

/// An entity's folder: its company name made filesystem-safe plus its short id
/// (`acme-dental-llc-01a2335f`). Only the short id identifies it: a folder keeps
/// working when the company is renamed.
pub fn entity_dir_name(entity_id: &str, company_name: &str) -> String {
    let mut name = slugify(company_name);
    name.truncate(48);
    let name = name.trim_end_matches('-');
    let id = short_id(entity_id);
    if name.is_empty() {
        id
    } else {
        format!("{name}-{id}")
    }
}

/// The short id an entity folder's name ends with, if it ends with one.
pub fn short_id_of_dir(name: &str) -> Option<&str> {
    let tail = name.rsplit('-').next()?;
    (tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_hexdigit())).then_some(tail)
}

/// `DROP/<tenant>/<entity>`.
pub fn entity_dir(root: &Path, tenant: &Tenant, entity: &Entity) -> PathBuf {
    root.join(tenant_dir_name(tenant.id, tenant.slug.as_deref()))
        .join(entity_dir_name(&entity.id, &entity.company_name))
}

/// Lower-case ASCII letters and digits, every other run of characters one `-`.
fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_readable_and_safe() {
        let id = "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f";
        assert_eq!(short_id(id), "01a2335f");
        assert_eq!(
            entity_dir_name(id, "Acme Dental, LLC"),
            "acme-dental-llc-01a2335f"
        );
        assert_eq!(entity_dir_name(id, "../../etc"), "etc-01a2335f");
        assert_eq!(entity_dir_name(id, "Ünïcode ☎"), "n-code-01a2335f");
        assert_eq!(entity_dir_name(id, "☎"), "01a2335f");
        assert_eq!(
            short_id_of_dir("acme-dental-llc-01a2335f"),
            Some("01a2335f")
        );
        assert_eq!(short_id_of_dir("acme"), None);
        assert_eq!(tenant_dir_name(7, Some("Acme")), "acme");
        assert_eq!(tenant_dir_name(7, Some("/")), "tenant-7");
        assert_eq!(tenant_dir_name(7, None), "tenant-7");
        assert_eq!(type_of_dir("LOA"), Some(DocumentType::Loa));
        assert_eq!(type_of_dir("Tax_Id"), Some(DocumentType::TaxId));
        assert_eq!(type_of_dir("misc"), None);
        assert_eq!(
            dir_of_type(DocumentType::BusinessLicense),
            "business_license"
        );
    }
}
