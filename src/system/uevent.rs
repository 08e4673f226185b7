//! Hotplug: the kernel's uevents (NETLINK_KOBJECT_UEVENT) in PID 1's event loop. A device
//! added after boot (qemu's `device_add`) announces its modalias here, and its driver is
//! loaded like at coldplug; a NIC that appears then is configured by the link events.
//! The loading runs on a helper thread: a driver's probe can take half a second (e1000
//! waits for its PHY), and PID 1's loop must go on reaping and answering DHCP meanwhile.
//! That thread reads the module tables for its batch and drops them with it: PID 1 keeps
//! none between events (held, they took about 100 kB of its memory).

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::Mutex;

pub struct Uevents {
    sock: Socket,
}

/// Loads the drivers of the devices `modaliases` name, with the module tables read for
/// them; one log line for each module loaded or failing.
fn load_drivers(modaliases: &[String]) {
    let tables = match crate::system::modules::Tables::read() {
        Ok(t) => t,
        Err(e) => return crate::info!("hotplug: {e}"),
    };
    let text = std::fs::read_to_string(format!("{}/modules.alias", tables.dir)).unwrap_or_default();
    let aliases = crate::system::modalias::AliasTable::parse(&text);
    for modalias in modaliases {
        for module in aliases.matches(modalias) {
            match tables.load(&module) {
                Ok(crate::system::modules::Loaded::Inserted(n)) => {
                    crate::info!("hotplug: {modalias}: loaded {module} ({n} file(s))")
                }
                Ok(_) => {}
                Err(e) => crate::info!("hotplug: {modalias}: {e}"),
            }
        }
    }
}

/// The uevent socket, and the thread starter that loads drivers for new devices.
pub struct Hotplug {
    pub events: Uevents,
    /// Loads each batch's drivers on a thread (in the loop if none starts).
    loader: Loader,
}

/// Loads drivers on a helper thread, so that a slow probe never stalls the loop. Each
/// batch of uevents gets a thread of its own that ends with its last load: an idle
/// thread would keep the stack pages its loads touched in PID 1's memory for good.
struct Loader {
    load: Arc<LoadFn>,
}

/// Loads the drivers of one batch of devices, named by their modaliases.
type LoadFn = dyn Fn(&[String]) + Send + Sync;

impl Loader {
    fn new(load: impl Fn(&[String]) + Send + Sync + 'static) -> Loader {
        Loader {
            load: Arc::new(load),
        }
    }

    /// Starts the thread "hotplug", which calls `load` with the batch, and returns
    /// without waiting for it; the batch back if no thread started.
    fn submit(&self, jobs: Vec<String>) -> Result<(), Vec<String>> {
        if jobs.is_empty() {
            return Ok(());
        }
        let load = Arc::clone(&self.load);
        // Shared, so that a spawn that fails hands the jobs back.
        let handed = Arc::new(Mutex::new(Some(jobs)));
        let theirs = Arc::clone(&handed);
        let spawned = std::thread::Builder::new()
            .name("hotplug".into())
            .spawn(move || {
                let jobs = theirs.lock().ok().and_then(|mut j| j.take());
                load(&jobs.unwrap_or_default());
            });
        match spawned {
            Ok(_detached) => Ok(()),
            Err(e) => {
                crate::info!("hotplug: no loader thread ({e}); loading in the loop");
                let jobs = handed.lock().ok().and_then(|mut j| j.take());
                Err(jobs.unwrap_or_default())
            }
        }
    }
}

impl Hotplug {
    /// Opens the socket.
    pub fn open() -> Result<Self, String> {
        Ok(Hotplug {
            events: Uevents::open()?,
            loader: Loader::new(load_drivers),
        })
    }

    /// Hands the modaliases of devices added since the last call to a loader thread,
    /// which logs a line for each driver it loads; returns the evdev nodes that
    /// appeared (for the power button's fallback).
    pub fn handle(&self) -> Handled {
        let mut handled = Handled::default();
        let mut jobs = Vec::new();
        for added in self.events.added() {
            if let Some(node) = added.input_node {
                handled.input_nodes.push(node);
            }
            jobs.extend(added.modalias);
        }
        if !jobs.is_empty() {
            crate::debug!("hotplug: drivers for {}", jobs.join(" "));
        }
        if let Err(jobs) = self.loader.submit(jobs) {
            load_drivers(&jobs);
        }
        handled
    }
}

/// What one batch of uevents did and showed.
#[derive(Debug, Default)]
pub struct Handled {
    /// Input event nodes that appeared, e.g. "input/event2".
    pub input_nodes: Vec<String>,
}

/// The kernel's multicast group for uevents (udev listens to group 2, its own).
const KERNEL_GROUP: u32 = 1;

impl Uevents {
    pub fn open() -> Result<Self, String> {
        let mut sock =
            Socket::new(NETLINK_KOBJECT_UEVENT).map_err(|e| format!("uevent socket: {e}"))?;
        sock.bind(&SocketAddr::new(0, KERNEL_GROUP))
            .map_err(|e| format!("uevent bind: {e}"))?;
        sock.set_non_blocking(true)
            .map_err(|e| format!("uevent socket: {e}"))?;
        Ok(Uevents { sock })
    }

