//! Device conditions the app reports (network, charging, battery, power-save) and the
//! upload policy that obeys them, apart from the requests themselves: a destination
//! asks [`UploadGate::wait_for`] before each round, and a round that must wait makes no
//! attempt (and counts nothing for the breaker). Deferred records stay in the ring.
//!
//! Defaults a user expects of a mobile SDK: the user's bucket waits for an unmetered
//! network unless `upload_on_metered` allows it; nothing is uploaded on low battery or in
//! power-save mode unless charging; no network, no attempt. Until the app reports
//! anything, conditions are [`Conditions::default`] (unmetered, not constrained), so a
//! desktop app or a CLI that never reports uploads as before.

use crate::status::DestinationKind;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The network the device is on, as the app's connectivity callback reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// No connection.
    None,
    /// A connection that may cost the user (mobile data, a metered hotspot).
    Metered,
    /// Wi-Fi or Ethernet.
    #[default]
    Unmetered,
}

/// What the app tells telemetry about the device.
///
/// ```
/// use locus_telemetry::{Conditions, Network};
/// let on_the_move = Conditions { network: Network::Metered, ..Conditions::default() };
/// assert!(!on_the_move.charging);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Conditions {
    /// The network.
    pub network: Network,
    /// Whether the device is charging.
    pub charging: bool,
    /// Whether the battery is low (Android's `ACTION_BATTERY_LOW`).
    pub battery_low: bool,
    /// Whether power-save mode is on.
    pub power_save: bool,
    /// Whether the app is in the background (no activity visible): gaps of watched
    /// loops are not hangs then (see `Telemetry::watch`). Uploads do not depend on it.
    pub background: bool,
    /// Whether the device dozes (Android's idle mode): gaps of watched loops are not
    /// hangs then. Uploads do not depend on it.
    pub doze: bool,
}

/// Why uploads are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadWait {
    /// The device has no network.
    NoNetwork,
    /// The network is metered and `upload_on_metered` is off.
    MeteredNetwork,
    /// The battery is low and the device is not charging.
    BatteryLow,
    /// Power-save mode is on and the device is not charging.
    PowerSave,
}

impl std::fmt::Display for UploadWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UploadWait::NoNetwork => "no network",
            UploadWait::MeteredNetwork => "metered network (upload_on_metered is off)",
            UploadWait::BatteryLow => "battery low and not charging",
            UploadWait::PowerSave => "power-save mode and not charging",
        })
    }
}

impl Conditions {
    /// Why an upload to `kind` must wait under these conditions (`None`: it may go).
    /// Community reports are a few hundred bytes: they may use a metered network.
    pub fn wait_for(&self, kind: DestinationKind, upload_on_metered: bool) -> Option<UploadWait> {
        match self.network {
            Network::None => return Some(UploadWait::NoNetwork),
            Network::Metered if kind == DestinationKind::S3 && !upload_on_metered => {
                return Some(UploadWait::MeteredNetwork)
            }
            _ => {}
        }
        if self.charging {
            None
        } else if self.battery_low {
            Some(UploadWait::BatteryLow)
        } else if self.power_save {
            Some(UploadWait::PowerSave)
        } else {
            None
        }
    }

    /// The bit of [`Conditions::background`] in the packed byte (pack, unpack and
    /// [`UploadGate::set_background`] share it).
    const BACKGROUND: u8 = 1 << 5;

    fn pack(self) -> u8 {
        let net = match self.network {
            Network::None => 0,
            Network::Metered => 1,
            Network::Unmetered => 2,
        };
        net | (u8::from(self.charging) << 2)
            | (u8::from(self.battery_low) << 3)
            | (u8::from(self.power_save) << 4)
            | if self.background { Self::BACKGROUND } else { 0 }
            | (u8::from(self.doze) << 6)
    }

    fn unpack(bits: u8) -> Conditions {
        Conditions {
            network: match bits & 3 {
                0 => Network::None,
                1 => Network::Metered,
                _ => Network::Unmetered,
            },
            charging: bits & (1 << 2) != 0,
            battery_low: bits & (1 << 3) != 0,
            power_save: bits & (1 << 4) != 0,
            background: bits & Self::BACKGROUND != 0,
            doze: bits & (1 << 6) != 0,
        }
    }

    /// Whether gaps of watched loops are not hangs now: background or doze.
    pub fn hangs_paused(&self) -> bool {
        self.background || self.doze
    }
}

