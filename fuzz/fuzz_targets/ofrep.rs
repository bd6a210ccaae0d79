//! OFREP request bodies: any bytes go through exactly the endpoints' parse (`parse_ofrep_body`); a
//! body it accepts evaluates every flag of a snapshot with varied targeting to a value or an error.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::ofrep::run(data));
