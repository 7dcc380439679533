//! Target `specs`: the parsers of the config's spec strings and of launch lines, on arbitrary
//! text: `profile_NAME` (`Profile::parse`), `tenant_NAME` (`tenant::Limits::parse`), the launch
//! options `--profile=` / `--tenant=` (`LaunchOptions::take`) and the config's counts and sizes.
//!
//! Checks: errors, never panics (overflow checks are on in the fuzz build); a parsed profile is
//! within itself and within `trusted`; taking the launch options out of what is left finds no
//! more of them and leaves it unchanged; a tenant always gets at least one worker.

#![no_main]

use libfuzzer_sys::fuzz_target;
use skybox::core::profile::Profile;
use skybox::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = Profile::parse("fuzz", text) {
        assert!(profile.within(&profile), "a profile is not within itself: {text:?}");
        assert!(profile.within(&Profile::trusted()), "a profile is not within trusted: {text:?}");
        // The socket checks on the grants it parsed, at the edges of the port range.
        for port in [0, 1, u16::MAX] {
            let _ = profile.net().may_listen(port) && profile.net().may_connect("localhost", port);
        }
    }
    for threads in [1, 8] {
        if let Ok(limits) = fuzzing::parse_tenant("fuzz", text, threads) {
            assert!(limits[5] >= 1, "a tenant with no worker: {text:?}");
        }
    }
    if let Ok((_, _, rest)) = fuzzing::take_launch_options(text) {
        let again = fuzzing::take_launch_options(&rest).expect("what is left parses again");
        assert_eq!(again, (None, None, rest.clone()), "taking the options is not idempotent: {text:?}");
    }
    let _ = fuzzing::parse_count(text);
    let _ = fuzzing::parse_bytes(text);
});
