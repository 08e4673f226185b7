//! qinit booted under qemu on user networking (slirp, `restrict=off`): the lease is
//! applied, the guest reaches the host, and the console shell behaves like a terminal.
//! The guest contacts nothing but 10.0.2.2, the host's loopback.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Checks, Guest, HttpServer, Net};

const SHELL_LINE: &str = "qinit: starting /bin/sh on /dev/ttyS0";

/// True if some line of `text` starts with field `first` and has each of `others` as a
/// field.
fn has_entry(text: &str, first: &str, others: &[&str]) -> bool {
    text.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.first() == Some(&first) && others.iter().all(|o| fields.contains(o))
    })
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn user_net_boot_leases_reaches_the_host_and_keeps_a_working_shell() {
    let images = common::images();
    let server = HttpServer::start();
    let net = Net::User {
        options: String::new(),
    };
    let mut guest = Guest::boot("user-net", &images, "", &net);
    let mut checks = Checks::new("user-net");

    guest.wait_shell();
    let log = guest.log();
    checks.check(log.contains("qinit: dhcp eth0: bound 10.0.2.15/24"), || {
        "the console should report the lease (`qinit: dhcp eth0: bound 10.0.2.15/24 ...`) \
         before the shell answers"
            .to_owned()
    });
    checks.check(!log.contains("no lease after"), || {
        "qemu's DHCP server answers at once, yet qinit gave up waiting for a lease".to_owned()
    });
    // e1000 is set up only once its PHY has finished autonegotiation (src/net/phy.rs).
    let phy = log.find("qinit: eth0: PHY link at 1000 Mb/s after");
    let started = log.find("qinit: eth0: DHCP started");
    checks.check(phy.is_some() && phy < started, || {
        "eth0 (e1000) should be set up after `qinit: eth0: PHY link at 1000 Mb/s after ...`, \
         before `eth0: DHCP started`"
            .to_owned()
    });

    // The boot timeline: one block on the console, /run/qinit/boot.json, `qinit analyze`.
    checks.check(
        log.lines().any(|l| {
            l.contains("qinit: boot: mounts ")
                && ["phy link at ", "carrier at ", "lease at ", "shell at "]
                    .iter()
                    .all(|m| l.contains(m))
        }),
        || {
            "the console should end the boot with one `qinit: boot: ...` block naming the \
            stages and the phy link, carrier, lease and shell marks"
                .to_owned()
        },
    );
    // PID 1 writes the console through a non-blocking file description of its own
    // (a stalled serial line costs lines, not PID 1), while fd 2 stays as the kernel
    // opened it, blocking, for whatever shares it.
    checks.check(!log.contains("qinit: console:"), || {
        "the console should be reopened without an error line".to_owned()
    });
    let fds = guest.run(
        "for f in /proc/1/fdinfo/*; do n=${f##*/}; echo \"fd $n $(readlink /proc/1/fd/$n) $(sed -n 's/^flags:[[:space:]]*//p' $f)\"; done",
    );
    let console_fds: Vec<(u32, bool)> = fds
        .lines()
        .filter_map(
            |l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["fd", n, "/dev/console", flags] => Some((
                    n.parse().ok()?,
                    u32::from_str_radix(flags, 8).ok()? & 0o4000 != 0,
                )),
                _ => None,
            },
        )
        .collect();
    checks.check(
        console_fds.contains(&(2, false)) && console_fds.iter().any(|&(n, nb)| n > 2 && nb),
        || format!("PID 1 should have fd 2 on /dev/console blocking and another one non-blocking:\n{fds}"),
    );
    let analyze = guest.run("qinit analyze");
    let stage_lines = analyze.lines().filter(|l| l.contains(" ms  ")).count();
    checks.check(
        stage_lines >= 5
            && ["phy link", "carrier", "lease", "shell"]
                .iter()
                .all(|m| analyze.lines().any(|l| l.trim_end().ends_with(m))),
        || {
            format!(
                "`qinit analyze` should list the stages by duration, then the marks:\n{analyze}"
            )
        },
    );
    let json = guest.run("cat /run/qinit/boot.json");
    checks.check(
        json.contains("\"stages\"") && json.contains("\"network drivers\""),
        || format!("/run/qinit/boot.json should hold the stages:\n{json}"),
    );

    let addr = guest.run("ip -4 addr show eth0");
    checks.check(addr.contains("10.0.2.15/24"), || {
        format!("eth0 should carry the leased 10.0.2.15/24; `ip -4 addr show eth0` said:\n{addr}")
    });

    let routes = guest.run("ip route");
    checks.check(routes.contains("default via 10.0.2.2"), || {
        format!("the lease's router should be the default route; `ip route` said:\n{routes}")
    });

    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(has_entry(&resolv, "nameserver", &["10.0.2.3"]), || {
        format!("/etc/resolv.conf should name qemu's DNS server 10.0.2.3:\n{resolv}")
    });

    let hostname = guest.run("hostname");
    let hostname = hostname.trim();
    checks.check(hostname == "qinit", || {
        format!("without DHCP option 12 the hostname should be `qinit`, not {hostname:?}")
    });
    let hosts = guest.run("cat /etc/hosts");
    checks.check(has_entry(&hosts, "127.0.0.1", &["localhost"]), || {
        format!("/etc/hosts should map 127.0.0.1 to localhost:\n{hosts}")
    });
    checks.check(has_entry(&hosts, "::1", &["localhost"]), || {
        format!("/etc/hosts should map ::1 to localhost:\n{hosts}")
    });
    checks.check(has_entry(&hosts, "10.0.2.15", &[hostname]), || {
        format!("/etc/hosts should map the leased 10.0.2.15 to the hostname {hostname:?}:\n{hosts}")
    });

    let ping = guest.run("ping -c 3 10.0.2.2");
    checks.check(ping.contains(", 0% packet loss"), || {
        format!("the gateway 10.0.2.2 should answer every ping:\n{ping}")
    });

    // `timeout` bounds the wait if the host cannot be reached, so the check fails rather
    // than the harness timing out. (Not wget's own -T: busybox 1.35's static wget
    // segfaults with it when the root has no NSS files.)
    let url = format!("http://10.0.2.2:{}/", server.port);
    let fetched = guest.run(&format!("timeout 30 wget -q -O - {url}"));
    checks.check(fetched.contains(server.body.trim_end()), || {
        format!(
            "wget {url} should print the host server's body {:?}; it printed:\n{fetched}",
            server.body
        )
    });
    checks.check(server.hits() >= 1, || {
        "the host's HTTP server saw no request".to_owned()
    });

    guest.run("sleep 100 &");
    let jobs = guest.run("jobs");
    checks.check(jobs.contains("sleep 100"), || {
        format!("`jobs` should list the background `sleep 100`:\n{jobs}")
    });
    guest.run("kill $!; wait");

    // Ctrl-C reaches the foreground job only if the shell owns the console as its
    // controlling terminal; otherwise the probes below wait behind a 100 s sleep.
    guest.send_line("sleep 100");
    guest.expect("sleep 100");
    thread::sleep(Duration::from_secs(2));
    guest.send_control('c');
    let interrupted = Instant::now();
    let answered = guest.try_wait_shell(Duration::from_secs(30));
    checks.check(answered, || {
        "Ctrl-C should interrupt a foreground `sleep 100`, but the shell did not answer \
         within 30 s (no controlling terminal?)"
            .to_owned()
    });
    if !answered {
        // Let the sleep run out, to go on with the other checks.
        guest.wait_shell_within(Duration::from_secs(120));
    }
    guest.note(&format!(
        "Ctrl-C: shell back after {:.1}s",
        interrupted.elapsed().as_secs_f64()
    ));
    let ps = guest.run("ps -o pid,ppid,stat,args");
    checks.check(
        !ps.lines().any(|l| l.trim_end().ends_with("sleep 100")),
        || format!("Ctrl-C should have ended the foreground `sleep 100`; ps says:\n{ps}"),
    );

    // The background sleep is orphaned when its sh exits; PID 1 inherits and must reap it.
    guest.run("sh -c 'sleep 1 &'");
    thread::sleep(Duration::from_secs(2));
    let ps = guest.run("ps -o pid,ppid,stat,args");
    let found = common::zombies(&ps);
    checks.check(found.is_empty(), || {
        format!("an orphan that exited should have been reaped; zombies: {found:?}\n{ps}")
    });

    let first_shell = guest.run("echo $$");
    guest.discard_pending();
    guest.send_line("exit");
    guest.expect(SHELL_LINE);
    guest.wait_shell();
    let second_shell = guest.run("echo $$");
    checks.check(first_shell != second_shell, || {
        format!("after `exit` a new shell should answer, but $$ is still {first_shell}")
    });
    guest.note("done");
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn dhcp_hostname_domain_and_search_land_in_hostname_hosts_and_resolv_conf() {
    let images = common::images();
    let net = Net::User {
        options: "hostname=vm1,domainname=example.test,dnssearch=corp.test".to_owned(),
    };
    // Also: qinit.phy_wait=0 sets e1000 up at once (the carrier then comes at the
    // driver's next watchdog run) and the lease still comes.
    let mut guest = Guest::boot("named", &images, "qinit.phy_wait=0", &net);
    let mut checks = Checks::new("named");
    guest.wait_shell();
    let bound = guest.wait_log("qinit: dhcp eth0: bound", Duration::from_secs(30));
    checks.check(bound, || {
        "the console should report the lease (`qinit: dhcp eth0: bound ...`)".to_owned()
    });
    let log = guest.log();
    checks.check(!log.contains("once its PHY has link"), || {
        "with qinit.phy_wait=0 eth0 should be set up at once, not held for its PHY".to_owned()
    });

    let hostname = guest.run("hostname");
    checks.check(hostname.trim() == "vm1", || {
        format!("the hostname should be vm1 from DHCP option 12, not {hostname:?}")
    });

    let hosts = guest.run("cat /etc/hosts");
    checks.check(
        has_entry(&hosts, "10.0.2.15", &["vm1.example.test", "vm1"]),
        || format!("/etc/hosts should map 10.0.2.15 to vm1.example.test and vm1:\n{hosts}"),
    );
    checks.check(has_entry(&hosts, "127.0.0.1", &["localhost"]), || {
        format!("/etc/hosts should still map 127.0.0.1 to localhost:\n{hosts}")
    });

    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(has_entry(&resolv, "search", &["corp.test"]), || {
        format!("/etc/resolv.conf should have a `search` line with corp.test:\n{resolv}")
    });
    checks.check(has_entry(&resolv, "nameserver", &["10.0.2.3"]), || {
        format!("/etc/resolv.conf should name qemu's DNS server 10.0.2.3:\n{resolv}")
    });
    guest.note("done");
    checks.finish();
}

/// With no link partner (qemu's `set_link n0 off` before the driver loads), e1000 is
/// not held down for ever: it is set up after the PHY wait, the shell comes without a
/// lease, and plugging the cable in later gets one.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn e1000_without_a_link_partner_is_set_up_after_the_wait_and_leases_once_plugged() {
    let images = common::images();
    let net = Net::User {
        options: String::new(),
    };
    let mut guest = Guest::boot("unplugged", &images, "qinit.dhcp_timeout=2", &net);
    let mut checks = Checks::new("unplugged");
    guest.monitor("set_link n0 off");
    guest.expect("(qemu)");
    guest.leave_monitor();

    let gave_up = guest.try_expect("qinit: eth0: no PHY link after", Duration::from_secs(90));
    checks.check(gave_up.is_some(), || {
        "with the cable out, qinit should say `eth0: no PHY link after ...; setting it up \
         anyway`"
            .to_owned()
    });
    guest.expect("qinit: eth0: DHCP started");
    guest.wait_shell();
    let log = guest.log();
    checks.check(log.contains("no lease after"), || {
        "the shell should start without a lease, saying why".to_owned()
    });
    let up = guest.run("cat /sys/class/net/eth0/operstate /sys/class/net/eth0/flags");
    checks.check(up.contains("down") && up.contains("0x1003"), || {
        format!("eth0 should be up (flags 0x1003) with no carrier (operstate down):\n{up}")
    });

    guest.monitor("set_link n0 on");
    guest.expect("(qemu)");
    guest.leave_monitor();
    let bound = guest.try_expect("dhcp eth0: bound 10.0.2.15/24", Duration::from_secs(60));
    checks.check(bound.is_some(), || {
        "after `set_link n0 on` the carrier should come and eth0 get its lease".to_owned()
    });
    guest.wait_shell();
    let ping = guest.run("ping -c 1 10.0.2.2");
    checks.check(ping.contains(", 0% packet loss"), || {
        format!("the gateway should answer once plugged in:\n{ping}")
    });
    checks.finish();
}

