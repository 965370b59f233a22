//! The release format's safety properties, through the public API: every way a
//! release can be wrong is refused with its own error, and nothing else is.

use proptest::prelude::*;
use sluice_protocol::*;

const NOW: u64 = 1_800_000_000;

struct Operator {
    root: SecretKey,
    signer: SecretKey,
    trust: TrustRoot,
    statement: Envelope,
}

fn operator() -> Operator {
    let root = SecretKey::from_seed([1; 32]);
    let signer = SecretKey::from_seed([2; 32]);
    let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
    let statement = KeyStatement::new(1, NOW - 1000, vec![signer.public_key()], vec![])
        .unwrap()
        .sign(&[&root]);
    Operator {
        root,
        signer,
        trust,
        statement,
    }
}

fn info() -> ReleaseInfo {
    ReleaseInfo {
        version: "2.1.0".into(),
        hardware: vec!["cam-v2".into(), "cam-v3".into()],
        security_version: 7,
        created_at: NOW - 100,
        expires_at: NOW + 100,
    }
}

fn device() -> DeviceFacts {
    DeviceFacts {
        hardware: "cam-v2".into(),
        committed_security_version: 7,
        now: NOW,
    }
}

/// Packs `image` and returns the signed manifest bytes and the chunks.
fn pack(
    image: &[u8],
    chunk_size: usize,
    info: ReleaseInfo,
    signer: &SecretKey,
    statement: &Envelope,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut builder = ManifestBuilder::new(Limits::default());
    let chunks: Vec<Vec<u8>> = image.chunks(chunk_size).map(<[u8]>::to_vec).collect();
    for chunk in &chunks {
        builder.add_chunk(chunk).unwrap();
    }
    let manifest = builder.finish(info, signer.key_id()).unwrap();
    let signed = SignedManifest::sign(&manifest, signer, statement.clone()).unwrap();
    (signed.to_bytes(), chunks)
}

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn verify_everything(op: &Operator, bytes: &[u8], chunks: &[Vec<u8>]) -> Result<(), Error> {
    let release = Verifier::new(op.trust.clone()).verify_for_device(bytes, &device())?;
    for (i, chunk) in chunks.iter().enumerate() {
        release.verify_chunk(i, chunk)?;
    }
    let mut whole = release.image_verifier();
    for chunk in chunks {
        whole.update(chunk)?;
    }
    whole.finish()
}

#[test]
fn round_trip_for_every_shape_of_image() {
    let op = operator();
    let cs = 4096;
    for len in [0, 1, cs, cs + 1, 10 * cs + 17] {
        let img = image(len);
        let (bytes, chunks) = pack(&img, cs, info(), &op.signer, &op.statement);
        verify_everything(&op, &bytes, &chunks).unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        assert_eq!(chunks.len(), len.div_ceil(cs));
    }
    // And the default chunk size.
    let img = image(3 * DEFAULT_CHUNK_SIZE as usize + 5);
    let (bytes, chunks) = pack(
        &img,
        DEFAULT_CHUNK_SIZE as usize,
        info(),
        &op.signer,
        &op.statement,
    );
    assert_eq!(chunks.len(), 4);
    verify_everything(&op, &bytes, &chunks).unwrap();
}

#[test]
fn image_streamed_in_odd_pieces_verifies() {
    let op = operator();
    let img = image(10_000);
    let (bytes, _) = pack(&img, 1024, info(), &op.signer, &op.statement);
    let release = Verifier::new(op.trust.clone()).verify(&bytes, NOW).unwrap();
    let mut whole = release.image_verifier();
    for piece in img.chunks(333) {
        whole.update(piece).unwrap();
    }
    assert_eq!(whole.received(), 10_000);
    whole.finish().unwrap();
}

#[test]
fn a_flipped_byte_in_any_chunk_is_refused_naming_the_chunk() {
    let op = operator();
    let (bytes, chunks) = pack(
        &image(5 * 1024 + 3),
        1024,
        info(),
        &op.signer,
        &op.statement,
    );
    let release = Verifier::new(op.trust.clone()).verify(&bytes, NOW).unwrap();
    for (i, chunk) in chunks.iter().enumerate() {
        for pos in [0, chunk.len() / 2, chunk.len() - 1] {
            let mut bad = chunk.clone();
            bad[pos] ^= 0x01;
            match release.verify_chunk(i, &bad) {
                Err(Error::ChunkDigestMismatch {
                    index, expected, ..
                }) => {
                    assert_eq!(index, i);
                    assert_eq!(expected, Digest::of(chunk));
                }
                other => panic!("chunk {i} byte {pos}: {other:?}"),
            }
            // The streaming image check catches it too.
            let mut whole = release.image_verifier();
            let result = chunks
                .iter()
                .enumerate()
                .try_for_each(|(j, c)| whole.update(if j == i { &bad } else { c }));
            assert!(matches!(result, Err(Error::ChunkDigestMismatch { index, .. }) if index == i));
        }
    }
}

