//! The network's configuration: which of the paper's three networks, its input, code length and
//! classes. It is saved beside the weights (in the run folder and in the bundle), so a loaded
//! model always knows its own shape.

use serde::{Deserialize, Serialize};

/// The three networks of the paper's Table 3, plus the switches of its ablations (Tables 1–2).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Plain AlexNet: 11×11 conv1, last max pool, fc6/fc7 of 4096.
    Alexnet,
    /// AlexNet with SPP + PMT in place of the last pool.
    AlexnetSp,
    /// The paper's network: 5×5 conv1, a 1×1 conv + ReLU before conv2–conv5, SPP + PMT,
    /// fc6/fc7 of 1024.
    ImAlexnetSp,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::Alexnet, Arch::AlexnetSp, Arch::ImAlexnetSp];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Alexnet => "alexnet",
            Arch::AlexnetSp => "alexnet-sp",
            Arch::ImAlexnetSp => "im-alexnet-sp",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// Everything needed to build the network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Use SPP + PMT (true for the `-sp` networks; false is the "without SPP_PMT" ablation).
    pub spp_pmt: bool,
    /// 1 (grey all-sky frames) or 3 (colour).
    pub in_channels: usize,
    /// Side of the square input the network is trained at. With SPP any size works at
    /// inference; without SPP the flattened conv5 size fixes it.
    pub input_size: usize,
    /// Code length N of the hash layer.
    pub bits: usize,
    pub num_classes: usize,
    /// Width of fc6/fc7 (paper: 4096 for AlexNet, 1024 for Im-AlexNet). Smaller for tests.
    pub fc_width: usize,
    /// Multiplies every conv layer's channel count (1.0 = AlexNet's 96-256-384-384-256).
    /// Tiny configurations for CPU tests use e.g. 0.125.
    pub width: f32,
    pub dropout: f64,
}

/// Bounds that keep a configuration read from a file from asking for an unbounded allocation
/// (a 10⁶ px input is 10¹² bytes of activations): far above any model this project trains.
pub const MAX_INPUT: usize = 1024;
pub const MAX_FC: usize = 16384;
pub const MAX_CLASSES: usize = 10_000;

/// A configuration that cannot be built, with the value at fault.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("bits must be between 1 and 1024, got {0}")]
    Bits(usize),
    #[error("the classifier needs at least 2 classes, got {0}")]
    Classes(usize),
    #[error("in_channels must be 1 or 3, got {0}")]
    Channels(usize),
    #[error("input size {size} px is too small for {arch} (needs at least {min} px)")]
    InputTooSmall { size: usize, arch: &'static str, min: usize },
    #[error("width must be in (0, 4], got {0}")]
    Width(f32),
    #[error("input size {0} px is too large (at most {MAX_INPUT} px; the paper uses 224)")]
    InputTooLarge(usize),
    #[error("fc_width must be between 1 and {MAX_FC}, got {0}")]
    FcWidth(usize),
    #[error("num_classes must be at most {MAX_CLASSES}, got {0}")]
    TooManyClasses(usize),
    #[error("dropout must be in [0, 1), got {0}")]
    Dropout(f64),
}

impl ModelConfig {
    /// The paper's settings for `arch`.
    pub fn paper(arch: Arch, bits: usize, num_classes: usize, in_channels: usize, input_size: usize) -> Self {
        Self {
            arch,
            spp_pmt: arch != Arch::Alexnet,
            in_channels,
            input_size,
            bits,
            num_classes,
            fc_width: if arch == Arch::ImAlexnetSp { 1024 } else { 4096 },
            width: 1.0,
            dropout: 0.5,
        }
    }

    pub fn improved(&self) -> bool {
        self.arch == Arch::ImAlexnetSp
    }

    /// Conv channel counts after the width multiplier: conv1 … conv5.
    pub fn channels(&self) -> [usize; 5] {
        [96, 256, 384, 384, 256].map(|c| ((c as f32 * self.width).round() as usize).max(4))
    }

    /// (kernel, stride, padding) of conv1.
    pub fn conv1(&self) -> (usize, usize, usize) {
        if self.improved() { (5, 4, 2) } else { (11, 4, 2) }
    }

    /// Spatial side after conv5 (before the last pool) for an input of `size` px.
    pub fn conv5_side(&self, size: usize) -> Option<usize> {
        let (k, s, p) = self.conv1();
        let conv = |n: usize, k: usize, s: usize, p: usize| (n + 2 * p).checked_sub(k).map(|v| v / s + 1);
        let n = conv(size, k, s, p)?;
        let n = conv(n, 3, 2, 0)?; // pool1
        let n = conv(n, 3, 2, 0)?; // pool2 (conv2 keeps the size)
        Some(n)
    }

    /// Length of the vector entering fc6.
    pub fn fc6_inputs(&self) -> usize {
        let c5 = self.channels()[4];
        if self.spp_pmt {
            // 4×4 + 2×2 + 1×1 bins per channel; PMT doubles it ([ln, ln²]).
            2 * 21 * c5
        } else {
            let n = self.conv5_side(self.input_size).and_then(|n| n.checked_sub(3).map(|v| v / 2 + 1)).unwrap_or(0);
            c5 * n * n
        }
    }

    /// Smallest input side this configuration accepts.
    pub fn min_input(&self) -> usize {
        (1..4096)
            .find(|&s| match self.conv5_side(s) {
                Some(n) => self.spp_pmt || n >= 3,
                None => false,
            })
            .unwrap_or(4096)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1024).contains(&self.bits) {
            return Err(ConfigError::Bits(self.bits));
        }
        if self.num_classes < 2 {
            return Err(ConfigError::Classes(self.num_classes));
        }
        if self.num_classes > MAX_CLASSES {
            return Err(ConfigError::TooManyClasses(self.num_classes));
        }
        if self.in_channels != 1 && self.in_channels != 3 {
            return Err(ConfigError::Channels(self.in_channels));
        }
        if !(self.width > 0.0 && self.width <= 4.0) {
            return Err(ConfigError::Width(self.width));
        }
        if self.fc_width == 0 || self.fc_width > MAX_FC {
            return Err(ConfigError::FcWidth(self.fc_width));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ConfigError::Dropout(self.dropout));
        }
        let min = self.min_input();
        if self.input_size < min {
            return Err(ConfigError::InputTooSmall { size: self.input_size, arch: self.arch.name(), min });
        }
        if self.input_size > MAX_INPUT {
            return Err(ConfigError::InputTooLarge(self.input_size));
        }
        Ok(())
    }
}
