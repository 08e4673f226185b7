//! `/sbin/shutdown`, a link to qinit: what qemu's guest agent runs for guest-shutdown
//! (`/sbin/shutdown -h -P +0 "hypervisor initiated shutdown"`), and what people and
//! scripts type out of habit. The flags are systemd's (the last of -h/-P/-H/-r wins, and
//! -h keeps a -H before it); the time must be `now` or `+0`, since qinit schedules
//! nothing; the words after it are the wall message, shown on the console. Then PID 1
//! is signalled as `qinit poweroff|reboot|halt` does.

use crate::system::shutdown::{self, Kind};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub const USAGE: &str = "usage: shutdown [-h|-P|-H|-r] [now|+0] [WALL MESSAGE...]
       shutdown -c [WALL MESSAGE...]";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Stop the machine now, with an optional wall message.
    Now { kind: Kind, wall: Option<String> },
    /// -c: cancel a pending shutdown (there never is one).
    Cancel { wall: Option<String> },
    /// --help.
    Help,
}

/// Parses the arguments after argv\[0\]; the error is the one line to print.
pub fn parse(args: &[String]) -> Result<Request, String> {
    let mut kind = Kind::PowerOff;
    let mut cancel = false;
    let mut words: Vec<&str> = Vec::new();
    let mut options_end = false;
    for arg in args {
        let arg = arg.as_str();
        if options_end || !arg.starts_with('-') || arg == "-" {
            words.push(arg);
            continue;
        }
        match arg {
            "--" => options_end = true,
            "--help" => return Ok(Request::Help),
            "--poweroff" => kind = Kind::PowerOff,
            "--halt" => kind = Kind::Halt,
            "--reboot" => kind = Kind::Reboot,
            // There are no terminals to tell besides the console.
            "--no-wall" => {}
            long if long.starts_with("--") => {
                return Err(format!(
                    "unknown option {} (shutdown --help)",
                    crate::log::escape(long.as_bytes())
                ));
            }
            // Short options may be grouped, as getopt allows: -hP.
            short => {
                for c in short.chars().skip(1) {
                    match c {
                        'P' => kind = Kind::PowerOff,
                        'H' => kind = Kind::Halt,
                        'r' => kind = Kind::Reboot,
                        // "Equivalent to --poweroff, unless --halt is specified" (systemd).
                        'h' if kind != Kind::Halt => kind = Kind::PowerOff,
                        'h' => {}
                        'c' => cancel = true,
                        other => {
                            let shown = crate::log::escape(other.to_string().as_bytes());
                            return Err(format!("unknown option -{shown} (shutdown --help)"));
                        }
                    }
                }
            }
        }
    }
    let wall = |words: &[&str]| (!words.is_empty()).then(|| words.join(" "));
    if cancel {
        return Ok(Request::Cancel { wall: wall(&words) });
    }
    let Some((time, message)) = words.split_first() else {
        return Err(
            "no time given: qinit has no scheduler, so say `shutdown now` (or +0)".to_string(),
        );
    };
    if !is_now(time) {
        return Err(format!(
            "cannot schedule a shutdown at '{}': qinit shuts down only now (`now` or `+0`)",
            crate::log::escape(time.as_bytes())
        ));
    }
    Ok(Request::Now {
        kind,
        wall: wall(message),
    })
}

fn is_now(time: &str) -> bool {
    time == "now"
        || time
            .strip_prefix('+')
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b == b'0'))
}

/// `shutdown ARGS...`: the exit code.
pub fn main(args: &[String]) -> i32 {
    match parse(args) {
        Ok(Request::Help) => {
            println!("{USAGE}");
            0
        }
        Ok(Request::Cancel { wall }) => {
            if let Some(w) = wall {
                tell_console(&w);
            }
            eprintln!(
                "shutdown: no shutdown is scheduled (qinit schedules none); nothing to cancel"
            );
            0
        }
        Ok(Request::Now { kind, wall }) => {
            if let Some(w) = wall {
                tell_console(&w);
            }
            shutdown::request(kind)
        }
        Err(e) => {
            eprintln!("shutdown: {e}");
            1
        }
    }
}

