//! What a user namespace hides from numhubd: the kernel's overflow uid and gid (the
//! ids it reports for every user or group the namespace does not map, 65534 by
//! default) and whether numhubd itself runs in such a namespace (systemd's
//! `PrivateUsers=`, `unshare --user`). A peer seen as the overflow id could be any
//! local user, so no access rule may name it and no such peer is ever granted.

use std::sync::OnceLock;

/// The kernel's overflow ids (`/proc/sys/kernel/overflowuid`, `overflowgid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub uid: u32,
    pub gid: u32,
}

/// The kernel's default when `/proc` cannot tell (both sysctls default to it).
const DEFAULT_OVERFLOW: u32 = 65534;

/// Read once: the sysctls only change by an administrator's hand, and a peer check
/// must not cost a file read per connection.
pub fn overflow() -> Overflow {
    static IDS: OnceLock<Overflow> = OnceLock::new();
    *IDS.get_or_init(|| Overflow {
        uid: read_id("/proc/sys/kernel/overflowuid"),
        gid: read_id("/proc/sys/kernel/overflowgid"),
    })
}

fn read_id(path: &str) -> u32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_OVERFLOW)
}

impl Overflow {
    /// Whether a peer with these ids is shown as the overflow uid or gid.
    pub fn hides(&self, uid: u32, gid: u32) -> bool {
        uid == self.uid || gid == self.gid
    }
}

/// Whether numhubd runs in a user namespace other than the initial one: the initial
/// namespace maps every uid onto itself (`0 0 4294967295` in `/proc/self/uid_map`).
pub fn in_user_namespace() -> bool {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return false;
    };
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields != ["0", "0", "4294967295"]
}

/// Why a peer seen with the overflow id is refused, for the log line.
pub fn refusal_cause() -> &'static str {
    if in_user_namespace() {
        "numhubd runs in a user namespace (e.g. systemd's PrivateUsers=) that hides the real ids of peers it does not map; every such peer looks the same, so none is granted: run numhubd without PrivateUsers="
    } else {
        "the overflow id is what a user namespace reports for any unmapped user (and 'nobody' is shared by many services), so it is never granted: run the client as its own user"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overflow_ids_are_read_from_the_kernel() {
        let ids = overflow();
        let want = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_OVERFLOW);
        assert_eq!(ids.uid, want);
        assert!(ids.hides(ids.uid, 0) && ids.hides(0, ids.gid) && !ids.hides(0, 0));
    }
}
