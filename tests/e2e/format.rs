//! `planform fmt`: keeps comments, is idempotent, and `--check` exits 3 naming the files.

use crate::Workspace;

const MESSY: &str = "# the network\nplan \"net\" {\n    name = \"net\"   # inline\n  product_id=\"prod-sbxvpc0000001\"\n  product_version_id       = \"pv-sbxvpc0000001\"\n      provisioned_product_name = \"net\"\n\n\n  parameters = {\n  cidr_block = \"10.0.0.0/16\"\n  }\n}\n";

#[test]
fn fmt_check_reports_then_fmt_fixes_idempotently() {
    let w = Workspace::new();
    w.write("main.hcl", MESSY);
    let check = w.run(&["fmt", "--check"]).expect(3);
    assert!(check.stdout.contains("main.hcl"), "{}", check.stdout);
    assert_eq!(w.read("main.hcl"), MESSY, "--check changes nothing");
    w.run(&["fmt"]).expect(0);
    let formatted = w.read("main.hcl");
    assert!(
        formatted.contains("# the network") && formatted.contains("# inline"),
        "comments kept"
    );
    insta::assert_snapshot!(formatted);
    let again = w.run(&["fmt", "--check"]).expect(0);
    assert_eq!(again.stdout, "");
    w.run(&["fmt"]).expect(0);
    assert_eq!(w.read("main.hcl"), formatted, "idempotent");
    w.run(&["validate"]).expect(0);
}

#[test]
fn fmt_refuses_a_file_it_cannot_parse_and_leaves_it_alone() {
    let w = Workspace::new();
    w.write("main.hcl", "plan \"a\" {\n");
    let run = w.run(&["fmt"]).expect(1);
    assert!(run.stderr.contains("main.hcl"), "{}", run.stderr);
    assert_eq!(w.read("main.hcl"), "plan \"a\" {\n");
}

#[test]
fn examples_are_formatted() {
    for name in ["quickstart", "alibaba", "aws"] {
        let w = Workspace::example(name);
        let run = w.run(&["fmt", "--check"]);
        assert_eq!(
            run.code, 0,
            "examples/{name} is not formatted: {}",
            run.stdout
        );
    }
}

/// Issue 16 (4): `fmt` replaces a manifest atomically and keeps its mode; a file planted at the
/// temporary name it used to use is neither followed nor overwritten.
#[test]
fn issue_16_fmt_keeps_the_mode_and_ignores_planted_temp_files() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workspace::new();
    w.write("main.hcl", MESSY);
    std::fs::set_permissions(
        w.path().join("main.hcl"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    w.write("victim", "keep");
    std::os::unix::fs::symlink(w.path().join("victim"), w.path().join("main.fmt-tmp")).unwrap();
    w.run(&["fmt"]).expect(0);
    assert_ne!(w.read("main.hcl"), MESSY);
    let mode = std::fs::metadata(w.path().join("main.hcl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(w.read("victim"), "keep");
}
