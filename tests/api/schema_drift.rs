//! The committed `schema.graphql` is exactly what the code serves.

const REGENERATE: &str = "run `cargo run -- export-schema > schema.graphql` and commit the result";

#[test]
fn committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
    let generated = touchpoint::graphql::schema_sdl();

    // A trailing newline from the shell redirect is not drift.
    let (committed, generated) = (committed.trim_end(), generated.trim_end());
    if committed == generated {
        return;
    }
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (c, g))| c != g)
        .map(|(i, (c, g))| format!("line {}:\n  committed: {c}\n  generated: {g}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "one is a prefix of the other ({} committed lines, {} generated)",
                committed.lines().count(),
                generated.lines().count()
            )
        });
    panic!("schema.graphql is out of date; {REGENERATE}.\nFirst difference at {first_difference}");
}
