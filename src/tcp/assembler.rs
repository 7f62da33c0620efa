//! A bounded out-of-order assembler for one direction of a TCP connection.
