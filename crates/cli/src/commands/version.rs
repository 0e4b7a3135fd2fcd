//! `planform version`: the version, the commit and target it was built from, and the UI format
//! version of `--format json`.

use anyhow::Result;

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::render::document;

pub fn run(inv: &Invocation) -> Result<u8> {
    let v = document::version();
    if inv.format == Format::Json {
        out!("{}", document::to_json(&v));
    } else {
        outln!(
            "planform {} ({} {})",
            v.planform_version,
            v.commit,
            v.target
        );
        outln!("UI format {}", v.ui_version);
    }
    Ok(exit::OK)
}
