//! A network filesystem from /etc/fstab, served by a real 9P server (diod) on the test
//! host's loopback and reached by the guest at 10.0.2.2 over qemu's user network: it is
//! mounted once the lease is there, without holding up the boot, and at shutdown it is
//! unmounted before the lease is released, so it can still flush.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "integration tests: a step that fails fails the test"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Checks, Guest, Net, TempDir};

/// diod serving `dir` on 127.0.0.1:`port`, ended by its pid when dropped.
struct Diod {
    child: Child,
}

impl Diod {
    fn start(dir: &std::path::Path, port: u16) -> Diod {
        let mut child = Command::new("diod")
            .args([
                "--foreground",
                "--no-auth",
                "--no-userdb",
                "--logdest",
                "stderr",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--export", &dir.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start diod: {e}"));
        // Ready once it accepts a connection.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Diod { child };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("diod did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for Diod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// Where `needle` first appears in `log`, or None.
fn at(log: &str, needle: &str) -> Option<usize> {
    log.find(needle)
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_9p_share_over_tcp_mounts_after_the_lease_and_unmounts_before_the_release() {
    let images = common::images();
    common::require_tools(&["diod"], "the 9P server for the network mount");
    let dir = TempDir::create("netfs");
    let export = dir.path.join("export");
    std::fs::create_dir_all(&export).unwrap();
    let port = free_port();
    let _server = Diod::start(&export, port);
    let fstab = format!(
        "10.0.2.2 /net 9p trans=tcp,port={port},version=9p2000.L,aname={},uname=root,access=user,_netdev 0 0\n",
        export.display()
    );
    let images = common::images_with_files(&images, &dir, &[("etc/fstab", &fstab)]);
    let mut guest = Guest::boot(
        "netfs",
        &images,
        "",
        &Net::User {
            options: String::new(),
        },
    );
    let mut checks = Checks::new("netfs");
    guest.expect("on /net: mounted 10.0.2.2 (9p)");
    guest.wait_shell();
    let out = guest.run("echo written-before-poweroff > /net/file; grep ' /net ' /proc/mounts");
    checks.check(out.contains("10.0.2.2 /net 9p"), || {
        format!("/net should be a 9p mount:\n{out}")
    });
    guest.send_line("poweroff");
    let status = guest.wait_exit(Duration::from_secs(60));
    let log = guest.log();
    checks.check(status.is_some(), || {
        "qemu should exit: the shutdown must not hang on the network mount".to_owned()
    });
    let waits = at(&log, "on /net: waits for the network");
    let bound = at(&log, "dhcp eth0: bound");
    let mounted = at(&log, "on /net: mounted 10.0.2.2 (9p)");
    checks.check(waits.is_some(), || {
        "the fstab step should say /net waits for the network".to_owned()
    });
    checks.check(
        bound.is_some() && mounted.is_some() && bound < mounted,
        || "/net should be mounted after the lease".to_owned(),
    );
    let unmounted = at(&log, "shutdown: unmount network filesystems: /net (");
    let released = at(&log, "dhcp eth0: releasing");
    checks.check(
        unmounted.is_some() && released.is_some() && unmounted < released,
        || "/net should be unmounted (plainly, not forced) before the lease is released".to_owned(),
    );
    let on_host = std::fs::read_to_string(export.join("file")).unwrap_or_default();
    checks.check(on_host == "written-before-poweroff\n", || {
        format!("the file written in the guest should be on the server: {on_host:?}")
    });
    checks.finish();
}
