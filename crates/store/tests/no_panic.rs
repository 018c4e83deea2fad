//! Property tests for the parsers reachable from untrusted input (pagination
//! cursors and ids from query strings, JSONL lines of exports, stored audit
//! rows): they return errors, never panic, and round-trip what they accept.

use proptest::prelude::*;
use zenalyze_store::audit::{canonical_bytes, parse_json_line, ChainVerifier};
use zenalyze_store::*;

fn arb_opaque() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,40}"
}

prop_compose! {
    fn arb_event()(
        seq in 1u64..1_000_000,
        time in "[0-9T:.Z-]{1,30}",
        tenant in proptest::option::of(arb_opaque()),
        actor in arb_opaque(),
        subject in proptest::option::of(arb_opaque()),
        operation in "[a-z0-9._:-]{1,20}",
        resource in proptest::option::of(arb_opaque()),
        result in "[a-z_]{1,12}",
        request in arb_opaque(),
        prev in any::<[u8; 32]>(),
    ) -> AuditEvent {
        let mut e = AuditEvent {
            seq,
            time,
            tenant_id: tenant,
            actor,
            subject,
            operation,
            resource_id: resource,
            result,
            request_id: request,
            prev_hash: prev,
            hash: [0; 32],
        };
        e.hash = e.compute_hash();
        e
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cursor_decode_never_panics(text in ".{0,300}") {
        let _ = Cursor::decode(&text);
    }

    #[test]
    fn cursor_decode_of_base64_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        if let Ok(c) = Cursor::decode(&text) {
            // Whatever is accepted re-encodes to an equivalent cursor.
            prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn id_parsers_never_panic(text in ".{0,200}") {
        let _ = TenantId::parse(&text);
        let _ = ApiKeyId::parse(&text);
        let _ = RecordId::parse(&text);
        let _ = UserId::parse(&text);
        let _ = OpaqueId::parse(&text);
        let _ = Actor::parse(&text);
        let _ = Operation::parse(&text);
        let _ = AuditResult::parse(&text);
        let _ = Tier::parse(&text);
        let _ = KeyKind::parse(&text);
    }

    #[test]
    fn accepted_ids_round_trip(text in "[A-Za-z0-9._:@ -]{0,140}") {
        if let Ok(u) = UserId::parse(&text) {
            prop_assert_eq!(u.as_str(), text.as_str());
            prop_assert!(!text.contains('@') && !text.contains(' '));
        }
    }

    #[test]
    fn json_line_parser_never_panics(text in ".{0,400}") {
        let _ = parse_json_line(&text);
    }

    #[test]
    fn json_lines_round_trip_and_verify(e in arb_event()) {
        let line = e.to_json_line();
        let back = parse_json_line(&line).unwrap();
        prop_assert_eq!(&back, &e);
        let mut v = ChainVerifier::starting_after(AuditHead { seq: e.seq - 1, hash: e.prev_hash });
        prop_assert!(v.push(Ok(&back)));
    }

    #[test]
    fn canonical_encoding_is_injective(a in arb_event(), b in arb_event()) {
        let mut a2 = a.clone();
        a2.prev_hash = [0; 32];
        let mut b2 = b.clone();
        b2.prev_hash = [0; 32];
        a2.hash = [0; 32];
        b2.hash = [0; 32];
        if a2 != b2 {
            prop_assert_ne!(canonical_bytes(&a2), canonical_bytes(&b2));
        }
    }

    #[test]
    fn any_single_field_edit_is_detected(e in arb_event(), field in 0usize..9, junk in arb_opaque()) {
        let mut edited = e.clone();
        match field {
            0 => edited.seq = edited.seq.wrapping_add(1),
            1 => edited.time.push('0'),
            2 => edited.tenant_id = if edited.tenant_id.is_some() { None } else { Some(junk) },
            3 => edited.actor.push('x'),
            4 => edited.subject = if edited.subject.is_some() { None } else { Some(junk) },
            5 => edited.operation.push('x'),
            6 => edited.resource_id = if edited.resource_id.is_some() { None } else { Some(junk) },
            7 => edited.result.push('x'),
            _ => edited.request_id.push('x'),
        }
        prop_assert_ne!(edited.compute_hash(), e.hash);
    }
}
