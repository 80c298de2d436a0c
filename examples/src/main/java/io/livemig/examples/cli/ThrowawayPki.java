package io.livemig.examples.cli;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;

import java.io.IOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import javax.net.ssl.SSLContext;

/**
 * Throwaway certificates, made in memory at start with BouncyCastle: an EC P-256 CA and two leaf
 * certificates it signs, one for each end of a migration. {@code livemig demo --transport tls}
 * runs both ends over TLS loopback with them (to measure what TLS costs); tests write them as PEM
 * files for {@code --tls-cert}, {@code --tls-key} and {@code --tls-ca}. Not for production: the
 * CA's key lives only in this process and the certificates expire after a day.
 *
 * <p>Immutable and thread-safe.
 */
final class ThrowawayPki {

    /** The source's certificate names this, as a DNS name. */
    static final String SOURCE_NAME = "livemig-source";
    /** The destination's certificate names this, and {@code localhost} and {@code 127.0.0.1}. */
    static final String DESTINATION_NAME = "livemig-destination";

    private static final Duration VALIDITY = Duration.ofDays(1);
    private static final String SIGNATURE = "SHA256withECDSA";

    private final X509Certificate ca;
    private final Leaf source;
    private final Leaf destination;

    /** A certificate and its key. */
    record Leaf(X509Certificate certificate, KeyPair keys) {
    }

    private ThrowawayPki(X509Certificate ca, Leaf source, Leaf destination) {
        this.ca = ca;
        this.source = source;
        this.destination = destination;
    }

    /**
     * Makes a new CA, whose key is forgotten once the two leaves are signed.
     *
     * @param caName the CA's common name (tests make a second CA to be distrusted)
     * @return the CA's certificate and the two leaves
     */
    static ThrowawayPki create(String caName) {
        try {
            SecureRandom random = new SecureRandom();
            KeyPair caKeys = newKeyPair();
            X500Name caSubject = new X500Name("CN=" + caName);
            Instant now = Instant.now();
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder caBuilder = new JcaX509v3CertificateBuilder(caSubject,
                    new BigInteger(64, random), Date.from(now.minus(Duration.ofMinutes(5))),
                    Date.from(now.plus(VALIDITY)), caSubject, caKeys.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            utils.createSubjectKeyIdentifier(caKeys.getPublic()));
            X509Certificate ca = sign(caBuilder, caKeys);
            Leaf source = leaf(ca, caKeys, SOURCE_NAME, List.of(new GeneralName(GeneralName.dNSName, SOURCE_NAME)),
                    random);
            Leaf destination = leaf(ca, caKeys, DESTINATION_NAME, List.of(
                    new GeneralName(GeneralName.dNSName, DESTINATION_NAME),
                    new GeneralName(GeneralName.dNSName, "localhost"),
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1")), random);
            return new ThrowawayPki(ca, source, destination);
        } catch (GeneralSecurityException | IOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot make throwaway certificates: " + e.getMessage(), e);
        }
    }

    private static Leaf leaf(X509Certificate ca, KeyPair caKeys, String name, List<GeneralName> names,
                             SecureRandom random)
            throws GeneralSecurityException, IOException, OperatorCreationException {
        KeyPair keys = newKeyPair();
        Instant now = Instant.now();
        JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(ca, new BigInteger(64, random),
                Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(VALIDITY)),
                new javax.security.auth.x500.X500Principal("CN=" + name), keys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                        new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                .addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(names.toArray(new GeneralName[0])))
                .addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(ca));
        return new Leaf(sign(builder, caKeys), keys);
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair signer)
            throws OperatorCreationException, GeneralSecurityException {
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder(SIGNATURE).build(signer.getPrivate())));
    }

    /** @return the CA's certificate, the one trust anchor of both ends */
    X509Certificate ca() {
        return ca;
    }

    /** @return the source's certificate and key ({@value #SOURCE_NAME}) */
    Leaf source() {
        return source;
    }

    /** @return the destination's certificate and key ({@value #DESTINATION_NAME}) */
    Leaf destination() {
        return destination;
    }

    /**
     * @param leaf which end
     * @return a TLS 1.3 context that presents {@code leaf} and trusts this CA only
     */
    SSLContext context(Leaf leaf) throws IOException {
        return TlsFiles.context(List.of(leaf.certificate()), leaf.keys().getPrivate(), List.of(ca));
    }

    /**
     * Writes {@code ca.pem}, {@code source.pem}, {@code source.key}, {@code destination.pem} and
     * {@code destination.key} (keys in PKCS#8 unless {@code traditionalKeys}, then as OpenSSL's
     * {@code EC PRIVATE KEY}) into {@code dir}.
     *
     * @return {@code dir}
     */
    Path writePem(Path dir, boolean traditionalKeys) throws IOException {
        writePem(dir.resolve("ca.pem"), ca);
        writePem(dir.resolve("source.pem"), source.certificate());
        writePem(dir.resolve("destination.pem"), destination.certificate());
        writeKey(dir.resolve("source.key"), source, traditionalKeys);
        writeKey(dir.resolve("destination.key"), destination, traditionalKeys);
        return dir;
    }

    private static void writePem(Path file, Object object) throws IOException {
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(object);
        }
    }

    private static void writeKey(Path file, Leaf leaf, boolean traditional) throws IOException {
        if (traditional) {
            // OpenSSL's form (SEC 1), with the curve and the public key, as 'openssl ecparam -genkey' writes it.
            SubjectPublicKeyInfo publicKey = SubjectPublicKeyInfo.getInstance(leaf.keys().getPublic().getEncoded());
            org.bouncycastle.asn1.sec.ECPrivateKey sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(256,
                    ((ECPrivateKey) leaf.keys().getPrivate()).getS(), publicKey.getPublicKeyData(),
                    publicKey.getAlgorithm().getParameters());
            writePem(file, new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
        } else {
            writePem(file, new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(leaf.keys().getPrivate(), null));
        }
    }
}
