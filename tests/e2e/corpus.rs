//! Every bad manifest in tests/manifests/bad fails `validate` with exit 1 and the expected
//! file:line:col messages; every example is valid.

use crate::{repo, Workspace};

#[test]
fn bad_manifests_fail_with_located_errors() {
    let dir = repo().join("tests/manifests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus holds {} manifests",
        files.len()
    );
    let mut report = String::new();
    for f in files {
        let w = Workspace::new();
        std::fs::copy(&f, w.path().join("main.hcl")).unwrap();
        let run = w.run(&["validate"]);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            run.code, 1,
            "{name} should be rejected:\n{}{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains("main.hcl:"),
            "{name}: no file:line:col in\n{}",
            run.stderr
        );
        report.push_str(&format!("== {name} (exit {})\n{}\n", run.code, run.stderr));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn examples_are_valid() {
    for name in ["quickstart", "alibaba", "aws"] {
        let w = Workspace::example(name);
        let run = w.run(&["validate"]);
        assert_eq!(run.code, 0, "examples/{name}:\n{}", run.stderr);
        assert!(run.stdout.contains("The manifests are valid"));
    }
}

#[test]
fn variables_follow_terraform_precedence() {
    let w = Workspace::new();
    w.write("main.hcl", "variable \"env\" {\n  default = \"default\"\n}\n\noutput \"env\" {\n  value = var.env\n}\n");
    let out = |w: &Workspace, args: &[&str], env: Option<&str>| {
        let mut c = w.command(&[&["output", "env"], args].concat());
        if let Some(v) = env {
            c.env("PLANFORM_VAR_env", v);
        }
        crate::Run::from(c.output().unwrap())
            .expect(0)
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(out(&w, &[], None), "default");
    assert_eq!(out(&w, &[], Some("from-env")), "from-env");
    w.write("planform.pfvars", "env = \"from-pfvars\"\n");
    assert_eq!(out(&w, &[], Some("from-env")), "from-pfvars");
    w.write("z.auto.pfvars", "env = \"from-auto\"\n");
    assert_eq!(out(&w, &[], None), "from-auto");
    w.write("extra.vars", "env = \"from-var-file\"\n");
    let f = w.path().join("extra.vars");
    assert_eq!(
        out(&w, &["--var-file", f.to_str().unwrap()], None),
        "from-var-file"
    );
    assert_eq!(
        out(
            &w,
            &["--var-file", f.to_str().unwrap(), "--var", "env=from-cli"],
            None
        ),
        "from-cli"
    );
    // Command-line order decides between --var and --var-file, as in Terraform.
    assert_eq!(
        out(
            &w,
            &["--var", "env=from-cli", "--var-file", f.to_str().unwrap()],
            None
        ),
        "from-var-file"
    );
    let bad = w.run(&["output", "env", "--var", "nope=1"]).expect(1);
    assert!(
        bad.stderr
            .contains("no variable named \"nope\" is declared"),
        "{}",
        bad.stderr
    );
}

#[test]
fn graph_prints_the_dependencies() {
    let w = Workspace::example("quickstart");
    let run = w.run(&["graph"]).expect(0);
    insta::assert_snapshot!(run.stdout);
}
