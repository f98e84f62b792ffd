//! The TPM side of keys of sensitivity `high` that involves no TPM: the public templates of the
//! key types the TPM runs, the blob Portcullis stores for such a key, and the standard encodings
//! of what comes out (SubjectPublicKeyInfo DER, ECDSA signatures as DER).
//!
//! Blob: `PTK` `\x01` (magic, format version 1), then the key's TPM2B_PUBLIC and TPM2B_PRIVATE
//! as the TPM marshals them (a big-endian u16 size, then the TPMT_PUBLIC / the private area,
//! which the TPM encrypted and integrity-protected under the storage primary key).

use std::convert::TryFrom;

use pkcs8::der::asn1::{BitString, ObjectIdentifier, SequenceOf, UintRef};
use pkcs8::der::{Any, Encode};
use pkcs8::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use rsa::pkcs8::EncodePublicKey;
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::structures::{
    Digest, EccPoint, EccScheme, HmacScheme, KeyDerivationFunctionScheme, KeyedHashScheme, Private, Public,
    PublicBuilder, PublicEccParameters, PublicEccParametersBuilder, PublicKeyRsa, PublicKeyedHashParameters,
    PublicParameters, PublicRsaParameters, PublicRsaParametersBuilder, RsaExponent, RsaScheme,
    SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};

use super::perr;
use crate::crypto::managed::{Hash, KeyType};
use crate::kek::KekError;

const MAGIC: &[u8; 4] = b"PTK\x01";

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// What a key type is in the TPM's terms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Shape {
    Hmac(HashingAlgorithm),
    Rsa(RsaKeyBits),
    Ecc(EccCurve),
}

/// The TPM shape of a key type, or None for the types the TPM cannot run (AES-GCM and
/// ChaCha20-Poly1305 are not TPM 2.0 algorithms; TPMs have no Ed25519).
pub(super) fn shape(kt: KeyType) -> Option<Shape> {
    Some(match kt {
        KeyType::HmacSha256 => Shape::Hmac(HashingAlgorithm::Sha256),
        KeyType::HmacSha512 => Shape::Hmac(HashingAlgorithm::Sha512),
        KeyType::Rsa2048 => Shape::Rsa(RsaKeyBits::Rsa2048),
        KeyType::Rsa3072 => Shape::Rsa(RsaKeyBits::Rsa3072),
        KeyType::Rsa4096 => Shape::Rsa(RsaKeyBits::Rsa4096),
        KeyType::EcdsaP256 => Shape::Ecc(EccCurve::NistP256),
        KeyType::EcdsaP384 => Shape::Ecc(EccCurve::NistP384),
        KeyType::Aes256Gcm | KeyType::Chacha20Poly1305 | KeyType::Ed25519 => return None,
    })
}

pub(super) fn hashing(h: Hash) -> HashingAlgorithm {
    match h {
        Hash::Sha256 => HashingAlgorithm::Sha256,
        Hash::Sha384 => HashingAlgorithm::Sha384,
        Hash::Sha512 => HashingAlgorithm::Sha512,
    }
}

/// RSA and ECC keys carry no scheme (TPM_ALG_NULL): each TPM2_Sign names the scheme and hash,
/// so one key signs PSS and PKCS#1 v1.5 with any of the hashes.
fn rsa_parameters(bits: RsaKeyBits) -> tss_esapi::Result<PublicRsaParameters> {
    PublicRsaParametersBuilder::new()
        .with_scheme(RsaScheme::Null)
        .with_key_bits(bits)
        .with_exponent(RsaExponent::default())
        .with_is_signing_key(true)
        .with_restricted(false)
        .with_symmetric(SymmetricDefinitionObject::Null)
        .build()
}

fn ecc_parameters(curve: EccCurve) -> tss_esapi::Result<PublicEccParameters> {
    // The builder checks a signing key's scheme against the signing schemes; a Null scheme is
    // what a key signing with the scheme each command names has, so it is not told `signing`.
    PublicEccParametersBuilder::new()
        .with_ecc_scheme(EccScheme::Null)
        .with_curve(curve)
        .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
        .with_restricted(false)
        .with_symmetric(SymmetricDefinitionObject::Null)
        .build()
}

fn hmac_parameters(h: HashingAlgorithm) -> PublicKeyedHashParameters {
    PublicKeyedHashParameters::new(KeyedHashScheme::Hmac { hmac_scheme: HmacScheme::new(h) })
}