/// The conditions as last reported, shared by the app's handle and the telemetry
/// thread (one atomic byte: reporting never blocks), with the metered-network setting.
#[derive(Debug, Clone)]
pub(crate) struct UploadGate {
    bits: Arc<AtomicU8>,
    upload_on_metered: bool,
}

impl UploadGate {
    pub fn new(upload_on_metered: bool) -> UploadGate {
        UploadGate {
            bits: Arc::new(AtomicU8::new(Conditions::default().pack())),
            upload_on_metered,
        }
    }

    /// Records what the app reports; returns whether anything changed.
    pub fn set(&self, conditions: Conditions) -> bool {
        self.bits.swap(conditions.pack(), Ordering::AcqRel) != conditions.pack()
    }

    /// Sets whether the app is in the background, leaving the other conditions as they
    /// are; returns the conditions now in effect.
    pub fn set_background(&self, background: bool) -> Conditions {
        let bit = Conditions::BACKGROUND;
        let old = if background {
            self.bits.fetch_or(bit, Ordering::AcqRel)
        } else {
            self.bits.fetch_and(!bit, Ordering::AcqRel)
        };
        Conditions::unpack(if background { old | bit } else { old & !bit })
    }

    pub fn get(&self) -> Conditions {
        Conditions::unpack(self.bits.load(Ordering::Acquire))
    }

    /// Why an upload to `kind` must wait now.
    pub fn wait_for(&self, kind: DestinationKind) -> Option<UploadWait> {
        self.get().wait_for(kind, self.upload_on_metered)
    }

    /// Whether uploads to either destination must wait now (`flush` and `shutdown` then
    /// cannot say everything was shipped).
    pub fn holds_any(&self) -> bool {
        [DestinationKind::S3, DestinationKind::Community]
            .into_iter()
            .any(|k| self.wait_for(k).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestinationKind::{Community, S3};

    fn c(network: Network, charging: bool, battery_low: bool, power_save: bool) -> Conditions {
        Conditions {
            network,
            charging,
            battery_low,
            power_save,
            ..Conditions::default()
        }
    }

    #[test]
    fn defaults_upload_and_every_condition_round_trips() {
        assert_eq!(Conditions::default().wait_for(S3, false), None);
        for net in [Network::None, Network::Metered, Network::Unmetered] {
            for bits in 0..8u8 {
                let x = c(net, bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                assert_eq!(Conditions::unpack(x.pack()), x);
                for (background, doze) in [(true, false), (false, true), (true, true)] {
                    let y = Conditions {
                        background,
                        doze,
                        ..x
                    };
                    assert_eq!(Conditions::unpack(y.pack()), y);
                    assert!(y.hangs_paused());
                    // Neither holds uploads back.
                    assert_eq!(y.wait_for(S3, true), x.wait_for(S3, true));
                }
            }
        }
    }

    #[test]
    fn the_rules_a_user_expects() {
        use Network::*;
        assert_eq!(
            c(None, true, false, false).wait_for(Community, true),
            Some(UploadWait::NoNetwork)
        );
        assert_eq!(
            c(Metered, false, false, false).wait_for(S3, false),
            Some(UploadWait::MeteredNetwork)
        );
        assert_eq!(
            c(Metered, false, false, false).wait_for(S3, true),
            Option::None
        );
        assert_eq!(
            c(Metered, false, false, false).wait_for(Community, false),
            Option::None
        );
        assert_eq!(
            c(Unmetered, false, true, false).wait_for(S3, false),
            Some(UploadWait::BatteryLow)
        );
        assert_eq!(
            c(Unmetered, false, false, true).wait_for(Community, false),
            Some(UploadWait::PowerSave)
        );
        assert_eq!(
            c(Unmetered, true, true, true).wait_for(S3, false),
            Option::None
        );
    }

    #[test]
    fn the_gate_reports_changes_only() {
        let gate = UploadGate::new(false);
        assert!(!gate.set(Conditions::default()));
        assert!(gate.set(c(Network::Metered, false, false, false)));
        assert_eq!(gate.wait_for(S3), Some(UploadWait::MeteredNetwork));
        let now = gate.set_background(true);
        assert!(now.background && now.network == Network::Metered);
        assert_eq!(gate.get(), now);
        assert!(!gate.set_background(false).background);
    }
}