    /// What the devices added since the last call announced.
    pub fn added(&self) -> Vec<Added> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            if let Some(a) = parse_add(&data) {
                out.push(a);
            }
        }
        out
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// What an "add" uevent tells PID 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// The device's MODALIAS, to load its driver.
    pub modalias: Option<String>,
    /// An evdev node's DEVNAME ("input/event3"), for the power button's fallback.
    pub input_node: Option<String>,
}

/// An "add" uevent's MODALIAS and evdev node, each checked to be printable ASCII
/// before it is used; None for other events and for an add with neither.
pub fn parse_add(packet: &[u8]) -> Option<Added> {
    let ev = kobject_uevent::UEvent::from_netlink_packet(packet).ok()?;
    if ev.action != kobject_uevent::ActionType::Add {
        return None;
    }
    let clean = |v: &String| {
        (!v.is_empty() && v.len() < 512 && v.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| v.clone())
    };
    let modalias = ev.env.get("MODALIAS").and_then(clean);
    let input_node = (ev.subsystem == "input")
        .then(|| ev.env.get("DEVNAME").and_then(clean))
        .flatten()
        .filter(|n| {
            n.strip_prefix("input/")
                .is_some_and(crate::system::input_keys::is_event_node)
        });
    (modalias.is_some() || input_node.is_some()).then_some(Added {
        modalias,
        input_node,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modalias_of_add(packet: &[u8]) -> Option<String> {
        parse_add(packet)?.modalias
    }

    fn packet(action: &str, modalias: &str) -> Vec<u8> {
        let path = "/devices/pci0000:00/0000:00:04.0";
        let mut p = format!("{action}@{path}\0ACTION={action}\0DEVPATH={path}\0SUBSYSTEM=pci\0")
            .into_bytes();
        if !modalias.is_empty() {
            p.extend_from_slice(format!("MODALIAS={modalias}\0").as_bytes());
        }
        p.extend_from_slice(b"SEQNUM=1234\0");
        p
    }

    #[test]
    fn drivers_load_on_the_helper_thread_and_the_loop_does_not_wait() {
        let (done, finished) = std::sync::mpsc::channel();
        // A probe as slow as e1000's PHY wait.
        let done = std::sync::Mutex::new(done);
        let loader = Loader::new(move |modaliases: &[String]| {
            for modalias in modaliases {
                std::thread::sleep(std::time::Duration::from_millis(400));
                let thread = std::thread::current().name().map(str::to_string);
                done.lock()
                    .unwrap()
                    .send((modalias.clone(), thread))
                    .unwrap();
            }
        });
        let start = std::time::Instant::now();
        assert!(
            loader
                .submit(vec![
                    "pci:v00008086d0000100Esv*".to_string(),
                    "pci:v00001AF4d00001000sv*".to_string(),
                ])
                .is_ok()
        );
        assert!(
            start.elapsed() < std::time::Duration::from_millis(200),
            "submitting waited for the load: {:?}",
            start.elapsed()
        );
        let wait = std::time::Duration::from_secs(5);
        let first = finished.recv_timeout(wait).unwrap();
        let second = finished.recv_timeout(wait).unwrap();
        assert_eq!(first.0, "pci:v00008086d0000100Esv*");
        assert_eq!(second.0, "pci:v00001AF4d00001000sv*");
        assert_eq!(first.1.as_deref(), Some("hotplug"));
    }

    #[test]
    fn add_events_give_their_modalias() {
        let m = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00";
        assert_eq!(modalias_of_add(&packet("add", m)).as_deref(), Some(m));
    }

    #[test]
    fn other_events_and_garbage_give_nothing() {
        assert_eq!(modalias_of_add(&packet("remove", "pci:v1")), None);
        assert_eq!(modalias_of_add(&packet("add", "")), None);
        assert_eq!(modalias_of_add(&packet("add", "pci:\x1b[2J")), None);
        assert_eq!(modalias_of_add(b"libudev\0\xfe\xed"), None);
        assert_eq!(modalias_of_add(b""), None);
    }

    fn input_packet(action: &str, devname: &str) -> Vec<u8> {
        let path = "/devices/platform/i8042/serio0/input/input1/event0";
        format!(
            "{action}@{path}\0ACTION={action}\0DEVPATH={path}\0SUBSYSTEM=input\0MAJOR=13\0MINOR=64\0DEVNAME={devname}\0SEQNUM=9\0"
        )
        .into_bytes()
    }

    #[test]
    fn a_new_evdev_node_is_reported() {
        assert_eq!(
            parse_add(&input_packet("add", "input/event0")),
            Some(Added {
                modalias: None,
                input_node: Some("input/event0".into())
            })
        );
        assert_eq!(parse_add(&input_packet("remove", "input/event0")), None);
        assert_eq!(parse_add(&input_packet("add", "input/mouse0")), None);
        assert_eq!(parse_add(&input_packet("add", "input/event0\x1b")), None);
        assert_eq!(parse_add(&input_packet("add", "../sda")), None);
        let m = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00";
        assert_eq!(
            parse_add(&packet("add", m)).and_then(|a| a.input_node),
            None,
            "a PCI device is no input node"
        );
    }
}
