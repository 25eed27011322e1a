//! docs/operations.md lists every setting with its flag and environment variable.

use stream_server::config::settings;

#[test]
fn operations_doc_lists_every_setting() {
    let doc = include_str!("../../../docs/operations.md");
    for setting in settings() {
        let row = format!("| `{}` | `--{}` | `{}` |", setting.name, setting.flag, setting.env);
        assert!(doc.contains(&row), "docs/operations.md lacks the row for {}: {row}", setting.name);
    }
}
