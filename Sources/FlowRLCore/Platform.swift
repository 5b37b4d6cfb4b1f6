// The C library (libm's `exp`, `log`, `pow`, ...; `fsync`, `rename`, `dlsym`), imported once for
// every file of FlowRLCore and, through FlowRL's re-export of this module, of FlowRL.
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif
