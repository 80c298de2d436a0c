package io.livemig.examples.cli;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Builds the {@link SSLContext} of the command line's {@code --tls-cert}, {@code --tls-key} and
 * {@code --tls-ca} from PEM files: the JDK reads the certificates; BouncyCastle reads the private
 * key, which the JDK cannot in PEM: PKCS#8 ({@code BEGIN PRIVATE KEY}) and the traditional
 * OpenSSL forms ({@code BEGIN EC PRIVATE KEY}, {@code BEGIN RSA PRIVATE KEY}). Encrypted keys are
 * refused with a message saying how to decrypt them. The key is checked against the certificate
 * (a signature made with one must verify with the other), so that a mismatched pair fails here
 * and not as a refused handshake on the other host.
 *
 * <p>Stateless and thread-safe. Every failure is an {@link IOException} naming the file.
 */
final class TlsFiles {

    private TlsFiles() {
    }

    /**
     * @param certificateChain PEM certificates: this side's, then the intermediates, if any
     * @param privateKey       PEM private key of the first certificate
     * @param trustAnchors     PEM certificates of the CAs whose signature this side accepts on
     *                         the peer's certificate
     * @return a TLS 1.3 context presenting that chain and trusting those CAs only
     * @throws IOException if a file cannot be read or holds something else
     */
    static SSLContext context(Path certificateChain, Path privateKey, Path trustAnchors) throws IOException {
        List<X509Certificate> chain = certificates(certificateChain);
        PrivateKey key = privateKey(privateKey);
        requirePair(key, chain.get(0).getPublicKey(), privateKey, certificateChain);
        return context(chain, key, certificates(trustAnchors));
    }

    /**
     * @param chain   this side's certificate, then its intermediates
     * @param key     the private key of {@code chain.get(0)}
     * @param anchors the CAs this side trusts
     * @return a TLS 1.3 context presenting {@code chain} and trusting {@code anchors} only
     */
    static SSLContext context(List<X509Certificate> chain, PrivateKey key, List<X509Certificate> anchors)
            throws IOException {
        try {
            char[] password = new char[0];
            KeyStore own = KeyStore.getInstance("PKCS12");
            own.load(null, null);
            own.setKeyEntry("livemig", key, password, chain.toArray(new Certificate[0]));
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(own, password);
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            for (int i = 0; i < anchors.size(); i++) {
                trusted.setCertificateEntry("ca-" + i, anchors.get(i));
            }
            TrustManagerFactory trusts = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trusts.init(trusted);
            SSLContext context = SSLContext.getInstance("TLSv1.3");
            context.init(keys.getKeyManagers(), trusts.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot build a TLS context: " + e.getMessage(), e);
        }
    }

    /**
     * @param pem a file of one or more PEM certificates
     * @return them, in file order
     * @throws IOException if it holds none, or something that is not a certificate
     */
    static List<X509Certificate> certificates(Path pem) throws IOException {
        try (InputStream in = Files.newInputStream(pem)) {
            List<X509Certificate> certificates = new ArrayList<>();
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                certificates.add((X509Certificate) c);
            }
            if (certificates.isEmpty()) {
                throw new IOException(pem + " holds no PEM certificate");
            }
            return certificates;
        } catch (CertificateException e) {
            throw new IOException(pem + " does not hold PEM certificates: " + e.getMessage(), e);
        } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException e) {
            throw unreadable(pem, e);
        }
    }

    /** @return an exception that says the file is missing or not readable, not only its name */
    private static IOException unreadable(Path file, IOException e) {
        return new IOException(file + ": " + (e instanceof java.nio.file.NoSuchFileException ? "no such file"
                : "not readable by this user"), e);
    }

    /**
     * @param pem a file holding one private key in PEM (other PEM objects before it, such as
     *            OpenSSL's {@code EC PARAMETERS}, are skipped)
     * @return the key
     * @throws IOException if it holds no key, or an encrypted one
     */
    static PrivateKey privateKey(Path pem) throws IOException {
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter(); // the JDK's own providers
        try (Reader reader = Files.newBufferedReader(pem, StandardCharsets.US_ASCII);
             PEMParser parser = new PEMParser(reader)) {
            for (Object o; (o = parser.readObject()) != null; ) {
                switch (o) {
                    case PEMKeyPair pair -> {
                        // The private part alone: OpenSSL's EC form may leave out the public key.
                        return converter.getPrivateKey(pair.getPrivateKeyInfo());
                    }
                    case PrivateKeyInfo info -> {
                        return converter.getPrivateKey(info);
                    }
                    case PEMEncryptedKeyPair ignored -> throw encrypted(pem);
                    case PKCS8EncryptedPrivateKeyInfo ignored -> throw encrypted(pem);
                    default -> {
                        // parameters or certificates beside the key: look further
                    }
                }
            }
        } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException e) {
            throw unreadable(pem, e);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(pem.toString())) {
                throw e;
            }
            throw new IOException(pem + " does not hold a readable PEM private key: " + e.getMessage(), e);
        }
        throw new IOException(pem + " holds no PEM private key (BEGIN PRIVATE KEY, EC PRIVATE KEY or "
                + "RSA PRIVATE KEY)");
    }

    private static IOException encrypted(Path pem) {
        return new IOException(pem + " holds an encrypted private key, which livemig does not read: decrypt it "
                + "into a file only this user can read (openssl pkey -in " + pem + " -out key.pem)");
    }

    /** Signs with the key and verifies with the certificate's public key: they must be one pair. */
    private static void requirePair(PrivateKey key, PublicKey certified, Path keyFile, Path certificateFile)
            throws IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            default -> null;
        };
        if (algorithm == null) {
            throw new IOException(keyFile + " holds a " + key.getAlgorithm() + " key; livemig takes EC, RSA or EdDSA keys");
        }
        try {
            byte[] probe = "livemig key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            signer.initVerify(certified);
            signer.update(probe);
            if (signer.verify(signature)) {
                return;
            }
        } catch (GeneralSecurityException e) {
            // a key of another type than the certificate's: not a pair either
        }
        throw new IOException("the key in " + keyFile + " does not belong to the first certificate in "
                + certificateFile);
    }
}
