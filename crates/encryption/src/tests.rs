use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const SECRET: &str = "{\"password\":\"hunter2-distinctive\"}";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn enc(pairs: &[(&str, &str)]) -> Encryption {
    Encryption::from_env(&env(pairs)).unwrap()
}

#[test]
fn a_raw_key_round_trips_and_hides_the_plaintext() {
    let e = enc(&[(KEY_VAR, KEY_A)]);
    assert!(e.writes_encrypted());
    let stored = e.encode("state", SECRET).unwrap();
    assert!(is_sealed(&stored));
    assert!(!stored.contains("hunter2"), "{stored}");
    assert!(!stored.contains('\n'), "one line");
    assert_eq!(
        e.decode("state", &stored, "s.json").unwrap(),
        Decoded {
            text: SECRET.into(),
            sealed: true
        }
    );
    // A fresh nonce per write: the same plaintext never seals to the same bytes.
    assert_ne!(stored, e.encode("state", SECRET).unwrap());
}

#[test]
fn a_passphrase_derives_a_key_with_a_salt_and_rotation_reads_with_the_fallback() {
    let old = enc(&[(PASSPHRASE_VAR, "correct horse battery staple")]);
    let stored = old.encode("plan", SECRET).unwrap();
    let envelope: Envelope = serde_json::from_str(&stored).unwrap();
    assert_eq!(envelope.kdf, "pbkdf2-sha256");
    assert_eq!(envelope.iterations, PBKDF2_ITERATIONS);
    assert_eq!(BASE64.decode(&envelope.salt).unwrap().len(), SALT_BYTES);

    // Rotation: the new key writes, the old one (fallback) still reads.
    let rotated = enc(&[
        (KEY_VAR, KEY_B),
        (PASSPHRASE_FALLBACK_VAR, "correct horse battery staple"),
    ]);
    assert_eq!(rotated.decode("plan", &stored, "p").unwrap().text, SECRET);
    let rewritten = rotated.encode("plan", SECRET).unwrap();
    let new_only = enc(&[(KEY_VAR, KEY_B)]);
    assert_eq!(
        new_only.decode("plan", &rewritten, "p").unwrap().text,
        SECRET
    );
    // Without the fallback, the old file is refused by name, never naming a key.
    let e = new_only.decode("plan", &stored, "plan.out").unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, EncryptionError::WrongKey { .. }), "{m}");
    assert!(
        m.starts_with("plan.out was encrypted with a key (key id "),
        "{m}"
    );
    assert!(!m.contains("correct horse") && !m.contains(KEY_B), "{m}");
}

#[test]
fn a_changed_byte_a_moved_envelope_or_a_wrong_header_does_not_open() {
    let e = enc(&[(KEY_VAR, KEY_A)]);
    let stored = e.encode("journal", SECRET).unwrap();
    // Another context (a journal line pasted into the snapshot) fails authentication.
    assert!(matches!(
        e.decode("state", &stored, "s").unwrap_err(),
        EncryptionError::Tampered { .. }
    ));
    let mut envelope: Envelope = serde_json::from_str(&stored).unwrap();
    let mut c = BASE64.decode(&envelope.ciphertext).unwrap();
    c[0] ^= 1;
    envelope.ciphertext = BASE64.encode(c);
    assert!(matches!(
        e.open("journal", &envelope, "s").unwrap_err(),
        EncryptionError::Tampered { .. }
    ));
    let mut newer: Envelope = serde_json::from_str(&stored).unwrap();
    newer.planform_encryption = 2;
    assert!(matches!(
        e.open("journal", &newer, "s").unwrap_err(),
        EncryptionError::TooNew { version: 2, .. }
    ));
    let mut weak: Envelope = serde_json::from_str(&stored).unwrap();
    weak.kdf = "pbkdf2-sha256".into();
    weak.iterations = 1;
    assert!(matches!(
        e.open("journal", &weak, "s").unwrap_err(),
        EncryptionError::Malformed { .. }
    ));
}