/// What TPM2_TestParms asks the TPM about for a shape.
pub(super) fn parameters(s: Shape) -> tss_esapi::Result<PublicParameters> {
    Ok(match s {
        Shape::Hmac(h) => PublicParameters::KeyedHash(hmac_parameters(h)),
        Shape::Rsa(bits) => PublicParameters::Rsa(rsa_parameters(bits)?),
        Shape::Ecc(curve) => PublicParameters::Ecc(ecc_parameters(curve)?),
    })
}

/// The template of a new key: sign only (no decrypt), unrestricted, made in the TPM
/// (`sensitive_data_origin`), never leaving it (`fixed_tpm`, `fixed_parent`), used with its
/// empty auth value in a session (`user_with_auth`; `no_da`: an empty auth value has nothing
/// to guess, so dictionary-attack lockout need not stop these keys).
pub(super) fn template(s: Shape) -> tss_esapi::Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .with_restricted(false)
        .build()?;
    let b = PublicBuilder::new().with_name_hashing_algorithm(HashingAlgorithm::Sha256).with_object_attributes(attrs);
    match s {
        Shape::Hmac(h) => b
            .with_public_algorithm(PublicAlgorithm::KeyedHash)
            .with_keyed_hash_parameters(hmac_parameters(h))
            .with_keyed_hash_unique_identifier(Digest::default())
            .build(),
        Shape::Rsa(bits) => b
            .with_public_algorithm(PublicAlgorithm::Rsa)
            .with_rsa_parameters(rsa_parameters(bits)?)
            .with_rsa_unique_identifier(PublicKeyRsa::default())
            .build(),
        Shape::Ecc(curve) => b
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_ecc_parameters(ecc_parameters(curve)?)
            .with_ecc_unique_identifier(EccPoint::default())
            .build(),
    }
}

fn put_2b(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), KekError> {
    let n = u16::try_from(bytes.len()).map_err(|_| perr("a TPM blob part is too large"))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn take_2b<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    let n = u16::from_be_bytes(*len) as usize;
    let (part, tail) = (tail.get(..n)?, tail.get(n..)?);
    *rest = tail;
    Some(part)
}

pub(super) fn encode(public: &Public, private: &Private) -> Result<Vec<u8>, KekError> {
    let mut out = MAGIC.to_vec();
    put_2b(&mut out, &public.marshall().map_err(|e| perr(format!("cannot marshal a TPM public area: {e}")))?)?;
    put_2b(&mut out, private.value())?;
    Ok(out)
}

/// The public and private areas of a blob made for a key of type `kt` (refused if it is not a
/// blob of this format, or of a key of another type).
pub(super) fn decode(kt: KeyType, blob: &[u8]) -> Result<(Public, Private), KekError> {
    let bad = |why: &str| perr(format!("the TPM key blob is not a usable {} key ({why})", kt.as_str()));
    let mut rest = blob.strip_prefix(MAGIC.as_slice()).ok_or_else(|| bad("unknown format or version"))?;
    let (Some(pub_raw), Some(priv_raw)) = (take_2b(&mut rest), take_2b(&mut rest)) else {
        return Err(bad("truncated"));
    };
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let public = Public::unmarshall(pub_raw).map_err(|_| bad("its public area does not parse"))?;
    let private = Private::try_from(priv_raw.to_vec()).map_err(|_| bad("its private area is too large"))?;
    let want = shape(kt).ok_or_else(|| bad("the TPM does not run keys of this type"))?;
    let a = public.object_attributes();
    let ok = match (&public, want) {
        (Public::KeyedHash { parameters, .. }, Shape::Hmac(h)) => *parameters == hmac_parameters(h),
        (Public::Rsa { parameters, .. }, Shape::Rsa(bits)) => parameters.key_bits() == bits,
        (Public::Ecc { parameters, .. }, Shape::Ecc(curve)) => parameters.ecc_curve() == curve,
        _ => false,
    };
    if !ok || !a.sign_encrypt() || a.decrypt() || a.restricted() || !a.fixed_tpm() || !a.sensitive_data_origin() {
        return Err(bad("it was made for another key type"));
    }
    Ok((public, private))
}

/// Big-endian bytes left-padded with zeros to `len` (the TPM may drop leading zero bytes).
fn padded(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let bytes = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
    (bytes.len() <= len).then(|| {
        let mut v = vec![0u8; len - bytes.len()];
        v.extend_from_slice(bytes);
        v
    })
}

