//! Where a dropped file belongs: its path below the drop folder resolved to a tenant,
//! an entity and a document type, or the reason it belongs nowhere. Pure (works on a
//! snapshot of the entities), so every shape of path is decided in one place.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use super::layout;
use crate::db::entities::DropTarget;
use crate::db::DocumentType;

/// A file that sits where a document of an entity goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub tenant_id: i64,
    pub entity_id: String,
    pub document_type: DocumentType,
    /// The canonical folder names, for `.processed/<tenant>/<entity>/<type>/`.
    pub tenant_dir: String,
    pub entity_dir: String,
}

/// What a path below the drop folder is.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// A document to take.
    File(Place),
    /// Not ours to touch: a dot-name, an editor or download temporary, the LOA
    /// template, anything under `.processed/` or `.failed/`.
    Ignored,
    /// In the inbox but nowhere a document can go.
    Refused(Misplaced),
}

/// Why a file's place is wrong; each says what the operator can do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Misplaced {
    #[error("the folder {0:?} is not a tenant known to numhubd, nor an entity's id: put files in DROP/<tenant>/<entity>/<type>/ (numhubd creates these folders for every entity)")]
    UnknownTenant(String),
    #[error("the folder {0:?} is not an entity of this tenant: use the folder numhubd created for the entity (its name ends with the entity's short id)")]
    UnknownEntity(String),
    #[error("the folder {0:?} is not a document type: use one of loa, logo, business_license, tax_id, other")]
    UnknownType(String),
    #[error("the file is not inside a document type folder: move it into one of loa/, logo/, business_license/, tax_id/, other/ of its entity")]
    NotInTypeFolder,
    #[error("the file is nested too deep: put it directly into the type folder (no subfolders)")]
    TooDeep,
}

/// Whether a name is a dot-file or an editor/rsync/browser temporary.
pub fn ignored_name(name: &OsStr) -> bool {
    let s = name.to_string_lossy();
    let lower = s.to_ascii_lowercase();
    s.starts_with('.')
        || s.ends_with('~')
        || (s.starts_with('#') && s.ends_with('#'))
        || [".swp", ".part", ".tmp", ".crdownload"]
            .iter()
            .any(|x| lower.ends_with(x))
}

/// Where `path` (below `root`) belongs, given every entity.
pub fn place(root: &Path, path: &Path, targets: &[DropTarget]) -> Placed {
    let Ok(rel) = path.strip_prefix(root) else {
        return Placed::Ignored;
    };
    let mut names: Vec<&OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            _ => return Placed::Ignored,
        }
    }
    if names.is_empty() || names.iter().any(|n| ignored_name(n)) {
        return Placed::Ignored;
    }
    let text = |n: &OsStr| n.to_string_lossy().into_owned();
    let first = text(names[0]);
    // `DROP/<id>/<type>/<file>`: the local or NumHub id of an entity.
    if let Some(t) = targets.iter().find(|t| {
        t.entity_id.eq_ignore_ascii_case(&first)
            || t.numhub_entity_id
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&first))
    }) {
        return typed(t, &names[1..], false);
    }
    let tenant: Vec<&DropTarget> = targets
        .iter()
        .filter(|t| {
            layout::tenant_dir_name(t.tenant_id, t.tenant_slug.as_deref()) == first
                || format!("tenant-{}", t.tenant_id) == first
        })
        .collect();
    if tenant.is_empty() {
        return Placed::Refused(match names.len() {
            1 => Misplaced::NotInTypeFolder,
            _ => Misplaced::UnknownTenant(first),
        });
    }
    if names.len() < 3 {
        return Placed::Refused(Misplaced::NotInTypeFolder);
    }
    let entity_name = text(names[1]);
    let short = layout::short_id_of_dir(&entity_name);
    let Some(t) = tenant
        .into_iter()
        .find(|t| short.is_some_and(|s| s == layout::short_id(&t.entity_id)))
    else {
        return Placed::Refused(Misplaced::UnknownEntity(entity_name));
    };
    typed(t, &names[2..], true)
}