#[test]
fn chunks_longer_or_shorter_than_stated_are_refused() {
    let op = operator();
    let (bytes, chunks) = pack(&image(3000), 1024, info(), &op.signer, &op.statement);
    let release = Verifier::new(op.trust.clone()).verify(&bytes, NOW).unwrap();
    let mut long = chunks[1].clone();
    long.push(0);
    assert!(matches!(
        release.verify_chunk(1, &long),
        Err(Error::ChunkTooLong {
            index: 1,
            expected: 1024,
            ..
        })
    ));
    assert!(matches!(
        release.verify_chunk(1, &chunks[1][..1000]),
        Err(Error::ChunkTooShort {
            index: 1,
            expected: 1024,
            actual: 1000,
            ..
        })
    ));
    assert!(matches!(
        release.verify_chunk(3, &chunks[0]),
        Err(Error::NoSuchChunk { index: 3, count: 3 })
    ));
    // An endless stream is cut at the first byte past the chunk.
    let mut stream = release.chunk_verifier(2).unwrap();
    stream.update(&chunks[2]).unwrap();
    assert!(matches!(
        stream.update(&[0]),
        Err(Error::ChunkTooLong { index: 2, .. })
    ));
}

#[test]
fn an_image_longer_or_shorter_than_stated_is_refused() {
    let op = operator();
    let img = image(3000);
    let (bytes, _) = pack(&img, 1024, info(), &op.signer, &op.statement);
    let release = Verifier::new(op.trust.clone()).verify(&bytes, NOW).unwrap();
    let mut whole = release.image_verifier();
    whole.update(&img).unwrap();
    assert_eq!(
        whole.update(&[0]),
        Err(Error::ImageTooLong { expected: 3000 })
    );
    let mut whole = release.image_verifier();
    whole.update(&img[..2999]).unwrap();
    assert_eq!(
        whole.finish(),
        Err(Error::ImageTooShort {
            expected: 3000,
            actual: 2999
        })
    );
}

#[test]
fn an_image_digest_that_disagrees_with_its_chunks_is_refused() {
    let op = operator();
    let img = image(2000);
    let mut builder = ManifestBuilder::new(Limits::default());
    builder.add_chunk(&img[..1000]).unwrap();
    builder.add_chunk(&img[1000..]).unwrap();
    let mut manifest = builder.finish(info(), op.signer.key_id()).unwrap();
    manifest.image.sha256 = Digest::of(b"something else");
    let bytes = SignedManifest::sign(&manifest, &op.signer, op.statement.clone())
        .unwrap()
        .to_bytes();
    let release = Verifier::new(op.trust.clone()).verify(&bytes, NOW).unwrap();
    let mut whole = release.image_verifier();
    whole.update(&img).unwrap();
    assert!(matches!(
        whole.finish(),
        Err(Error::ImageDigestMismatch { .. })
    ));
}

#[test]
fn a_changed_manifest_or_signature_is_refused() {
    let op = operator();
    let (bytes, _) = pack(&image(5000), 1024, info(), &op.signer, &op.statement);
    let verifier = Verifier::new(op.trust.clone());
    let signed = SignedManifest::from_bytes(&bytes, &Limits::default()).unwrap();

    // The payload re-encoded with a different field value: signature no longer matches.
    let mut tampered = signed.clone();
    let text = String::from_utf8(tampered.manifest.payload.clone()).unwrap();
    tampered.manifest.payload = text
        .replace("\"security_version\":7", "\"security_version\":9")
        .into_bytes();
    assert_ne!(tampered, signed);
    assert_eq!(
        verifier.verify(&tampered.to_bytes(), NOW).unwrap_err(),
        Error::BadSignature {
            key_id: op.signer.key_id()
        }
    );

    // A flipped bit in the signature.
    let mut tampered = signed.clone();
    tampered.manifest.signatures[0].sig[10] ^= 0x04;
    assert_eq!(
        verifier.verify(&tampered.to_bytes(), NOW).unwrap_err(),
        Error::BadSignature {
            key_id: op.signer.key_id()
        }
    );

    // A flipped byte anywhere in the file.
    for pos in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x20;
        assert!(
            verifier.verify(&bad, NOW).is_err(),
            "flip at byte {pos} verified"
        );
    }

    // The manifest re-wrapped as another payload type.
    let mut retyped = signed.clone();
    retyped.manifest.payload_type = KEY_STATEMENT_TYPE.into();
    assert!(matches!(
        verifier.verify(&retyped.to_bytes(), NOW),
        Err(Error::WrongPayloadType { .. })
    ));

    // Zero or two signatures.
    let mut unsigned = signed.clone();
    unsigned.manifest.signatures.clear();
    assert_eq!(
        verifier.verify(&unsigned.to_bytes(), NOW).unwrap_err(),
        Error::SignatureCount { found: 0 }
    );
    let mut doubled = signed;
    doubled
        .manifest
        .signatures
        .push(doubled.manifest.signatures[0].clone());
    assert_eq!(
        verifier.verify(&doubled.to_bytes(), NOW).unwrap_err(),
        Error::SignatureCount { found: 2 }
    );
}