/// The SubjectPublicKeyInfo DER of an RSA or ECC public area (None for keyed-hash objects).
pub(super) fn public_der(public: &Public) -> Result<Option<Vec<u8>>, KekError> {
    let bad = |why: String| perr(format!("the TPM returned an unusable public key: {why}"));
    match public {
        Public::KeyedHash { .. } => Ok(None),
        Public::Rsa { parameters, unique, .. } => {
            let e = match parameters.exponent().value() {
                0 => 65537,
                e => e,
            };
            let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(unique.value()), rsa::BigUint::from(e))
                .map_err(|e| bad(e.to_string()))?;
            Ok(Some(key.to_public_key_der().map_err(|e| bad(e.to_string()))?.into_vec()))
        }
        Public::Ecc { parameters, unique, .. } => {
            let (curve, len) = match parameters.ecc_curve() {
                EccCurve::NistP256 => (SECP256R1, 32),
                EccCurve::NistP384 => (SECP384R1, 48),
                c => return Err(bad(format!("curve {c:?}"))),
            };
            let (Some(x), Some(y)) = (padded(unique.x().value(), len), padded(unique.y().value(), len)) else {
                return Err(bad("a coordinate is longer than the curve's field".into()));
            };
            let point = [&[0x04u8][..], &x, &y].concat();
            let spki = SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ID_EC_PUBLIC_KEY,
                    parameters: Some(Any::from(&curve)),
                },
                subject_public_key: BitString::from_bytes(&point).map_err(|e| bad(e.to_string()))?,
            };
            Ok(Some(spki.to_der().map_err(|e| bad(e.to_string()))?))
        }
        Public::SymCipher { .. } => Err(bad("a symmetric cipher object".into())),
    }
}

/// An ECDSA signature as DER: SEQUENCE { INTEGER r, INTEGER s } (what X.509, OpenSSL and the
/// RustCrypto `ecdsa` verifiers take).
pub(super) fn ecdsa_der(r: &[u8], s: &[u8]) -> Result<Vec<u8>, KekError> {
    let bad = |e: pkcs8::der::Error| perr(format!("cannot encode the TPM's ECDSA signature: {e}"));
    let mut seq = SequenceOf::<UintRef<'_>, 2>::new();
    seq.add(UintRef::new(r).map_err(bad)?).map_err(bad)?;
    seq.add(UintRef::new(s).map_err(bad)?).map_err(bad)?;
    seq.to_der().map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip_and_refusals() {
        let public = template(Shape::Hmac(HashingAlgorithm::Sha256)).unwrap();
        let private = Private::try_from(vec![7u8; 40]).unwrap();
        let blob = encode(&public, &private).unwrap();
        let (p, q) = decode(KeyType::HmacSha256, &blob).unwrap();
        assert_eq!(p, public);
        assert_eq!(q.value(), private.value());
        let e = decode(KeyType::HmacSha512, &blob).err().unwrap().to_string();
        assert!(e.contains("made for another key type"), "{e}");
        let e = decode(KeyType::Rsa2048, &blob).err().unwrap().to_string();
        assert!(e.contains("made for another key type"), "{e}");
        let e = decode(KeyType::HmacSha256, &blob[..blob.len() - 1]).err().unwrap().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = decode(KeyType::HmacSha256, &[blob.as_slice(), b"x"].concat()).err().unwrap().to_string();
        assert!(e.contains("trailing"), "{e}");
        let mut v2 = blob.clone();
        v2[3] = 2;
        assert!(decode(KeyType::HmacSha256, &v2).err().unwrap().to_string().contains("unknown format"));
        let e = decode(KeyType::Aes256Gcm, &blob).err().unwrap().to_string();
        assert!(e.contains("does not run"), "{e}");
    }

    #[test]
    fn ecdsa_der_is_minimal() {
        // High bit set: a zero byte goes in front; leading zeros go away.
        let der = ecdsa_der(&[0x80, 1], &[0, 0, 5]).unwrap();
        assert_eq!(der, [0x30, 0x08, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x01, 0x05]);
    }

    #[test]
    fn padding() {
        assert_eq!(padded(&[1, 2], 4).unwrap(), [0, 0, 1, 2]);
        assert_eq!(padded(&[0, 0, 0, 0, 9], 4).unwrap(), [0, 0, 0, 9]);
        assert!(padded(&[1, 2, 3], 2).is_none());
    }
}
