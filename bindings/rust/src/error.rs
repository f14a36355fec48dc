//! Errors: one variant per SPL_E* code of the header, `Os` for any other
//! `-errno` the library passes through.
use std::ffi::CStr;
use std::fmt;

use crate::sys;

macro_rules! errors {
    ($($var:ident = $code:literal, $name:literal;)*) => {
        /// A libsplinter error.  `name()` is the C name (`"SPL_EAGAIN"`),
        /// `code()` the negative number, `Display` the library's text.
        /// "Not found" is mostly not an error here: lookups return `Option`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Error {
            $($var,)*
            /// Another operating-system error, as `-errno`.
            Os(i32),
        }

        impl Error {
            /// The error for a negative return code.
            pub fn from_code(code: i32) -> Error {
                match code {
                    $($code => Error::$var,)*
                    c => Error::Os(c),
                }
            }

            /// The negative code (as the C functions return it).
            pub fn code(&self) -> i32 {
                match *self {
                    $(Error::$var => $code,)*
                    Error::Os(c) => c,
                }
            }

            /// The C name, e.g. `"SPL_EAGAIN"` (`"SPL_E?"` for `Os`).
            pub fn name(&self) -> &'static str {
                match *self {
                    $(Error::$var => $name,)*
                    Error::Os(_) => "SPL_E?",
                }
            }

            /// Every named variant with its code and C name (tests compare
            /// this with SPL_ERRNO_MAP in the header).
            pub const ALL: &'static [(Error, i32, &'static str)] = &[$((Error::$var, $code, $name),)*];
        }
    };
}

errors! {
    Again = -11, "SPL_EAGAIN";
    NotFound = -2, "SPL_ENOENT";
    Exists = -17, "SPL_EEXIST";
    Invalid = -22, "SPL_EINVAL";
    NoMem = -12, "SPL_ENOMEM";
    Access = -13, "SPL_EACCES";
    ReadOnly = -30, "SPL_EROFS";
    TooBig = -7, "SPL_E2BIG";
    NoBufs = -105, "SPL_ENOBUFS";
    TimedOut = -110, "SPL_ETIMEDOUT";
    Overflow = -75, "SPL_EOVERFLOW";
    KeyLen = -1000, "SPL_EKEYLEN";
    Full = -1001, "SPL_EFULL";
    Magic = -1002, "SPL_EMAGIC";
    Version = -1003, "SPL_EVERSION";
    Layout = -1004, "SPL_ELAYOUT";
    Size = -1005, "SPL_ESIZE";
    Geometry = -1006, "SPL_EGEOMETRY";
    Init = -1007, "SPL_EINIT";
    Corrupt = -1008, "SPL_ECORRUPT";
    Type = -1009, "SPL_ETYPE";
    Stale = -1010, "SPL_ESTALE";
    Owner = -1011, "SPL_EOWNER";
    Mode = -1012, "SPL_EMODE";
    NotReg = -1013, "SPL_ENOTREG";
    Name = -1014, "SPL_ENAME";
    Format = -1015, "SPL_EFORMAT";
    NaN = -1016, "SPL_ENAN";
    Dim = -1017, "SPL_EDIM";
    NoVec = -1018, "SPL_ENOVEC";
    Range = -1019, "SPL_ERANGE";
    NotSup = -95, "SPL_ENOTSUP";
    NoNode = -1020, "SPL_ENODE";
    NoHuge = -1021, "SPL_ENOHUGE";
    Unsealed = -1022, "SPL_EUNSEALED";
    NoCell = -1023, "SPL_ENOCELL";
    FragAbi = -1100, "SPL_EABI";
    FragNoSym = -1101, "SPL_ENOSYM";
    FragLoad = -1102, "SPL_ELOAD";
    FragNoHost = -1103, "SPL_ENOHOST";
}

impl Error {
    /// The library's text for the code (spl_strerror).
    pub fn text(&self) -> &'static str {
        // SAFETY: spl_strerror returns a static NUL-terminated string, never NULL.
        unsafe { CStr::from_ptr(sys::spl_strerror(self.code())) }
            .to_str()
            .unwrap_or("?")
    }

    /// Contention (SPL_EAGAIN): retry, or wait (the default of a Store).
    pub fn is_again(&self) -> bool {
        *self == Error::Again
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Os(c) => write!(f, "{}", std::io::Error::from_raw_os_error(-c)),
            _ => write!(f, "{}: {}", self.name(), self.text()),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind as K;
        let kind = match e {
            Error::Os(c) => return std::io::Error::from_raw_os_error(-c),
            Error::NotFound | Error::NoVec => K::NotFound,
            Error::Exists => K::AlreadyExists,
            Error::Again => K::WouldBlock,
            Error::TimedOut => K::TimedOut,
            Error::Access | Error::ReadOnly | Error::Owner | Error::Mode => K::PermissionDenied,
            Error::Invalid | Error::KeyLen | Error::Dim | Error::NaN | Error::Range => {
                K::InvalidInput
            }
            Error::NoMem => K::OutOfMemory,
            Error::NotSup => K::Unsupported,
            _ => K::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// 0 or a positive value is success; a negative one an error.
#[inline]
pub(crate) fn check(rc: i32) -> Result<i32> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else {
        Ok(rc)
    }
}