#[test]
fn a_manifest_signed_by_an_uncertified_key_is_refused() {
    let op = operator();
    let rogue = SecretKey::from_seed([66; 32]);
    // The rogue key signs with the genuine statement, which does not name it.
    let (bytes, _) = pack(&image(100), 1024, info(), &rogue, &op.statement);
    assert_eq!(
        Verifier::new(op.trust.clone())
            .verify(&bytes, NOW)
            .unwrap_err(),
        Error::UncertifiedSigningKey {
            key_id: rogue.key_id()
        }
    );
    // Nor can it certify itself: a statement it signs is not root-signed.
    let self_cert = KeyStatement::new(9, NOW, vec![rogue.public_key()], vec![])
        .unwrap()
        .sign(&[&rogue]);
    let (bytes, _) = pack(&image(100), 1024, info(), &rogue, &self_cert);
    assert!(matches!(
        Verifier::new(op.trust.clone()).verify(&bytes, NOW),
        Err(Error::KeyStatementNotTrusted {
            valid: 0,
            threshold: 1
        })
    ));
}

#[test]
fn a_revoked_signing_key_is_refused_even_with_its_old_statement() {
    let op = operator();
    let new_signer = SecretKey::from_seed([3; 32]);
    let v2 = KeyStatement::new(
        2,
        NOW,
        vec![new_signer.public_key()],
        vec![op.signer.key_id()],
    )
    .unwrap()
    .sign(&[&op.root]);

    // Signed with the old key, carrying the old statement that certified it.
    let (old_bytes, _) = pack(&image(100), 1024, info(), &op.signer, &op.statement);
    let device_verifier = Verifier::new(op.trust.clone())
        .with_key_statement(&v2)
        .unwrap();
    assert_eq!(
        device_verifier.verify(&old_bytes, NOW).unwrap_err(),
        Error::RevokedSigningKey {
            key_id: op.signer.key_id(),
            statement_version: 2
        }
    );
    // Carrying the new statement, to a device that has not seen it yet.
    let (bytes, _) = pack(&image(100), 1024, info(), &op.signer, &v2);
    assert!(matches!(
        Verifier::new(op.trust.clone()).verify(&bytes, NOW),
        Err(Error::RevokedSigningKey { .. })
    ));
    // The new key works, and teaches an older device the new statement.
    let (new_bytes, _) = pack(&image(100), 1024, info(), &new_signer, &v2);
    let old_device = Verifier::new(op.trust.clone())
        .with_key_statement(&op.statement)
        .unwrap();
    let release = old_device.verify(&new_bytes, NOW).unwrap();
    assert_eq!(release.newer_key_statement(), Some(&v2));
    assert_eq!(release.key_statement_version(), 2);
    // A device that has v2 does not go back to v1 when a verifier is given both.
    let both = Verifier::new(op.trust.clone())
        .with_key_statement(&v2)
        .unwrap()
        .with_key_statement(&op.statement)
        .unwrap();
    assert!(matches!(
        both.verify(&old_bytes, NOW),
        Err(Error::RevokedSigningKey { .. })
    ));
}

#[test]
fn an_expired_manifest_is_refused() {
    let op = operator();
    let (bytes, _) = pack(&image(100), 1024, info(), &op.signer, &op.statement);
    let verifier = Verifier::new(op.trust.clone());
    assert!(verifier.verify(&bytes, NOW + 99).is_ok());
    assert_eq!(
        verifier.verify(&bytes, NOW + 100).unwrap_err(),
        Error::Expired {
            expires_at: NOW + 100,
            now: NOW + 100
        }
    );
}

