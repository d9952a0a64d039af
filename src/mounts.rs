//! What numhubd's mount namespace hides from the people who call it: whether a
//! folder is on a mount systemd made private to the service (`PrivateTmp=yes` gives
//! it a `/tmp` and `/var/tmp` of its own, invisible to everyone else and deleted when
//! the service stops), read from `/proc/self/mountinfo`.
//!
//! systemd makes such a mount by bind-mounting a folder named
//! `systemd-private-<boot id>-<unit>-<random>/tmp` onto `/tmp` (or `/var/tmp`), so the
//! mount's *root* (the folder of its file system it shows, mountinfo's fourth field)
//! is that folder, not `/` or the mount point. A `PrivateTmp=disconnected` of newer
//! systemd is a fresh tmpfs and cannot be told apart this way: numhubctl checks
//! that it sees the copy too. A caller in numhubd's own mount namespace (both
//! started inside the same service, say) sees what numhubd sees, so
//! [`shares_mounts_with`] tells when no refusal is needed.

use std::path::{Component, Path, PathBuf};

/// A mount of the service's own that holds a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMount {
    /// Where it is mounted (as numhubd sees it), e.g. `/tmp`.
    pub mount_point: PathBuf,
    /// The folder systemd mounted there, e.g. `/tmp/systemd-private-…-numhubd.service-…/tmp`.
    pub root: String,
}

/// The private mount holding `folder` (an absolute path with no symlinks), or None:
/// not on one, or mountinfo cannot be read (then nothing can be told).
pub fn private_mount_of(folder: &Path) -> Option<PrivateMount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    private_mount_in(&text, folder)
}

/// Whether process `pid` sees the mounts numhubd sees (the same mount namespace);
/// None when that cannot be told: the process is gone, or its namespace is not
/// numhubd's to look at (another user's process, when numhubd is not root).
pub fn shares_mounts_with(pid: i32) -> Option<bool> {
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    Some(theirs == ours)
}

/// [`private_mount_of`] over mountinfo's text. The mount holding `folder` is the
/// last one listed whose mount point contains it: mounts are listed in the order
/// they were made, and a later one on top of a path hides what was there.
pub fn private_mount_in(mountinfo: &str, folder: &Path) -> Option<PrivateMount> {
    let (root, mount_point) = mountinfo
        .lines()
        .rev()
        .filter_map(root_and_mount_point)
        .find(|(_, mount_point)| folder.starts_with(mount_point))?;
    let private = Path::new(&root).components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with("systemd-private-"),
        _ => false,
    });
    private.then_some(PrivateMount { mount_point, root })
}

/// A line's root (fourth field) and mount point (fifth), unescaped.
fn root_and_mount_point(line: &str) -> Option<(String, PathBuf)> {
    let mut fields = line.split(' ');
    let root = fields.nth(3)?;
    let mount_point = fields.next()?;
    Some((unescape(root), PathBuf::from(unescape(mount_point))))
}

/// The kernel writes a space, tab, newline and backslash in a path as `\040`,
/// `\011`, `\012` and `\134`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, b| n.wrapping_mul(8).wrapping_add(b - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian 12 service with `PrivateTmp=yes` and `ProtectSystem=strict`: `/tmp`
    /// on the root file system, `/var/tmp` likewise, a tmpfs `/run`.
    const SERVICE: &str = "\
312 290 254:1 / / ro,relatime master:1 - ext4 /dev/vda1 rw
313 312 0:25 / /run rw,nosuid,nodev master:5 - tmpfs tmpfs rw,mode=755
314 312 254:1 /tmp/systemd-private-0f3c2a-numhubd.service-AbCdEf/tmp /tmp rw,relatime master:1 - ext4 /dev/vda1 rw
315 312 254:1 /var/tmp/systemd-private-0f3c2a-numhubd.service-XyZ123/tmp /var/tmp rw,relatime master:1 - ext4 /dev/vda1 rw
316 312 254:1 /var/lib/numhubd /var/lib/numhubd rw,relatime master:1 - ext4 /dev/vda1 rw
317 314 0:40 / /tmp/inner\\040dir rw - tmpfs tmpfs rw
";

    #[test]
    fn a_folder_on_the_services_private_tmp_is_named_with_its_mount() {
        let m = private_mount_in(SERVICE, Path::new("/tmp")).expect("private");
        assert_eq!(m.mount_point, Path::new("/tmp"));
        assert!(m.root.contains("systemd-private-0f3c2a-numhubd.service"));
        let m = private_mount_in(SERVICE, Path::new("/var/tmp/backups")).expect("private");
        assert_eq!(m.mount_point, Path::new("/var/tmp"));
    }

    #[test]
    fn folders_everyone_sees_are_not_private() {
        for folder in [
            "/var/lib/numhubd/backups",
            "/",
            "/srv/backups",
            "/run/numhubd",
        ] {
            assert_eq!(
                private_mount_in(SERVICE, Path::new(folder)),
                None,
                "{folder}"
            );
        }
        // A mount point that merely begins like /tmp is another folder.
        assert_eq!(private_mount_in(SERVICE, Path::new("/tmpfoo")), None);
        // A mount stacked inside the private /tmp (a space escaped) holds its own folder.
        assert_eq!(
            private_mount_in(SERVICE, Path::new("/tmp/inner dir/x")),
            None
        );
    }

    /// On a host whose `/tmp` is a tmpfs the root is relative to that tmpfs.
    #[test]
    fn a_private_tmp_on_a_tmpfs_host_is_found_too() {
        let text = "\
20 1 0:30 / / rw - ext4 /dev/sda1 rw
40 20 0:33 /systemd-private-9a-numhubd.service-Qr/tmp /tmp rw,nosuid,nodev - tmpfs tmpfs rw
";
        assert!(private_mount_in(text, Path::new("/tmp/x")).is_some());
        // The host's own tmpfs /tmp is not private.
        let host = "20 1 0:30 / / rw - ext4 /dev/sda1 rw\n40 20 0:33 / /tmp rw - tmpfs tmpfs rw\n";
        assert_eq!(private_mount_in(host, Path::new("/tmp/x")), None);
    }

    #[test]
    fn a_later_mount_on_top_hides_the_earlier_one() {
        let text = "\
20 1 0:30 / / rw - ext4 /dev/sda1 rw
40 20 0:33 /systemd-private-9a-numhubd.service-Qr/tmp /tmp rw - tmpfs tmpfs rw
41 20 0:34 / /tmp rw - tmpfs tmpfs rw
";
        assert_eq!(private_mount_in(text, Path::new("/tmp/x")), None);
        assert_eq!(unescape("a\\040b\\134c\\011"), "a b\\c\t");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }
}
