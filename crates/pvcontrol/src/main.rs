//! `pvcontrol`: the command line client of Pantavisor's control socket
//! (`pv-ctrl`). It takes the original tool's options and commands, prints
//! answers as it does (the body on stdout for 200, on stderr otherwise,
//! ending with one newline; `-j` prints them verbatim) and exits with its
//! statuses: 0 done, 1 usage error or socket not found, 48 not enough disk
//! space, 60 object has bad checksum, 70 state verification failed, 75
//! busy (503), 255 any other refusal or a failed connection.

mod cli;
mod install;
mod run;
mod usage;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match cli::parse(&args) {
        cli::Parsed::Usage(topic, code) => {
            usage::print(topic);
            code
        }
        cli::Parsed::Run(opts, cmd) => run::run(opts, cmd),
    };
    std::process::exit(code);
}