#[test]
fn a_lower_security_version_than_committed_is_refused() {
    let op = operator();
    let (bytes, _) = pack(&image(100), 1024, info(), &op.signer, &op.statement);
    let verifier = Verifier::new(op.trust.clone());
    let same = device();
    assert!(verifier.verify_for_device(&bytes, &same).is_ok());
    let ahead = DeviceFacts {
        committed_security_version: 8,
        ..device()
    };
    assert_eq!(
        verifier.verify_for_device(&bytes, &ahead).unwrap_err(),
        Error::SecurityVersionRollback {
            manifest: 7,
            committed: 8
        }
    );
}

#[test]
fn a_wrong_hardware_id_is_refused() {
    let op = operator();
    let (bytes, _) = pack(&image(100), 1024, info(), &op.signer, &op.statement);
    let other = DeviceFacts {
        hardware: "doorbell-v1".into(),
        ..device()
    };
    assert_eq!(
        Verifier::new(op.trust.clone())
            .verify_for_device(&bytes, &other)
            .unwrap_err(),
        Error::WrongHardware {
            device: "doorbell-v1".into(),
            supported: vec!["cam-v2".into(), "cam-v3".into()]
        }
    );
}

#[test]
fn a_manifest_above_the_size_cap_is_refused_before_parsing() {
    let op = operator();
    let (bytes, _) = pack(&image(100_000), 1024, info(), &op.signer, &op.statement);
    let limits = Limits {
        max_manifest_bytes: bytes.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        Verifier::new(op.trust.clone())
            .with_limits(limits)
            .verify(&bytes, NOW)
            .unwrap_err(),
        Error::ManifestTooLarge {
            size: bytes.len(),
            limit: bytes.len() - 1
        }
    );
    // Garbage of any size past the cap is refused the same way.
    let garbage = vec![b'{'; Limits::default().max_manifest_bytes + 1];
    assert!(matches!(
        Verifier::new(op.trust.clone()).verify(&garbage, NOW),
        Err(Error::ManifestTooLarge { .. })
    ));
}

#[test]
fn a_manifest_naming_another_key_than_its_signer_is_refused() {
    let op = operator();
    let other = SecretKey::from_seed([4; 32]);
    let statement = KeyStatement::new(
        1,
        NOW,
        vec![op.signer.public_key(), other.public_key()],
        vec![],
    )
    .unwrap()
    .sign(&[&op.root]);
    let mut builder = ManifestBuilder::new(Limits::default());
    builder.add_chunk(b"x").unwrap();
    let manifest = builder.finish(info(), other.key_id()).unwrap();
    // Wrap it by hand, signed by the wrong (but certified) key.
    let envelope = Envelope::sign(
        MANIFEST_TYPE,
        serde_json::to_vec(&manifest).unwrap(),
        &[&op.signer],
    );
    let bytes = SignedManifest {
        manifest: envelope,
        key_statement: statement,
    }
    .to_bytes();
    assert_eq!(
        Verifier::new(op.trust.clone())
            .verify(&bytes, NOW)
            .unwrap_err(),
        Error::KeyIdMismatch {
            signed_by: op.signer.key_id(),
            manifest_says: other.key_id()
        }
    );
    // And the signing API refuses to produce such a thing.
    assert!(SignedManifest::sign(&manifest, &op.signer, op.statement.clone()).is_err());
}

#[test]
fn a_signed_but_inconsistent_manifest_is_refused_naming_the_field() {
    let op = operator();
    let mut builder = ManifestBuilder::new(Limits::default());
    builder.add_chunk(b"abc").unwrap();
    let mut manifest = builder.finish(info(), op.signer.key_id()).unwrap();
    manifest.image.size = 4;
    let bytes = SignedManifest::sign(&manifest, &op.signer, op.statement.clone())
        .unwrap()
        .to_bytes();
    assert!(matches!(
        Verifier::new(op.trust.clone()).verify(&bytes, NOW),
        Err(Error::InvalidManifest { field, .. }) if field == "image.size"
    ));
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Flip { at, mask } => bytes[at % len] ^= mask,
        Mutation::Set { at, byte } => bytes[at % len] = byte,
        Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
        Mutation::Delete { at } => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_mutations_of_a_signed_manifest_never_verify(
        mutations in proptest::collection::vec(mutation(), 1..4)
    ) {
        let op = operator();
        let (original, _) = pack(&image(3000), 1024, info(), &op.signer, &op.statement);
        let mut bytes = original.clone();
        for m in &mutations {
            if bytes.is_empty() { break; }
            apply(&mut bytes, m);
        }
        prop_assume!(bytes != original);
        let verifier = Verifier::new(op.trust.clone());
        prop_assert!(verifier.verify(&bytes, NOW).is_err());
    }
}
