//! qinit as a library: PID 1 for minimal Linux VMs and the tools that share its code.
//! `main.rs` only dispatches into it; tests, fuzz targets and benchmarks link against it.
//!
//! The folders are layers, and a module imports only from its own layer or the ones
//! below it:
//! - `clock`, `log`, `names`: the base every layer may use;
//! - `system`, `dhcp`: the machine's own setup, and the DHCP protocol with its sockets;
//! - `config`: what the kernel command line and qinit.conf ask for;
//! - `net`: links, addresses, routes and the files that name the machine;
//! - `pid1`: the boot sequence and the event loop that drives the rest;
//! - `tools`: the faces of the binary that are not PID 1.

pub mod clock;
pub mod log;
pub mod names;

pub mod dhcp;
pub mod system;

pub mod config;

pub mod net;

pub mod pid1;

pub mod tools;
