#![no_main]
//! libFuzzer target: see planform_fuzz::plan_file.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| planform_fuzz::plan_file(data));
