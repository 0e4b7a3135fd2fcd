fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    match planform_manifest::load(std::path::Path::new(&dir), &[], &env) {
        Ok(l) => println!("{:#?}", l.desired.plans.values().map(|p| (&p.address, &p.inputs.parameters, &p.depends_on)).collect::<Vec<_>>()),
        Err(d) => print!("{d}"),
    }
}
