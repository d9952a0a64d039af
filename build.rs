// refinery's embed_migrations! does not see new files on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/mysql");
}
