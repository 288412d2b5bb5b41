//! Stand-alone entry to the container init stage (the `pantavisor` binary
//! embeds the same subcommand); used by tests and for debugging.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("__container-init"), Some(spec)) => {
            pv_container::setup::container_init(spec.as_ref(), args.get(3).map(String::as_str))
        }
        _ => {
            eprintln!("usage: pv-container-init __container-init SPEC.json [READY-FD]");
            2
        }
    };
    std::process::exit(code);
}