#[test]
fn plaintext_is_refused_when_on_unless_migrating_and_envelopes_need_a_key() {
    let on = enc(&[(KEY_VAR, KEY_A)]);
    let e = on.decode("state", "{\"version\":1}", "s.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.json is not encrypted, but encryption is on (PLANFORM_ENCRYPTION_KEY is set): to read it and write it back encrypted, run once with PLANFORM_ENCRYPTION_MIGRATE=encrypt; it was left untouched"
    );
    let migrating = enc(&[(KEY_VAR, KEY_A), (MIGRATE_VAR, "encrypt")]);
    assert!(!migrating.decode("state", "{}", "s").unwrap().sealed);
    assert!(migrating.writes_encrypted());

    let sealed = on.encode("state", SECRET).unwrap();
    let off = Encryption::off();
    assert!(!off.writes_encrypted());
    assert_eq!(off.encode("state", SECRET).unwrap(), SECRET);
    assert_eq!(
        off.decode("state", &sealed, "s.json").unwrap_err().to_string(),
        "s.json is encrypted, but no encryption key is set: set PLANFORM_ENCRYPTION_KEY or PLANFORM_ENCRYPTION_PASSPHRASE (the key it was written with) to read it"
    );
    // Decrypting: the keys read, writes are plaintext.
    let decrypting = enc(&[(KEY_VAR, KEY_A), (MIGRATE_VAR, "decrypt")]);
    assert!(!decrypting.writes_encrypted());
    assert_eq!(
        decrypting.decode("state", &sealed, "s").unwrap().text,
        SECRET
    );
    assert_eq!(decrypting.encode("state", SECRET).unwrap(), SECRET);
}

#[test]
fn json_values_round_trip_as_envelope_objects() {
    let e = enc(&[(KEY_VAR, KEY_A)]);
    let v = serde_json::json!({"plan_id": "plan-1", "applied": {"parameters": {"p": "hunter2"}}});
    let stored = e.encode_value("pg:ws:a", v.clone()).unwrap();
    assert!(is_sealed_value(&stored));
    assert!(!stored.to_string().contains("hunter2"));
    assert_eq!(
        e.decode_value("pg:ws:a", stored.clone(), "row a").unwrap(),
        v
    );
    assert!(e.decode_value("pg:ws:b", stored, "row b").is_err());
    assert_eq!(Encryption::off().encode_value("x", v.clone()).unwrap(), v);
}

#[test]
fn stale_is_what_a_run_rewrites_other_form_or_other_key() {
    let a = enc(&[(KEY_VAR, KEY_A)]);
    let by_a = a.encode("state", SECRET).unwrap();
    let by_a_row = a
        .encode_value("pg:ws:a", serde_json::json!({"p": 1}))
        .unwrap();
    let plain_row = serde_json::json!({"p": 1});
    // As this run writes: nothing to rewrite.
    assert!(!a.is_stale(&by_a));
    assert!(!a.is_stale_value(&by_a_row));
    assert!(!Encryption::off().is_stale(SECRET));
    assert!(!Encryption::off().is_stale_value(&plain_row));
    // Turning it on: plaintext is stale.
    let encrypting = enc(&[(KEY_VAR, KEY_A), (MIGRATE_VAR, "encrypt")]);
    assert!(encrypting.is_stale(SECRET));
    assert!(encrypting.is_stale_value(&plain_row));
    assert!(!encrypting.is_stale(&by_a));
    // Turning it off: every envelope is stale, plaintext is not.
    let decrypting = enc(&[(KEY_VAR, KEY_A), (MIGRATE_VAR, "decrypt")]);
    assert!(decrypting.is_stale(&by_a));
    assert!(decrypting.is_stale_value(&by_a_row));
    assert!(!decrypting.is_stale_value(&plain_row));
    // Rotation: what the fallback opens is stale, what the new primary wrote is not.
    let rotated = enc(&[(KEY_VAR, KEY_B), (KEY_FALLBACK_VAR, KEY_A)]);
    assert_eq!(rotated.decode("state", &by_a, "s").unwrap().text, SECRET);
    assert!(rotated.is_stale(&by_a));
    assert!(rotated.is_stale_value(&by_a_row));
    assert!(!rotated.is_stale(&rotated.encode("state", SECRET).unwrap()));
    // A damaged header is stale (and `decode` refuses it anyway).
    let mut bad = by_a_row.clone();
    bad["iterations"] = serde_json::json!(u64::MAX);
    assert!(a.is_stale_value(&bad));
}

