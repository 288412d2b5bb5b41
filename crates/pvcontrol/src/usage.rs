//! Usage texts.

use crate::cli::Topic;

const MAIN: &str = "\
usage: pvcontrol [options] <command> [arguments]
Talk to Pantavisor through its control socket.

options:
  -h            this help
  -v            show the HTTP exchange on stderr
  -s <socket>   control socket (default: $PVCONTROL_SOCKET, else the first of
                /run/pantavisor/pv/pv-ctrl, /pv/pv-ctrl that exists, else
                /pantavisor/pv-ctrl)
  -f <file>     write the output to <file>
  -m <message>  commit message for 'steps put' and 'steps install'
  -j, --json    print answers exactly as received

commands:
  ls            containers of the running revision
  containers    list, start, stop or restart containers
  groups        container groups
  graph         xconnect service graph
  daemons       Pantavisor daemons
  signal        report this container's status
  cmd           commands for the state machine
  devmeta       device metadata
  usrmeta       user metadata
  buildinfo     how this Pantavisor was built
  objects       stored objects
  steps         revisions
  config        configuration by legacy name
  conf          configuration

'pvcontrol <command> --help' describes a command.

exit status: 0 done, 1 usage error or no socket, 48 not enough disk space,
60 object has bad checksum, 70 state verification failed, 75 busy (retry
later), 255 any other refusal.
";

fn text(topic: Topic) -> &'static str {
    match topic {
        Topic::Main => MAIN,
        Topic::Ls => "usage: pvcontrol ls\n  list the containers of the running revision\n",
        Topic::Containers => {
            "\
usage: pvcontrol containers <ls|start|stop|restart> [name]
  ls              containers and their status
  start <name>    start a container stopped through the API
  stop <name>     stop a container (restart policy 'container' only)
  restart <name>  stop and start a container
"
        }
        Topic::Groups => "usage: pvcontrol groups ls\n  list container groups\n",
        Topic::Graph => "usage: pvcontrol graph ls\n  show the xconnect service graph\n",
        Topic::Daemons => {
            "\
usage: pvcontrol daemons <ls|get|start|stop|restart> [name]
  ls              daemons, their pids and whether they respawn
  get <name>      one daemon
  start <name>    start a daemon
  stop <name>     stop a daemon
  restart <name>  stop, then start a daemon
"
        }
        Topic::Signal => {
            "\
usage: pvcontrol signal <ready|alive>
  ready   this container reached its READY goal
  alive   this container is alive
"
        }
        Topic::Cmd => {
            "\
usage: pvcontrol cmd <operation> [argument]
  run <revision>              run an installed revision (also: local-run)
  run-commit <revision>       run it and commit it (also: local-run-commit)
  reboot [message]            reboot the device
  poweroff [message]          power the device off
  run-gc                      collect garbage in storage
  make-factory [revision]     make a revision (default: the running one) the
                              factory revision of an unclaimed device
  enable-ssh                  start the SSH server until the next reboot
  disable-ssh                 stop the SSH server until the next reboot
  go-remote                   leave local mode, if the configuration allows
  unclaim                     forget the Hub credentials
  defer-reboot <seconds>      hold a pending reboot while the debug shell runs
  update-metadata <json>      send a device metadata pair (remote mode)
"
        }
        Topic::Devmeta => {
            "\
usage: pvcontrol devmeta <ls|save|delete> [key] [value]
  ls                  device metadata
  save <key> [value]  create or update a key (also: upload)
  delete <key>        delete a key
"
        }
        Topic::Usrmeta => {
            "\
usage: pvcontrol usrmeta <ls|save|delete> [key] [value]
  ls                  user metadata
  save <key> [value]  create or update a key
  delete <key>        delete a key
"
        }
        Topic::Buildinfo => "usage: pvcontrol buildinfo\n  print the build manifest\n",
        Topic::Objects => {
            "\
usage: pvcontrol objects <ls|get|put> [file] [sha256]
  ls                  stored objects and their sizes
  get <sha256>        write an object to the output
  put <file> <sha256> store a file ('-' reads stdin)
"
        }
        Topic::Steps => {
            "\
usage: pvcontrol steps <ls|get|show-progress|put|install> [file] [revision]
  ls                          revisions on the device
  get <revision>              a revision's state JSON ('current' works)
  show-progress <revision>    a revision's progress
  put <file> locals/<name>    store a state JSON as a local revision
  install <file.tgz> [locals/<name>]
                              store a tarball with 'json' and 'objects/';
                              the name defaults to locals/<sha256 of file>
"
        }
        Topic::Config => "usage: pvcontrol config ls\n  configuration keyed by legacy name\n",
        Topic::Conf => {
            "usage: pvcontrol conf ls\n  configuration: key, value and the level that set it\n"
        }
    }
}

/// Print the usage of `topic` on stdout.
pub fn print(topic: Topic) {
    print!("{}", text(topic));
}
