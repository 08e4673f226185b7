//! qemu's isa-debug-exit device: a write to its I/O port ends qemu with the exit code
//! (value << 1) | 1, so a VM can hand its appliance's exit status to the host as a test
//! runner would (`-device isa-debug-exit,iobase=0xf4,iosize=4`). The last step of a
//! shutdown, after sync and unmount; without the device the write does nothing and the
//! caller powers off as usual.

/// The iobase qemu's documentation and most test runners use.
pub const DEFAULT_PORT: u16 = 0xf4;

/// The byte written for an exit status as a shell reports it (0-255; 128+N for a signal).
pub fn value_for(status: i32) -> u8 {
    u8::try_from(status.clamp(0, 255)).unwrap_or(u8::MAX)
}

/// The exit code qemu gives the host for `value`, as its hw/misc/debugexit.c computes
/// it (the host sees its low 8 bits).
pub fn qemu_exit_code(value: u8) -> u8 {
    value.wrapping_shl(1) | 1
}

/// Writes `value` to `port`. Returns only if the machine is still running: no device
/// there, or no access to the port (the error says which).
pub fn write(port: u16, value: u8) -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: ioperm only changes this process's I/O permission bitmap.
        let rc = unsafe { nix::libc::ioperm(nix::libc::c_ulong::from(port), 1, 1) };
        if rc != 0 {
            return Err(format!(
                "ioperm 0x{port:x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: ioperm above granted this port. One byte fits every iosize the device
        // can have (1, 2 or 4), and it holds the whole status; an outb to a port with no
        // device behind it is ignored by the machine.
        unsafe { outb(port, value) };
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (port, value);
        Err("isa-debug-exit is an x86 device".into())
    }
}

/// `out dx, al`.
///
/// # Safety
/// The caller must have access to `port` (ioperm), and writing to it must be harmless
/// to the machine.
#[cfg(target_arch = "x86_64")]
unsafe fn outb(port: u16, value: u8) {
    // SAFETY: the caller holds the port; the instruction touches no memory or stack.
    unsafe {
        std::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reaches_the_host_shifted_with_the_low_bit_set() {
        assert_eq!(qemu_exit_code(value_for(0)), 1);
        assert_eq!(qemu_exit_code(value_for(3)), 7);
        assert_eq!(qemu_exit_code(value_for(127)), 255);
        // Killed by SIGKILL: the shell's 137; qemu's code keeps only the low 8 bits.
        assert_eq!(value_for(137), 137);
        assert_eq!(value_for(-1), 0);
        assert_eq!(value_for(1000), 255);
    }
}
