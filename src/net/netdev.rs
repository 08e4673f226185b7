//! The devices `bond=` and `bridge=` make, over rtnetlink: a bond with the bonding
//! driver's options (IFLA_BOND_*), a bridge, and a member enslaved to either (its
//! IFLA_MASTER). `bond_info` maps our options to the driver's attributes, purely.

use crate::net::rtnl::Rtnl;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    BondLacpRate, BondMode as NlBondMode, BondXmitHashPolicy, InfoBond, InfoData, InfoKind,
    LinkAttribute, LinkInfo, LinkMessage,
};

use crate::config::netdev::{Bond, BondMode, BondOption};
use crate::net::link::{Link, Netlink};

/// The driver's attributes for `options`; `primary` names a slave, which needs its index,
/// so it is set once that slave is enslaved (`set_bond_primary`).
pub fn bond_info(options: &[BondOption]) -> Vec<InfoBond> {
    options
        .iter()
        .filter_map(|o| {
            Some(match o {
                BondOption::Mode(m) => InfoBond::Mode(match m {
                    BondMode::BalanceRr => NlBondMode::BalanceRr,
                    BondMode::ActiveBackup => NlBondMode::ActiveBackup,
                    BondMode::BalanceXor => NlBondMode::BalanceXor,
                    BondMode::Broadcast => NlBondMode::Broadcast,
                    BondMode::Ieee8023Ad => NlBondMode::Ieee8023Ad,
                    BondMode::BalanceTlb => NlBondMode::BalanceTlb,
                    BondMode::BalanceAlb => NlBondMode::BalanceAlb,
                }),
                BondOption::MiiMon(v) => InfoBond::MiiMon(*v),
                BondOption::UpDelay(v) => InfoBond::UpDelay(*v),
                BondOption::DownDelay(v) => InfoBond::DownDelay(*v),
                BondOption::ArpInterval(v) => InfoBond::ArpInterval(*v),
                BondOption::ArpIpTarget(t) => InfoBond::ArpIpTarget(t.clone()),
                BondOption::XmitHashPolicy(n) => {
                    InfoBond::XmitHashPolicy(BondXmitHashPolicy::from(*n))
                }
                BondOption::LacpFast(fast) => {
                    InfoBond::AdLacpRate(BondLacpRate::from(u8::from(*fast)))
                }
                BondOption::MinLinks(v) => InfoBond::MinLinks(*v),
                BondOption::Primary(_) => return None,
            })
        })
        .collect()
}

/// Makes link `name`; with `create` false, changes the one of that name instead.
fn new_link(
    nl: &mut Netlink,
    name: &str,
    info: Vec<LinkInfo>,
    mtu: Option<u32>,
    create: bool,
) -> Result<(), std::io::Error> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mtu) = mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    let flags = if create {
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    } else {
        NLM_F_ACK
    };
    nl.request(Rtnl::NewLink(msg), flags).map(|_| ())
}

fn exists(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32)
}

/// Makes the bond (module bonding) with its mode and options, before any slave: the
/// driver refuses a new mode once it has one. A bond of that name already there (the
/// driver's own bond0, when it was loaded without max_bonds=0) gets the options instead.
pub fn add_bond(nl: &mut Netlink, bond: &Bond) -> Result<(), String> {
    let info = || {
        vec![
            LinkInfo::Kind(InfoKind::Bond),
            LinkInfo::Data(InfoData::Bond(bond_info(&bond.options))),
        ]
    };
    match new_link(nl, &bond.name, info(), bond.mtu, true) {
        Err(e) if exists(&e) => new_link(nl, &bond.name, info(), bond.mtu, false),
        other => other,
    }
    .map_err(|e| format!("making bond {}: {e}", bond.name))
}

/// Makes the bridge (module bridge). Without STP, the default, a port forwards as soon
/// as it is added.
pub fn add_bridge(nl: &mut Netlink, name: &str) -> Result<(), String> {
    match new_link(nl, name, vec![LinkInfo::Kind(InfoKind::Bridge)], None, true) {
        Err(e) if exists(&e) => Ok(()),
        other => other,
    }
    .map_err(|e| format!("making bridge {name}: {e}"))
}

/// Makes `link` a member of `master` (a bond's slave or a bridge's port). A bond takes
/// only slaves that are down, so the link is set down first.
pub fn enslave(nl: &mut Netlink, link: &Link, master: &Link) -> Result<(), String> {
    if link.up {
        nl.set_down(link)?;
    }
    let mut msg = LinkMessage::default();
    msg.header.index = link.index;
    msg.attributes.push(LinkAttribute::Controller(master.index));
    nl.request(Rtnl::SetLink(msg), NLM_F_ACK)
        .map(|_| ())
        .map_err(|e| format!("adding {} to {}: {e}", link.name, master.name))
}

/// Makes `slave` the bond's primary (the `primary=` option).
pub fn set_bond_primary(nl: &mut Netlink, bond: &Link, slave: &Link) -> Result<(), String> {
    let mut msg = LinkMessage::default();
    msg.header.index = bond.index;
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bond),
        LinkInfo::Data(InfoData::Bond(vec![InfoBond::Primary(slave.index)])),
    ]));
    nl.request(Rtnl::NewLink(msg), NLM_F_ACK)
        .map(|_| ())
        .map_err(|e| format!("making {} the primary of {}: {e}", slave.name, bond.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bond_options_become_the_drivers_attributes() {
        let (bond, warnings) = crate::config::netdev::bond(Some(
            "bond0:eth0,eth1:mode=802.3ad,miimon=100,lacp_rate=fast,xmit_hash_policy=layer2+3,primary=eth1",
        ))
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            bond_info(&bond.options),
            [
                InfoBond::Mode(NlBondMode::Ieee8023Ad),
                InfoBond::MiiMon(100),
                InfoBond::AdLacpRate(BondLacpRate::Fast),
                InfoBond::XmitHashPolicy(BondXmitHashPolicy::Layer23),
            ]
        );
        let (bond, _) = crate::config::netdev::bond(None).unwrap();
        assert_eq!(
            bond_info(&bond.options),
            [InfoBond::Mode(NlBondMode::BalanceRr)]
        );
    }
}
