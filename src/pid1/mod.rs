//! PID 1 itself: the boot sequence, the event loop, the foreground program (shell or
//! appliance), and the boot timeline.

pub mod boot;
pub mod credentials;
pub mod drivers;
pub mod event_loop;
pub mod foreground;
pub mod guard;
pub mod notify;
pub mod signals;
pub mod timeline;
