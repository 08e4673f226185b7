//! Block devices by their contents, as blkid does for the two families qinit reads:
//! ext2/3/4 and FAT. There is no udev to make /dev/disk/by-label, so `LABEL=` and `UUID=`
//! in /etc/fstab are found by reading each device's first bytes. Pure: bytes in, a
//! volume out.

/// A filesystem identified by its superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub kind: &'static str,
    pub label: String,
    pub uuid: String,
}

/// Bytes a probe reads from the start of a device: the ext superblock ends at 2048.
pub const PROBE_BYTES: usize = 2048;

/// Identifies an ext2/3/4 or FAT filesystem from its first `PROBE_BYTES` bytes.
pub fn identify(head: &[u8]) -> Option<Volume> {
    // ext2/3/4: superblock at 1024, magic 0xEF53 at +0x38, UUID at +0x68, name at +0x78.
    if head.get(0x438..0x43a) == Some(&[0x53, 0xef][..]) {
        let mut uuid = String::new();
        for (i, b) in head.get(0x468..0x478)?.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                uuid.push('-');
            }
            uuid.push_str(&format!("{b:02x}"));
        }
        return Some(Volume {
            kind: "ext",
            label: text_field(head.get(0x478..0x488)?),
            uuid,
        });
    }
    // FAT: boot signature 55 AA; FAT32 has its volume id and label 0x1c bytes further in.
    if head.get(510..512) != Some(&[0x55, 0xaa][..]) {
        return None;
    }
    let base = if head.get(0x52..0x57) == Some(&b"FAT32"[..]) {
        0x43
    } else if head.get(0x36..0x39) == Some(&b"FAT"[..]) {
        0x27
    } else {
        return None;
    };
    let id = head.get(base..base + 4)?;
    let label = text_field(head.get(base + 4..base + 15)?);
    let serial = u32::from_le_bytes([*id.first()?, *id.get(1)?, *id.get(2)?, *id.get(3)?]);
    Some(Volume {
        kind: "fat",
        // mkfs.fat's "NO NAME" means none.
        label: if label == "NO NAME" {
            String::new()
        } else {
            label
        },
        uuid: format!("{:04X}-{:04X}", serial >> 16, serial & 0xffff),
    })
}

/// A fixed-size name: up to the first NUL, trailing blanks dropped.
fn text_field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default())
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_or_short_data_is_no_filesystem() {
        assert_eq!(identify(&[]), None);
        assert_eq!(identify(&[0u8; PROBE_BYTES]), None);
        let mut mbr = vec![0u8; 512];
        mbr[510..512].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(identify(&mbr), None);
        // Magic present but the superblock cut short.
        assert_eq!(
            identify(
                &{
                    let mut h = vec![0u8; 0x440];
                    h[0x438..0x43a].copy_from_slice(&[0x53, 0xef]);
                    h
                }[..]
            ),
            None
        );
    }
}
