//! Stand-alone entry to the container shim stages (the `pantavisor` binary
//! embeds the same two subcommands); used by tests and for debugging.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("__container-shim"), Some(spec)) => pv_container::shim::stage1(spec.as_ref()),
        (Some("__container-init"), Some(spec)) => pv_container::shim::stage2(spec.as_ref()),
        _ => {
            eprintln!("usage: pv-container-shim __container-shim|__container-init SPEC.json");
            2
        }
    };
    std::process::exit(code);
}