/// PID 1 started with fds 0-2 closed (an `rdinit=` wrapper that closes them, or a kernel
/// that found no console): they hold /dev/null, never one of PID 1's own sockets, and
/// PID 1's lines still reach the console.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn pid1_started_without_fds_0_to_2_keeps_them_on_dev_null_and_logs_to_the_console() {
    let images = common::images();
    let dir = common::TempDir::create("closed-fds");
    let wrapper = b"#!/bin/sh\nexec /init 0<&- 1>&- 2>&-\n";
    let images =
        common::images_with_entries(&images, &dir, &[("close-fds", wrapper.as_slice(), 0o755)]);
    let net = Net::User {
        options: String::new(),
    };
    let mut guest = Guest::boot("closed-fds", &images, "rdinit=/close-fds", &net);
    let mut checks = Checks::new("closed-fds");
    guest.wait_shell();
    let log = guest.log();
    checks.check(log.contains("qinit: dhcp eth0: bound 10.0.2.15/24"), || {
        "PID 1's lines should still reach the console, the lease among them".to_owned()
    });
    let fds = guest.run("for f in 0 1 2; do echo fd$f=$(readlink /proc/1/fd/$f); done");
    for f in 0..3 {
        checks.check(fds.contains(&format!("fd{f}=/dev/null")), || {
            format!("PID 1's fd {f} should be /dev/null:\n{fds}")
        });
    }
    checks.finish();
}

#[test]
fn kernel_messages_are_told_from_a_commands_output() {
    use common::is_kernel_message;
    assert!(is_kernel_message("[   11.305598] qinit: wlan0: IPv6 on"));
    assert!(is_kernel_message("[12345.000001] x"));
    // What commands print, even in brackets, is output.
    for line in [
        "-rw-------    1 root     root   143 Nov 27 23:02 /run/qinit/x.conf",
        "[ok] done",
        "[ 1.5] not a kernel stamp",
        "[1.305598 no bracket",
        "",
    ] {
        assert!(!is_kernel_message(line), "{line:?}");
    }
}
