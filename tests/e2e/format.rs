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
