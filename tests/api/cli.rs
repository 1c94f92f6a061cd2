//! The command line: `touchpoint migrate` migrates the database it is given, wherever on the
//! line `--database-url` stands, and only that one.
use std::path::Path;

async fn migrate(dir: &Path, args: &[&str]) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_touchpoint"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .await
        .expect("run touchpoint");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn migrate_uses_the_database_url_before_or_after_the_command() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());

    migrate(
        dir.path(),
        &["--database-url", &url("before.db"), "migrate"],
    )
    .await;
    migrate(dir.path(), &["migrate", "--database-url", &url("after.db")]).await;

    for name in ["before.db", "after.db"] {
        assert!(dir.path().join(name).exists(), "{name} was not created");
    }
    assert!(
        !dir.path().join("touchpoint.db").exists(),
        "the default database was migrated instead of the one given"
    );
}
