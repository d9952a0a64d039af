//! The folders numhubd makes in the drop folder: each entity's folder with its type
//! folders, `.processed/` and `.failed/` — mode 2770 with the operators' group
//! (`[drop] group`), so operators can write and nobody else can reach a file in them;
//! 0770 with numhubd's own group when none is set. The unit allows the setgid bit
//! (no `RestrictSUIDSGID=`) for this. Also the repair of folders an earlier start left
//! with another mode, and the purge of old `.processed/` files.
//! Blocking: call from a blocking task.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::layout;
use crate::db::entities::DropTarget;

/// Creates `dir` and any missing parent, each new one with numhubd's folder mode and
/// group. A folder that exists is left alone here ([`repair`] fixes numhubd's own).
pub fn ensure_dir_all(dir: &Path, group: Option<u32>) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir_all(parent, group)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => set_mode(dir, group),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("cannot make the folder {}: {e}", dir.display()),
        )),
    }
}

/// The mode of every folder numhubd makes: setgid with the operators' group, so what
/// an operator writes into it belongs to that group whatever their umask (numhubd,
/// a member, can then read a 0640 file); no access for others, so a dropped file is
/// out of their reach whatever its own mode.
fn folder_mode(group: Option<u32>) -> u32 {
    match group {
        Some(_) => 0o2770,
        None => 0o770,
    }
}

fn set_mode(dir: &Path, group: Option<u32>) -> std::io::Result<()> {
    if let Some(gid) = group {
        std::os::unix::fs::lchown(dir, None, Some(gid)).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "giving {} to [drop] group {gid} (is numhubd a member?): {e}",
                    dir.display()
                ),
            )
        })?;
    }
    // Explicitly, not through create_dir's mode: the umask would take bits.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(folder_mode(group))).map_err(
        |e| {
            std::io::Error::new(
                e.kind(),
                format!("setting the mode of {}: {e}", dir.display()),
            )
        },
    )
}

/// Gives numhubd's mode and group back to every folder numhubd owns below `root` (the
/// entity and type folders, `.processed/` and `.failed/` trees), as an earlier version
/// or a unit that refused the setgid bit may have left them. Folders of other owners
/// (an operator's) are left alone. Returns how many were changed.
pub fn repair(root: &Path, group: Option<u32>) -> std::io::Result<usize> {
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    let want = folder_mode(group);
    let mut stack = vec![(root.to_path_buf(), 0)];
    let mut changed = 0;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if !m.is_dir() || m.uid() != me {
                continue;
            }
            let wrong_group = group.is_some_and(|g| m.gid() != g);
            if m.permissions().mode() & 0o7777 != want || wrong_group {
                set_mode(&e.path(), group)?;
                changed += 1;
            }
            if depth < 8 {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    Ok(changed)
}

/// The entity's folder: an existing one in the tenant folder whose name ends with its
/// short id (kept when the company is renamed), else the name from its company.
pub fn entity_dir(root: &Path, t: &DropTarget) -> PathBuf {
    let tenant = root.join(layout::tenant_dir_name(
        t.tenant_id,
        t.tenant_slug.as_deref(),
    ));
    let named = tenant.join(layout::entity_dir_name(&t.entity_id, &t.company_name));
    // The usual case without listing the tenant's folder (thousands of entities).
    if named.is_dir() {
        return named;
    }
    let short = layout::short_id(&t.entity_id);
    if let Ok(entries) = std::fs::read_dir(&tenant) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if layout::short_id_of_dir(&name) == Some(short.as_str())
                && e.file_type().is_ok_and(|f| f.is_dir())
            {
                return e.path();
            }
        }
    }
    named
}

/// `DROP/<tenant>/<entity>/{loa,logo,business_license,tax_id,other}/`.
pub fn ensure_entity(root: &Path, t: &DropTarget, group: Option<u32>) -> std::io::Result<()> {
    let dir = entity_dir(root, t);
    for (name, _) in layout::TYPE_DIRS {
        ensure_dir_all(&dir.join(name), group)?;
    }
    Ok(())
}

/// `.processed/` and `.failed/`.
pub fn ensure_outboxes(root: &Path, group: Option<u32>) -> std::io::Result<()> {
    ensure_dir_all(&root.join(layout::PROCESSED), group)?;
    ensure_dir_all(&root.join(layout::FAILED), group)
}

/// Deletes files under `.processed/` moved there (their ctime: a rename sets it) more
/// than `keep` ago. Returns how many. `.failed/` is never emptied.
pub fn purge_processed(root: &Path, keep: Duration) -> std::io::Result<usize> {
    let Some(before) = SystemTime::now().checked_sub(keep) else {
        return Ok(0);
    };
    let before = before
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mut stack = vec![root.join(layout::PROCESSED)];
    let mut removed = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()) < before {
                std::fs::remove_file(e.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_get_numhubds_mode_and_old_processed_files_go() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let t = DropTarget {
            tenant_id: 3,
            tenant_slug: Some("Acme".into()),
            entity_id: "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f".into(),
            numhub_entity_id: None,
            company_name: "Acme Dental".into(),
        };
        ensure_entity(dir.path(), &t, None).expect("folders");
        let loa = dir.path().join("acme/acme-dental-01a2335f/loa");
        let mode = std::fs::metadata(&loa).expect("loa").permissions().mode();
        assert_eq!(mode & 0o7777, 0o770);
        // Renamed company: the folder with its short id is kept.
        let renamed = DropTarget {
            company_name: "Other Name".into(),
            ..t
        };
        assert_eq!(
            entity_dir(dir.path(), &renamed),
            dir.path().join("acme/acme-dental-01a2335f")
        );
        ensure_outboxes(dir.path(), None).expect("outboxes");
        let old = dir.path().join(layout::PROCESSED).join("x.pdf");
        std::fs::write(&old, b"x").expect("write");
        assert_eq!(
            purge_processed(dir.path(), Duration::from_secs(3600)).expect("purge"),
            0
        );
        assert_eq!(
            purge_processed(dir.path(), Duration::ZERO).expect("purge"),
            1
        );
        assert!(!old.exists());
    }
}
