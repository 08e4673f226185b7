//! Appliance mode: `qinit.exec=` runs the appliance's command on the console instead of
//! the shell; `qinit.on_exit=` decides what its exit does.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::time::Duration;

use common::{Checks, Guest, Net};

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn appliance_exit_is_logged_and_powers_off() {
    let images = common::images();
    let mut guest = Guest::boot(
        "appliance",
        &images,
        "\"qinit.exec=/bin/sh -c 'echo APP-$((40+2)); exit 3'\" qinit.on_exit=poweroff",
        &Net::User {
            options: String::new(),
        },
    );
    let status = guest.wait_exit(Duration::from_secs(120));
    let log = guest.log();
    let mut checks = Checks::new("appliance");
    checks.check(status.is_some(), || {
        "qemu should exit after the appliance powers off".to_owned()
    });
    checks.check(log.contains("APP-42"), || {
        "the appliance's output (APP-42) should be on the console".to_owned()
    });
    checks.check(log.contains("exited (exit status 3)"), || {
        "its exit status should be logged".to_owned()
    });
    checks.check(log.contains("shutdown: power off"), || {
        "the shutdown should be a power-off".to_owned()
    });
    checks.check(!log.contains("starting /bin/sh on"), || {
        "no shell runs in appliance mode".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn an_appliance_that_fails_at_once_is_restarted_with_a_back_off() {
    let images = common::images();
    let mut guest = Guest::boot(
        "appliance-backoff",
        &images,
        "qinit.exec=/bin/false",
        &Net::User {
            options: String::new(),
        },
    );
    guest.expect("starting /bin/false on");
    // Eight seconds of a command that exits at once: without a back-off that would be
    // hundreds of starts.
    std::thread::sleep(Duration::from_secs(8));
    let log = guest.log();
    let starts = log.matches("starting /bin/false on").count();
    let mut checks = Checks::new("appliance-backoff");
    checks.check((2..=12).contains(&starts), || {
        format!("{starts} starts in 8 s: expected a few, backing off")
    });
    checks.check(
        log.contains("times in a row at once; restarting it in"),
        || "the console should say the restart is delayed".to_owned(),
    );
    checks.check(log.contains("/bin/false exited (exit status 1)"), || {
        "the exit status should be logged".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn an_appliance_that_cannot_start_gets_its_on_exit_after_five_tries() {
    let images = common::images();
    let mut guest = Guest::boot(
        "appliance-missing",
        &images,
        "qinit.exec=/no/such/appliance qinit.on_exit=poweroff",
        &Net::User {
            options: String::new(),
        },
    );
    // Five tries, 5 s apart, then the power-off: about 20 s after the first.
    let status = guest.wait_exit(Duration::from_secs(150));
    let log = guest.log();
    let mut checks = Checks::new("appliance-missing");
    checks.check(status.is_some(), || {
        "qemu should exit: on_exit=poweroff applies once the appliance cannot start".to_owned()
    });
    let tries = log.matches("starting /no/such/appliance on").count();
    checks.check(tries == 5, || format!("{tries} start attempts, expected 5"));
    checks.check(
        log.contains("start /no/such/appliance on")
            && log.contains("5 failed starts in a row: qinit.on_exit says power off"),
        || {
            "the console should name the program, its error, and the on_exit that follows"
                .to_owned()
        },
    );
    checks.check(log.contains("shutdown: power off"), || {
        "the machine should power off as on_exit says".to_owned()
    });
    checks.finish();
}