/// The wall message on the console, escaped (it may come from the host through the
/// guest agent), as one of qinit's lines; on stderr if the console cannot be opened.
fn tell_console(message: &str) {
    let line = crate::log::format_line(format_args!(
        "shutdown: {}",
        crate::log::escape(message.as_bytes())
    ));
    let console = std::fs::OpenOptions::new()
        .write(true)
        // Opening a tty must not make it our controlling terminal.
        .custom_flags(nix::libc::O_NOCTTY)
        .open("/dev/console");
    let written = console.and_then(|mut c| c.write_all(line.as_bytes()));
    if written.is_err() {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn now(kind: Kind, wall: Option<&str>) -> Result<Request, String> {
        Ok(Request::Now {
            kind,
            wall: wall.map(str::to_string),
        })
    }

    #[test]
    fn the_guest_agents_command_powers_off_now() {
        let agent = vec![
            "-h".to_string(),
            "-P".into(),
            "+0".into(),
            "hypervisor initiated shutdown".into(),
        ];
        assert_eq!(
            parse(&agent),
            now(Kind::PowerOff, Some("hypervisor initiated shutdown"))
        );
        // guest-shutdown mode=halt and mode=reboot.
        assert_eq!(parse(&args("-h -H +0")), now(Kind::Halt, None));
        assert_eq!(parse(&args("-h -r +0")), now(Kind::Reboot, None));
    }

    #[test]
    fn flags_follow_systemd() {
        assert_eq!(parse(&args("now")), now(Kind::PowerOff, None));
        assert_eq!(parse(&args("-r now")), now(Kind::Reboot, None));
        assert_eq!(parse(&args("-H now")), now(Kind::Halt, None));
        assert_eq!(
            parse(&args("-H -h now")),
            now(Kind::Halt, None),
            "-h keeps -H"
        );
        assert_eq!(parse(&args("-r -h now")), now(Kind::PowerOff, None));
        assert_eq!(parse(&args("-hr now")), now(Kind::Reboot, None), "grouped");
        assert_eq!(
            parse(&args("now -r")),
            now(Kind::Reboot, None),
            "options anywhere"
        );
        assert_eq!(parse(&args("--reboot +0")), now(Kind::Reboot, None));
        assert_eq!(parse(&args("--no-wall -P +00")), now(Kind::PowerOff, None));
        assert_eq!(
            parse(&args("now going -- -down")),
            now(Kind::PowerOff, Some("going -down"))
        );
        assert_eq!(parse(&args("--help")), Ok(Request::Help));
    }

    #[test]
    fn a_later_time_is_refused_in_one_line() {
        for time in ["+5", "+1", "12:30", "tomorrow", "+", "+0x"] {
            let e = parse(&args(&format!("-h {time}"))).unwrap_err();
            assert!(e.contains("cannot schedule") && e.contains(time), "{e}");
            assert!(!e.contains('\n'));
        }
        assert!(parse(&args("-h")).unwrap_err().contains("no time given"));
        assert!(parse(&args("")).is_err());
    }

    #[test]
    fn cancel_needs_no_time() {
        assert_eq!(parse(&args("-c")), Ok(Request::Cancel { wall: None }));
        assert_eq!(
            parse(&args("-c never mind")),
            Ok(Request::Cancel {
                wall: Some("never mind".into())
            })
        );
    }

    #[test]
    fn unknown_options_are_named() {
        assert_eq!(
            parse(&args("-k now")),
            Err("unknown option -k (shutdown --help)".to_string())
        );
        assert_eq!(
            parse(&args("--later now")),
            Err("unknown option --later (shutdown --help)".to_string())
        );
        let e = parse(&["-\u{1b}".to_string()]).unwrap_err();
        assert!(!e.contains('\u{1b}'), "{e}");
    }
}