#[test]
fn a_passphrase_envelope_of_an_earlier_run_is_not_stale_despite_its_other_salt() {
    let earlier = enc(&[(PASSPHRASE_VAR, "correct horse battery staple")]);
    let stored = earlier
        .encode_value("pg:ws:a", serde_json::json!({"p": 1}))
        .unwrap();
    let now = enc(&[(PASSPHRASE_VAR, "correct horse battery staple")]);
    assert_ne!(
        serde_json::to_value(now.seal("c", b"x").unwrap()).unwrap()["salt"],
        stored["salt"],
        "each run derives with its own salt"
    );
    assert!(!now.is_stale_value(&stored));
    let rotated = enc(&[
        (PASSPHRASE_VAR, "another passphrase, the new one"),
        (PASSPHRASE_FALLBACK_VAR, "correct horse battery staple"),
    ]);
    assert!(rotated.is_stale_value(&stored));
}

#[test]
fn bad_settings_name_the_variable_and_the_rule_never_the_value() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(KEY_VAR, "not base64!")],
            "PLANFORM_ENCRYPTION_KEY is not usable: must be base64",
        ),
        (
            &[(KEY_VAR, "c2hvcnQ=")],
            "PLANFORM_ENCRYPTION_KEY is not usable: must be 32 bytes in base64 (make one with `openssl rand -base64 32`); it decodes to 5 bytes",
        ),
        (
            &[(PASSPHRASE_VAR, "too-short")],
            "PLANFORM_ENCRYPTION_PASSPHRASE is not usable: must be at least 16 characters",
        ),
        (
            &[(KEY_VAR, KEY_A), (PASSPHRASE_VAR, "long enough passphrase")],
            "set only one of",
        ),
        (&[(MIGRATE_VAR, "encrypt")], "=encrypt needs the key"),
        (&[(MIGRATE_VAR, "decrypt")], "=decrypt needs the key"),
        (&[(KEY_VAR, KEY_A), (MIGRATE_VAR, "yes")], "must be `encrypt`"),
        (&[(KEY_FALLBACK_VAR, KEY_A)], "a fallback key only reads"),
    ];
    for (pairs, expected) in cases {
        let e = Encryption::from_env(&env(pairs)).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
        for (_, v) in *pairs {
            if v.len() > 8 {
                assert!(!e.contains(v), "{e} repeats a value");
            }
        }
    }
    // Empty variables are unset (CI templates often export empty ones).
    assert!(!enc(&[(KEY_VAR, ""), (MIGRATE_VAR, "")]).writes_encrypted());
    assert_eq!(
        format!("{:?}", enc(&[(KEY_VAR, KEY_A)])),
        "Encryption { mode: On, keys: [\"PLANFORM_ENCRYPTION_KEY\"] }"
    );
}

proptest! {
    /// Any text survives a round trip; any corruption of an envelope is an error, never a
    /// panic or a different plaintext.
    #[test]
    fn round_trips_and_corruption_is_detected(text in ".{0,200}", at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let e = Encryption::with_key([7; 32]);
        let stored = e.encode("c", &text).unwrap();
        prop_assert_eq!(&e.decode("c", &stored, "f").unwrap().text, &text);
        let mut bytes = stored.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(s) = String::from_utf8(bytes) {
            if let Ok(d) = e.decode("c", &s, "f") {
                // Only a change that JSON or base64 reads the same (an escape, padding bits)
                // may still open, and then to the same text.
                prop_assert_eq!(d.text, text);
            }
        }
    }
}
