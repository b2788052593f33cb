//! `uniffi-bindgen`, pinned to the UniFFI version of `locus-telemetry-ffi`:
//! `uniffi-bindgen generate --library liblocus_telemetry_ffi.so --language kotlin --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
