//! Every example in examples/ is valid Terraform for this provider's schema.

use crate::util::{Workspace, terraforms};

#[test]
fn every_example_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    for kind in ["provider", "data-sources", "resources", "ephemeral-resources", "actions", "list-resources"] {
        let dir = root.join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(
                    std::fs::read_dir(&path)
                        .unwrap()
                        .flatten()
                        .map(|f| f.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "tf" || x == "hcl")),
                );
            } else if path.extension().is_some_and(|x| x == "tf") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 3, "examples not found: {files:?}");
    let tf = &terraforms()[0];
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap();
        let header = "terraform {\n  required_providers {\n    dbaas = { source = \"infra/dbaas\" }\n  }\n}\n";
        // A query file sits beside a configuration that declares the provider.
        let query = file.to_string_lossy().ends_with(".tfquery.hcl");
        let ws = Workspace::new(tf, "example", &if query { header.to_owned() } else { format!("{header}{body}") });
        if query {
            std::fs::write(ws.dir.join("example.tfquery.hcl"), &body).unwrap();
        }
        ws.init();
        let out = ws.run(&["validate", "-no-color", "-query"]);
        assert!(out.status.success(), "{} is not valid:\n{}", file.display(), crate::util::text(&out));
    }
}