/// `rest` = `<type>/<file>` below an entity's folder.
fn typed(t: &DropTarget, rest: &[&OsStr], in_entity_folder: bool) -> Placed {
    match rest {
        [file] if in_entity_folder && *file == OsStr::new(layout::TEMPLATE) => Placed::Ignored,
        [] | [_] => Placed::Refused(Misplaced::NotInTypeFolder),
        [dir, _file] => {
            let dir = dir.to_string_lossy();
            match layout::type_of_dir(&dir) {
                Some(document_type) => Placed::File(Place {
                    tenant_id: t.tenant_id,
                    entity_id: t.entity_id.clone(),
                    document_type,
                    tenant_dir: layout::tenant_dir_name(t.tenant_id, t.tenant_slug.as_deref()),
                    entity_dir: layout::entity_dir_name(&t.entity_id, &t.company_name),
                }),
                None => Placed::Refused(Misplaced::UnknownType(dir.into_owned())),
            }
        }
        [dir, ..] if layout::type_of_dir(&dir.to_string_lossy()).is_some() => {
            Placed::Refused(Misplaced::TooDeep)
        }
        [dir, ..] => Placed::Refused(Misplaced::UnknownType(dir.to_string_lossy().into_owned())),
    }
}

/// `path` relative to `root` (for `.failed/<same path>`), or its file name.
pub fn relative(root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(r) => r.to_path_buf(),
        Err(_) => path.file_name().map(PathBuf::from).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<DropTarget> {
        vec![DropTarget {
            tenant_id: 1,
            tenant_slug: None,
            entity_id: "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f".into(),
            numhub_entity_id: Some("nh-1".into()),
            company_name: "Acme".into(),
        }]
    }

    #[test]
    fn paths_resolve_to_a_place_or_a_reason() {
        let root = Path::new("/d");
        let t = targets();
        let p = |s: &str| place(root, &root.join(s), &t);
        assert!(
            matches!(p("tenant-1/acme-01a2335f/LOA/a.pdf"), Placed::File(pl) if pl.document_type == DocumentType::Loa)
        );
        assert!(matches!(p("nh-1/other/a.pdf"), Placed::File(_)));
        assert!(matches!(
            p("019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f/tax_id/a.pdf"),
            Placed::File(_)
        ));
        assert_eq!(
            p("tenant-1/acme-01a2335f/LOA-template.pdf"),
            Placed::Ignored
        );
        assert_eq!(p(".processed/tenant-1/x/loa/a.pdf"), Placed::Ignored);
        assert_eq!(p("tenant-1/acme-01a2335f/loa/.a.pdf.Xy12"), Placed::Ignored);
        assert_eq!(p("tenant-1/acme-01a2335f/loa/a.pdf~"), Placed::Ignored);
        assert_eq!(
            p("tenant-1/acme-01a2335f/loa/a.crdownload"),
            Placed::Ignored
        );
        assert_eq!(p("tenant-1/acme-01a2335f/loa/#a#"), Placed::Ignored);
        assert_eq!(
            p("tenant-1/acme-01a2335f/misc/a.pdf"),
            Placed::Refused(Misplaced::UnknownType("misc".into()))
        );
        assert_eq!(
            p("tenant-1/acme-01a2335f/a.pdf"),
            Placed::Refused(Misplaced::NotInTypeFolder)
        );
        assert_eq!(
            p("tenant-1/acme-01a2335f/loa/x/a.pdf"),
            Placed::Refused(Misplaced::TooDeep)
        );
        assert_eq!(
            p("tenant-1/nobody-deadbeef/loa/a.pdf"),
            Placed::Refused(Misplaced::UnknownEntity("nobody-deadbeef".into()))
        );
        assert_eq!(
            p("tenant-9/x/loa/a.pdf"),
            Placed::Refused(Misplaced::UnknownTenant("tenant-9".into()))
        );
        assert_eq!(p("a.pdf"), Placed::Refused(Misplaced::NotInTypeFolder));
    }
}
